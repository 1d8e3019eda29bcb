"""prepare: raw audio + metadata -> one manifest with grouped, stratified splits.

Reads params `dataset`, `prepare` and `featurize.sample_rate`/`featurize.f_max` (for the data
report's upsampling check); reads the data set under `dataset.root`. Writes OUT_DIR/manifest.csv,
OUT_DIR/report.json (what the adapter excluded and why) and OUT_DIR/data_report.json (per class
and split: files, groups, durations, native sample rates and channels, and warnings with their
fixes; also printed as a table), and the counts per class and split to METRICS (JSON for `dvc
metrics show`). Logs one MLflow run. Stops before writing anything when most listed files are
missing, or when files would be upsampled and `prepare.allow_upsampling` is false.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from synthaug import tracking
from synthaug.cli_arguments import add_params
from synthaug.config import load_params
from synthaug.datasets import load_dataset
from synthaug.datasets.manifest import SPLITS, validate_manifest, write_manifest
from synthaug.errors import DataError
from synthaug.io import atomic_directory, write_json_atomic


def count_table(manifest: pd.DataFrame, column: str = "path") -> pd.DataFrame:
    """Distinct values of `column` (files or groups) per label (rows) and split (columns)."""
    table = manifest.pivot_table(index="label", columns="split", values=column, aggfunc="nunique", fill_value=0)
    return table.reindex(columns=[s for s in SPLITS if s in table.columns]).astype(int)


def raw_examples_figure(manifest: pd.DataFrame, root: Path, title: str, per_class: int = 4):
    """Log-mel previews (default parameters, not normalized) of a few training files per class."""
    from synthaug.evaluation.figures import spectrogram_examples
    from synthaug.features import LogMelParams, extract

    class_names = sorted(manifest["label"].unique())
    rows = manifest[manifest["split"] == "train"].groupby("label").head(per_class)
    previews = extract(
        [root / path for path in rows["path"]], list(rows["path"]), LogMelParams(), on_bad_file="skip", workers=1, progress=False
    )
    labels = rows["label"].to_numpy()[previews.source_index]
    y = pd.Categorical(labels, categories=class_names).codes
    return spectrogram_examples(previews.x, y, class_names, per_class=per_class, title=title)


def split_manifest(result, split) -> pd.DataFrame:
    """The adapter's manifest with splits assigned; missing files are reported before the split, so
    that a wrong data root reads as missing files, not as a class with too few groups."""
    from synthaug.datasets.data_report import too_many_missing
    from synthaug.datasets.splits import assign_splits

    report = result.report
    stop = too_many_missing(report, kept=len(result.manifest))
    if stop:
        raise DataError(f"prepare: {stop}")
    missing = report.get("missing_files") or {}
    if missing.get("count"):
        print(
            f"prepare: {missing['count']} listed files are missing under dataset.root and left out, "
            f"e.g. {missing.get('examples', [])[:5]}"
        )
    try:
        return assign_splits(result.manifest, train=split.train, val=split.val, test=split.test, seed=split.seed)
    except DataError as exc:
        if missing.get("count"):
            raise DataError(
                f"{exc} ({missing['count']} listed files are missing under dataset.root, "
                f"e.g. {missing.get('examples', [])[:5]}: check dataset.root and the listed paths)"
            ) from exc
        raise


def main(params_path: Path, out_dir: Path, metrics_path: Path, project_root: Path = Path(".")) -> Path:
    # scipy, scikit-learn, matplotlib and torch load once the work begins, so a bad argument or
    # parameter is reported at once (tests/test_startup.py).
    from synthaug.datasets.data_report import Thresholds, build_data_report, format_table
    from synthaug.evaluation.figures import counts_by_split

    params = load_params(params_path)
    dataset, prepare = params.dataset, params.prepare
    result = load_dataset(dataset.adapter, Path(dataset.root), dataset.options)
    manifest = split_manifest(result, prepare.split)
    validate_manifest(manifest, where=f"manifest of dataset {dataset.name!r}")

    thresholds = Thresholds(
        model_sample_rate=params.featurize.sample_rate,
        f_max=params.featurize.f_max,
        allow_upsampling=prepare.allow_upsampling,
        n_fft=params.featurize.n_fft,
        hop_length=params.featurize.hop_length,
        min_groups_per_class=prepare.min_groups_per_class,
        max_class_association=prepare.max_class_association,
        max_duration_ratio=prepare.max_duration_ratio,
    )
    data_report = build_data_report(manifest, thresholds, result.report)
    table = format_table(data_report)
    print(table)
    if data_report.refusals:
        refusal = data_report.refusals[0]
        raise DataError(f"prepare: {refusal['message']}. Fix: {refusal['fix']}")

    files, groups = count_table(manifest, "path"), count_table(manifest, "group")
    metrics: dict[str, Any] = {
        "files": {"total": len(manifest), **files.to_dict()},
        "groups": {"total": int(manifest["group"].nunique()), **groups.to_dict()},
        "warnings": len(data_report.warnings),
    }
    with atomic_directory(out_dir) as tmp:
        write_manifest(manifest, tmp / "manifest.csv")
        write_json_atomic(tmp / "report.json", {"adapter": dataset.adapter, **result.report})
        write_json_atomic(tmp / "data_report.json", data_report.to_json())
    write_json_atomic(metrics_path, metrics)

    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="prepare",
        protocol=dataset.protocol,
        params={
            "dataset": dataset.model_dump(),
            "prepare": prepare.model_dump(),
            "featurize": {"sample_rate": params.featurize.sample_rate, "f_max": params.featurize.f_max},
        },
        tags={f"{tracking.TAG_PREFIX}data_warnings": ",".join(w["check"] for w in data_report.warnings) or "none"},
    ):
        tracking.log_counts(metrics, "prepare")
        tracking.log_dataset_input(
            manifest,
            name=dataset.name,
            source=str(Path(dataset.root)),
            digest=tracking.data_version(project_root),
            context="prepare",
        )
        tracking.log_file(out_dir / "manifest.csv")
        tracking.log_file(out_dir / "report.json")
        tracking.log_file(out_dir / "data_report.json")
        tracking.log_figure(counts_by_split(files, title=f"{dataset.name}: files", ylabel="files"), "files_per_split.png")
        tracking.log_figure(
            raw_examples_figure(manifest, Path(dataset.root), f"{dataset.name}: raw log-mel per class"), "examples_per_class.png"
        )
        tracking.log_figure(counts_by_split(groups, title=f"{dataset.name}: groups", ylabel="groups"), "groups_per_split.png")
    print(
        f"prepare: {len(manifest)} files, {metrics['groups']['total']} groups, "
        f"{len(data_report.warnings)} warnings -> {out_dir / 'manifest.csv'}, {out_dir / 'data_report.json'}"
    )
    return out_dir / "manifest.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug prepare` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/prepare")
    parser.add_argument("--metrics", type=Path, default=Path("metrics/prepare.json"), help="metrics JSON to write")


def run(args: argparse.Namespace) -> None:
    """`synthaug prepare`: main with the parsed arguments."""
    main(args.params, args.out_dir, args.metrics)
