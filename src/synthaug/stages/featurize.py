"""featurize: manifest -> normalized log-mel spectrogram sets, one per split.

Reads params `dataset.name`, `dataset.root` and `featurize`; reads MANIFEST and the audio it lists.
Writes OUT_DIR/{train,val,test}.npz (`synthaug.spectrograms.SpectrogramSet` schema), OUT_DIR/normalizer.json (per-mel-channel
mean and std fitted on train only) and OUT_DIR/report.json (skipped files), and counts to METRICS.
Logs one MLflow run with example spectrograms per class.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from synthaug import tracking
from synthaug.cli_arguments import add_params
from synthaug.config import load_params
from synthaug.datasets.manifest import SPLITS, read_manifest
from synthaug.errors import DataError
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set


def main(params_path: Path, manifest_path: Path, out_dir: Path, metrics_path: Path, project_root: Path = Path(".")) -> Path:
    # torch and matplotlib load once the work begins, so a bad argument or parameter is reported at
    # once (tests/test_startup.py).
    from synthaug.evaluation.figures import spectrogram_examples
    from synthaug.features import extract, fit_normalizer

    params = load_params(params_path)
    dataset, settings = params.dataset, params.featurize
    logmel = settings.log_mel()
    for warning in logmel.resolution_warnings():
        print(f"featurize: warning: {warning}", file=sys.stderr)
    manifest = read_manifest(manifest_path)
    class_names = sorted(manifest["label"].unique())
    labels = pd.Categorical(manifest["label"], categories=class_names).codes.astype(np.int64)

    # One extraction over every split, so a bad file anywhere is reported together with all others.
    root = Path(dataset.root)
    extraction = extract(
        [root / path for path in manifest["path"]],
        list(manifest["path"]),
        logmel,
        on_bad_file=settings.on_bad_file,
        workers=settings.workers,
    )
    clip_split = manifest["split"].to_numpy()[extraction.source_index]
    clip_label = labels[extraction.source_index]
    is_train = clip_split == "train"
    if not is_train.any():
        raise DataError(f"{manifest_path}: no usable training files; check the manifest and featurize.on_bad_file")
    normalizer = fit_normalizer(extraction.x[is_train])

    metrics: dict = {"clips": {}, "files": {}, "skipped_files": len(extraction.bad_files)}
    sets: dict[str, SpectrogramSet] = {}
    for split in SPLITS:
        chosen = clip_split == split
        sets[split] = SpectrogramSet(
            x=normalizer.apply(extraction.x[chosen]),
            y=clip_label[chosen],
            file_id=extraction.file_id[chosen],
            class_names=class_names,
            feature_params=logmel.model_dump(),
            metadata={"split": split, "dataset": dataset.name, "normalization": "per-mel z-score fitted on train"},
        )
        counts = np.bincount(sets[split].y, minlength=len(class_names))
        metrics["clips"][split] = {name: int(n) for name, n in zip(class_names, counts)}
        metrics["files"][split] = int(len(np.unique(sets[split].file_id)))
    metrics["shape"] = list(extraction.x.shape[1:])

    report = {
        "skipped_files": [{"path": str(p), "reason": r, "detail": d} for p, r, d in extraction.bad_files],
        "class_names": class_names,
    }
    with atomic_directory(out_dir) as tmp:
        for split, spectrograms in sets.items():
            save_spectrogram_set(tmp / f"{split}.npz", spectrograms)
        write_json_atomic(tmp / "normalizer.json", normalizer.to_dict())
        write_json_atomic(tmp / "report.json", report)
    write_json_atomic(metrics_path, metrics)

    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="featurize",
        protocol=dataset.protocol,
        params={"dataset": {"name": dataset.name, "root": dataset.root}, "featurize": settings.model_dump()},
    ):
        tracking.log_counts(metrics["clips"], "featurize.clips")
        tracking.log_counts({"files": metrics["files"], "skipped_files": metrics["skipped_files"]}, "featurize")
        train = sets["train"]
        figure = spectrogram_examples(train.x, train.y, class_names, title=f"{dataset.name}: normalized log-mel, train")
        tracking.log_figure(figure, "examples_per_class.png")
        tracking.log_file(out_dir / "normalizer.json")
        tracking.log_file(out_dir / "report.json")
    skipped = f", {len(extraction.bad_files)} skipped (see {out_dir / 'report.json'})" if extraction.bad_files else ""
    print(f"featurize: {len(extraction.x)} spectrograms {tuple(metrics['shape'])}{skipped} -> {out_dir}")
    return out_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug featurize` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("manifest", type=Path, help="manifest CSV written by prepare")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/features")
    parser.add_argument("--metrics", type=Path, default=Path("metrics/featurize.json"), help="metrics JSON to write")


def run(args: argparse.Namespace) -> None:
    """`synthaug featurize`: main with the parsed arguments."""
    main(args.params, args.manifest, args.out_dir, args.metrics)
