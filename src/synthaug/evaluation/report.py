"""The results report: each method's scores over seeds and its paired comparison with the baseline.

`compare_methods` turns the run folders of each method (one per seed or trial, see
synthaug.evaluation.run_folder) into per-seed scores, mean ± std with a bootstrap confidence interval,
per-class results and, for every method but the baseline, the paired difference to the baseline
(overall and seed by seed) with a bootstrap confidence interval and a permutation-test p-value
(synthaug.evaluation.statistics). p-values are Holm–Bonferroni adjusted in two families: the
primary endpoints (`report.primary_endpoints`, see synthaug.evaluation.endpoints) of every compared
method, and everything else (argmax macro F1, balanced accuracy, per-class recall, argmax accuracy),
which shows where a decision threshold moved and is secondary.

Every score is file-level on the real test split; the bootstrap
resamples test groups (participants, patients, speakers: the manifest's `group`) within class and
the permutation test swaps whole groups, because a group's recordings are not independent. The
validation split only chooses the decision threshold of "macro F1 at the validation threshold"
(two classes only). `detectable_difference` sizes the differences the test split can resolve;
`markdown_*` render the tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthaug.class_plan import Classes, describe_classes
from synthaug.datasets.manifest import groups_of
from synthaug.errors import DataError
from synthaug.evaluation.endpoints import DEFAULT_PRIMARY, THRESHOLD_SCORE, TITLES
from synthaug.evaluation.labels import UNCONDITIONAL_CGAN_LABEL, mean_std, method_label
from synthaug.evaluation.metrics import classification_metrics
from synthaug.evaluation.run_folder import file_level
from synthaug.evaluation.statistics import (
    POWER_80_FACTOR,
    bootstrap_interval,
    choose_threshold,
    compare_to_baseline,
    groups_per_class,
    holm_adjust,
    metric_values,
    recall_metric,
    summarize,
)


@dataclass(frozen=True)
class ReportSetup:
    """What the report states about the run, as plain values (the report stage reads them from params)."""

    dataset_name: str
    protocol: str  # medical or industrial
    adapter: str
    data_root: str
    seeds: Sequence[int]  # train_classifier.seeds
    confidence: float  # report.confidence
    n_resamples: int  # report.n_resamples
    epochs: int  # train_classifier.epochs
    patience: int | None  # train_classifier.patience
    generator_classes: Classes  # train_generator.classes
    ensemble_split_seed: int  # ensemble.validation_split_seed
    scarcity_early_stopping: bool  # scarcity.early_stopping
    scarcity_gan_per_trial: bool  # scarcity.gan_per_trial
    scarcity_trials: int  # len(scarcity.trials)
    audit_repeats: int  # audit.repeats
    audit_k: int  # audit.k
    memorization_quantile: float  # audit.memorization_quantile
    copy_distance_ratio: float  # audit.copy_distance_ratio


ARGMAX_SCORES = ("macro_f1", "auroc", "accuracy", "balanced_accuracy")
SCORE_TITLES = TITLES
RECALL_KEY = "recall:"  # "recall:<class name>": one class's recall (argmax decision)
# Below this many test groups in some class, a percentile bootstrap of a paired difference is both
# wide and unreliable (it under-covers with few clusters), so the report says no difference can be
# detected rather than quoting intervals as if they meant something.
MIN_TEST_GROUPS_PER_CLASS = 20


@dataclass
class MethodScores:
    """One method's file-level test results over its seeds."""

    method: str
    seeds: int
    per_seed: dict[str, list[float]]  # score -> one value per seed
    summary: dict[str, dict]  # score -> {mean, std, n}
    per_class: dict[str, dict[str, dict]]  # class -> precision/recall/f1 -> {mean, std, n}
    # score -> difference, ci_low, ci_high, p_value, p_holm, family ("primary" or "secondary")
    versus_baseline: dict[str, dict] = field(default_factory=dict)
    seed_differences: dict[str, list[float]] = field(default_factory=dict)  # score -> method - baseline, seed by seed
    primary: list[str] = field(default_factory=list)  # the primary endpoints, in the order declared
    thresholds: list[float] = field(default_factory=list)
    intervals: dict[str, dict] = field(default_factory=dict)  # score -> bootstrap_interval (value, ci_low, ci_high, …)
    test_groups: dict[str, int] = field(default_factory=dict)  # class -> test groups holding files of it
    n_test_groups: int = 0
    support: dict[str, int] = field(default_factory=dict)  # class -> test files of it


@dataclass
class _Predictions:
    y_test: np.ndarray  # [F]
    test: np.ndarray  # [S, F, C]
    test_ids: np.ndarray
    y_val: np.ndarray
    val: np.ndarray


def _load(method: str, run_dirs: Sequence[Path], class_names: list[str]) -> _Predictions:
    tests, vals = [], []
    for run_dir in run_dirs:
        tests.append(file_level(run_dir, "test", class_names))
        vals.append(file_level(run_dir, "val", class_names))
    for name, loaded in (("test", tests), ("val", vals)):
        if any(not np.array_equal(ids, loaded[0][2]) for _, _, ids in loaded):
            raise DataError(f"{method}: its seeds were evaluated on different {name} files; re-run them (dvc repro)")
    return _Predictions(tests[0][1], np.stack([t[0] for t in tests]), tests[0][2], vals[0][1], np.stack([v[0] for v in vals]))


