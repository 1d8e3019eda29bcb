"""Classification metrics of several seeds under many weightings of the test files at once.

A bootstrap or a permutation test needs a metric under thousands of weightings (resample counts);
scikit-learn computes one metric for one weighting at a time, so the same definitions are evaluated
here on whole batches. Inputs: `y` int [F], the true class of each test file, and `proba` float
[S, F, C], the probabilities of S seeds for F files and C classes. The metrics are defined exactly
as in `synthaug.evaluation.metrics` (scikit-learn's definitions):

- ``"macro_f1"``: unweighted mean over all C classes of F1 = 2·TP / (2·TP + FP + FN), 0 for a class
  that is neither present nor predicted (``labels=range(C), zero_division=0``);
- ``"accuracy"``: fraction of files predicted correctly;
- ``"balanced_accuracy"``: unweighted mean over the classes present in `y` of each class's recall
  (scikit-learn's ``balanced_accuracy_score``): unlike accuracy it does not rise when a moved
  decision threshold trades minority recall for majority recall;
- ``"recall:<c>"``: the recall of class index c (TP / files of class c), NaN when class c has no file;
- ``"auroc"``: for two classes the AUROC of column 1 (the positive class); for more, the unweighted
  mean of the one-vs-rest AUROCs of each column. Ties between scores count 1/2. NaN when a class has
  zero total weight (the AUROC is undefined then).

Hard predictions are the most probable class, or for two classes ``proba[..., 1] >= threshold`` when
a per-seed threshold is given (`choose_threshold`). `metric_values` gives the metric of each seed;
with integer weights it equals scikit-learn on the data with files repeated. synthaug.evaluation.
statistics resamples with these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS = ("macro_f1", "accuracy", "balanced_accuracy", "auroc")


RECALL_PREFIX = "recall:"  # "recall:<class index>": one class's recall, beside METRICS


def recall_metric(class_index: int) -> str:
    """The metric name of class `class_index`'s recall."""
    return f"{RECALL_PREFIX}{int(class_index)}"


# Upper bound on the number of elements of the temporary arrays built at once; larger batches of
# bootstrap weightings or permutations are processed in blocks of this size (memory, not speed).
BLOCK_ELEMENTS = 1 << 21


def check_metric(metric: str) -> None:
    if metric in METRICS:
        return
    if metric.startswith(RECALL_PREFIX) and metric[len(RECALL_PREFIX) :].isdigit():
        return
    raise ValueError(f"unknown metric {metric!r}; expected one of {list(METRICS)} or '{RECALL_PREFIX}<class index>'")


def check_labels(y: Sequence[int] | np.ndarray, n_classes: int | None = None) -> np.ndarray:
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be one-dimensional [F], got shape {list(y_arr.shape)}")
    if y_arr.size and y_arr.dtype.kind not in "biu":  # booleans and integers are fine as they are
        if y_arr.dtype.kind != "f" or not np.all(np.isfinite(y_arr)) or np.any(y_arr != np.round(y_arr)):
            raise ValueError("y must hold integer class indices")
    y_int = y_arr.astype(np.int64)
    if n_classes is not None and y_int.size and (y_int.min() < 0 or y_int.max() >= n_classes):
        raise ValueError(f"y must hold class indices in [0, {n_classes}), got values in [{y_int.min()}, {y_int.max()}]")
    return y_int


