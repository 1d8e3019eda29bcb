"""Paired statistics: metrics against scikit-learn, bootstrap intervals, permutation p-values, thresholds,
and the unit of resampling (participants, not recordings)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from benchmarks.bootstrap_coverage import coverage, rejection_rate
from synthaug.evaluation.metrics import classification_metrics
from synthaug.evaluation.statistics import (
    bootstrap_interval,
    compare_to_baseline,
    groups_per_class,
    holm_adjust,
    paired_bootstrap,
    paired_permutation_test,
    summarize,
)
from synthaug.evaluation.weighted_metrics import choose_threshold, metric_values


def random_predictions(n_classes: int, n_seeds: int = 3, n_files: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n_files) % n_classes)  # every class present
    proba = rng.dirichlet(np.ones(n_classes), size=(n_seeds, n_files))
    # Rounded copies of some rows create tied scores, which AUROC must count as 1/2.
    proba[:, : n_files // 3] = np.round(proba[:, : n_files // 3], 1)
    proba /= proba.sum(axis=2, keepdims=True)
    return y, proba


def sklearn_metric(metric: str, y, proba, threshold=None) -> float:
    n_classes = proba.shape[1]
    if metric == "auroc":
        if n_classes == 2:
            return roc_auc_score(y, proba[:, 1])
        # metrics.py renormalizes the rows first (this can split or merge near-tied scores).
        proba = proba / proba.sum(axis=1, keepdims=True)
        return roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(n_classes)))
    pred = proba.argmax(axis=1) if threshold is None else (proba[:, 1] >= threshold).astype(int)
    if metric == "accuracy":
        return accuracy_score(y, pred)
    return f1_score(y, pred, labels=list(range(n_classes)), average="macro", zero_division=0)


def fixed_skill(y: np.ndarray, n_classes: int, n_correct: int, rng: np.random.Generator) -> np.ndarray:
    """Probabilities [F, C] whose argmax is right on exactly `n_correct` randomly chosen files."""
    n_files = len(y)
    correct = np.zeros(n_files, dtype=bool)
    correct[rng.choice(n_files, n_correct, replace=False)] = True
    predicted = np.where(correct, y, (y + rng.integers(1, n_classes, n_files)) % n_classes)
    proba = rng.dirichlet(np.ones(n_classes), size=n_files) * 0.5
    proba[np.arange(n_files), predicted] += 0.5  # > 1/2, so it is the argmax
    return proba


# --- metric_values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "auroc"])
def test_metric_values_match_sklearn(n_classes, metric):
    y, proba = random_predictions(n_classes)
    values = metric_values(y, proba, metric)
    assert values.shape == (1, 3)
    for s in range(3):
        assert values[0, s] == pytest.approx(sklearn_metric(metric, y, proba[s]), abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_metric_values_agree_with_the_metrics_module(n_classes):
    y, proba = random_predictions(n_classes, n_seeds=2, seed=6)
    names = [f"c{i}" for i in range(n_classes)]
    for metric in ("macro_f1", "accuracy", "auroc"):
        values = metric_values(y, proba, metric)[0]
        expected = [classification_metrics(y, proba[s], names)[metric] for s in range(2)]
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "auroc"])
def test_integer_weights_equal_repeating_files(n_classes, metric):
    y, proba = random_predictions(n_classes, seed=1)
    rng = np.random.default_rng(2)
    weights = rng.integers(0, 4, size=(4, len(y)))
    weights[:, :n_classes] = 1  # keep every class present, so AUROC is defined
    values = metric_values(y, proba, metric, weights=weights)
    assert values.shape == (4, 3)
    for b in range(4):
        rows = np.repeat(np.arange(len(y)), weights[b])
        for s in range(3):
            assert values[b, s] == pytest.approx(sklearn_metric(metric, y[rows], proba[s, rows]), abs=1e-12)


@pytest.mark.parametrize("metric", ["macro_f1", "accuracy"])
def test_thresholds_match_sklearn_per_seed(metric):
    y, proba = random_predictions(2, seed=3)
    thresholds = np.array([0.3, 0.5, 0.7])
    weights = np.random.default_rng(4).integers(0, 3, size=(2, len(y)))
    values = metric_values(y, proba, metric, weights=weights, thresholds=thresholds)
    for b in range(2):
        rows = np.repeat(np.arange(len(y)), weights[b])
        for s, threshold in enumerate(thresholds):
            expected = sklearn_metric(metric, y[rows], proba[s, rows], threshold)
            assert values[b, s] == pytest.approx(expected, abs=1e-12)


def test_auroc_is_nan_when_a_class_has_no_weight_and_zero_total_weight_is_nan():
    y, proba = random_predictions(3, seed=5)
    weights = np.ones((2, len(y)))
    weights[0, y == 2] = 0
    auroc = metric_values(y, proba, "auroc", weights=weights)
    assert np.all(np.isnan(auroc[0])) and np.all(np.isfinite(auroc[1]))
    assert np.all(np.isnan(metric_values(y, proba, "accuracy", weights=np.zeros(len(y)))))


def test_metric_values_rejects_bad_input():
    y, proba = random_predictions(3)
    with pytest.raises(ValueError, match="unknown metric"):
        metric_values(y, proba, "precision")
    with pytest.raises(ValueError, match="files"):
        metric_values(y[:-1], proba, "accuracy")
    with pytest.raises(ValueError, match="two classes"):
        metric_values(y, proba, "accuracy", thresholds=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[S seeds"):
        metric_values(y, proba[0], "accuracy")
    with pytest.raises(ValueError, match="weights"):
        metric_values(y, proba, "accuracy", weights=np.ones((2, len(y) + 1)))
    with pytest.raises(ValueError, match="non-negative"):
        metric_values(y, proba, "accuracy", weights=-np.ones(len(y)))
    with pytest.raises(ValueError, match="class indices"):
        metric_values(np.full(len(y), 3), proba, "accuracy")
    y2, proba2 = random_predictions(2)
    with pytest.raises(ValueError, match="one per seed"):
        metric_values(y2, proba2, "accuracy", thresholds=[0.5, 0.5])


# --- choose_threshold and summarize ----------------------------------------------------------------


def test_choose_threshold_separates_a_separable_set():
    # Positives score below 0.5, so the argmax rule misses them all; a threshold of 0.325 does not.
    y = np.array([0, 0, 0, 1, 1, 1])
    p1 = np.array([0.05, 0.2, 0.3, 0.35, 0.4, 0.45])
    proba = np.stack([1 - p1, p1], axis=1)
    threshold = choose_threshold(y, proba)
    assert 0.3 < threshold <= 0.35
    assert np.array_equal((p1 >= threshold).astype(int), y)
    assert metric_values(y, proba[None], "macro_f1", thresholds=[threshold])[0, 0] == 1.0


def test_choose_threshold_prefers_the_candidate_closest_to_one_half():
    # Candidates 0.35 (midpoint) and 0.5 both separate the files perfectly; 0.5 wins.
    y = np.array([0, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6]])
    assert choose_threshold(y, proba) == 0.5
    with pytest.raises(ValueError, match="binary"):
        choose_threshold([0, 1, 2], np.full((3, 3), 1 / 3))


def test_summarize_uses_the_sample_std_and_ignores_nan():
    assert summarize([1.0, 2.0, 3.0, math.nan]) == {"mean": 2.0, "std": 1.0, "n": 3}
    assert summarize([0.7]) == {"mean": 0.7, "std": 0.0, "n": 1}
    empty = summarize([math.nan, math.nan])
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["std"])


# --- paired bootstrap ------------------------------------------------------------------------------


def test_bootstrap_interval_covers_a_clear_improvement():
    # 200 files, 3 seeds: A is right on exactly 60% of the files, B on exactly 90%.
    rng = np.random.default_rng(10)
    n_files, n_classes = 200, 3
    y = rng.permutation(np.arange(n_files) % n_classes)
    proba_a = np.stack([fixed_skill(y, n_classes, 120, rng) for _ in range(3)])
    proba_b = np.stack([fixed_skill(y, n_classes, 180, rng) for _ in range(3)])
    result = paired_bootstrap(y, proba_a, proba_b, "accuracy", n_resamples=2000, seed=0)
    assert result["difference"] == pytest.approx(0.30)
    assert 0 < result["ci_low"] <= 0.30 <= result["ci_high"]
    assert result["ci_high"] - result["ci_low"] < 0.25
    assert {k: result[k] for k in ("confidence", "n_resamples", "n_files", "n_seeds")} == {
        "confidence": 0.95,
        "n_resamples": 2000,
        "n_files": 200,
        "n_seeds": 3,
    }


def test_bootstrap_interval_contains_zero_for_equal_skill():
    # Same skill (75% right), independent errors on different files.
    rng = np.random.default_rng(11)
    y = rng.permutation(np.arange(200) % 2)
    proba_a = np.stack([fixed_skill(y, 2, 150, rng) for _ in range(4)])
    proba_b = np.stack([fixed_skill(y, 2, 150, rng) for _ in range(4)])
    for metric in ("accuracy", "macro_f1", "auroc"):
        result = paired_bootstrap(y, proba_a, proba_b, metric, n_resamples=1000, seed=1)
        assert result["ci_low"] < 0 < result["ci_high"], metric


def test_bootstrap_is_reproducible_and_stratified():
    # 3 positives among 40 files: unstratified resamples would often lose them all.
    y = np.zeros(40, dtype=int)
    y[:3] = 1
    rng = np.random.default_rng(12)
    proba_a = rng.dirichlet([1, 1], size=(2, 40))
    proba_b = rng.dirichlet([1, 1], size=(2, 40))
    first = paired_bootstrap(y, proba_a, proba_b, "auroc", n_resamples=500, seed=3)
    assert first == paired_bootstrap(y, proba_a, proba_b, "auroc", n_resamples=500, seed=3)
    assert math.isfinite(first["ci_low"]) and math.isfinite(first["ci_high"])
    single_seed = paired_bootstrap(y, proba_a[:1], proba_b[:1], "auroc", n_resamples=200)
    assert single_seed["n_seeds"] == 1 and single_seed["ci_low"] <= single_seed["ci_high"]


def test_bootstrap_needs_paired_shapes():
    y, proba = random_predictions(2, n_seeds=3)
    with pytest.raises(ValueError, match="same seeds"):
        paired_bootstrap(y, proba, proba[:2], "accuracy")


# --- paired permutation test -----------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "auroc"])
def test_permutation_test_of_identical_predictions_gives_one(metric):
    y, proba = random_predictions(3, n_seeds=2)
    assert paired_permutation_test(y, proba, proba.copy(), metric, n_permutations=300) == 1.0


def test_permutation_test_with_thresholds_of_identical_predictions_gives_one():
    y, proba = random_predictions(2, n_seeds=2)
    thresholds = [0.4, 0.6]
    p = paired_permutation_test(y, proba, proba, "macro_f1", thresholds_a=thresholds, thresholds_b=thresholds, n_permutations=300)
    assert p == 1.0


def test_permutation_test_detects_a_clear_difference():
    rng = np.random.default_rng(13)
    y = rng.permutation(np.arange(200) % 2)
    proba_a = np.stack([fixed_skill(y, 2, 120, rng) for _ in range(2)])
    proba_b = np.stack([fixed_skill(y, 2, 180, rng) for _ in range(2)])
    p = paired_permutation_test(y, proba_a, proba_b, "accuracy", n_permutations=500)
    assert p == 1 / 501  # no permutation comes close to a 30-point difference
    assert paired_permutation_test(y, proba_a, proba_b, "auroc", n_permutations=500) < 0.05


# --- compare_to_baseline ---------------------------------------------------------------------------


def test_compare_to_baseline_reports_every_metric():
    y, proba_a = random_predictions(2, n_seeds=2, seed=20)
    _, proba_b = random_predictions(2, n_seeds=2, seed=21)
    result = compare_to_baseline(y, proba_a, proba_b, n_resamples=200)
    assert set(result) == {"macro_f1", "auroc", "accuracy"}
    for metric, entry in result.items():
        assert set(entry) == {
            "difference",
            "ci_low",
            "ci_high",
            "confidence",
            "n_resamples",
            "n_files",
            "n_groups",
            "n_seeds",
            "p_value",
        }
        assert entry["difference"] == pytest.approx(
            metric_values(y, proba_b, metric).mean() - metric_values(y, proba_a, metric).mean()
        )
        assert 0 < entry["p_value"] <= 1


def test_compare_to_baseline_gives_nan_for_an_undefined_auroc():
    # Only class 0 among the test files: AUROC is undefined, accuracy is not.
    y = np.zeros(20, dtype=int)
    rng = np.random.default_rng(22)
    proba_a, proba_b = rng.dirichlet([1, 1], size=(2, 2, 20))
    result = compare_to_baseline(y, proba_a, proba_b, metrics=("auroc", "accuracy"), n_resamples=100)
    assert all(math.isnan(result["auroc"][k]) for k in ("difference", "ci_low", "ci_high", "p_value"))
    assert math.isfinite(result["accuracy"]["ci_low"]) and math.isfinite(result["accuracy"]["p_value"])
    with pytest.raises(ValueError, match="unknown metric"):
        compare_to_baseline(y, proba_a, proba_b, metrics=("f2",))


# --- groups: participants, not recordings, are the unit ---------------------------------------------


def copies_in_groups(y: np.ndarray, proba: np.ndarray, copies: np.ndarray):
    """Each file repeated `copies[f]` times, the copies of a file forming one group: (y, proba, groups)."""
    rows = np.repeat(np.arange(len(y)), copies)
    return y[rows], proba[:, rows], rows


@pytest.mark.parametrize("metric", ["macro_f1", "auroc"])
def test_copies_of_a_recording_within_a_group_add_no_information(metric):
    # Participants whose recordings are exact copies of one another: drawing a participant k times
    # weighs each copy k times, so the grouped analysis of the copies is exactly the analysis of
    # the single recordings (every weight tripled), while treating the copies as independent
    # narrows the interval.
    y, proba_a = random_predictions(2, n_seeds=3, n_files=50, seed=30)
    _, proba_b = random_predictions(2, n_seeds=3, n_files=50, seed=31)
    copies = np.full(len(y), 3)  # equal group sizes: k draws of a group weigh its one recording 3k times
    y_c, a_c, groups = copies_in_groups(y, proba_a, copies)
    _, b_c, _ = copies_in_groups(y, proba_b, copies)
    single = paired_bootstrap(y, proba_a, proba_b, metric, n_resamples=400, seed=5)
    grouped = paired_bootstrap(y_c, a_c, b_c, metric, groups=groups, n_resamples=400, seed=5)
    for key in ("ci_low", "ci_high"):
        assert grouped[key] == pytest.approx(single[key], abs=1e-12), key
    assert grouped["n_groups"] == 50 and grouped["n_files"] == copies.sum()
    as_if_independent = paired_bootstrap(y_c, a_c, b_c, metric, n_resamples=400, seed=5)
    assert as_if_independent["ci_high"] - as_if_independent["ci_low"] < 0.9 * (single["ci_high"] - single["ci_low"])

    # The permutation test swaps a participant's copies together: the same p-value as for the single recordings.
    p_single = paired_permutation_test(y, proba_a, proba_b, metric, n_permutations=300, seed=6)
    p_grouped = paired_permutation_test(y_c, a_c, b_c, metric, groups=groups, n_permutations=300, seed=6)
    assert p_grouped == p_single
    # Per-method intervals follow the same rule.
    one = bootstrap_interval(y, proba_b, metric, n_resamples=300, seed=7)
    many = bootstrap_interval(y_c, b_c, metric, groups=groups, n_resamples=300, seed=7)
    assert (many["ci_low"], many["ci_high"]) == pytest.approx((one["ci_low"], one["ci_high"]), abs=1e-12)


def test_one_group_per_file_is_the_recording_level_analysis():
    y, proba_a = random_predictions(2, n_seeds=2, seed=33)
    _, proba_b = random_predictions(2, n_seeds=2, seed=34)
    names = np.array([f"file{i}" for i in range(len(y))])  # any labels, here strings
    for metric in ("accuracy", "auroc"):
        assert paired_bootstrap(y, proba_a, proba_b, metric, groups=names, n_resamples=200) == paired_bootstrap(
            y, proba_a, proba_b, metric, n_resamples=200
        )
        assert paired_permutation_test(y, proba_a, proba_b, metric, groups=names, n_permutations=200) == paired_permutation_test(
            y, proba_a, proba_b, metric, n_permutations=200
        )
    with pytest.raises(ValueError, match="groups must be"):
        paired_bootstrap(y, proba_a, proba_b, "auroc", groups=names[:-1])


@pytest.mark.slow  # a coverage simulation
def test_grouped_bootstrap_covers_the_truth_and_the_recording_level_bootstrap_does_not():
    # 200 simulated test sets: 40 participants per class with 2-3 recordings each, two methods
    # built alike (true AUROC difference 0) whose errors are shared by a participant's recordings.
    result = coverage(n_datasets=200, n_resamples=300, metric="auroc", seed=0)
    print(
        f"\n95 % interval coverage of the true AUROC difference: {result['grouped_coverage']:.1%} resampling "
        f"participants, {result['recording_coverage']:.1%} resampling recordings"
    )
    assert result["grouped_coverage"] >= 0.88
    assert result["recording_coverage"] < 0.85
    assert result["recording_coverage"] < result["grouped_coverage"] - 0.08


def test_permutation_test_swapping_groups_keeps_its_size_under_correlated_recordings():
    result = rejection_rate(n_datasets=100, n_permutations=100, metric="auroc", seed=0)
    print(
        f"\nrejections of a true null at 5 %: {result['grouped_rejection_rate']:.0%} swapping participants, "
        f"{result['recording_rejection_rate']:.0%} swapping recordings"
    )
    assert result["grouped_rejection_rate"] <= 0.12
    assert result["recording_rejection_rate"] > 0.12


def test_groups_holding_two_classes_keep_every_class_in_every_resample():
    # Class 1 only occurs in participants who also have a class-0 recording: stratifying such
    # participants by a majority class could drop class 1 from a resample and leave AUROC undefined.
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 0, 1])
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    rng = np.random.default_rng(35)
    proba_a, proba_b = rng.dirichlet([1, 1], size=(2, 2, len(y)))
    result = paired_bootstrap(y, proba_a, proba_b, "auroc", groups=groups, n_resamples=500)
    assert math.isfinite(result["ci_low"]) and math.isfinite(result["ci_high"])
    interval = bootstrap_interval(y, proba_a, "auroc", groups=groups, n_resamples=500)
    assert interval["ci_low"] <= interval["ci_high"] and math.isfinite(interval["ci_low"])
    assert groups_per_class(y, groups) == {0: 5, 1: 2}
    assert groups_per_class(y) == {0: 8, 1: 2}


# --- per-method intervals --------------------------------------------------------------------------


def test_per_method_interval_brackets_the_mean_and_widens_with_fewer_independent_units():
    rng = np.random.default_rng(36)
    y = rng.permutation(np.arange(120) % 2)
    proba = np.stack([fixed_skill(y, 2, 90, rng) for _ in range(3)])
    result = bootstrap_interval(y, proba, "accuracy", n_resamples=1000, seed=1)
    assert result["value"] == pytest.approx(0.75)
    assert result["ci_low"] < 0.75 < result["ci_high"]
    assert 0.08 < result["ci_high"] - result["ci_low"] < 0.25  # about ±1.96·sqrt(0.75·0.25/120) = ±0.077
    assert {k: result[k] for k in ("n_files", "n_groups", "n_seeds", "n_resamples")} == {
        "n_files": 120,
        "n_groups": 120,
        "n_seeds": 3,
        "n_resamples": 1000,
    }
    assert result == bootstrap_interval(y, proba, "accuracy", n_resamples=1000, seed=1)
    # The same files as 30 participants of 4 same-class recordings, each participant's recordings
    # sharing their predictions' errors: four times fewer independent units, a wider interval.
    order = np.argsort(y, kind="stable")
    y_sorted, proba_sorted = y[order], proba[:, order]
    groups = np.arange(120) // 4
    shared = np.repeat(np.arange(0, 120, 4), 4)
    clustered = bootstrap_interval(y_sorted, proba_sorted[:, shared], "accuracy", groups=groups, n_resamples=1000, seed=1)
    assert clustered["n_groups"] == 30
    assert clustered["ci_high"] - clustered["ci_low"] > 1.5 * (result["ci_high"] - result["ci_low"])


def test_per_method_interval_is_nan_for_an_undefined_auroc():
    y = np.zeros(10, dtype=int)
    proba = np.random.default_rng(37).dirichlet([1, 1], size=(2, 10))
    result = bootstrap_interval(y, proba, "auroc", n_resamples=100)
    assert all(math.isnan(result[k]) for k in ("value", "ci_low", "ci_high"))
    thresholded = bootstrap_interval(y, proba, "macro_f1", thresholds=[0.4, 0.6], n_resamples=100)
    assert thresholded["value"] == pytest.approx(metric_values(y, proba, "macro_f1", thresholds=[0.4, 0.6]).mean())


def test_holm_adjustment_matches_a_hand_computed_example():
    # Sorted: 0.005, 0.01, 0.03, 0.04 with m = 4 -> 4*0.005 = 0.02, 3*0.01 = 0.03, 2*0.03 = 0.06,
    # 1*0.04 = 0.04 raised to the running maximum 0.06; returned in the input order. The NaN (an
    # undefined AUROC) is not a test and does not enlarge the family.
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005, math.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])
    assert holm_adjust([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    assert holm_adjust([0.2]) == [0.2] and holm_adjust([]) == []
    with pytest.raises(ValueError, match="p-values must lie in"):
        holm_adjust([0.1, 1.5])
