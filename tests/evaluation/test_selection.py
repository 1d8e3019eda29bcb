"""Checkpoints chosen by fidelity: the halves keep groups whole, and the choice catches what it exists for
(a collapsed or shifted snapshot loses to one that matches real data; a snapshot that copies training
data is refused although it scores like real data)."""

from __future__ import annotations

import numpy as np
import pytest

from synthaug.evaluation.selection import choose_snapshot, selection_half, snapshot_scores, snapshot_steps

DIM = 8


def test_the_halves_keep_every_group_whole_and_are_reproducible():
    groups = np.repeat([f"p{i}" for i in range(21)], 3)
    half = selection_half(groups, seed=0)
    for group in np.unique(groups):
        assert len(set(half[groups == group])) == 1  # no participant on both sides
    assert len(np.unique(groups[half])) == 11  # half the groups, rounded up
    assert np.array_equal(half, selection_half(groups, seed=0))
    assert not np.array_equal(half, selection_half(groups, seed=1))


def test_snapshot_steps_are_evenly_spaced_and_end_at_the_budget():
    assert snapshot_steps(500, 5) == [100, 200, 300, 400, 500]
    assert snapshot_steps(500, 1) == [500]
    assert snapshot_steps(2, 4) == [1, 2]
    with pytest.raises(ValueError):
        snapshot_steps(500, 0)


def real_class(rng: np.random.Generator, n: int, group_size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a correlated Gaussian class, `group_size` rows per participant sharing an offset."""
    groups = np.repeat(np.arange(n // group_size), group_size)
    offsets = 0.3 * rng.standard_normal((n // group_size, DIM))
    return (rng.standard_normal((n, DIM)) + offsets[groups]).astype(np.float32), groups


def scores_of(train, selection, selection_groups, snapshots, train_groups, repeats):
    """snapshot_scores with the audit settings these tests share."""
    return snapshot_scores(
        train,
        selection,
        selection_groups,
        snapshots,
        repeats=repeats,
        k=5,
        quantile=0.05,
        copy_distance_ratio=0.5,
        seed=0,
        train_groups=train_groups,
    )


def test_the_snapshot_closest_to_real_data_wins_and_a_copying_one_is_refused():
    rng = np.random.default_rng(0)
    train, train_groups = real_class(rng, 240)
    selection, selection_groups = real_class(rng, 80)
    fresh, _ = real_class(rng, 80)
    snapshots = {
        100: np.repeat(train.mean(axis=0, keepdims=True), 80, axis=0) + 0.01 * rng.standard_normal((80, DIM)),  # collapsed
        200: fresh + 1.5,  # shifted
        300: fresh,  # what a perfect generator gives
        400: train[rng.choice(len(train), 80, replace=False)] + 1e-3 * rng.standard_normal((80, DIM)),  # copies
    }
    scores = scores_of(
        {"view": train},
        {"view": selection},
        selection_groups,
        {step: {"view": x.astype(np.float32)} for step, x in snapshots.items()},
        train_groups,
        repeats=3,
    )
    assert scores[100]["two_sample_auroc"] > 0.9 and scores[200]["two_sample_auroc"] > 0.9
    assert scores[300]["two_sample_auroc"] < 0.7
    # The copies sit as close to real validation data as fresh recordings do: only the copy rule tells.
    assert scores[400]["two_sample_auroc"] < 0.7
    assert scores[400]["memorization_rate"] > scores[400]["reference_memorization_rate"]

    chosen, curve = choose_snapshot({"positive": scores})
    assert chosen == 300
    assert curve[400]["admissible"] is False and curve[300]["admissible"] is True

    only_copies, _ = choose_snapshot({"positive": {400: scores[400]}})
    assert only_copies is None  # the caller serves the last step and says so


def test_a_model_of_several_classes_is_judged_on_their_mean_and_refused_if_any_class_copies():
    def row(auroc: float, copies: float = 0.0) -> dict[str, float]:
        return {"two_sample_auroc": auroc, "memorization_rate": copies, "reference_memorization_rate": 0.05}

    by_class = {
        "zero": {10: row(0.9), 20: row(0.6), 30: row(0.55)},
        "one": {10: row(0.6), 20: row(0.7), 30: row(0.5, copies=0.4)},
    }
    chosen, curve = choose_snapshot(by_class)
    assert chosen == 20  # 30 has the lowest mean but copies class "one"
    assert curve[10]["two_sample_auroc"] == pytest.approx(0.75)
    tie, _ = choose_snapshot({"a": {10: row(0.6), 20: row(0.6)}})
    assert tie == 10  # the earliest step on ties
    untestable, _ = choose_snapshot({"a": {10: row(float("nan")), 20: row(0.8)}})
    assert untestable == 20  # a step that could not be tested ranks last


def test_the_strongest_view_decides_and_copying_in_any_view_refuses():
    rng = np.random.default_rng(1)
    train, train_groups = real_class(rng, 240)
    selection, selection_groups = real_class(rng, 80)
    fresh, _ = real_class(rng, 80)
    copies = train[rng.choice(len(train), 80, replace=False)] + 1e-3 * rng.standard_normal((80, DIM))
    # In the "blind" view every set looks alike (a constant feature); the "sharp" view sees the truth.
    blind = lambda x: np.ones((len(x), 2), np.float32) + 1e-3 * rng.standard_normal((len(x), 2)).astype(np.float32)  # noqa: E731
    sharp = lambda x: x.astype(np.float32)  # noqa: E731
    views = lambda x: {"blind": blind(x), "sharp": sharp(x)}  # noqa: E731
    scores = scores_of(
        views(train),
        views(selection),
        selection_groups,
        {1: views(fresh + 1.5), 2: views(fresh), 3: views(copies)},
        train_groups,
        repeats=2,
    )
    assert scores[1]["view"] == "sharp" and scores[1]["two_sample_auroc"] > 0.9
    chosen, curve = choose_snapshot({"positive": scores})
    assert chosen == 2 and curve[3]["admissible"] is False
