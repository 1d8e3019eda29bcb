"""The data report: what a split manifest holds per class and split, and what looks wrong with it.

Written by `prepare` before any model sees the data. Per class and split: files, groups, total and
median duration, native sample rates and channel counts (from each file's header). Checks, each
with the parameter that fixes it:

- `upsampling`: files whose native rate is below the model rate (featurize.sample_rate) or below
  twice featurize.f_max. Resampling cannot invent the missing band: the mel channels above the
  native Nyquist frequency hold resampling noise, which per-channel z-scoring scales to full
  weight. A refusal unless the caller allows it, then a warning.
- `sample_rate_confound`, `channels_confound`, `source_confound`: the class is associated with
  the native rate, the channel count or the source (Cramér's V above a threshold), so a
  classifier can learn the recording channel instead of the class.
- `duration_confound`: median durations per class differ by more than a factor.
- `few_groups`: a class has fewer groups than a minimum in val or test.
- `unused_group_columns`: the adapter saw columns that look like groups but none is used.
- `missing_files`, `unreadable_files`: listed files that are absent or cannot be read.

The library reads no params: the stage passes the values and names the keys in its messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from scipy.stats.contingency import association

from synthaug.datasets.manifest import SPLITS
from synthaug.feature_params import scaled_stft

# Messages quote a few paths, enough to find the files without flooding the terminal.
EXAMPLES = 5
# More than this share of listed files missing is almost always a wrong data root or path column,
# not a data set with a few gaps: prepare stops instead of splitting what is left.
MAX_MISSING_SHARE = 0.5


@dataclass(frozen=True)
class Thresholds:
    """What the checks compare against (prepare's params)."""

    model_sample_rate: int
    f_max: float
    allow_upsampling: bool = False
    n_fft: int = 2048  # featurize's STFT sizes, scaled in the fix proposed for a lower rate
    hop_length: int = 512
    min_groups_per_class: int = 10
    max_class_association: float = 0.2
    max_duration_ratio: float = 1.5


@dataclass
class DataReport:
    """`summary`: one row per class and split (and the class over all splits, split 'all').
    `warnings` and `refusals`: {'check', 'message', 'fix'} each; a refusal stops prepare."""

    summary: pd.DataFrame
    warnings: list[dict] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    unreadable: int = 0
    thresholds: Thresholds | None = None

    def to_json(self) -> dict:
        rows: dict[str, Any] = {}
        for record in self.summary.to_dict(orient="records"):
            rows.setdefault(record["label"], {})[record["split"]] = {
                k: v for k, v in record.items() if k not in ("label", "split")
            }
        return {
            "files": int(self.summary.loc[self.summary["split"] == "all", "files"].sum()),
            "unreadable_files": self.unreadable,
            "thresholds": vars(self.thresholds) if self.thresholds else {},
            "classes": rows,
            "warnings": self.warnings,
            "refusals": self.refusals,
        }


def build_data_report(manifest: pd.DataFrame, thresholds: Thresholds, adapter_report: dict | None = None) -> DataReport:
    """Summarize a split manifest (with the header columns `duration_s`, `sample_rate` and, when
    present, `channels`) and run every check against `thresholds`; `adapter_report` adds what the
    adapter saw (missing files, unused group columns)."""
    adapter_report = adapter_report or {}
    frame = manifest.copy()
    if "channels" not in frame:
        frame["channels"] = 0
    readable = frame["sample_rate"] > 0
    report = DataReport(summary=summarize(frame), unreadable=int((~readable).sum()), thresholds=thresholds)
    ok = frame[readable]

    upsampled = upsampling_check(ok, thresholds)
    if upsampled:
        (report.warnings if thresholds.allow_upsampling else report.refusals).append(upsampled)
    for column, name in (("sample_rate", "native sample rates"), ("channels", "channel counts"), ("source", "sources")):
        confound = association_check(ok if column != "source" else frame, column, name, thresholds.max_class_association)
        if confound:
            report.warnings.append(confound)
    for check in (
        duration_check(ok, thresholds.max_duration_ratio),
        few_groups_check(frame, thresholds.min_groups_per_class),
        unused_group_columns_check(adapter_report),
        missing_files_check(adapter_report, listed=len(frame) + missing_count(adapter_report)),
        unreadable_check(frame),
    ):
        if check:
            report.warnings.append(check)
    return report


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per class and split (plus split 'all'): files, groups, durations, native rates and channels."""
    rows = []
    everything = frame.assign(split="all")
    for (label, split), part in pd.concat([frame, everything]).groupby(["label", "split"], sort=False):
        readable = part[part["sample_rate"] > 0]
        rows.append(
            {
                "label": str(label),
                "split": str(split),
                "files": int(len(part)),
                "groups": int(part["group"].nunique()),
                "duration_total_s": round(float(readable["duration_s"].sum()), 3),
                "duration_median_s": round(float(readable["duration_s"].median()), 3) if len(readable) else None,
                "sample_rates": _counts(readable["sample_rate"]),
                "channels": _counts(readable["channels"]),
            }
        )
    order = {name: i for i, name in enumerate([*SPLITS, "", "all"])}
    summary = pd.DataFrame(rows)
    return summary.sort_values(
        ["label", "split"], key=lambda c: c.map(order) if c.name == "split" else c, kind="stable"
    ).reset_index(drop=True)


def format_table(report: DataReport) -> str:
    """The summary as a short text table, then every refusal and warning with its fix."""
    table = report.summary.assign(
        minutes=(report.summary["duration_total_s"] / 60).round(1),
        median_s=report.summary["duration_median_s"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.2f}"),
        sample_rates=report.summary["sample_rates"].map(_format_counts),
        channels=report.summary["channels"].map(_format_counts),
    )[["label", "split", "files", "groups", "minutes", "median_s", "sample_rates", "channels"]]
    lines = ["data report (sample rates and channels: value (files))", table.to_string(index=False)]
    if report.unreadable:
        lines.append(f"{report.unreadable} unreadable files are counted in files only")
    previous_fix = None
    for kind, items in (("REFUSED", report.refusals), ("WARNING", report.warnings)):
        for item in items:
            # Confounds of rate, channels and source often share one cause and one fix: say it once.
            fix = "as above" if item["fix"] == previous_fix else item["fix"]
            lines.append(f"{kind} [{item['check']}] {item['message']}\n  fix: {fix}")
            previous_fix = item["fix"]
    if not report.refusals and not report.warnings:
        lines.append("no warnings")
    return "\n".join(lines)


def upsampling_check(frame: pd.DataFrame, thresholds: Thresholds) -> dict | None:
    """Readable files recorded below the model rate or below twice f_max (None when there are none)."""
    model_rate, f_max = thresholds.model_sample_rate, thresholds.f_max
    low = frame[(frame["sample_rate"] < model_rate) | (frame["sample_rate"] < 2 * f_max)]
    if low.empty:
        return None
    lowest = int(low["sample_rate"].min())
    per_rate = "; ".join(
        f"{int(rate)} Hz: {len(part)} files (" + ", ".join(f"{k} {n}" for k, n in _counts(part["label"]).items()) + ")"
        for rate, part in low.groupby("sample_rate")
    )
    allowed = thresholds.allow_upsampling
    return {
        "check": "upsampling",
        "files": int(len(low)),
        "lowest_native_rate": lowest,
        "message": (
            f"{len(low)} of {len(frame)} files are recorded below featurize.sample_rate = {model_rate} Hz "
            f"or below twice featurize.f_max = {f_max:g} Hz ({per_rate}; e.g. {_examples(low['path'])}). "
            f"Featurize {'will upsample' if allowed else 'would upsample'} them: their mel channels "
            f"above {lowest / 2:g} Hz hold no recorded sound, only resampling noise that the per-channel "
            "normalization scales to full weight"
        ),
        "fix": (
            f"lower featurize.sample_rate to at most {lowest} and featurize.f_max to at most {lowest / 2:g} "
            "(the lowest native rate and its Nyquist frequency) with the STFT scaled to keep its time resolution, "
            f"featurize.{scaled_stft(thresholds.n_fft, thresholds.hop_length, lowest / model_rate).replace(', ', ', featurize.')}"
            ", or leave those files out (e.g. with "
            "an adapter option under dataset.options)"
            + ("" if allowed else ", or set prepare.allow_upsampling: true to accept the upsampling")
        ),
    }


def association_check(frame: pd.DataFrame, column: str, name: str, max_association: float) -> dict | None:
    """Warn when the class and `column` are associated (Cramér's V above `max_association`).

    Cramér's V is an effect size, so unlike a test's p-value it does not grow with the number of
    files; on a few dozen files chance alone can reach 0.3.
    """
    table = pd.crosstab(frame["label"], frame[column])
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    # Cramér's V: 0 when the column is spread alike over classes, 1 when it tells the class.
    strength = float(association(table.to_numpy(), method="cramer"))
    if strength <= max_association:
        return None
    shares = table.div(table.sum(axis=1), axis=0)
    spread = "; ".join(
        f"{label}: " + ", ".join(f"{value} {share:.0%}" for value, share in row.items() if share > 0)
        for label, row in shares.iterrows()
    )
    return {
        "check": f"{column}_confound",
        "cramers_v": round(strength, 3),
        "message": (
            f"{name} differ between classes (Cramér's V {strength:.2f} > prepare.max_class_association "
            f"= {max_association:g}): {spread}. A classifier can learn the recording channel instead "
            "of the class"
        ),
        "fix": (
            "keep recordings of one channel (see the adapter's options under dataset.options, e.g. "
            "dataset.options.sources for covid19-cough), or report results per source as well; bring every "
            "file to one band with featurize.sample_rate at most the lowest native rate and featurize.f_max "
            "at most half of it"
        ),
    }


def duration_check(frame: pd.DataFrame, max_ratio: float) -> dict | None:
    """Warn when the largest class median duration exceeds the smallest by more than `max_ratio`."""
    medians = frame.groupby("label")["duration_s"].median().dropna()
    if len(medians) < 2 or medians.min() <= 0:
        return None
    ratio = float(medians.max() / medians.min())
    if ratio <= max_ratio:
        return None
    spread = ", ".join(f"{label} {value:.2f} s" for label, value in medians.items())
    return {
        "check": "duration_confound",
        "ratio": round(ratio, 3),
        "message": (
            f"median durations differ between classes by a factor {ratio:.2f} "
            f"(> prepare.max_duration_ratio = {max_ratio:g}): {spread}. Cropping and zero padding to "
            "featurize.duration_s leave the length visible, so a classifier can learn it instead of "
            "the class"
        ),
        "fix": (
            "trim the recordings to the sound of interest, or set featurize.duration_s at most the "
            "shortest class median so that every clip is full"
        ),
    }


def few_groups_check(frame: pd.DataFrame, min_groups: int) -> dict | None:
    """Warn when a class has fewer than `min_groups` groups in val or test."""
    if min_groups <= 0:
        return None
    counts = (
        frame[frame["split"].isin(["val", "test"])]
        .groupby(["split", "label"])["group"]
        .nunique()
        .reindex(pd.MultiIndex.from_product([["val", "test"], sorted(frame["label"].unique())]), fill_value=0)
    )
    few = counts[counts < min_groups]
    if few.empty:
        return None
    listed = ", ".join(f"{label} in {split}: {int(n)}" for (split, label), n in few.items())
    return {
        "check": "few_groups",
        "groups": {f"{split}/{label}": int(n) for (split, label), n in few.items()},
        "message": (
            f"classes with fewer than prepare.min_groups_per_class = {min_groups} groups in an "
            f"evaluation split ({listed}); validation and test metrics on so few people or "
            "recordings are noisy"
        ),
        "fix": (
            "add data for these classes, or give val/test a larger share (prepare.split.val, "
            "prepare.split.test); lower prepare.min_groups_per_class if this is all the data there is"
        ),
    }


def unused_group_columns_check(adapter_report: dict) -> dict | None:
    """Warn when the adapter's table has group-like columns but files are their own groups."""
    columns = adapter_report.get("unused_group_columns") or []
    if not columns:
        return None
    return {
        "check": "unused_group_columns",
        "columns": list(columns),
        "message": (
            f"the table has column(s) {columns} that look like group ids (participant, speaker, ...), "
            "but dataset.options.group_column is not set: every file is its own group, so one "
            "person's recordings can land in both training and test"
        ),
        "fix": f"set dataset.options.group_column: {columns[0]} (or the column that identifies people)",
    }


def missing_count(adapter_report: dict) -> int:
    return int((adapter_report.get("missing_files") or {}).get("count", 0))


def missing_files_check(adapter_report: dict, listed: int) -> dict | None:
    """Listed files that are not on disk (None when there are none)."""
    missing = adapter_report.get("missing_files") or {}
    count = int(missing.get("count", 0))
    if not count:
        return None
    return {
        "check": "missing_files",
        "files": count,
        "message": (
            f"{count} of {listed} listed files are missing under dataset.root "
            f"(e.g. {list(missing.get('examples', []))[:EXAMPLES]}); they are left out"
        ),
        "fix": "check dataset.root and the paths the metadata lists, or drop the rows of files you do not have",
    }


def too_many_missing(adapter_report: dict, kept: int) -> str | None:
    """The message that stops prepare when most listed files are missing (None otherwise)."""
    count = missing_count(adapter_report)
    listed = kept + count
    if not listed or count / listed <= MAX_MISSING_SHARE:
        return None
    check = missing_files_check(adapter_report, listed)
    assert check is not None  # count > 0 here
    return f"most listed files are missing: {check['message'].removesuffix('; they are left out')}. {check['fix']}"


def unreadable_check(frame: pd.DataFrame) -> dict | None:
    unreadable = frame.loc[frame["sample_rate"] <= 0, "path"]
    if unreadable.empty:
        return None
    return {
        "check": "unreadable_files",
        "files": int(len(unreadable)),
        "message": f"{len(unreadable)} files cannot be read (e.g. {_examples(unreadable)})",
        "fix": "replace or delete them, or set featurize.on_bad_file: skip to leave them out",
    }


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _format_counts(counts: dict) -> str:
    return ", ".join(f"{value} ({n})" for value, n in counts.items()) or "-"


def _examples(paths) -> list[str]:
    return [str(p) for p in list(paths)[:EXAMPLES]]


__all__ = ["DataReport", "Thresholds", "build_data_report", "format_table", "too_many_missing"]
