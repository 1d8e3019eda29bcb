"""Classification metrics from predicted probabilities, per clip and per file, as plain JSON values.

All metric arithmetic is scikit-learn's; this module only chooses the definitions the protocols
use and makes the results JSON-serializable (Python floats, ints and lists):

- macro F1 (the primary metric), accuracy, balanced accuracy, per-class precision/recall/F1/support
  and the confusion matrix (rows: true class, columns: predicted class), from hard predictions:
  the most probable class, or for two classes `proba[:, 1] >= threshold` when a threshold is given;
- AUROC from the probabilities: for two classes the positive class is column 1; for more, the
  macro average of one-vs-rest AUROCs. When a class is absent from `y_true` AUROC is undefined: it
  is NaN and `notes` says why.

File-level results average the clip probabilities of each file (the industrial protocol's rule).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    *,
    threshold: float | None = None,
) -> dict:
    """Metrics for integer labels `y_true` [N] and class probabilities `proba` [N, n_classes]."""
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = len(class_names)
    if proba.ndim != 2 or proba.shape != (len(y_true), n_classes):
        raise ValueError(f"proba must be [{len(y_true)}, {n_classes}] for {n_classes} classes, got {list(proba.shape)}")
    if threshold is not None and n_classes != 2:
        raise ValueError(f"a decision threshold needs two classes, got {n_classes}")
    labels = list(range(n_classes))
    y_pred = (proba[:, 1] >= threshold).astype(np.int64) if threshold is not None else proba.argmax(axis=1)
    notes: list[str] = []

    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    with warnings.catch_warnings():
        # balanced_accuracy warns when y_pred holds classes absent from y_true; the value is still defined.
        warnings.simplefilter("ignore")
        balanced = balanced_accuracy_score(y_true, y_pred) if len(y_true) else math.nan
    return {
        "n": int(len(y_true)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "auroc": _auroc(y_true, proba, labels, notes),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else math.nan,
        "balanced_accuracy": float(balanced),
        "threshold": None if threshold is None else float(threshold),
        "per_class": {
            str(name): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).astype(int).tolist(),
        "notes": notes,
    }


def _auroc(y_true: np.ndarray, proba: np.ndarray, labels: list[int], notes: list[str]) -> float:
    absent = [c for c in labels if not np.any(y_true == c)]
    if absent:
        notes.append(f"auroc undefined: class(es) {absent} absent from y_true")
        return math.nan
    if len(labels) == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    # sklearn requires rows that sum to 1 for one-vs-rest; renormalize float32 rounding away.
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels))


def aggregate_by_file(
    proba: np.ndarray, y: Sequence[int] | np.ndarray, file_id: Sequence[str] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean clip probability per file: (file_proba [F, C], file_y [F], file_ids [F]) in first-seen order.

    All clips of a file must share one label (ValueError naming the file otherwise).
    """
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    file_id = np.asarray(file_id).astype(str)
    if not len(proba) == len(y) == len(file_id):
        raise ValueError(f"proba, y and file_id differ in length: {len(proba)}, {len(y)}, {len(file_id)}")
    unique, first, inverse = np.unique(file_id, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique ids sorted by first appearance
    rank = np.empty(len(unique), dtype=np.int64)
    rank[order] = np.arange(len(unique))
    group = rank[inverse]  # file index of each clip, numbered by first appearance
    counts = np.bincount(group, minlength=len(unique))
    file_proba = np.zeros((len(unique), proba.shape[1]))
    np.add.at(file_proba, group, proba)
    file_proba /= counts[:, None]
    file_y = np.empty(len(unique), dtype=np.int64)
    file_y[group] = y
    mixed = group[y != file_y[group]]
    if len(mixed):
        raise ValueError(f"file {unique[order][mixed[0]]!r} has clips with different labels")
    return file_proba, file_y, unique[order]


def evaluate(
    y: Sequence[int] | np.ndarray,
    proba: np.ndarray,
    file_id: Sequence[str] | np.ndarray | None,
    class_names: Sequence[str],
    *,
    threshold: float | None = None,
) -> dict:
    """{"clip": metrics of each clip, "file": metrics of file-averaged probabilities (None without file_id)}."""
    clip = classification_metrics(y, proba, class_names, threshold=threshold)
    if file_id is None:
        return {"clip": clip, "file": None}
    file_proba, file_y, _ = aggregate_by_file(proba, y, file_id)
    return {"clip": clip, "file": classification_metrics(file_y, file_proba, class_names, threshold=threshold)}
