"""Probability-averaging ensembles and their validation-fitted weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from synthaug.evaluation.ensemble import average_probabilities, fit_weights, split_validation


def members(n_members: int = 3, n_items: int = 50, n_classes: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(n_classes), size=(n_members, n_items))


def test_equal_weights_give_the_mean_of_the_members():
    probas = members()
    expected = probas.mean(axis=0)
    np.testing.assert_allclose(average_probabilities(probas), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(average_probabilities(list(probas)), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(average_probabilities(probas).sum(axis=1), 1.0)


def test_binary_ensemble_is_the_mean_positive_class_probability():
    probas = members(n_members=4, n_classes=2, seed=1)
    averaged = average_probabilities(probas)
    np.testing.assert_allclose(averaged[:, 1], probas[:, :, 1].mean(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(averaged[:, 0], 1 - averaged[:, 1], rtol=0, atol=1e-15)


def test_weights_are_normalized():
    probas = members()
    np.testing.assert_allclose(average_probabilities(probas, [2, 2, 2]), probas.mean(axis=0))
    np.testing.assert_allclose(average_probabilities(probas, [0, 3, 0]), probas[1])
    np.testing.assert_allclose(
        average_probabilities(probas, [0.5, 0.25, 0.25]), 0.5 * probas[0] + 0.25 * probas[1] + 0.25 * probas[2]
    )


@pytest.mark.parametrize(
    ("weights", "message"),
    [([0.5, -0.1, 0.6], "non-negative"), ([0, 0, 0], "all zero"), ([0.5, 0.5], "one per member")],
)
def test_invalid_weights_are_rejected(weights, message):
    with pytest.raises(ValueError, match=message):
        average_probabilities(members(), weights)


def test_members_must_share_a_shape():
    probas = members()
    with pytest.raises(ValueError, match="differ in shape"):
        average_probabilities([probas[0], probas[1][:-1]])
    with pytest.raises(ValueError, match=r"\[M members"):
        average_probabilities(probas[0])


def test_fit_weights_puts_the_weight_on_a_perfect_member():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, size=120)
    noise = members(n_members=3, n_items=120, seed=3)
    perfect = np.eye(3)[y]
    probas = np.stack([noise[0], perfect, noise[1], noise[2]])
    weights = fit_weights(y, probas)
    assert weights.shape == (4,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(weights >= 0)
    assert weights[1] > 0.99
    np.testing.assert_array_equal(weights, fit_weights(y, probas))  # deterministic


def test_fit_weights_does_not_lose_to_equal_weights():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, size=100)
    noise = members(n_members=2, n_items=100, n_classes=2, seed=5)
    informative = 0.6 * np.eye(2)[y] + 0.4 * noise[0]
    probas = np.stack([informative, noise[1]])
    weights = fit_weights(y, probas)
    assert weights[0] > weights[1]
    fitted = log_loss(y, average_probabilities(probas, weights), labels=[0, 1])
    assert fitted <= log_loss(y, average_probabilities(probas), labels=[0, 1]) + 1e-12
    assert fitted <= log_loss(y, informative, labels=[0, 1]) + 1e-6


def test_fit_weights_edge_cases():
    probas = members(n_members=1)
    y = np.zeros(50, dtype=int)
    np.testing.assert_array_equal(fit_weights(y, probas), [1.0])
    with pytest.raises(ValueError, match="y_val"):
        fit_weights(y[:-1], members())
    with pytest.raises(ValueError, match="class indices"):
        fit_weights(np.full(50, 3), members())


def test_validation_halves_keep_groups_whole_and_classes_balanced():
    # 60 files of 2 clips each; 3 files per participant, participants of one class each.
    files = np.repeat([f"f{i:02d}" for i in range(60)], 2)
    groups = np.repeat([f"p{i // 3:02d}" for i in range(60)], 2)
    labels = np.repeat([(i // 3) % 2 for i in range(60)], 2)
    fit_half = split_validation(files, labels, groups, seed=3)
    assert not set(groups[fit_half]) & set(groups[~fit_half])  # no participant on both sides
    assert not set(files[fit_half]) & set(files[~fit_half])  # a file's clips stay together
    for half in (fit_half, ~fit_half):
        assert np.bincount(labels[half], minlength=2).tolist() == [30, 30]  # 5 participants x 3 files x 2 clips per class
    np.testing.assert_array_equal(split_validation(files, labels, groups, seed=3), fit_half)  # seeded
    assert not np.array_equal(split_validation(files, labels, groups, seed=4), fit_half)


def test_validation_halves_fall_back_to_files_without_groups_and_need_two_units():
    files = np.repeat([f"f{i}" for i in range(8)], 3)
    labels = np.repeat(np.arange(8) % 2, 3)
    fit_half = split_validation(files, labels, seed=0)
    assert fit_half.sum() == 12 and not set(files[fit_half]) & set(files[~fit_half])
    with pytest.raises(ValueError, match="1 group.*at least two"):
        split_validation(files, labels, np.full(len(files), "everyone"))


def test_validation_halves_need_two_groups_of_every_class():
    # One validation file per class (a few files per class, as in a scarcity sweep): no half can hold every class.
    files = np.array(["a", "b", "c", "c"])
    labels = np.array([0, 1, 1, 1])
    with pytest.raises(ValueError, match="class\\(es\\) 0 hold fewer than two validation groups"):
        split_validation(files, labels)
