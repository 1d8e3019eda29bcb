"""Ensembles of classifiers by (weighted) averaging of their class probabilities.

`member_probas` holds the probabilities of M members for the same N items and C classes, as an
array [M, N, C] or a list of M arrays [N, C]. Each member's rows are class probabilities (they sum
to 1), so a convex combination of members is again a probability distribution per item.

- `average_probabilities`: the weighted mean [N, C] (equal weights by default).
- `fit_weights`: weights on the simplex that minimize the validation log loss of the average.
- `split_validation`: two halves of the validation items, by group and stratified by class, so the
  weights are fitted on one half and the fitted ensemble is scored on the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import softmax
from sklearn.model_selection import StratifiedGroupKFold

# Lower clip of the true-class probability before the log, so a confidently wrong average costs
# log(1e-7) instead of infinity.
_EPS = 1e-7


def _check_members(member_probas: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    if isinstance(member_probas, (list, tuple)):
        shapes = {np.shape(p) for p in member_probas}
        if len(shapes) > 1:
            raise ValueError(f"members' probabilities differ in shape: {sorted(shapes)}")
    probas = np.asarray(member_probas, dtype=np.float64)
    if probas.ndim != 3 or probas.shape[0] == 0:
        raise ValueError(f"member probabilities must be [M members, N items, C classes], got shape {list(probas.shape)}")
    if not np.all(np.isfinite(probas)):
        raise ValueError("member probabilities hold NaN or infinite values")
    return probas


def check_weights(weights: Sequence[float] | np.ndarray, n_members: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n_members,):
        raise ValueError(f"weights must be [M] = [{n_members}] (one per member), got shape {list(weights.shape)}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"weights must be finite and non-negative, got {weights.tolist()}")
    total = weights.sum()
    if total <= 0:
        raise ValueError("weights are all zero")
    return weights / total


def average_probabilities(
    member_probas: np.ndarray | Sequence[np.ndarray], weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Weighted mean of the members' class probabilities: [N, C].

    `member_probas` [M, N, C] (or a list of M arrays [N, C]); `weights` [M] non-negative, normalized
    to sum to 1 (equal weights when None). ValueError for negative, all-zero or wrongly sized
    weights, or members of different shapes.

    For two classes this is exactly the published rule of averaging the members' positive-class
    probabilities: column 1 of the result is that mean, and since every member's rows sum to 1,
    column 0 is one minus it.
    """
    probas = _check_members(member_probas)
    n_members = probas.shape[0]
    weights = np.full(n_members, 1 / n_members) if weights is None else check_weights(weights, n_members)
    return np.tensordot(weights, probas, axes=1)


def fit_weights(y_val: Sequence[int] | np.ndarray, member_probas_val: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Member weights [M] on the simplex minimizing the validation log loss of the averaged probabilities.

    The loss is the mean over validation items of −log(max(p_i, 1e-7)), p_i the averaged
    probability of the true class (scikit-learn's log loss, for rows that sum to 1). Weights are
    parametrized as softmax(z) so that an unconstrained optimizer (scipy's L-BFGS-B with the exact
    gradient) stays on the simplex; it starts at equal weights (z = 0), so the result is
    deterministic. The loss is convex in the weights, but with a member that is perfect on
    validation the optimum lies on the simplex boundary, which the softmax approaches without
    reaching: such a member gets nearly, not exactly, all the weight.
    """
    probas = _check_members(member_probas_val)
    n_members, n_items, n_classes = probas.shape
    y = np.asarray(y_val)
    if y.shape != (n_items,):
        raise ValueError(f"y_val must be [N] = [{n_items}], got shape {list(y.shape)}")
    if n_items == 0:
        raise ValueError("no validation items")
    if not np.issubdtype(y.dtype, np.integer) and np.any(y != np.round(y)):
        raise ValueError("y_val must hold integer class indices")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y_val must hold class indices in [0, {n_classes})")
    if n_members == 1:
        return np.ones(1)

    true_class = probas[:, np.arange(n_items), y]  # [M, N]: each member's probability of the truth

    def loss_and_gradient(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = softmax(z)
        p = w @ true_class
        clipped = np.maximum(p, _EPS)
        loss = -np.mean(np.log(clipped))
        # d loss / d w_m = −mean_i q_mi / p_i where p is not clipped (the clip is flat), then the
        # softmax Jacobian: d w / d z = diag(w) − w wᵀ.
        grad_w = -(true_class @ np.where(p > _EPS, 1 / clipped, 0.0)) / n_items
        return float(loss), w * (grad_w - w @ grad_w)

    fit = minimize(
        loss_and_gradient,
        np.zeros(n_members),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 1000},
    )
    weights = softmax(fit.x)
    return weights / weights.sum()


def split_validation(
    file_ids: Sequence[str] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    groups: Sequence[str] | np.ndarray | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Boolean mask [N] over validation items (clips): True for the half that fits the weights.

    Whole groups (participants, recordings: `groups` [N], the group of each item; None: each file
    is its own group) go to one half, with classes spread evenly over both halves
    (scikit-learn's StratifiedGroupKFold with two folds, shuffled with `seed`). The clips of a file
    always stay together. ValueError when fewer than two groups exist, or a class has fewer than two, so
    no half with every class could be held out.
    """
    file_ids = np.asarray(file_ids).astype(str)
    labels = np.asarray(labels)
    item_groups = file_ids if groups is None else np.asarray(groups).astype(str)
    if not (len(file_ids) == len(labels) == len(item_groups)):
        raise ValueError(
            f"file_ids, labels and groups must have one entry per item, got {len(file_ids)}, {len(labels)} and {len(item_groups)}"
        )
    # One row per file: a file's clips share its label and group.
    files, first = np.unique(file_ids, return_index=True)
    file_groups = item_groups[first]
    if len(np.unique(file_groups)) < 2:
        raise ValueError(
            f"validation holds {len(np.unique(file_groups))} group(s); fitting ensemble weights on one half "
            "and scoring on the other needs at least two"
        )
    per_class = {c: len(np.unique(file_groups[labels[first] == c])) for c in np.unique(labels[first])}
    thin = {c: n for c, n in per_class.items() if n < 2}
    if thin:
        raise ValueError(f"class(es) {', '.join(map(str, thin))} hold fewer than two validation groups")
    splitter = StratifiedGroupKFold(n_splits=2, shuffle=True, random_state=seed)
    fit_files, _ = next(splitter.split(np.zeros(len(files)), labels[first], file_groups))
    return np.isin(file_ids, files[fit_files])
