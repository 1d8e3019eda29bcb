"""Fidelity metrics on point clouds whose answer is known by construction, and the audit's JSON-ready output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from synthaug.evaluation import fidelity
from synthaug.evaluation.fidelity import (
    audit,
    frechet_distance,
    frechet_with_reference,
    memorization,
    precision_recall_density_coverage,
    random_projection,
    sample_scores,
    two_sample_auroc,
)
from synthaug.evaluation.figures import nearest_neighbours


def gaussian(n: int, dim: int = 8, seed: int = 0, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, scale, size=(n, dim))


# Fréchet distance


def test_frechet_of_a_set_against_itself_is_zero():
    a = gaussian(300, dim=16)
    assert frechet_distance(a, a) < 1e-6 * np.trace(np.cov(a, rowvar=False))


def test_frechet_grows_with_the_mean_shift_as_dimension_times_shift_squared():
    dim = 8
    real = gaussian(20000, dim=dim, seed=1)
    values = [frechet_distance(real, gaussian(20000, dim=dim, seed=2, shift=shift)) for shift in (0.0, 1.0, 2.0)]
    assert values[0] < values[1] < values[2]
    assert values[0] < 0.05  # same distribution: only finite-sample error
    for shift, value in zip((1.0, 2.0), values[1:]):
        assert value == pytest.approx(dim * shift**2, rel=0.05)


def test_frechet_handles_one_feature_and_singular_covariances():
    assert frechet_distance(gaussian(50, dim=1, seed=1), gaussian(50, dim=1, seed=2, shift=3.0)) > 5
    # More features than samples: both covariances are singular; the result stays finite and non-negative.
    value = frechet_distance(gaussian(5, dim=20, seed=1), gaussian(5, dim=20, seed=2))
    assert math.isfinite(value) and value >= 0


def test_frechet_rejects_mismatched_widths_and_too_few_samples():
    with pytest.raises(ValueError, match="same number of features"):
        frechet_distance(gaussian(10, dim=3), gaussian(10, dim=4))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(gaussian(1), gaussian(10))


def test_frechet_with_reference_uses_equal_n_on_both_sides(monkeypatch):
    shapes = []
    original = fidelity.frechet_distance

    def recording(a, b):
        shapes.append((len(a), len(b)))
        return original(a, b)

    monkeypatch.setattr(fidelity, "frechet_distance", recording)
    # n = min(n_samples, len(synthetic), len(real) // 2) for each of the three limits.
    for n_real, n_synthetic, n_samples, expected in ((400, 1000, 500, 200), (400, 50, 500, 50), (400, 300, 80, 80)):
        shapes.clear()
        result = frechet_with_reference(gaussian(n_real, seed=1), gaussian(n_synthetic, seed=2), n_samples=n_samples)
        assert result["n"] == expected
        assert shapes == [(expected, expected), (expected, expected)]


def test_frechet_reference_is_small_for_one_distribution_and_below_a_shifted_set():
    real = gaussian(1000, dim=4, seed=1)
    same = frechet_with_reference(real, gaussian(500, dim=4, seed=2), n_samples=500, seed=3)
    shifted = frechet_with_reference(real, gaussian(500, dim=4, seed=2, shift=1.0), n_samples=500, seed=3)
    assert 0 < same["reference"] < 0.2  # disjoint halves: positive, but only sampling noise
    assert same["frechet"] < 0.2
    assert shifted["reference"] == pytest.approx(same["reference"])  # same real halves for the same seed
    assert shifted["frechet"] > 10 * shifted["reference"]
    with pytest.raises(ValueError, match="n >= 2"):
        frechet_with_reference(real, gaussian(1, dim=4), n_samples=500)


# Precision, recall, density, coverage


def test_prdc_of_identical_clouds_is_one():
    cloud = gaussian(300, dim=2)
    m = precision_recall_density_coverage(cloud, cloud.copy(), k=5)
    assert m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(1.0)
    assert m["coverage"] == pytest.approx(1.0)
    assert m["density"] == pytest.approx(1.0, abs=0.05)
    assert m["k"] == 5


def test_prdc_of_a_collapsed_cloud_has_high_precision_and_low_recall_and_coverage():
    real = gaussian(500, dim=2, seed=1)
    collapsed = gaussian(500, dim=2, seed=2, scale=0.05)  # all near the centre of the real cloud
    m = precision_recall_density_coverage(real, collapsed, k=5)
    assert m["precision"] > 0.95
    assert m["recall"] < 0.2
    assert m["coverage"] < 0.2


def test_prdc_of_a_far_away_cloud_is_zero():
    m = precision_recall_density_coverage(gaussian(200, dim=2, seed=1), gaussian(200, dim=2, seed=2, shift=100.0))
    assert m["precision"] == 0.0
    assert m["coverage"] == 0.0
    assert m["recall"] == 0.0
    assert m["density"] == 0.0


def test_prdc_clamps_k_to_what_the_set_sizes_allow():
    assert precision_recall_density_coverage(gaussian(100, seed=1), gaussian(4, seed=2), k=5)["k"] == 2
    assert precision_recall_density_coverage(gaussian(3, seed=1), gaussian(100, seed=2), k=5)["k"] == 1
    with pytest.raises(ValueError, match="at least 3"):
        precision_recall_density_coverage(gaussian(100, seed=1), gaussian(2, seed=2))


# Memorization


def test_a_generator_that_copies_training_samples_is_flagged():
    train, test = gaussian(500, seed=1), gaussian(500, seed=2)
    rows = np.random.default_rng(3).choice(len(train), size=200, replace=False)
    copies = train[rows] + np.random.default_rng(4).normal(0, 1e-6, size=(200, train.shape[1]))
    result = memorization(copies, train, test, quantile=0.05)
    assert result["rate"] == pytest.approx(1.0)
    np.testing.assert_array_equal(result["nearest_train"], rows)
    assert result["synthetic_to_train"].shape == (200,)
    assert result["test_to_train"].shape == (500,)
    assert result["threshold"] == pytest.approx(np.quantile(result["test_to_train"], 0.05))


def test_a_generator_sampling_fresh_points_is_rarely_flagged():
    train, test, fresh = gaussian(500, seed=1), gaussian(500, seed=2), gaussian(500, seed=3)
    assert memorization(fresh, train, test, quantile=0.05)["rate"] <= 0.15


# Classifier two-sample test


def test_two_sample_auroc_is_chance_for_one_distribution_and_high_for_different_ones():
    data = gaussian(600, seed=1)
    assert two_sample_auroc(data[:300], data[300:]) == pytest.approx(0.5, abs=0.15)
    assert two_sample_auroc(data[:300], gaussian(200, seed=2, shift=2.0)) > 0.95


def test_two_sample_auroc_reduces_folds_for_tiny_sets_and_rejects_single_samples():
    value = two_sample_auroc(gaussian(3, seed=1), gaussian(50, seed=2, shift=5.0), folds=5)
    assert 0.0 <= value <= 1.0
    with pytest.raises(ValueError, match="at least 2 samples"):
        two_sample_auroc(gaussian(10, seed=1), gaussian(1, seed=2))


# Random projection and per-sample scores


def test_random_projection_is_deterministic_and_maps_equal_rows_to_equal_rows():
    x = np.random.default_rng(0).normal(size=(5, 1, 16, 10)).astype(np.float32)
    x[3] = x[0]
    projected = random_projection(x, dim=32, seed=7)
    assert projected.shape == (5, 32) and projected.dtype == np.float32
    np.testing.assert_array_equal(projected, random_projection(x, dim=32, seed=7))
    # The matrix depends on the width only, not on the rows, so separate calls agree.
    np.testing.assert_array_equal(projected[:2], random_projection(x[:2], dim=32, seed=7))
    np.testing.assert_array_equal(projected[3], projected[0])
    assert not np.allclose(projected, random_projection(x, dim=32, seed=8))
    assert random_projection(x[:0], dim=32).shape == (0, 32)


def test_sample_scores_flag_copies_and_points_outside_the_manifold():
    train, test = gaussian(300, dim=4, seed=1), gaussian(300, dim=4, seed=2)
    copies = train[:20] + 1e-6
    far = gaussian(20, dim=4, seed=3, shift=50.0)
    threshold = memorization(copies, train, test)["threshold"]
    scores = sample_scores(np.concatenate([copies, far]), train, k=5, copy_threshold=threshold)
    assert (scores["copy_ratio"][:20] < 1).all()
    assert (scores["manifold_distance"][:20] < 1).all()
    assert (scores["copy_ratio"][20:] > 1).all()
    assert (scores["manifold_distance"][20:] > 1).all()


def test_share_of_samples_inside_the_manifold_equals_prdc_precision():
    train, synthetic = gaussian(300, dim=3, seed=1), gaussian(200, dim=3, seed=2, shift=1.0)
    scores = sample_scores(synthetic, train, k=5, copy_threshold=1.0)
    precision = precision_recall_density_coverage(train, synthetic, k=5)["precision"]
    assert 0 < precision < 1
    assert np.mean(scores["manifold_distance"] < 1) == pytest.approx(precision)


# Audit


AUDIT_KEYS = {"frechet", "frechet_reference", "n_frechet", "frechet_test", "precision", "recall", "density",
              "coverage", "k", "memorization_rate", "memorization_threshold", "two_sample_auroc",
              "n_synthetic", "n_train", "n_test"}


def test_audit_returns_plain_json_ready_values():
    result = audit(gaussian(200, seed=1), gaussian(100, seed=2), gaussian(150, seed=3), n_samples=80)
    assert set(result) == AUDIT_KEYS
    assert all(type(value) in (float, int) for value in result.values())
    assert result["n_frechet"] == 80
    assert (result["n_synthetic"], result["n_train"], result["n_test"]) == (150, 200, 100)
    assert all(math.isfinite(value) for value in result.values())
    assert json.loads(json.dumps(result)) == result


def test_audit_gives_nan_instead_of_crashing_for_a_single_synthetic_sample():
    result = audit(gaussian(200, seed=1), gaussian(100, seed=2), gaussian(1, seed=3))
    json.dumps(result)
    for key in ("frechet", "frechet_reference", "frechet_test", "precision", "recall", "density", "coverage",
                "two_sample_auroc"):
        assert math.isnan(result[key]), key
    assert result["n_synthetic"] == 1
    assert 0.0 <= result["memorization_rate"] <= 1.0  # one sample is enough to measure its distance


# Figure


def test_nearest_neighbours_figure_has_two_rows_and_orders_by_distance():
    rng = np.random.default_rng(0)
    synthetic_x, train_x = rng.normal(size=(8, 1, 16, 12)), rng.normal(size=(10, 1, 16, 12))
    distances = rng.uniform(size=8)
    nearest = rng.integers(0, 10, size=8)
    figure = nearest_neighbours(synthetic_x, train_x, nearest, distances, n=6, title="nearest")
    assert isinstance(figure, Figure)
    assert {axis.get_subplotspec().rowspan.start for axis in figure.axes} == {0, 1}
    assert len(figure.axes) == 12
    top = [axis for axis in figure.axes if axis.get_subplotspec().rowspan.start == 0]
    shown = [float(axis.get_title().split("distance ")[1]) for axis in top]
    assert shown == sorted(shown)
    assert shown[0] == pytest.approx(distances.min(), rel=1e-2)

    # Fewer synthetic samples than requested: one column per sample.
    small = nearest_neighbours(synthetic_x[:3], train_x, nearest[:3], distances[:3], n=6)
    assert len(small.axes) == 6


def test_class_sample_scores_score_each_class_against_its_own_real_samples():
    from synthaug.evaluation.fidelity import class_sample_scores

    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(10, 1, (30, 4))])
    train_y = np.repeat([0, 1], 30)
    reference, reference_y = rng.normal(0, 1, (10, 4)), np.zeros(10, dtype=int)  # no reference of class 1
    synthetic = np.concatenate([rng.normal(0, 1, (5, 4)), rng.normal(10, 1, (5, 4))])
    synthetic_y = np.repeat([0, 1], 5)
    scores = class_sample_scores(synthetic, synthetic_y, train, train_y, reference, reference_y, k=3, quantile=0.05)

    threshold = memorization(synthetic[:5], train[:30], reference, quantile=0.05)["threshold"]
    expected = sample_scores(synthetic[:5], train[:30], k=3, copy_threshold=threshold)
    assert np.allclose(scores["manifold_distance"][:5], expected["manifold_distance"])
    assert np.allclose(scores["copy_ratio"][:5], expected["copy_ratio"])
    assert np.isnan(scores["manifold_distance"][5:]).all() and np.isnan(scores["copy_ratio"][5:]).all()
