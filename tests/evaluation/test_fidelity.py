"""Fidelity metrics on point clouds whose answer is known by construction, the audit with its real-validation
reference row, and the report and figures that show it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from synthaug.config import AuditParams
from synthaug.evaluation.audit_report import render_audit
from synthaug.evaluation.distances import (
    frechet_distance,
    kernel_inception_distance,
    precision_recall_density_coverage,
    random_projection,
    reduced_frechet_distance,
)
from synthaug.evaluation.fidelity import (
    AUDIT_COUNTS,
    AUDIT_METRICS,
    REFERENCE,
    REFERENCE_LABEL,
    audit_class,
    group_halves,
    strongest_two_sample,
    two_sample_auroc,
)
from synthaug.evaluation.figures import audit_bars, nearest_neighbours
from synthaug.evaluation.memorization import class_sample_scores, memorization, sample_scores


def gaussian(n: int, dim: int = 8, seed: int = 0, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, scale, size=(n, dim))


def collapsed_to_mean(train: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """What a blurry VAE gives: samples all at the training mean, up to tiny noise."""
    return train.mean(axis=0) + gaussian(n, train.shape[1], seed=seed, scale=0.02)


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


def low_rank(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """64-dimensional embeddings driven by 5 latent factors plus noise, like a classifier's features."""
    loadings = np.random.default_rng(0).normal(size=(5, 64))
    latent = gaussian(n, 5, seed=seed, scale=2.0)
    latent[:, 0] += shift
    return latent @ loadings + gaussian(n, 64, seed=seed + 1000)


def test_reduced_frechet_keeps_five_samples_per_dimension():
    # 37 samples in 64 dimensions, the size of a scarce class: the full-width distance between two draws of
    # one distribution is mostly estimator bias, as large as the one to a set shifted by 0.5 per feature.
    real, same, shifted = gaussian(37, 64, seed=1), gaussian(37, 64, seed=2), gaussian(37, 64, seed=3, shift=0.5)
    assert frechet_distance(real, same) > 0.5 * frechet_distance(real, shifted)
    for seed in range(3):
        real, same, shifted = low_rank(37, seed), low_rank(37, seed + 10), low_rank(37, seed + 20, shift=4.0)
        reduced_same, reduced_shifted = reduced_frechet_distance(real, same), reduced_frechet_distance(real, shifted)
        assert reduced_same["dims"] == reduced_shifted["dims"] == 37 // 5
        assert reduced_shifted["frechet"] > 2 * reduced_same["frechet"]
    # The projection is a PCA fitted on the real side, the same for every candidate.
    from sklearn.decomposition import PCA

    pca = PCA(n_components=7, svd_solver="full").fit(real)
    assert reduced_frechet_distance(real, shifted)["frechet"] == pytest.approx(
        frechet_distance(pca.transform(real), pca.transform(shifted))
    )
    assert reduced_frechet_distance(gaussian(4, 64, seed=1), gaussian(100, 64, seed=2))["dims"] == 1
    assert reduced_frechet_distance(gaussian(500, 3, seed=1), gaussian(500, 3, seed=2))["dims"] == 3  # capped at D
    with pytest.raises(ValueError, match="at least 2"):
        reduced_frechet_distance(gaussian(1, 4), gaussian(10, 4))


# Kernel inception distance


def test_kid_is_about_zero_for_one_distribution_even_at_small_n_and_grows_with_a_shift():
    # Unbiased: over many small draws of one distribution the mean is ~0, far below any real shift.
    small = [kernel_inception_distance(gaussian(15, 16, seed=s), gaussian(15, 16, seed=100 + s)) for s in range(30)]
    shifted = [
        kernel_inception_distance(gaussian(200, 16, seed=1), gaussian(200, 16, seed=2, shift=shift))
        for shift in (0.0, 0.25, 0.5, 1.0)
    ]
    assert abs(np.mean(small)) < 0.1 * shifted[2]
    assert abs(shifted[0]) < 0.1 * shifted[1]
    assert shifted[0] < shifted[1] < shifted[2] < shifted[3]


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    a, b = gaussian(5, 3, seed=1), gaussian(4, 3, seed=2, shift=0.5)

    def k(x, y):
        return (x @ y / 3 + 1) ** 3

    within_a = sum(k(a[i], a[j]) for i in range(5) for j in range(5) if i != j) / 20
    within_b = sum(k(b[i], b[j]) for i in range(4) for j in range(4) if i != j) / 12
    across = sum(k(x, y) for x in a for y in b) / 20
    assert kernel_inception_distance(a, b) == pytest.approx(within_a + within_b - 2 * across)
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(a, b[:1])


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