def compare_methods(
    runs: Mapping[str, Sequence[Path]],
    class_names: list[str],
    *,
    groups: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    primary: Sequence[str] = DEFAULT_PRIMARY,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MethodScores]:
    """Scores of every method in `runs` ({method: run folders, one per seed}, seeds paired by position).

    `groups` maps each test file id (the manifest's `path`) to its group (participant, patient,
    speaker); intervals and permutation tests resample or swap whole groups. Without it every test
    file is its own group (recordings treated as independent). `primary`: the primary endpoints
    (`primary_endpoints` resolves them for the number of classes); they form the first Holm family.
    """
    if baseline not in runs:
        raise DataError(f"no {baseline!r} runs to compare with; the report needs the baseline classifier")
    loaded = {method: _load(method, dirs, class_names) for method, dirs in runs.items()}
    reference = loaded[baseline]
    binary = len(class_names) == 2
    test_groups = groups_of(reference.test_ids, groups, source="the manifest (test files)")
    per_class_groups = groups_per_class(reference.y_test, test_groups)
    group_counts = {name: per_class_groups.get(c, 0) for c, name in enumerate(class_names)}
    n_test_groups = len(np.unique(test_groups))
    support = {name: int(n) for name, n in zip(class_names, np.bincount(reference.y_test, minlength=len(class_names)))}
    resampling: dict[str, Any] = {"groups": test_groups, "n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    primary = primary_endpoints(primary, len(class_names))
    # Each class's recall (argmax), for where a moved decision went; its statistics metric by class index.
    recalls = {f"{RECALL_KEY}{name}": recall_metric(c) for c, name in enumerate(class_names)}
    argmax_scores = {**{score: score for score in ARGMAX_SCORES}, **recalls}
    thresholds = {
        m: [choose_threshold(p.y_val, p.val[s]) for s in range(len(p.val))] if binary else None for m, p in loaded.items()
    }

    def seed_scores(method: str, predictions: _Predictions) -> dict[str, list[float]]:
        values = {score: metric_values(predictions.y_test, predictions.test, m)[0].tolist() for score, m in argmax_scores.items()}
        if binary:
            values[THRESHOLD_SCORE] = metric_values(
                predictions.y_test, predictions.test, "macro_f1", thresholds=np.asarray(thresholds[method])
            )[0].tolist()
        return values

    reference_per_seed = seed_scores(baseline, reference)
    results = {}
    for method, predictions in loaded.items():
        if not np.array_equal(predictions.test_ids, reference.test_ids):
            raise DataError(f"{method} and {baseline} were tested on different files; re-run both (dvc repro)")
        per_seed = seed_scores(method, predictions)
        intervals = {
            score: bootstrap_interval(predictions.y_test, predictions.test, score, **resampling) for score in ARGMAX_SCORES
        }
        if binary:
            intervals[THRESHOLD_SCORE] = bootstrap_interval(
                predictions.y_test, predictions.test, "macro_f1", thresholds=np.asarray(thresholds[method]), **resampling
            )
        scores = MethodScores(
            method=method,
            seeds=len(predictions.test),
            per_seed=per_seed,
            summary={score: summarize(values) for score, values in per_seed.items()},
            per_class=_per_class(predictions, class_names),
            primary=list(primary),
            thresholds=thresholds[method] or [],
            intervals=intervals,
            test_groups=group_counts,
            n_test_groups=n_test_groups,
            support=support,
        )
        if method != baseline:
            if len(predictions.test) != len(reference.test):
                raise DataError(
                    f"{method} has {len(predictions.test)} seeds, {baseline} {len(reference.test)}; "
                    "paired comparisons need the same seeds"
                )
            compared = compare_to_baseline(
                reference.y_test, reference.test, predictions.test, metrics=list(argmax_scores.values()), **resampling
            )
            scores.versus_baseline = {score: compared[metric] for score, metric in argmax_scores.items()}
            if binary:
                scores.versus_baseline[THRESHOLD_SCORE] = compare_to_baseline(
                    reference.y_test,
                    reference.test,
                    predictions.test,
                    metrics=("macro_f1",),
                    thresholds_baseline=np.asarray(thresholds[baseline]),
                    thresholds_method=np.asarray(thresholds[method]),
                    **resampling,
                )["macro_f1"]
            scores.seed_differences = {
                score: [b - a for a, b in zip(reference_per_seed[score], values, strict=True)]
                for score, values in per_seed.items()
            }
        results[method] = scores
    adjust_p_values(results, primary)
    return results


def primary_endpoints(declared: Sequence[str], n_classes: int) -> list[str]:
    """The declared primary endpoints for `n_classes`: macro F1 at the validation threshold needs two
    classes, so with more it becomes the argmax macro F1 (the report says so)."""
    resolved = ["macro_f1" if e == THRESHOLD_SCORE and n_classes != 2 else e for e in declared]
    return list(dict.fromkeys(resolved))


def adjust_p_values(results: Mapping[str, MethodScores], primary: Sequence[str] = DEFAULT_PRIMARY) -> dict[str, int]:
    """Add "p_holm" and "family" beside every "p_value" of `results`; returns {family: its size}.

    Two Holm–Bonferroni families: "primary" holds every method's comparisons on the `primary`
    endpoints, "secondary" every other score tested (also those a table does not show), because each
    was tested and could have been the one quoted. NaN p-values (AUROC undefined) are left out of the
    family and stay NaN.
    """
    sizes = {}
    for family in ("primary", "secondary"):
        comparisons = [
            c for r in results.values() for score, c in r.versus_baseline.items() if (score in primary) == (family == "primary")
        ]
        for comparison, adjusted in zip(comparisons, holm_adjust([c["p_value"] for c in comparisons]), strict=True):
            comparison["p_holm"], comparison["family"] = adjusted, family
        sizes[family] = sum(1 for c in comparisons if _finite(c["p_value"]))
    return sizes


def holm_family(results: Mapping[str, MethodScores], family: str = "primary") -> tuple[int, int, list[str]]:
    """(methods compared with the baseline, comparisons adjusted together, scores) of one family of a table."""
    compared = [r for r in results.values() if r.versus_baseline]
    chosen = [(s, c) for r in compared for s, c in r.versus_baseline.items() if c.get("family", "primary") == family]
    scores = list(dict.fromkeys(s for s, _ in chosen))
    n = sum(1 for _, c in chosen if _finite(c.get("p_value")))
    return len(compared), n, scores


def _per_class(predictions: _Predictions, class_names: list[str]) -> dict[str, dict[str, dict]]:
    seeds = [classification_metrics(predictions.y_test, proba, class_names)["per_class"] for proba in predictions.test]
    return {name: {k: summarize([s[name][k] for s in seeds]) for k in ("precision", "recall", "f1")} for name in class_names}


def spread_words(n: int, unit: str) -> str:
    """How a table's 'mean ± std' reads for `n` seeds or trials: '3 seeds: mean ± sample std', '1 seed, no std'."""
    return f"1 {unit}, no std" if n == 1 else f"{n} {unit}s: mean ± sample std"


def mean_std_interval(stats: Mapping[str, float], interval: Mapping[str, float] | None) -> str:
    """'0.745 ± 0.012 [0.70, 0.79]': mean ± std over seeds (the mean alone for one seed) and the
    bootstrap interval of the seed mean."""
    text = mean_std(stats)
    if text == "n/a" or not interval or not _finite(interval.get("ci_low")) or not _finite(interval.get("ci_high")):
        return text
    return f"{text} [{interval['ci_low']:.2f}, {interval['ci_high']:.2f}]"


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def detectable_difference(results: Mapping[str, MethodScores], scores: Sequence[str] | None = None) -> dict[str, float]:
    """{score: median over compared methods of the half-width of the paired difference's interval}; NaN without comparisons.

    A true difference much smaller than this half-width cannot be told from the noise of the test
    split and the seeds: it is the resolution of the comparison, not a property of any one method.
    A difference of exactly this size reaches significance only about half the time; at 80 % power
    it must be `POWER_80_FACTOR` (1.43) times larger (`detectable_at_80_power`). `scores`: default
    the primary endpoints.
    """
    scores = primary_of(results) if scores is None else scores
    out = {}
    for score in scores:
        half_widths = [
            (v["ci_high"] - v["ci_low"]) / 2
            for r in results.values()
            if (v := r.versus_baseline.get(score)) and _finite(v["ci_low"]) and _finite(v["ci_high"])
        ]
        out[score] = float(np.median(half_widths)) if half_widths else math.nan
    return out


def detectable_at_80_power(results: Mapping[str, MethodScores], scores: Sequence[str] | None = None) -> dict[str, float]:
    """{score: the paired difference the test split detects at the 5 % level with 80 % power} (normal approximation)."""
    return {score: value * POWER_80_FACTOR for score, value in detectable_difference(results, scores).items()}


def primary_of(results: Mapping[str, MethodScores]) -> list[str]:
    """The primary endpoints the results were computed for."""
    reference = next(iter(results.values()), None)
    return list(reference.primary) if reference is not None and reference.primary else list(DEFAULT_PRIMARY)


def has_resolution(results: Mapping[str, MethodScores]) -> bool:
    """Whether the test split has enough groups in every class for the bootstrap's intervals to mean something."""
    counts = next(iter(results.values())).test_groups
    return bool(counts) and min(counts.values()) >= MIN_TEST_GROUPS_PER_CLASS


def resolution_lines(results: Mapping[str, MethodScores]) -> list[str]:
    """The header's statement of what the test split can resolve, and a loud warning when it cannot.

    Where some class has fewer test groups than the bootstrap needs, no resolution figure is printed:
    the intervals are then too unreliable to size anything (with one group per class the bootstrap
    draws the same data every time and a "resolution" would measure the seeds alone).
    """
    reference = next(iter(results.values()))
    counts = reference.test_groups
    per_class = ", ".join(f"{n} {name}" for name, n in counts.items())
    primary = primary_of(results)
    resolution = detectable_difference(results, primary)
    powered = detectable_at_80_power(results, primary)
    lines = []
    scarce = {name: n for name, n in counts.items() if n < MIN_TEST_GROUPS_PER_CLASS}
    if scarce:
        listed = ", ".join(f"{n} of class `{name}`" for name, n in scarce.items())
        return [
            f"- **Resolution:** not estimated: {reference.n_test_groups} test groups ({per_class}).",
            "",
            f"> **Warning: differences between methods cannot be detected on this test split.** It holds only "
            f"{listed} (fewer than {MIN_TEST_GROUPS_PER_CLASS} groups per class): the intervals are wide and "
            "themselves unreliable, so treat every comparison below as inconclusive and evaluate on more "
            "participants before drawing conclusions.",
        ]
    if all(math.isnan(v) for v in resolution.values()):
        lines.append(
            f"- **Resolution:** {reference.n_test_groups} test groups ({per_class}); no method is compared "
            "with the baseline, so no smallest detectable difference is estimated."
        )
    else:

        def amount(values: Mapping[str, float], score: str) -> str:
            return "n/a" if math.isnan(values[score]) else f"±{values[score]:.3f}"

        sizes = "; ".join(f"{TITLES[s]} {amount(resolution, s)} (80 % power: {amount(powered, s)})" for s in primary)
        lines.append(
            f"- **Resolution:** with {reference.n_test_groups} test groups ({per_class}) and {reference.seeds} seeds, "
            f"the 95 % half-width of a paired difference (median over methods) is {sizes}. A true difference of "
            "the half-width is detected only about half the time; the power figure is the difference found "
            "80 % of the time at the 5 % level."
        )
    return lines


def difference(comparison: Mapping[str, float] | None) -> str:
    """'+0.012 [−0.050, +0.071], p = 0.03, Holm 0.18' (or '' for the baseline itself).

    p is the raw permutation-test p-value, Holm the Holm–Bonferroni adjusted one (see `adjust_p_values`).
    """
    if not comparison:
        return ""
    if comparison["difference"] is None or math.isnan(comparison["difference"]):
        return "n/a"
    text = interval_text(comparison) + f", p = {comparison['p_value']:.3g}"
    return text + (f", Holm {comparison['p_holm']:.3g}" if _finite(comparison.get("p_holm")) else "")


def interval_text(comparison: Mapping[str, float] | None) -> str:
    """'+0.012 [−0.050, +0.071]': a paired difference and its interval ('' for the baseline itself)."""
    if not comparison:
        return ""
    if comparison["difference"] is None or math.isnan(comparison["difference"]):
        return "n/a"
    return f"{comparison['difference']:+.3f} [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]"


def seed_differences_text(values: Sequence[float] | None) -> str:
    """'+0.012, −0.004, +0.031': the paired difference of each seed (seed s of the method minus seed s of the baseline)."""
    if not values:
        return ""
    return ", ".join("n/a" if not _finite(v) else f"{v:+.3f}" for v in values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_methods(
    results: Mapping[str, MethodScores], *, versus: Sequence[str] | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """The overview table: each primary endpoint as mean ± std [CI], then its difference to the baseline with CI.

    `versus`: the scores shown (default: the primary endpoints). `labels` names methods in the table
    where their name alone would mislead (see `method_label`).
    """
    labels = labels or {}
    scores = [s for s in (versus or primary_of(results)) if any(s in r.summary for r in results.values())]
    header = [
        "Method",
        "Seeds",
        *(f"{TITLES[s]} [CI]" for s in scores),
        *(f"Δ {TITLES[s]} vs baseline [CI], p, Holm p" for s in scores),
    ]
    rows = [
        [
            labels.get(name, name),
            str(r.seeds),
            *(mean_std_interval(r.summary[s], r.intervals.get(s)) if s in r.summary else "n/a" for s in scores),
            *(difference(r.versus_baseline.get(s)) for s in scores),
        ]
        for name, r in results.items()
    ]
    return markdown_table(header, rows)


def markdown_endpoint(results: Mapping[str, MethodScores], score: str, labels: Mapping[str, str] | None = None) -> str:
    """One endpoint's table: the score, the paired difference to the baseline, its p-values and each seed's difference."""
    labels = labels or {}
    family = next((c.get("family", "") for r in results.values() if (c := r.versus_baseline.get(score))), "")
    header = [
        "Method",
        "Seeds",
        f"{TITLES[score]} [CI]",
        "Δ vs baseline [CI]",
        "p",
        f"Holm p ({family})" if family else "Holm p",
        "Δ per seed",
    ]
    rows = []
    for name, r in results.items():
        versus = r.versus_baseline.get(score)
        rows.append(
            [
                labels.get(name, name),
                str(r.seeds),
                mean_std_interval(r.summary[score], r.intervals.get(score)) if score in r.summary else "n/a",
                interval_text(versus),
                _number(versus.get("p_value"), ".3g") if versus else "",
                _number(versus.get("p_holm"), ".3g") if versus else "",
                seed_differences_text(r.seed_differences.get(score)),
            ]
        )
    return markdown_table(header, rows)


def markdown_decision(results: Mapping[str, MethodScores], labels: Mapping[str, str] | None = None) -> str:
    """Where the argmax decision moved: macro F1, balanced accuracy and accuracy at argmax, with differences."""
    labels = labels or {}
    header = [
        "Method",
        "Macro F1 (argmax) [CI]",
        "Balanced accuracy [CI]",
        "Δ balanced accuracy [CI], p, Holm p",
        "Accuracy (argmax, secondary) [CI]",
        "Δ accuracy [CI], p, Holm p",
    ]
    rows = [
        [
            labels.get(name, name),
            *(
                mean_std_interval(r.summary[s], r.intervals.get(s)) if s in r.summary else "n/a"
                for s in ("macro_f1", "balanced_accuracy")
            ),
            difference(r.versus_baseline.get("balanced_accuracy")),
            mean_std_interval(r.summary["accuracy"], r.intervals.get("accuracy")),
            difference(r.versus_baseline.get("accuracy")),
        ]
        for name, r in results.items()
    ]
    return markdown_table(header, rows)


def markdown_per_class(
    results: Mapping[str, MethodScores], labels: Mapping[str, str] | None = None, support: Mapping[str, int] | None = None
) -> str:
    """Per-class precision, recall and F1 in long format: one row per method and class, so the table is
    as wide for ten classes as for two. `support`: test files per class (a column when given)."""
    labels = labels or {}
    class_names = list(next(iter(results.values())).per_class)
    header = [
        "Method",
        "Class",
        "Precision",
        "Recall",
        "Δ recall vs baseline [CI], p",
        "F1",
        *(["Support"] if support is not None else []),
    ]
    rows = [
        [
            labels.get(method, method),
            name,
            *(mean_std(r.per_class[name][k]) for k in ("precision", "recall")),
            _recall_difference(r.versus_baseline.get(f"{RECALL_KEY}{name}")),
            mean_std(r.per_class[name]["f1"]),
            *([str(support.get(name, 0))] if support is not None else []),
        ]
        for method, r in results.items()
        for name in class_names
    ]
    return markdown_table(header, rows)


SCARCITY_VARIANTS = ("baseline", "baseline_classic", "gan", "gan_classic")
PUBLISHED_MEDICAL = {  # the medical study on Coswara (test macro F1, AUROC); profiles/paper-medical.yaml reproduces its setup
    "baseline": (0.645, 0.745),
    "vae": (0.646, 0.748),
    "wgan_gp": (0.609, 0.726),
    "ddpm": (0.644, 0.746),
    "ensemble": (0.664, 0.761),
}


def _recall_difference(comparison: Mapping[str, float] | None) -> str:
    if not comparison:
        return ""
    text = interval_text(comparison)
    return text if text == "n/a" else f"{text}, p = {comparison['p_value']:.3g}"


def published_protocol_lines(departures: list[dict], unstated: list[dict], published_profile: str) -> list[str]:
    """The header's comparison of the whole configuration with the published protocol's table of values."""

    def value(v) -> str:
        return f"`{v}`".replace("|", "\\|")

    protocol = f"the published protocol (`profiles/{published_profile}.yaml` reproduces it)"
    if departures:
        lines = [
            "",
            f"**Published protocol:** matches {protocol} except in {len(departures)} setting(s) the study "
            "states, so these numbers are not the published experiment:",
            "",
            markdown_table(
                ["Setting", "Here", "Published", "Stated in", "Note"],
                [[f"`{d['key']}`", value(d["here"]), value(d["published"]), d["source"], d["note"]] for d in departures],
            ),
        ]
    else:
        lines = ["", f"**Published protocol:** matches every setting of {protocol} that the study states."]
    if unstated:
        lines += [
            "",
            f"Settings the study does not state, as this run chose them ({len(unstated)}):",
            "",
            markdown_table(["Setting", "Here", "Note"], [[f"`{d['key']}`", value(d["here"]), d["note"]] for d in unstated]),
        ]
    return lines


def multiple_comparisons_line(methods: Mapping[str, MethodScores], scarcity: Mapping[int, Mapping[str, MethodScores]]) -> str:
    """The header's statement of which families of p-values the Holm–Bonferroni adjustment covers."""
    n_methods, n_comparisons, scores = holm_family(methods, "primary")
    if not n_comparisons:
        return "- **Multiple comparisons:** no p-value to adjust (no method is compared with the baseline)."
    titles = ", ".join(TITLES.get(s, s) for s in scores)
    _, n_secondary, _ = holm_family(methods, "secondary")
    line = (
        f'- **Multiple comparisons:** "Holm" is the Holm–Bonferroni adjusted p-value within a family. The primary '
        f"family is the {n_comparisons} method-vs-baseline comparisons on the primary endpoints ({n_methods} methods × "
        f"{len(scores)}: {titles}); the secondary family the other {n_secondary} (argmax macro F1, balanced accuracy, "
        "argmax accuracy, each class's recall: every score tested counts, also those a table does not show). "
        'It keeps the chance of any false positive in a family at the chosen level; "p" is the raw p-value of '
        "one comparison alone."
    )
    if scarcity:
        n_variants, _, level_scores = holm_family(next(iter(scarcity.values())), "primary")
        line += (
            f" The data-scarcity tables are adjusted within each level and family ({n_variants} variants × "
            f"{len(level_scores)} primary endpoints against that level's baseline; the rest as secondary)."
        )
    return line


def scarcity_budget_line(setup: ReportSetup) -> str:
    """The header's statement of what labelled data each point of the scarcity sweep read besides its subset."""
    if setup.scarcity_early_stopping:
        selection = (
            f"stop early (patience {setup.patience}) on N validation files per class drawn "
            "from the validation split, the same budget as training, never on the whole split"
        )
    else:
        selection = (
            f"train a fixed {setup.epochs} epochs and keep the last, reading no validation data, as the "
            "industrial study does (`scarcity.early_stopping: false`)"
        )
    return (
        "- **Data-scarcity budget:** each point uses only its N real training files per class: features are "
        f"z-scored with that subset's own statistics, and its classifiers {selection}."
    )


def primary_endpoints_line(methods: Mapping[str, MethodScores], n_classes: int) -> str:
    """The header's declaration of the primary endpoints (params `report.primary_endpoints`)."""
    primary = primary_of(methods)
    titles = " and ".join(TITLES[s] for s in primary)
    line = (
        f"- **Primary endpoints** (`report.primary_endpoints`): {titles}, shown first. AUROC is free of any threshold; "
        "macro F1 at the validation threshold re-chooses each classifier's decision threshold on validation, so a "
        "threshold moved by the synthetic data does not count as a gain. Argmax accuracy is secondary."
    )
    if n_classes != 2:
        line += " Macro F1 at a validation threshold needs two classes; here the primary macro F1 is the argmax one."
    return line


def method_notes(setup: ReportSetup, methods: Mapping[str, MethodScores], learned_classes: int) -> list[str]:
    """Notes under the methods table on what a method is where its name alone would mislead
    (`learned_classes`: how many classes the generators learn)."""
    notes = []
    if "cgan" in methods and method_label("cgan", learned_classes) != "cgan":
        notes.append(
            f"- **{UNCONDITIONAL_CGAN_LABEL}**: the generators learn one class only "
            f"(`train_generator.classes: {describe_classes(setup.generator_classes)}`), so the "
            "conditional GAN trains on one class: its auxiliary classifier has no other class to tell apart, "
            "and it is an unconditional progressive GAN, not a class-conditional one."
        )
    if "ensemble_fitted" in methods:
        notes.append(
            f"- **ensemble_fitted**: member weights minimize the log loss on one half of the validation "
            f"groups (classes spread evenly, seed `ensemble.validation_split_seed` = "
            f"{setup.ensemble_split_seed}); its validation scores and its val.-threshold column "
            "come from the other half only (where some class has fewer than two validation groups, the "
            "ensemble stage warns and fits and scores on all of validation). Every member's best epoch was chosen on the whole validation "
            "split, so validation scores stay optimistic for every method; the test scores are the honest ones."
        )
    return ["", *notes] if notes else []


def render(
    setup: ReportSetup,
    methods: dict[str, MethodScores],
    scarcity: dict[int, dict[str, MethodScores]],
    shrunk: list[dict],
    published_profile: str,
    n_classes: int,
    audits: dict[str, dict],
    unstated: list[dict] | None = None,
    learned_classes: Sequence[str] | None = None,
) -> str:
    """reports/results.md: header (data, seeds, departures from the published protocol), methods, per class, audit, scarcity.

    `shrunk`: every setting the study states that this run departs from; `unstated`: what the run
    chose where the study is silent; rows {key, here, published, source, note} (synthaug.protocols).
    `learned_classes`: the classes the generators learn (synthaug.class_plan; None: all of them).
    Every table is at most 8 columns wide whatever the number of classes, seeds or methods: per-class
    results are in long format (one row per method and class).
    """
    seeds = list(setup.seeds)
    n_learned = n_classes if learned_classes is None else len(learned_classes)
    if len(seeds) == 1:
        seeds_line = (
            f"- **Seeds:** 1 seed, no std (seed {seeds[0]}): each score is one classifier's, and its spread "
            "over seeds is not measured; the intervals below resample test groups only."
        )
    else:
        seeds_line = (
            f"- **Seeds:** {len(seeds)} per method ({', '.join(map(str, seeds))}); tables give mean ± sample std over seeds."
        )
    lines = [
        f"# Results: {setup.dataset_name} ({setup.protocol} protocol)",
        "",
        f"- **Data:** `{setup.dataset_name}` (adapter `{setup.adapter}`, `{setup.data_root}`), {n_classes} classes; every score is "
        "file-level on the real test split, which no generator and no classifier saw in training.",
        seeds_line,
        f"- **Statistics:** {setup.confidence:.0%} bootstrap intervals from {setup.n_resamples} resamples of the test "
        "groups (participants, patients or speakers, drawn with replacement within each class, all recordings of a "
        "group together) and of the seeds: beside each method's mean ± std, the interval of its seed-mean score; "
        "differences to the baseline are paired (same test files, the same draws, seeds paired). The p-values come "
        "from a paired permutation test that swaps whole groups between the two methods: they are conditional on "
        "the classifiers trained here (the seeds' networks are held fixed), so they say whether these models "
        "differ on this test split, not whether retraining would reproduce the difference; the bootstrap "
        'intervals and the "Δ per seed" column carry the training variability. The validation split only picks '
        'early stopping and the decision threshold of the "val. threshold" scores.',
        primary_endpoints_line(methods, n_classes),
        multiple_comparisons_line(methods, scarcity),
        *([scarcity_budget_line(setup)] if scarcity else []),
        *resolution_lines(methods),
    ]
    lines += published_protocol_lines(shrunk, unstated or [], published_profile)
    labels = {method: method_label(method, n_learned) for method in methods}
    lines += ["", "## Primary endpoints", ""]
    for score in primary_of(methods):
        lines += [f"### {TITLES[score]}", "", markdown_endpoint(methods, score, labels), ""]
    lines += [
        *method_notes(setup, methods, n_learned),
        "",
        "![primary endpoints per method](figures/methods.png)",
        "",
        "## Where the decision moved (argmax; secondary)",
        "",
        "The argmax decision of each classifier. Balanced accuracy (the mean of the classes' recalls) and each "
        "class's recall (in the per-class table) show whether a method discriminates better or only moved its "
        "threshold: a moved threshold raises argmax accuracy by predicting the majority class more often while "
        "balanced accuracy and the minority's recall stay or fall.",
        "",
        markdown_decision(methods, labels),
    ]
    if setup.protocol == "medical":
        lines += [
            "",
            "The medical study's published test scores on Coswara, for orientation (other data, one run each):",
            "",
            markdown_table(
                ["Method", "Macro F1", "AUROC"], [[m, f"{f1:.3f}", f"{auc:.3f}"] for m, (f1, auc) in PUBLISHED_MEDICAL.items()]
            ),
        ]
    lines += [
        "",
        "## Per-class results (test, argmax decision)",
        "",
        "One row per method and class; support: test files of the class.",
        "",
        markdown_per_class(methods, labels, support=_test_support(methods)),
    ]
    if audits:
        lines += render_audit(
            audits,
            methods,
            repeats=setup.audit_repeats,
            audit_k=setup.audit_k,
            memorization_quantile=setup.memorization_quantile,
            copy_distance_ratio=setup.copy_distance_ratio,
        )
    if scarcity:
        variants = list(SCARCITY_VARIANTS)
        gan_note = (
            "each trial trains its own conditional GAN"
            if setup.scarcity_gan_per_trial
            else "one conditional GAN per level (seed 0) serves every trial, trained"
        )
        rows = []
        for n, point in scarcity.items():
            rows.append([str(n), *(mean_std(point[v].summary["accuracy"]) for v in variants)])
        lines += [
            "",
            "## Data scarcity",
            "",
            f"Test accuracy (file level, {spread_words(setup.scarcity_trials, 'trial')}) against real training files "
            f"per class; {gan_note} on exactly that subset.",
            "",
            markdown_table(["Files per class", *variants], rows),
            "",
            "![accuracy against files per class](figures/scarcity_accuracy.png)",
            "",
            "![macro F1 against files per class](figures/scarcity_macro_f1.png)",
            "",
            "Differences to the baseline at each level (accuracy, macro F1):",
            "",
        ]
        rows = []
        for n, point in scarcity.items():
            for v in variants[1:]:
                versus = point[v].versus_baseline
                rows.append([str(n), v, difference(versus.get("accuracy")), difference(versus.get("macro_f1"))])
        lines.append(
            markdown_table(["Files per class", "Variant", "Δ accuracy [CI], p, Holm p", "Δ macro F1 [CI], p, Holm p"], rows)
        )
    return "\n".join(lines) + "\n"


def _test_support(methods: Mapping[str, MethodScores]) -> dict[str, int]:
    """Test files per class (every method is tested on the same files)."""
    return dict(next(iter(methods.values())).support)


def audit_rows(audits: Mapping[str, dict]) -> dict[str, dict[str, dict]]:
    """{class: {set: {view: row}}}: the real-validation reference row first, then each generator that made the class."""
    from synthaug.evaluation.fidelity import REFERENCE

    table: dict[str, dict[str, dict]] = {}
    for name, result in audits.items():
        for cls, by_view in result["classes"].items():
            rows = table.setdefault(cls, {})
            if REFERENCE not in rows and cls in result.get("reference", {}):
                rows[REFERENCE] = result["reference"][cls]
            rows[name] = by_view
    return {cls: dict(sorted(rows.items(), key=lambda item: item[0] != REFERENCE)) for cls, rows in table.items()}


def permutation_p(audits: Mapping[str, dict], name: str, cls: str) -> float:
    """The group permutation p-value of a set's (or the reference row's) strongest two-sample AUROC; NaN if absent."""
    from synthaug.evaluation.fidelity import REFERENCE

    for set_name, result in audits.items():
        if name == REFERENCE:
            test = result.get("reference_permutation_tests", {}).get(cls)
        elif set_name == name:
            test = result.get("permutation_tests", {}).get(cls)
        else:
            continue
        if test and test.get("p_value") is not None:
            return float(test["p_value"])
    return math.nan


def validation_half_note(audits: Mapping[str, dict]) -> str:
    """A sentence when the generators chose snapshots on half of validation and the audit scored the other."""
    halves = [result.get("validation", {}) for result in audits.values()]
    reporting = next((half for half in halves if half.get("half") == "reporting"), None)
    if reporting is None:
        return ""
    return (
        " The generators served the snapshot closest to real data on half of the validation groups "
        "(train_generator.fidelity_snapshots), so every row here is scored on the other half only "
        f"({reporting.get('files')} files of {reporting.get('groups')} groups): choosing and reporting never "
        "share data."
    )


def render_audit(
    audits: dict[str, dict],
    methods: dict[str, MethodScores],
    *,
    repeats: int,
    audit_k: int,
    memorization_quantile: float,
    copy_distance_ratio: float,
) -> list[str]:
    """The audit section: per class, every generator beside the real-validation reference row, in each view.

    A summary table quotes each set's strongest two-sample AUROC (the maximum over tests and views) beside
    its classifier gain; one small table per view gives the metrics, one row per class x set.
    """
    from synthaug.evaluation.fidelity import REFERENCE, REFERENCE_LABEL, strongest_two_sample

    table = audit_rows(audits)
    # The views the audit wrote, in its order (older audits hold two).
    views = list(next(iter(audits.values()), {}).get("views", ["classifier", "log_mel"]))
    gain_score = primary_of(methods)[0] if methods else "auroc"
    view_names = {
        "classifier": "classifier view (the first seed's baseline, penultimate layer)",
        "log_mel": "log-mel view (a fixed random projection of the spectrogram)",
        "band_statistics": "band-statistics view (each mel band's mean and spread over time)",
    }

    def label(name: str) -> str:
        return REFERENCE_LABEL if name == REFERENCE else name

    def pair(row: Mapping, first: str, second: str, spec: str = ".2f") -> str:
        return f"{_number(row.get(first), spec)} / {_number(row.get(second), spec)}"

    summary = []
    for cls, rows in table.items():
        for name, by_view in rows.items():
            best = strongest_two_sample(by_view)
            where = f"{best['view'].replace('_', '-')}, {best['test']}" if best["view"] else "n/a"
            gain = (
                "—"
                if name == REFERENCE
                else (difference(methods[name].versus_baseline.get(gain_score)) if name in methods else "n/a")
            )
            copies = " / ".join(_number(by_view.get(view, {}).get("memorization_rate"), ".0%") for view in views)
            p_value = permutation_p(audits, name, cls)
            summary.append([cls, label(name), _number(best["auroc"], ".2f"), where, _number(p_value, ".2g"), copies, gain])

    def view_rows(view: str) -> list[list[str]]:
        out = []
        for cls, rows in table.items():
            for name, by_view in rows.items():
                a = by_view.get(view, {})
                frechet = f"{_number(a.get('frechet_val'), '.3g')} ({_number(a.get('frechet_dims_val'), '.0f')})"
                out.append(
                    [
                        cls,
                        label(name),
                        _number(a.get("n"), "d"),
                        pair(a, "two_sample_auroc_knn_val", "two_sample_auroc_quadratic_val"),
                        pair(a, "two_sample_auroc_knn_train", "two_sample_auroc_quadratic_train"),
                        f"{_number(a.get('kid_val'), '.3g')} / {frechet}",
                        " / ".join(_number(a.get(k), ".2f") for k in ("precision", "recall", "coverage")),
                        _number(a.get("memorization_rate"), ".0%"),
                    ]
                )
        return out

    # Eight columns (KID and FD in one cell, precision / recall / coverage in another), so the tables
    # stay readable with ten classes and four generators.
    view_header = [
        "Class",
        "Set",
        "n",
        "AUROC val (kNN / quad.)",
        "AUROC train (kNN / quad.)",
        "KID / FD val (dims)",
        "Precision / recall / coverage",
        "Copies",
    ]
    lines = [
        "",
        "## Synthetic data audit",
        "",
        "Every synthetic set is scored against real data no generator saw: each class's validation files are "
        "split by group (participant or recording) into a comparison half and a reference half, and the "
        f"reference half is scored exactly like a synthetic set. Its row, **{REFERENCE_LABEL}**, is what a "
        "perfect generator would get at this sample size; a generator is as good as its distance from that "
        f"row. Each synthetic set is subsampled to the reference half's size (n); {repeats} group "
        "splits are averaged. The test split is not read." + validation_half_note(audits),
        "",
        "- **Two-sample AUROC**: out-of-fold AUROC of a classifier telling the set from the comparison half "
        "(val) or from the training data (train); 0.5 = indistinguishable, 1 = trivially separable. kNN on "
        "standardized features sees shape and spread; quad. (logistic regression on the features and their "
        "squares) sees shifts of each feature's mean and spread where kNN's neighbourhoods fail. "
        "Both are cross-validated in group folds: a participant's recordings, or a file's clips, never sit on "
        "both sides of a fold, or real data would look unlike real data. *Strongest*: each test's mean over "
        "the splits, the highest over tests and views, the figure to quote. At a few dozen samples the AUROC "
        "of identical distributions scatters around 0.5 (and a maximum over four tests lifts it): compare each "
        "set with the reference row and read its permutation p-value, not the distance from 0.5.",
        "- **KID**: unbiased MMD² with a cubic polynomial kernel (≈ 0 for one distribution, may dip below 0), "
        "on features centred and scaled by the class's training data. **FD**: Fréchet distance after a PCA "
        "(fitted on the comparison half) to the dimensions in brackets, at most n / 5, since a full-width "
        "covariance from a few dozen samples measures the sample size, not the generator.",
        f"- **Precision / recall / coverage** against the comparison half (k = {audit_k}). **Copies**: share "
        "of samples closer to a training sample than all but "
        f"{memorization_quantile:.0%} of validation samples are, and whose nearest training "
        f"distance is below {copy_distance_ratio:g} × the distance to the nearest training sample of another "
        "group (a blurry sample at the class mean is close to every training sample, not a copy of one; a "
        "participant's other recording or the overlapping clip is not a second, independent sample).",
        "",
        f"Summary (Δ {TITLES[gain_score]}: the generator's classifier gain on the first primary endpoint; p "
        "(group permutation): whether the strongest test tells the set from real validation data at this n, "
        "dealing whole groups afresh to either side and taking the maximum over tests and views again (at the "
        "first split; large p: indistinguishable at this n); copies: "
        + " / ".join(v.replace("_", " ") for v in views)
        + " view):",
        "",
        markdown_table(
            [
                "Class",
                "Set",
                "Strongest AUROC val",
                "View, test",
                "p (group permutation)",
                "Copies",
                f"Δ {TITLES[gain_score]} vs baseline [CI], p",
            ],
            summary,
        ),
        "",
        "![audit per class and view](figures/audit.png)",
    ]
    for view in views:
        lines += ["", f"In the {view_names[view]}:", "", markdown_table(view_header, view_rows(view))]
    lines.append("")
    for name in audits:
        lines += [f"![{name}: most copy-like samples](figures/nearest_neighbours_{name}.png)", ""]
    return lines[:-1]


def _number(value, spec: str) -> str:
    """A metric for a table; 'n/a' where it could not be computed (null in JSON, NaN), e.g. for tiny classes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)
