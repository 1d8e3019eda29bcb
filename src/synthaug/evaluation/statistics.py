"""Honest statistics for comparing classifiers trained with several seeds on the same real test files.

Inputs are file-level class probabilities: `y` int [F] holds the true class of each test file and
`proba` float [S, F, C] the probabilities of S seeds (training runs) for F files and C classes.
Two methods are compared *paired*: both are evaluated on the same files, and seed index s of
method A is paired with seed index s of method B.

Test files are often not independent: a participant, patient or speaker contributes several
recordings, which share whatever makes that person easy or hard to classify. The unit of
resampling is therefore the *group* (`groups` [F]: the group of each file, e.g. the manifest's
`group` column). Resampling recordings of such data as if independent makes every interval too
narrow and every p-value too small. Without `groups` each file is its own group, the classic
recording-level analysis.

Strata of the bootstrap: a group is stratified by the class of its files, so every class keeps its
number of groups in every resample. A group holding files of several classes (a participant with
a positive and a negative recording) is not forced into one class: such groups form strata of
their own, one per set of classes they hold, and are drawn among themselves. Every class present
in the test files then stays present in every resample, so AUROC stays defined.

The metrics and their definitions are synthaug.evaluation.weighted_metrics' (`metric_values`,
evaluated under many resample weightings at once).

Public functions:

- `summarize`: mean, sample standard deviation and count of a set of values, ignoring NaN.
- `bootstrap_interval`: one method's mean-over-seeds metric with a percentile confidence interval
  from a two-level (groups stratified by class × seeds) bootstrap.
- `paired_bootstrap`: the mean-over-seeds difference B − A with a percentile confidence interval
  from the same two-level bootstrap, paired.
- `paired_permutation_test`: the two-sided p-value of a paired approximate randomization test that
  swaps whole groups between the two methods.
- `compare_to_baseline`: both of the above for several metrics.
- `holm_adjust`: Holm–Bonferroni adjusted p-values of a family of comparisons.
- `groups_per_class`: how many test groups hold files of each class (the effective sample size).

All returned numbers are plain Python floats and ints (JSON-ready).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthaug.evaluation.weighted_metrics import BLOCK_ELEMENTS, check_inputs, check_labels, check_metric, metric_matrix

# A 95 % interval's half-width is z_0.975 = 1.96 standard errors; a true difference is found at the 5 %
# level with 80 % power once it is z_0.975 + z_0.8 = 2.80 standard errors: 1.43 half-widths.
POWER_80_FACTOR = (1.959964 + 0.841621) / 1.959964


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _group_index(groups: Sequence | np.ndarray | None, n_files: int) -> np.ndarray:
    """Index [F] of each file's group (0 … G−1, numbered in order of first appearance); one group per file without `groups`.

    Numbering by first appearance rather than by sorted name makes one distinctly named group per
    file give exactly the same resamples as no groups at all.
    """
    if groups is None:
        return np.arange(n_files)
    groups = np.asarray(groups)
    if groups.shape != (n_files,):
        raise ValueError(f"groups must be [F] = [{n_files}] (the group of each file), got shape {list(groups.shape)}")
    if groups.dtype.kind == "O":
        groups = groups.astype(str)  # np.unique cannot order mixed Python objects
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(n_files)]


def _group_strata(y: np.ndarray, group_index: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """The groups of each bootstrap stratum: one stratum per set of classes a group holds files of.

    Single-class groups come first, in class order (so without groups the strata are the classes
    themselves, in order), then mixed-class groups.
    """
    n_groups = int(group_index.max()) + 1
    holds = np.zeros((n_groups, n_classes), dtype=bool)
    holds[group_index, y] = True
    keys, stratum = np.unique(holds, axis=0, return_inverse=True)
    stratum = stratum.reshape(n_groups)
    order = sorted(range(len(keys)), key=lambda k: (int(keys[k].sum()), list(np.flatnonzero(keys[k]))))
    return [np.flatnonzero(stratum == k) for k in order]


# --------------------------------------------------------------------------------------------------
# Vectorized metrics. scikit-learn computes one metric for one weighting at a time; a bootstrap or a
# permutation test needs thousands, so the same definitions are evaluated here on whole batches.
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def groups_per_class(y: Sequence[int] | np.ndarray, groups: Sequence | np.ndarray | None = None) -> dict[int, int]:
    """{class index: number of distinct groups holding at least one file of that class}, classes in order.

    Without `groups` every file is its own group, so this counts files per class. A group holding
    files of two classes counts once for each.
    """
    y = check_labels(y)
    group_index = _group_index(groups, len(y))
    return {int(c): int(len(np.unique(group_index[y == c]))) for c in np.unique(y)}


def summarize(values: Sequence[float] | np.ndarray) -> dict:
    """{"mean", "std", "n"} of `values`, ignoring NaN.

    `std` is the sample standard deviation (ddof=1), 0.0 for a single value; `n` counts the non-NaN
    values. With no non-NaN value, mean and std are NaN and n is 0.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if n > 1 else 0.0, "n": n}