def test_exact_and_near_copies_of_training_samples_are_flagged():
    train, val = gaussian(300, 64, seed=1), gaussian(200, 64, seed=2)
    rows = np.random.default_rng(3).choice(len(train), size=100, replace=False)
    exact = train[rows]
    near = train[rows] + gaussian(100, 64, seed=4, scale=0.1)  # a tenth of the data's spread per feature
    for copies in (exact, near):
        result = memorization(copies, train, val, quantile=0.05)
        assert result["rate"] == pytest.approx(1.0)
        np.testing.assert_array_equal(result["nearest_train"], rows)
        assert result["is_copy"].all() and (result["distance_ratio"] < 0.5).all()
    assert result["synthetic_to_train"].shape == (100,) and result["unseen_to_train"].shape == (200,)
    assert result["threshold"] == pytest.approx(np.quantile(result["unseen_to_train"], 0.05))


def test_samples_collapsed_to_the_class_mean_are_not_copies():
    train, val = gaussian(300, 64, seed=1), gaussian(200, 64, seed=2)
    result = memorization(collapsed_to_mean(train, 100), train, val, quantile=0.05)
    # Closer to the training set than any real sample comes (what the distance alone would count as copies),
    # but equally close to many training samples: not a copy of any one.
    assert (result["synthetic_to_train"] < result["threshold"]).mean() > 0.9
    assert result["rate"] == 0.0
    assert (result["distance_ratio"] > 0.9).all()


def test_fresh_samples_from_the_real_distribution_are_rarely_flagged():
    for dim in (4, 64):
        train, val, fresh = gaussian(500, dim, seed=1), gaussian(500, dim, seed=2), gaussian(500, dim, seed=3)
        assert memorization(fresh, train, val, quantile=0.05)["rate"] <= 0.05


def test_a_copy_of_a_duplicated_training_sample_is_still_a_copy():
    train = gaussian(100, 16, seed=1)
    train = np.concatenate([train, train[:10]])  # ten samples recorded twice
    result = memorization(train[:10] + 1e-6, train, gaussian(100, 16, seed=2))
    assert result["rate"] == 1.0


def test_memorization_rejects_missing_calibration_data_and_bounds_outside_zero_one():
    train = gaussian(50, 4)
    with pytest.raises(ValueError, match="validation"):
        memorization(train[:5], train, train[:0])
    with pytest.raises(ValueError, match="copy_distance_ratio"):
        memorization(train[:5], train, train, copy_distance_ratio=0.0)
    with pytest.raises(ValueError, match="quantile"):
        memorization(train[:5], train, train, quantile=1.5)
    with pytest.raises(ValueError, match="distinct"):
        memorization(train[:5], np.repeat(train[:1], 5, axis=0), train)


# Classifier two-sample tests


@pytest.mark.parametrize("test", ["knn", "quadratic"])
def test_two_halves_of_one_set_are_indistinguishable(test):
    data = gaussian(600, seed=1)
    assert 0.4 <= two_sample_auroc(data[:300], data[300:], test=test) <= 0.62


@pytest.mark.parametrize("test", ["knn", "quadratic"])
def test_sets_that_differ_only_in_variance_are_told_apart(test):
    assert two_sample_auroc(gaussian(300, seed=1), gaussian(300, seed=2, scale=2.5), test=test) > 0.9


def test_knn_sees_a_lattice_that_matches_the_real_mean_and_variance():
    # A generator collapsed onto a few points (WGAN-GP's lattice): each feature has the real mean and
    # variance, so only a test that sees shape can tell.
    rng = np.random.default_rng(0)
    lattice = rng.choice([-1.0, 1.0], size=(300, 2)) + rng.normal(0, 0.05, size=(300, 2))
    real = gaussian(300, 2, seed=1)
    assert two_sample_auroc(real, lattice, test="knn") > 0.9
    assert two_sample_auroc(real, lattice, test="quadratic") < 0.75


def test_the_quadratic_test_sees_a_collapse_that_blinds_knn_in_many_dimensions():
    # 40 samples in 64 dimensions: the collapsed set holds every real sample's nearest neighbours.
    train = gaussian(40, 64, seed=1)
    real, collapsed = gaussian(40, 64, seed=2), collapsed_to_mean(train, 40)
    assert two_sample_auroc(real, collapsed, test="knn") < 0.7
    assert two_sample_auroc(real, collapsed, test="quadratic") > 0.95


