"""The audit on grouped data: a perfect generator scores like the real-validation reference, both near 0.5.

Real recordings come in groups: a participant's two recordings, a file's overlapping clips. Two-sample
folds that split rows put a held-out real row's partner on the training side of the fold, where no
synthetic row has one, so real data looks distinguishable from real data and the audit cannot tell a
perfect generator from the reference. Each test here builds data with such groups, shows that row
folds would be fooled (the control), and that the audit, with group folds, is not.
"""

from __future__ import annotations

import numpy as np
import pytest

from synthaug.evaluation.fidelity import (
    REFERENCE,
    audit_class,
    group_halves,
    strongest_two_sample,
    subsample_groups,
    two_sample_auroc,
    two_sample_permutation_test,
)
from synthaug.evaluation.memorization import memorization, nearest_training

DIM = 16


def participants(n: int, seed: int, recordings: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """`recordings` strongly correlated embeddings per participant: a participant effect plus small noise."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(size=(n, DIM))
    x = np.repeat(effect, recordings, axis=0) + 0.2 * rng.normal(size=(n * recordings, DIM))
    return x, np.repeat(np.arange(n), recordings)


def one_per_participant(n: int, seed: int) -> np.ndarray:
    """A perfect generator: independent draws from the same distribution of recordings."""
    return participants(n, seed, recordings=1)[0]


def file_clips(n_files: int, seed: int, length: int = 256, clip: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Half-overlapping clips of noisy two-tone files (the industrial profiles' `mode: clips`), embedded as
    log-magnitude spectra: a file's clips share its tones and half their samples with a neighbour."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    rows, groups = [], []
    for file in range(n_files):
        tones = rng.uniform(0.03, 0.47, 2)
        gains = rng.uniform(0.2, 1.0, 2)
        signal = (gains[:, None] * np.sin(2 * np.pi * tones[:, None] * t + rng.uniform(0, 6.3, (2, 1)))).sum(0)
        signal += 0.1 * rng.normal(size=length)
        for start in range(0, length - clip + 1, clip // 2):
            rows.append(np.log1p(np.abs(np.fft.rfft(signal[start : start + clip] * np.hanning(clip)))))
            groups.append(file)
    return np.asarray(rows), np.asarray(groups)


def strongest(rows: dict) -> float:
    return strongest_two_sample({"view": rows})["auroc"]


def reference_vs_comparison_by_rows(val: np.ndarray, groups: np.ndarray) -> float:
    """The control: the old audit's row folds, reference half against comparison half."""
    comparison, reference = group_halves(groups, repeats=1, seed=0)[0]
    return max(two_sample_auroc(val[comparison], val[reference], test=test) for test in ("knn", "quadratic"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["correlated_pairs", "overlapping_clips"])
def test_a_perfect_generator_scores_like_the_reference_row_near_one_half(kind):
    if kind == "correlated_pairs":
        (train, train_groups), (val, val_groups) = participants(200, seed=1), participants(300, seed=2)
        perfect = one_per_participant(400, seed=3)
    else:
        (train, train_groups), (val, val_groups) = file_clips(60, seed=1), file_clips(150, seed=2)
        perfect = file_clips(500, seed=3)[0][::7]  # one clip from each of 500 fresh files
    rows = audit_class(train, val, val_groups, {"perfect": perfect}, repeats=5, seed=0, train_groups=train_groups)
    reference, generator = strongest(rows[REFERENCE]), strongest(rows["perfect"])
    assert abs(reference - 0.5) <= 0.05 and abs(generator - 0.5) <= 0.05, (reference, generator)
    # The control: with row folds the reference half looks unlike real data, so the test above would fail.
    assert reference_vs_comparison_by_rows(val, val_groups) > 0.57


def test_group_folds_change_nothing_where_rows_are_independent():
    a, b = one_per_participant(120, seed=1), one_per_participant(120, seed=2)
    assert two_sample_auroc(a, b, real_groups=np.arange(120), synthetic_groups=np.arange(120)) == pytest.approx(
        two_sample_auroc(a, b), abs=0.08
    )
    shifted = b + 1.0
    assert two_sample_auroc(a, shifted, test="quadratic", real_groups=np.arange(120) // 2) > 0.95


def test_equalising_sizes_keeps_or_drops_whole_groups():
    groups = np.repeat(np.arange(30), 3)
    rows = subsample_groups(groups, 20, np.random.default_rng(0))
    kept = groups[rows]
    assert len(rows) <= 20 and all((kept == g).sum() == 3 for g in np.unique(kept))
    np.testing.assert_array_equal(subsample_groups(groups, 200, np.random.default_rng(0)), np.arange(90))
    # Two groups at least, even past n rows: a group fold needs them (the tiny projects' case: 2 real
    # participants of 3 recordings against 3 synthetic samples).
    two = subsample_groups(np.repeat([0, 1], 3), 3, np.random.default_rng(0))
    assert len(two) == 6
    assert (
        0.0
        <= two_sample_auroc(
            np.random.default_rng(1).normal(size=(6, 2)),
            np.zeros((3, 2)) + [[0.0], [1.0], [2.0]],
            real_groups=np.repeat([0, 1], 3),
        )
        <= 1.0
    )
    with pytest.raises(ValueError, match="2 groups"):
        two_sample_auroc(np.zeros((6, 2)) + np.arange(6)[:, None], np.ones((6, 2)), real_groups=np.zeros(6))


def test_the_copy_rule_measures_the_second_distance_outside_the_nearest_group():
    """A copy of one clip sits next to that clip's overlapping neighbour: measured against the neighbour it
    would not look like a copy (d1 / d2 near 1); measured against another file, it does."""
    (train, groups), (val, _) = file_clips(60, seed=1), file_clips(40, seed=2)
    # Near copies: noise of a tenth of the distance between neighbouring clips of one file.
    copies = train[::7] + 0.1 * np.random.default_rng(0).normal(size=train[::7].shape)
    grouped = memorization(copies, train, val, train_groups=groups)
    by_rows = memorization(copies, train, val)
    assert grouped["rate"] == 1.0
    assert by_rows["rate"] < grouped["rate"]
    near = nearest_training(train, copies, groups)
    assert (groups[near["index"]] == groups[::7]).all()


def test_the_permutation_p_value_is_large_for_real_data_and_small_for_a_shifted_set():
    val, groups = participants(40, seed=2)
    comparison, reference = group_halves(groups, repeats=1, seed=0)[0]
    views = lambda x: {"raw": x, "half": x[:, : DIM // 2]}  # noqa: E731
    same = two_sample_permutation_test(
        views(val[comparison]), views(val[reference]), groups[comparison], groups[reference], permutations=19, seed=0
    )
    assert same["p_value"] > 0.1 and same["permutations"] == 19
    shifted = one_per_participant(40, seed=5) * 1.6
    different = two_sample_permutation_test(
        views(val[comparison]), views(shifted), groups[comparison], np.arange(40), permutations=19, seed=0
    )
    assert different["p_value"] == pytest.approx(1 / 20) and different["auroc"] > 0.8
    # Worker processes share the permutations without changing a single one of them.
    shared = two_sample_permutation_test(
        views(val[comparison]), views(val[reference]), groups[comparison], groups[reference], permutations=19, seed=0, workers=2
    )
    assert shared == same
