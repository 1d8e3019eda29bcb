"""The run-folder format: what a classifier run writes, and how the stages and the report read it back.

A run folder holds model.pt, predictions_{val,test}.csv (file id, true label and the probability of
each class, per clip), in clips mode also predictions_{val,test}_files.csv (one row per file: the
mean of its clips' probabilities, as the report and the file-level metrics compute it),
evaluation.json (clip- and file-level metrics with per-class results and the confusion matrix),
learning_curve.csv, three PNG figures and, written last, run.json (headline metrics and the MLflow
run id): a folder without run.json is an unfinished run.

synthaug.classifier_runs writes run folders; the ensemble, report and registry read them through
this module, which sits beside the metrics it aggregates with, so no reader imports the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from synthaug.errors import DataError
from synthaug.evaluation.metrics import aggregate_by_file
from synthaug.evaluation.statistics import summarize
from synthaug.spectrograms import SpectrogramSet

RUN_FILE = "run.json"
HEADLINE = ("macro_f1", "auroc", "accuracy", "balanced_accuracy")
EVALUATED_SPLITS = ("val", "test")
FILE_PREDICTIONS = "predictions_{split}_files.csv"  # file-level predictions, written beside the clip-level ones in clips mode


def headline(evaluation: dict) -> dict:
    """The few numbers `dvc metrics show` and the MLflow run list show: per level, per metric."""
    return {level: {k: result[k] for k in HEADLINE} for level, result in evaluation.items() if result}


def seed_summary(runs: list[dict]) -> dict:
    """{split: {level: {metric_mean, metric_std}}} over the seeds' runs, plus the seed count."""
    summary: dict = {"seeds": len(runs)}
    for split in EVALUATED_SPLITS:
        summary[split] = {}
        for level in runs[0][split]:
            summary[split][level] = {}
            for metric in HEADLINE:
                stats = summarize([run[split][level][metric] for run in runs])
                summary[split][level][f"{metric}_mean"] = stats["mean"]
                summary[split][level][f"{metric}_std"] = stats["std"]
    return summary


def completed(out_dir: Path) -> dict | None:
    """The run.json of a finished run folder, or None when the run has not finished."""
    path = Path(out_dir) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def has_clips(spectrograms: SpectrogramSet) -> bool:
    """Whether a set holds clips of files (featurize.mode: clips, or any file with several spectrograms)."""
    return spectrograms.feature_params.get("mode") == "clips" or len(np.unique(spectrograms.file_id)) < len(spectrograms.file_id)


def predictions_frame(spectrograms: SpectrogramSet, proba: np.ndarray) -> pd.DataFrame:
    """The content of predictions_<split>.csv: file id, true label and p_<class> per clip."""
    frame = pd.DataFrame({"file_id": spectrograms.file_id, "label": np.asarray(spectrograms.class_names)[spectrograms.y]})
    for c, name in enumerate(spectrograms.class_names):
        frame[f"p_{name}"] = proba[:, c]
    return frame


def file_predictions_frame(run_dir: Path, split: str, class_names: list[str]) -> pd.DataFrame:
    """One row per file of a run folder's predictions_<split>.csv: file id, true label, its number of
    clips and the mean clip probability of each class (`file_level`, as the report aggregates), files sorted by id."""
    ids, _ = read_predictions(run_dir, split, class_names)
    proba, y, file_ids = file_level(run_dir, split, class_names)
    clips = ids["file_id"].value_counts()
    frame = pd.DataFrame({"file_id": file_ids, "label": np.asarray(class_names)[y], "clips": clips.loc[file_ids].to_numpy()})
    for c, name in enumerate(class_names):
        frame[f"p_{name}"] = proba[:, c]
    return frame


def read_predictions(run_dir: Path, split: str, class_names: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """(file_id/label frame, clip probabilities [N, C]) from a run folder's predictions_<split>.csv."""
    path = Path(run_dir) / f"predictions_{split}.csv"
    if not path.is_file():
        raise DataError(f"{path}: not found; run the stage that trains this classifier first (dvc repro)")
    frame = pd.read_csv(path, dtype={"file_id": str, "label": str})
    columns = [f"p_{name}" for name in class_names]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {', '.join(missing)}; it was written for other classes")
    return frame[["file_id", "label"]], frame[columns].to_numpy(np.float64)


def file_level(run_dir: Path, split: str, class_names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """File-level (probabilities [F, C], true class [F], file ids [F]) of a run folder, files sorted by id.

    Sorting aligns the files of every method, so their predictions can be compared pairwise.
    """
    ids, proba = read_predictions(run_dir, split, class_names)
    y = pd.Categorical(ids["label"], categories=class_names).codes.astype(np.int64)
    file_proba, file_y, file_ids = aggregate_by_file(proba, y, ids["file_id"].to_numpy())
    order = np.argsort(file_ids, kind="stable")
    return file_proba[order], file_y[order], file_ids[order]