def test_two_sample_auroc_reduces_folds_for_tiny_sets_and_rejects_bad_input():
    value = two_sample_auroc(gaussian(3, seed=1), gaussian(50, seed=2, shift=5.0), folds=5)
    assert 0.0 <= value <= 1.0
    with pytest.raises(ValueError, match="at least 2 samples"):
        two_sample_auroc(gaussian(10, seed=1), gaussian(1, seed=2))
    with pytest.raises(ValueError, match="unknown two-sample test 'linear'"):
        two_sample_auroc(gaussian(10, seed=1), gaussian(10, seed=2), test="linear")


def test_strongest_two_sample_is_the_maximum_over_views_and_tests():
    by_view = {
        "classifier": {"two_sample_auroc_knn_val": 0.6, "two_sample_auroc_quadratic_val": None},
        "log_mel": {"two_sample_auroc_knn_val": 0.55, "two_sample_auroc_quadratic_val": 0.8},
    }
    assert strongest_two_sample(by_view) == {"auroc": 0.8, "view": "log_mel", "test": "quadratic"}
    assert math.isnan(strongest_two_sample({"classifier": {}})["auroc"])


# Random projection


def test_random_projection_is_deterministic_and_maps_equal_rows_to_equal_rows():
    x = np.random.default_rng(0).normal(size=(5, 1, 16, 10)).astype(np.float32)
    x[3] = x[0]
    projected = random_projection(x, dim=32, seed=7)
    assert projected.shape == (5, 32) and projected.dtype == np.float32
    # The same computation again gives the same bits.
    np.testing.assert_array_equal(projected, random_projection(x, dim=32, seed=7))
    # The matrix depends on the width only, not on the rows, so separate calls agree; only to round-off,
    # since the BLAS picks its kernel (and summation order) by matrix shape and CPU.
    np.testing.assert_allclose(projected[:2], random_projection(x[:2], dim=32, seed=7), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(projected[3], projected[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(projected, random_projection(x, dim=32, seed=8))
    assert random_projection(x[:0], dim=32).shape == (0, 32)


# Per-sample scores for curation


def test_sample_scores_flag_copies_and_points_outside_the_manifold_but_not_the_class_mean():
    train, val = gaussian(300, 16, seed=1), gaussian(300, 16, seed=2)
    copies, far, mean = train[:20] + 1e-6, gaussian(20, 16, seed=3, shift=50.0), collapsed_to_mean(train, 20)
    threshold = memorization(copies, train, val)["threshold"]
    scores = sample_scores(np.concatenate([copies, far, mean]), train, k=5, copy_threshold=threshold)
    assert (scores["copy_ratio"][:20] < 1).all() and (scores["manifold_distance"][:20] < 1).all()
    assert (scores["copy_ratio"][20:40] > 1).all() and (scores["manifold_distance"][20:40] > 1).all()
    assert (scores["copy_ratio"][40:] > 1).all()  # near every training sample, so a copy of none


def test_share_of_copy_ratios_below_one_is_the_memorization_rate():
    train, val = gaussian(200, 6, seed=1), gaussian(200, 6, seed=2)
    synthetic = np.concatenate([train[:30] + gaussian(30, 6, seed=3, scale=0.05), gaussian(70, 6, seed=4)])
    memorized = memorization(synthetic, train, val, quantile=0.2, copy_distance_ratio=0.6)
    scores = sample_scores(synthetic, train, copy_threshold=memorized["threshold"], copy_distance_ratio=0.6)
    assert 0.3 <= memorized["rate"] < 1
    np.testing.assert_array_equal(scores["copy_ratio"] < 1, memorized["is_copy"])


def test_share_of_samples_inside_the_manifold_equals_prdc_precision():
    train, synthetic = gaussian(300, dim=3, seed=1), gaussian(200, dim=3, seed=2, shift=1.0)
    scores = sample_scores(synthetic, train, k=5, copy_threshold=1.0)
    precision = precision_recall_density_coverage(train, synthetic, k=5)["precision"]
    assert 0 < precision < 1
    assert np.mean(scores["manifold_distance"] < 1) == pytest.approx(precision)


def test_class_sample_scores_score_each_class_against_its_own_real_samples():
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(10, 1, (30, 4))])
    train_y = np.repeat([0, 1], 30)
    val, val_y = rng.normal(0, 1, (10, 4)), np.zeros(10, dtype=int)  # no validation sample of class 1
    synthetic = np.concatenate([rng.normal(0, 1, (5, 4)), rng.normal(10, 1, (5, 4))])
    synthetic_y = np.repeat([0, 1], 5)
    scores = class_sample_scores(synthetic, synthetic_y, train, train_y, val, val_y, k=3, quantile=0.05, copy_distance_ratio=0.4)

    threshold = memorization(synthetic[:5], train[:30], val, quantile=0.05)["threshold"]
    expected = sample_scores(synthetic[:5], train[:30], k=3, copy_threshold=threshold, copy_distance_ratio=0.4)
    assert np.allclose(scores["manifold_distance"][:5], expected["manifold_distance"])
    assert np.allclose(scores["copy_ratio"][:5], expected["copy_ratio"])
    assert np.isnan(scores["manifold_distance"][5:]).all() and np.isnan(scores["copy_ratio"][5:]).all()


# The audit of one class, with its real-validation reference row


def test_group_halves_keep_each_group_on_one_side():
    groups = np.repeat([f"p{i}" for i in range(9)], 2)  # two recordings per participant
    splits = group_halves(groups, repeats=3, seed=0)
    assert len(splits) == 3
    for comparison, reference in splits:
        assert sorted(np.concatenate([comparison, reference]).tolist()) == list(range(18))
        assert not set(groups[comparison]) & set(groups[reference])
        assert len(set(groups[comparison])) == 5 and len(set(groups[reference])) == 4
    assert [c.tolist() for c, _ in splits] == [c.tolist() for c, _ in group_halves(groups, repeats=3, seed=0)]
    assert group_halves(np.array(["p1", "p1", "p1"]), repeats=3) == []


@pytest.fixture(scope="module")
def class_audit() -> tuple[dict, np.ndarray]:
    """One class in 16 dimensions: 80 training samples, 40 validation clips of 20 participants, and four sets."""
    train, val = gaussian(80, 16, seed=1), gaussian(40, 16, seed=2)
    groups = np.repeat(np.arange(20), 2)
    sets = {
        "faithful": gaussian(100, 16, seed=3),
        "too_wide": gaussian(100, 16, seed=4, scale=2.5),
        "copier": train[np.arange(100) % 80] + gaussian(100, 16, seed=5, scale=0.02),
        "blurry": collapsed_to_mean(train, 100, seed=6),
    }
    return audit_class(train, val, groups, sets, repeats=2, seed=0), train


def test_the_audit_has_a_reference_row_scored_like_every_synthetic_set(class_audit):
    rows, _ = class_audit
    assert list(rows) == [REFERENCE, "faithful", "too_wide", "copier", "blurry"]
    for name, row in rows.items():
        assert set(row) == set(AUDIT_METRICS) | set(AUDIT_COUNTS), name
        assert all(type(value) in (float, int) for value in row.values())
        assert row["n"] == rows[REFERENCE]["n"] == 20  # each set subsampled to the reference half's size
        assert row["repeats"] == 2 and row["n_train"] == 80 and row["n_comparison"] == 20
    assert rows["faithful"]["n_available"] == 100 and rows[REFERENCE]["n_available"] == 20
    assert json.loads(json.dumps(rows)) == rows


def test_the_audit_tells_good_synthetic_data_from_bad(class_audit):
    rows, _ = class_audit
    reference, faithful = rows[REFERENCE], rows["faithful"]
    for good in (reference, faithful):
        assert good["two_sample_auroc_val"] < 0.75 and good["memorization_rate"] <= 0.05
    for bad in ("too_wide", "blurry"):
        assert rows[bad]["two_sample_auroc_val"] > 0.9, bad
        assert rows[bad]["kid_val"] > 5 * max(reference["kid_val"], faithful["kid_val"], 0.01), bad
    # Coverage misses the collapse: in 16 dimensions the class mean lies inside every real sample's k-NN ball.
    assert rows["too_wide"]["coverage"] < reference["coverage"]
    assert rows["copier"]["memorization_rate"] == 1.0
    assert rows["blurry"]["memorization_rate"] == 0.0
    # The copier looks like real data to the validation comparison; only against training is it too close.
    assert rows["copier"]["two_sample_auroc_val"] < 0.8
    assert rows["too_wide"]["frechet_val"] > 3 * reference["frechet_val"]


def test_without_two_validation_groups_the_reference_row_is_missing_and_sets_are_still_scored():
    train, val = gaussian(40, 4, seed=1), gaussian(12, 4, seed=2)
    rows = audit_class(train, val, np.full(12, "p1"), {"vae": gaussian(30, 4, seed=3)}, repeats=2)
    assert rows[REFERENCE]["repeats"] == 0 and math.isnan(rows[REFERENCE]["two_sample_auroc_val"])
    assert rows["vae"]["n"] == 12 and 0 <= rows["vae"]["two_sample_auroc_train"] <= 1 and rows["vae"]["kid_val"] > -1
    # One validation group cannot be kept whole on both sides of a fold: no two-sample test against it.
    assert math.isnan(rows["vae"]["two_sample_auroc_val"])
    with pytest.raises(ValueError, match="val_groups"):
        audit_class(train, val, np.arange(5), {"vae": gaussian(30, 4, seed=3)})


# Report and figures


def audits_of(rows_by_view: dict[str, dict]) -> dict[str, dict]:
    """audit.json contents per generator, as the audit stage writes them, for one class 'positive'."""
    names = [name for name in next(iter(rows_by_view.values())) if name != REFERENCE]
    return {
        name: {
            "classes": {"positive": {view: rows[name] for view, rows in rows_by_view.items()}},
            "reference": {"positive": {view: rows[REFERENCE] for view, rows in rows_by_view.items()}},
        }
        for name in names
    }


def test_report_shows_the_reference_row_beside_each_generator(class_audit):
    rows, _ = class_audit
    audits = audits_of({"classifier": rows, "log_mel": rows})
    audit = AuditParams()
    lines = render_audit(
        audits,
        {},
        repeats=audit.repeats,
        audit_k=audit.k,
        memorization_quantile=audit.memorization_quantile,
        copy_distance_ratio=audit.copy_distance_ratio,
    )
    markdown = "\n".join(lines)
    assert "## Synthetic data audit" in markdown and "The test split is not read" in markdown
    tables = [block for block in markdown.split("\n\n") if block.startswith("| Class | Set |")]
    assert len(tables) == 3  # the summary and one table per view
    for table in tables:
        body = table.splitlines()[2:]
        assert body[0].startswith(f"| positive | {REFERENCE_LABEL} |")
        assert [line.split(" | ")[1] for line in body] == [REFERENCE_LABEL, "faithful", "too_wide", "copier", "blurry"]
    summary = tables[0].splitlines()
    assert f"| {rows['too_wide']['two_sample_auroc_val']:.2f} |" in next(line for line in summary if "too_wide" in line)
    assert "figures/nearest_neighbours_copier.png" in markdown


def test_audit_figure_has_a_panel_per_view_and_class_with_the_reference_first():
    import pandas as pd

    scores = {"two_sample_auroc_val": 0.6, "precision": 0.9, "recall": 0.8, "coverage": 0.7, "memorization_rate": 0.0}
    table = pd.DataFrame(
        [
            {"view": view, "class": cls, "set": name, **scores}
            for view in ("classifier", "log_mel")
            for cls in ("negative", "positive")
            for name in ("vae", REFERENCE_LABEL, "ddpm")
        ]
    )
    figure = audit_bars(table, reference=REFERENCE_LABEL, title="audit")
    assert isinstance(figure, Figure) and len(figure.axes) == 4
    for axis in figure.axes:
        assert [tick.get_text() for tick in axis.get_xticklabels()] == [REFERENCE_LABEL, "vae", "ddpm"]
    assert {axis.get_title() for axis in figure.axes} == {
        "negative, classifier view",
        "positive, classifier view",
        "negative, log-mel view",
        "positive, log-mel view",
    }


def test_nearest_neighbours_figure_has_two_rows_and_orders_by_score():
    rng = np.random.default_rng(0)
    synthetic_x, train_x = rng.normal(size=(8, 1, 16, 12)), rng.normal(size=(10, 1, 16, 12))
    distances = rng.uniform(size=8)
    nearest = rng.integers(0, 10, size=8)
    figure = nearest_neighbours(synthetic_x, train_x, nearest, distances, n=6, title="nearest", score_name="copy ratio")
    assert isinstance(figure, Figure)
    assert {axis.get_subplotspec().rowspan.start for axis in figure.axes} == {0, 1}
    assert len(figure.axes) == 12
    top = [axis for axis in figure.axes if axis.get_subplotspec().rowspan.start == 0]
    shown = [float(axis.get_title().split("copy ratio ")[1]) for axis in top]
    assert shown == sorted(shown)
    assert shown[0] == pytest.approx(distances.min(), rel=1e-2)

    # Fewer synthetic samples than requested: one column per sample.
    small = nearest_neighbours(synthetic_x[:3], train_x, nearest[:3], distances[:3], n=6)
    assert len(small.axes) == 6