def check_inputs(
    y: Sequence[int] | np.ndarray, proba: np.ndarray, thresholds: Sequence[float] | np.ndarray | float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(y [F] int64, proba [S, F, C] float64, thresholds [S] float64 or None), validated."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 3:
        raise ValueError(
            f"proba must be [S seeds, F files, C classes], got shape {list(proba.shape)} (use proba[None] for a single seed)"
        )
    n_seeds, n_files, n_classes = proba.shape
    if n_seeds < 1 or n_classes < 2:
        raise ValueError(f"proba needs at least one seed and two classes, got shape {list(proba.shape)}")
    y = check_labels(y, n_classes)
    if len(y) != n_files:
        raise ValueError(f"y has {len(y)} files but proba has {n_files} (shape {list(proba.shape)})")
    if n_files == 0:
        raise ValueError("no test files")
    if not np.all(np.isfinite(proba)):
        raise ValueError("proba holds NaN or infinite values")
    if thresholds is not None:
        if n_classes != 2:
            raise ValueError(f"decision thresholds need two classes, got {n_classes}")
        thresholds = np.asarray(thresholds, dtype=np.float64)
        if thresholds.ndim == 0:
            thresholds = np.full(n_seeds, float(thresholds))
        if thresholds.shape != (n_seeds,):
            raise ValueError(f"thresholds must be [S] = [{n_seeds}] (one per seed), got shape {list(thresholds.shape)}")
        if not np.all(np.isfinite(thresholds)):
            raise ValueError("thresholds hold NaN or infinite values")
    return y, proba, thresholds


def check_weights(weights: np.ndarray | None, n_files: int) -> np.ndarray:
    if weights is None:
        return np.ones((1, n_files))
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]
    if weights.ndim != 2 or weights.shape[1] != n_files:
        raise ValueError(f"weights must be [B, F] with F = {n_files} files, got shape {list(weights.shape)}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("weights must be finite and non-negative")
    return weights


def metric_matrix(
    y: np.ndarray, proba: np.ndarray, metric: str, weights: np.ndarray, thresholds: np.ndarray | None
) -> np.ndarray:
    """Metric of each row of `proba` [R, F, C] under each weighting of `weights` [B, F]: [B, R]."""
    if metric == "auroc":
        return _auroc_matrix(y, proba, weights)
    n_classes = proba.shape[2]
    if thresholds is None:
        pred = proba.argmax(axis=2)
    else:
        pred = (proba[:, :, 1] >= thresholds[:, None]).astype(np.int64)
    confusion = _confusion_matrices(y, pred, n_classes, weights)  # [B, R, true, predicted]
    total = confusion.sum(axis=(2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "accuracy":
            value = np.trace(confusion, axis1=2, axis2=3) / total
        elif metric == "balanced_accuracy" or metric.startswith(RECALL_PREFIX):
            true_counts = confusion.sum(axis=3)  # [B, R, C]
            recall = np.diagonal(confusion, axis1=2, axis2=3) / true_counts  # NaN for a class without files
            if metric == "balanced_accuracy":
                present = true_counts > 0
                value = np.where(present, recall, 0.0).sum(axis=2) / present.sum(axis=2)
            else:
                c = int(metric[len(RECALL_PREFIX) :])
                value = recall[:, :, c] if c < n_classes else np.full(total.shape, np.nan)
        else:
            tp = np.diagonal(confusion, axis1=2, axis2=3)
            # 2·TP + FP + FN = (true count) + (predicted count), scikit-learn's F1 denominator.
            denominator = confusion.sum(axis=3) + confusion.sum(axis=2)
            f1 = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)
            value = f1.mean(axis=2)
    # With zero total weight there are no files to score.
    return np.where(total > 0, value, np.nan)


def _confusion_matrices(y: np.ndarray, pred: np.ndarray, n_classes: int, weights: np.ndarray) -> np.ndarray:
    """Weighted confusion counts [B, R, C, C] of predictions `pred` [R, F] under `weights` [B, F]."""
    n_rows, n_files = pred.shape
    cells = n_classes * n_classes
    cell = y[None, :] * n_classes + pred  # [R, F]: flat (true, predicted) cell of each file
    out = np.empty((len(weights), n_rows, n_classes, n_classes))
    block = max(1, BLOCK_ELEMENTS // (n_rows * n_files))
    for start in range(0, len(weights), block):
        w = weights[start : start + block]
        n_w = len(w)
        # One weighted bincount for the whole block: each (weighting, row) gets its own range of cells.
        offset = (np.arange(n_w * n_rows).reshape(n_w, n_rows, 1)) * cells
        index = (offset + cell[None]).ravel()
        counts = np.bincount(
            index, weights=np.broadcast_to(w[:, None, :], (n_w, n_rows, n_files)).ravel(), minlength=n_w * n_rows * cells
        )
        out[start : start + n_w] = counts.reshape(n_w, n_rows, n_classes, n_classes)
    return out


def _auroc_matrix(y: np.ndarray, proba: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC [B, R] of each row of `proba` [R, F, C] under each weighting of `weights` [B, F].

    Weighted Mann–Whitney statistic: the weighted fraction of (positive, negative) pairs in which
    the positive file scores higher, ties counting 1/2. Scores are sorted once per row and class;
    each weighting then costs cumulative sums only.
    """
    n_rows, n_files, n_classes = proba.shape
    if n_classes == 2:
        scores = proba[:, None, :, 1]  # [R, 1, F]: column 1 against class 1
        positive_class = np.array([1])
    else:
        # Same renormalization as metrics.py applies before scikit-learn's one-vs-rest AUROC.
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = (proba / proba.sum(axis=2, keepdims=True)).transpose(0, 2, 1)  # [R, C, F]
        positive_class = np.arange(n_classes)
    n_curves = len(positive_class)
    scores = scores.reshape(n_rows * n_curves, n_files)  # one curve per (row, class)
    curve_class = np.tile(positive_class, n_rows)

    # The order among tied scores is irrelevant: tied files share their group's counts below.
    order = np.argsort(scores, axis=1)
    sorted_scores = np.take_along_axis(scores, order, axis=1)
    is_positive = y[order] == curve_class[:, None]  # [Q, F] in sorted order
    # First and last sorted position of the group of tied scores each position belongs to.
    position = np.arange(n_files)
    new_group = np.ones_like(sorted_scores, dtype=bool)
    new_group[:, 1:] = sorted_scores[:, 1:] != sorted_scores[:, :-1]
    group_start = np.maximum.accumulate(np.where(new_group, position, 0), axis=1)
    group_ends = np.ones_like(new_group)
    group_ends[:, :-1] = new_group[:, 1:]
    group_end = np.minimum.accumulate(np.where(group_ends, position, n_files - 1)[:, ::-1], axis=1)[:, ::-1]
    curve = np.arange(len(scores))[:, None]

    out = np.empty((len(weights), n_rows))
    block = max(1, BLOCK_ELEMENTS // scores.size)
    for start in range(0, len(weights), block):
        w = weights[start : start + block][:, order]  # [b, Q, F] in each curve's sorted order
        w_pos = w * is_positive
        w_neg = w - w_pos
        neg_through = np.cumsum(w_neg, axis=2)  # negative weight at or below each position
        neg_before = neg_through - w_neg
        # For a positive file: negative weight strictly below its score, and below-or-tied.
        below = neg_before[:, curve, group_start]
        below_or_tied = neg_through[:, curve, group_end]
        # below + tied/2 = (below + below_or_tied) / 2
        numerator = 0.5 * np.sum(w_pos * (below + below_or_tied), axis=2)
        total_pos = w_pos.sum(axis=2)
        total_neg = neg_through[:, :, -1]
        defined = (total_pos > 0) & (total_neg > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = np.where(defined, numerator / np.where(defined, total_pos * total_neg, 1.0), np.nan)
        # Macro mean over classes; NaN for one class makes the whole AUROC NaN, as in metrics.py.
        out[start : start + len(w)] = auc.reshape(len(w), n_rows, n_curves).mean(axis=2)
    return out


def metric_values(
    y: Sequence[int] | np.ndarray,
    proba: np.ndarray,
    metric: str,
    *,
    weights: np.ndarray | None = None,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """The metric of each seed under each file weighting: float array [B, S] (B = 1 without weights).

    `y` [F] true classes; `proba` [S, F, C]; `metric` one of "macro_f1", "accuracy", "auroc";
    `weights` [B, F] (or [F]) non-negative file multiplicities, e.g. bootstrap counts; `thresholds`
    [S] (two classes only) predicts class 1 when ``proba[s, :, 1] >= thresholds[s]`` instead of the
    argmax (AUROC does not use predictions and ignores them).

    With integer weights the result equals scikit-learn's metric on the data with each file
    repeated as many times as its weight. A weighting with zero total weight gives NaN, and AUROC
    is NaN when any class has zero total weight. ValueError on shape mismatches, an unknown metric,
    or thresholds with more than two classes.
    """
    check_metric(metric)
    y, proba, thresholds = check_inputs(y, proba, thresholds)
    weights = check_weights(weights, proba.shape[1])
    return metric_matrix(y, proba, metric, weights, thresholds)


def choose_threshold(y_val: Sequence[int] | np.ndarray, proba_val: np.ndarray) -> float:
    """Decision threshold on the positive-class probability that maximizes macro F1 on validation.

    `y_val` [F] in {0, 1}; `proba_val` [F, 2] (column 1 is the positive class). Class 1 is predicted
    when ``proba[:, 1] >= threshold``. Candidates are 0.5 and the midpoints between consecutive
    distinct sorted scores, so every distinct split of the validation files is tried exactly once.
    Among candidates with the highest macro F1 the one closest to 0.5 wins (the default rule
    whenever it is as good), and among two equally close the smaller; the result is deterministic.
    """
    proba_val = np.asarray(proba_val, dtype=np.float64)
    if proba_val.ndim != 2 or proba_val.shape[1] != 2:
        raise ValueError(f"choose_threshold needs binary probabilities [F, 2], got shape {list(proba_val.shape)}")
    y_val, proba_val, _ = check_inputs(y_val, proba_val[None], None)
    unique = np.unique(proba_val[0, :, 1])
    candidates = np.unique(np.concatenate([(unique[:-1] + unique[1:]) / 2, [0.5]]))
    rows = np.broadcast_to(proba_val, (len(candidates),) + proba_val.shape[1:])
    f1 = metric_matrix(y_val, rows, "macro_f1", np.ones((1, proba_val.shape[1])), candidates)[0]
    # Macro F1 values that are equal in exact arithmetic may differ in the last bits.
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    distance = np.abs(candidates[best] - 0.5)
    closest = best[distance <= distance.min() + 1e-15]
    return float(candidates[closest[0]])  # candidates are sorted: the smaller of two equally close