def _check_pair(
    y: Sequence[int] | np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    metric: str,
    thresholds_a: Sequence[float] | np.ndarray | None,
    thresholds_b: Sequence[float] | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    check_metric(metric)
    y, proba_a, thresholds_a = check_inputs(y, proba_a, thresholds_a)
    _, proba_b, thresholds_b = check_inputs(y, proba_b, thresholds_b)
    if proba_a.shape != proba_b.shape:
        raise ValueError(
            f"paired methods need the same seeds, files and classes: A is {list(proba_a.shape)}, B is {list(proba_b.shape)}"
        )
    return y, proba_a, proba_b, thresholds_a, thresholds_b


def _observed_difference(y, proba_a, proba_b, metric, thresholds_a, thresholds_b) -> float:
    ones = np.ones((1, len(y)))
    value_a = metric_matrix(y, proba_a, metric, ones, thresholds_a)[0]
    value_b = metric_matrix(y, proba_b, metric, ones, thresholds_b)[0]
    return float(value_b.mean() - value_a.mean())


def _check_resampling(n_resamples: int, confidence: float) -> int:
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return int(n_resamples)


def _bootstrap_statistics(
    y: np.ndarray,
    group_index: np.ndarray,
    terms: Sequence[tuple[float, np.ndarray, np.ndarray | None]],
    metric: str,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """[n_resamples] draws of mean over drawn seeds of Σ sign · metric(proba) over `terms` (sign, proba, thresholds).

    Each resample draws, within every stratum of `_group_strata`, as many groups as it holds, with
    replacement; a group drawn k times gives each of its files weight k. With several seeds it
    also draws the seed indices with replacement. Every term sees the same draws (paired).
    """
    n_seeds, n_files, n_classes = terms[0][1].shape
    strata = _group_strata(y, group_index, n_classes)
    n_groups = int(group_index.max()) + 1
    rng = np.random.default_rng(seed)
    statistics = np.empty(n_resamples)
    block = max(1, BLOCK_ELEMENTS // max(n_files, n_seeds))
    for start in range(0, n_resamples, block):
        n = min(block, n_resamples - start)
        # Drawing g groups with replacement from a stratum of g groups = multinomial counts.
        group_counts = np.zeros((n, n_groups))
        for members in strata:
            group_counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n)
        file_counts = group_counts[:, group_index]
        if n_seeds > 1:
            drawn = rng.integers(0, n_seeds, size=(n, n_seeds))
            seed_counts = (drawn[:, :, None] == np.arange(n_seeds)).sum(axis=1)
        else:
            seed_counts = np.ones((n, 1), dtype=np.int64)
        value = sum(sign * metric_matrix(y, proba, metric, file_counts, thresholds) for sign, proba, thresholds in terms)
        statistics[start : start + n] = np.sum(seed_counts * value, axis=1) / n_seeds
    return statistics


def _percentile_interval(statistics: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.percentile(statistics, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def bootstrap_interval(
    y: Sequence[int] | np.ndarray,
    proba: np.ndarray,
    metric: str,
    *,
    groups: Sequence | np.ndarray | None = None,
    thresholds: Sequence[float] | np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """One method's mean-over-seeds metric with a two-level percentile bootstrap interval.

    `value` is the mean over seeds of the metric on the test files. Each resample draws the test
    groups with replacement within their strata (see the module docstring; without `groups`, the
    files within each class) and the seed indices with replacement; [ci_low, ci_high] are the
    (1 − confidence)/2 and (1 + confidence)/2 percentiles of the resampled seed-mean metric, so
    the interval covers both the finite test set and training variability.

    Returns {"value", "ci_low", "ci_high", "confidence", "n_resamples", "n_files", "n_groups",
    "n_seeds"}; value and interval are NaN when the metric is undefined on the test files.
    """
    check_metric(metric)
    y, proba, thresholds = check_inputs(y, proba, thresholds)
    n_resamples = _check_resampling(n_resamples, confidence)
    group_index = _group_index(groups, len(y))
    n_seeds, n_files, _ = proba.shape
    value = float(metric_matrix(y, proba, metric, np.ones((1, n_files)), thresholds)[0].mean())
    result = {
        "value": value,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "confidence": float(confidence),
        "n_resamples": n_resamples,
        "n_files": int(n_files),
        "n_groups": int(group_index.max()) + 1,
        "n_seeds": int(n_seeds),
    }
    if math.isfinite(value):
        statistics = _bootstrap_statistics(y, group_index, [(1.0, proba, thresholds)], metric, n_resamples, seed)
        result["ci_low"], result["ci_high"] = _percentile_interval(statistics, confidence)
    return result


def paired_bootstrap(
    y: Sequence[int] | np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    metric: str,
    *,
    thresholds_a: Sequence[float] | np.ndarray | None = None,
    thresholds_b: Sequence[float] | np.ndarray | None = None,
    groups: Sequence | np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Difference B − A of the seed-mean metric with a paired two-level percentile bootstrap interval.

    `difference` is mean over seeds of metric(B) minus mean over seeds of metric(A) on the real test
    files. Each resample draws the test groups `groups` [F] with replacement *stratified by class*
    (see the module docstring: every class keeps its number of groups, so AUROC stays defined; a
    group drawn k times weighs each of its files k times; without `groups` the files themselves)
    and, when there are several seeds, the seed indices with replacement; the same draws apply to
    A and B (paired). The resampled statistic is the mean over the drawn seeds of
    metric(B) − metric(A), and [ci_low, ci_high] are its (1 − confidence)/2 and (1 + confidence)/2
    percentiles. The seed level makes the interval account for training variability as well as for
    the finite test set.

    Returns {"difference", "ci_low", "ci_high", "confidence", "n_resamples", "n_files", "n_groups",
    "n_seeds"}; difference and interval are NaN when the metric is undefined on the test files
    (AUROC with a class absent). A and B must have the same [S, F, C] shape (ValueError otherwise).
    """
    # Written by hand: scipy.stats.bootstrap resamples one axis of independent observations, while
    # here groups and seeds are resampled jointly (hierarchically), stratified by class, and the
    # statistic needs both methods' draws to be identical.
    y, proba_a, proba_b, thresholds_a, thresholds_b = _check_pair(y, proba_a, proba_b, metric, thresholds_a, thresholds_b)
    n_resamples = _check_resampling(n_resamples, confidence)
    group_index = _group_index(groups, len(y))
    n_seeds, n_files, _ = proba_a.shape
    result = {
        "difference": _observed_difference(y, proba_a, proba_b, metric, thresholds_a, thresholds_b),
        "ci_low": math.nan,
        "ci_high": math.nan,
        "confidence": float(confidence),
        "n_resamples": n_resamples,
        "n_files": int(n_files),
        "n_groups": int(group_index.max()) + 1,
        "n_seeds": int(n_seeds),
    }
    if not math.isfinite(result["difference"]):
        return result
    terms = [(-1.0, proba_a, thresholds_a), (1.0, proba_b, thresholds_b)]
    statistics = _bootstrap_statistics(y, group_index, terms, metric, n_resamples, seed)
    result["ci_low"], result["ci_high"] = _percentile_interval(statistics, confidence)
    return result


def paired_permutation_test(
    y: Sequence[int] | np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    metric: str,
    *,
    thresholds_a: Sequence[float] | np.ndarray | None = None,
    thresholds_b: Sequence[float] | np.ndarray | None = None,
    groups: Sequence | np.ndarray | None = None,
    n_permutations: int = 2000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of a paired approximate randomization test of "A and B perform the same".

    Each permutation swaps the predicted probabilities of A and B, independently for every
    (seed, group) pair, with probability 1/2, and recomputes d* = mean over seeds of
    metric(B) − metric(A). A swapped group swaps all its files together (`groups` [F]: the group of
    each file; without it every file is its own group): under the null hypothesis the two methods'
    predictions are exchangeable group by group, not recording by recording, because recordings of
    one participant share what makes them easy or hard. Thresholds stay with their method: a swapped file is scored with the
    probabilities of the other method but the threshold of the column it now sits in (a threshold
    belongs to a classifier's decision rule, not to a file). The p-value is
    (1 + #{|d*| >= |d_obs| − 1e-12}) / (1 + n_permutations); the tolerance keeps exact ties (e.g.
    identical predictions, which give p = 1.0 exactly) from being lost to rounding. NaN when the
    metric is undefined on the test files.
    """
    # Written by hand: scipy.stats.permutation_test's "samples" permutation swaps whole paired
    # observations, but here one observation is a (seed, group) cell of several files and the
    # statistic is a non-decomposable metric recomputed over all cells at once.
    y, proba_a, proba_b, thresholds_a, thresholds_b = _check_pair(y, proba_a, proba_b, metric, thresholds_a, thresholds_b)
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    n_permutations = int(n_permutations)
    group_index = _group_index(groups, len(y))
    n_groups = int(group_index.max()) + 1
    observed = _observed_difference(y, proba_a, proba_b, metric, thresholds_a, thresholds_b)
    if not math.isfinite(observed):
        return math.nan

    rng = np.random.default_rng(seed)
    n_seeds, n_files, n_classes = proba_a.shape
    ones = np.ones((1, n_files))
    at_least_as_extreme = 0
    block = max(1, BLOCK_ELEMENTS // proba_a.size)
    for start in range(0, n_permutations, block):
        n = min(block, n_permutations - start)
        swap = (rng.random((n, n_seeds, n_groups)) < 0.5)[:, :, group_index, None]
        perm_a = np.where(swap, proba_b, proba_a).reshape(n * n_seeds, n_files, n_classes)
        perm_b = np.where(swap, proba_a, proba_b).reshape(n * n_seeds, n_files, n_classes)
        rows_a = None if thresholds_a is None else np.tile(thresholds_a, n)
        rows_b = None if thresholds_b is None else np.tile(thresholds_b, n)
        value_a = metric_matrix(y, perm_a, metric, ones, rows_a)[0].reshape(n, n_seeds)
        value_b = metric_matrix(y, perm_b, metric, ones, rows_b)[0].reshape(n, n_seeds)
        permuted = value_b.mean(axis=1) - value_a.mean(axis=1)
        at_least_as_extreme += int(np.sum(np.abs(permuted) >= abs(observed) - 1e-12))
    return (1 + at_least_as_extreme) / (1 + n_permutations)


def compare_to_baseline(
    y: Sequence[int] | np.ndarray,
    baseline_proba: np.ndarray,
    method_proba: np.ndarray,
    *,
    metrics: Sequence[str] = ("macro_f1", "auroc", "accuracy"),
    thresholds_baseline: Sequence[float] | np.ndarray | None = None,
    thresholds_method: Sequence[float] | np.ndarray | None = None,
    groups: Sequence | np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict]:
    """Per metric: `paired_bootstrap` of method − baseline plus "p_value" from `paired_permutation_test`.

    The baseline is method A and the compared method is B, so a positive difference favours the
    method. Both resample or swap whole `groups` (the group of each test file; None: each file is
    its own group). The permutation test uses `n_resamples` permutations. A metric undefined on the test
    files (AUROC with a class absent) gets NaN difference, interval and p-value.
    """
    for metric in metrics:
        check_metric(metric)
    out: dict[str, dict] = {}
    for metric in metrics:
        common: dict[str, Any] = dict(thresholds_a=thresholds_baseline, thresholds_b=thresholds_method, groups=groups, seed=seed)
        result = paired_bootstrap(
            y, baseline_proba, method_proba, metric, n_resamples=n_resamples, confidence=confidence, **common
        )
        result["p_value"] = paired_permutation_test(y, baseline_proba, method_proba, metric, n_permutations=n_resamples, **common)
        out[metric] = result
    return out


def share_of_gain(
    y: Sequence[int] | np.ndarray,
    baseline_proba: np.ndarray,
    method_proba: np.ndarray,
    ceiling_proba: np.ndarray,
    metric: str,
    *,
    groups: Sequence | np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """The method's gain over the baseline as a share of the ceiling's: (M − B) / (C − B), paired.

    Each resample draws test groups and seeds as `paired_bootstrap` does, and the same draws serve
    numerator and denominator (the draws depend on the seed, labels and groups only, not on the
    probabilities), so [ci_low, ci_high] is the percentile interval of the resampled ratio. Draws
    whose ceiling gain is 0 are left out of it. Returns {"share", "ci_low", "ci_high",
    "ceiling_gain", "ceiling_ci_low", "ceiling_ci_high", "confidence", "n_resamples"}; the share
    means little when the ceiling's own interval includes 0, and callers should say so.
    """
    check_metric(metric)
    y, baseline_proba, method_proba, _, _ = _check_pair(y, baseline_proba, method_proba, metric, None, None)
    y, baseline_proba, ceiling_proba, _, _ = _check_pair(y, baseline_proba, ceiling_proba, metric, None, None)
    n_resamples = _check_resampling(n_resamples, confidence)
    group_index = _group_index(groups, len(y))
    gain = _observed_difference(y, baseline_proba, method_proba, metric, None, None)
    ceiling_gain = _observed_difference(y, baseline_proba, ceiling_proba, metric, None, None)
    result = {
        "share": gain / ceiling_gain if math.isfinite(gain) and math.isfinite(ceiling_gain) and ceiling_gain != 0 else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "ceiling_gain": ceiling_gain,
        "ceiling_ci_low": math.nan,
        "ceiling_ci_high": math.nan,
        "confidence": float(confidence),
        "n_resamples": n_resamples,
    }
    if not math.isfinite(result["share"]):
        return result
    gains = _bootstrap_statistics(
        y, group_index, [(-1.0, baseline_proba, None), (1.0, method_proba, None)], metric, n_resamples, seed
    )
    ceilings = _bootstrap_statistics(
        y, group_index, [(-1.0, baseline_proba, None), (1.0, ceiling_proba, None)], metric, n_resamples, seed
    )
    result["ceiling_ci_low"], result["ceiling_ci_high"] = _percentile_interval(ceilings, confidence)
    usable = ceilings != 0
    if usable.any():
        result["ci_low"], result["ci_high"] = _percentile_interval(gains[usable] / ceilings[usable], confidence)
    return result


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given; NaN stays NaN and is not counted.

    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value of the
    i-th is max over j <= i of min(1, (m - j + 1) · p_(j)): rejecting every hypothesis whose adjusted
    p-value is below alpha controls the family-wise error rate at alpha under any dependence between
    the tests (the comparisons here share the baseline, so they are dependent). Written out because
    statsmodels (multipletests) is not a dependency and scipy offers only the false discovery rate
    procedures (scipy.stats.false_discovery_control); the procedure is these few lines.
    """
    values = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if np.any((values < 0) | (values > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {values[(values < 0) | (values > 1)].tolist()}")
    adjusted = np.full(values.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(values))
    m = len(finite)
    if m:
        order = finite[np.argsort(values[finite], kind="stable")]
        scaled = np.minimum(1.0, (m - np.arange(m)) * values[order])
        adjusted[order] = np.maximum.accumulate(scaled)
    return [float(v) for v in adjusted]
