"""The scores a comparison is judged by: primary endpoints first, the argmax decision's scores beside them.

A synthetic set can change a classifier in two ways that read alike in argmax accuracy: it can make
the classifier rank recordings better (discrimination), or it can move where the decision falls
(a shifted threshold trades one class's recall for another's). Only the first is a gain. The
endpoints here keep them apart:

- `auroc`: threshold-free discrimination;
- `macro_f1_val_threshold`: macro F1 with each classifier's decision threshold chosen on the
  validation split (two classes; otherwise the argmax decision), so a moved threshold is undone;
- `macro_f1`, `balanced_accuracy`, `accuracy`: the argmax decision. Balanced accuracy and per-class
  recall show where that decision moved; argmax accuracy rewards predicting the majority more often
  and is a secondary score only.

`report.primary_endpoints` declares which of these a report shows first and Holm-adjusts as its
primary family; the tuning objective optimises the first one on validation.
"""

from __future__ import annotations

import math

import numpy as np

from synthaug.evaluation.weighted_metrics import choose_threshold, metric_values

THRESHOLD_SCORE = "macro_f1_val_threshold"
ENDPOINTS = ("auroc", THRESHOLD_SCORE, "macro_f1", "balanced_accuracy", "accuracy")
DEFAULT_PRIMARY = ("auroc", THRESHOLD_SCORE)
TITLES = {
    "auroc": "AUROC",
    THRESHOLD_SCORE: "Macro F1 (val. threshold)",
    "macro_f1": "Macro F1 (argmax)",
    "balanced_accuracy": "Balanced accuracy",
    "accuracy": "Accuracy (argmax, secondary)",
}


def validation_key(endpoint: str) -> str:
    """The key of an endpoint in a training epoch's record (scored on the validation split)."""
    return f"val_{endpoint}"


def validation_scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Every endpoint of one classifier on validation files: {validation_key(endpoint): value}.

    `y` [F] true classes, `proba` [F, C] file-level probabilities. On validation the threshold of
    `macro_f1_val_threshold` is chosen on the same files it is scored on (the best macro F1 over
    thresholds): an optimistic value, used only to compare settings with each other (tuning). With
    more than two classes it is the argmax macro F1. NaN where a score is undefined (AUROC with a
    class absent).
    """
    y, proba = np.asarray(y), np.asarray(proba, dtype=np.float64)
    scores = {validation_key(m): float(metric_values(y, proba[None], m)[0, 0]) for m in ("auroc", "macro_f1", "accuracy")}
    scores[validation_key("balanced_accuracy")] = float(metric_values(y, proba[None], "balanced_accuracy")[0, 0])
    if proba.shape[1] == 2 and len(np.unique(y)) == 2:
        threshold = choose_threshold(y, proba)
        scores[validation_key(THRESHOLD_SCORE)] = float(metric_values(y, proba[None], "macro_f1", thresholds=[threshold])[0, 0])
    else:
        scores[validation_key(THRESHOLD_SCORE)] = scores[validation_key("macro_f1")]
    return {key: (value if math.isfinite(value) else math.nan) for key, value in scores.items()}
