"""Curation keeps exactly the synthetic samples within every bound that is set."""

from __future__ import annotations

import numpy as np
import pytest

from synthaug.curation import keep_mask
from synthaug.errors import DataError

SCORES = {
    "manifold_distance": np.array([0.5, 2.0, 0.8, 0.9, np.nan]),
    "copy_ratio": np.array([3.0, 3.0, 0.2, 2.0, 2.0]),
    "confidence": np.array([0.9, 0.9, 0.9, 0.1, 0.9]),
}


def test_each_bound_drops_its_samples_and_nan_scores_never_drop():
    keep = keep_mask(SCORES, {"max_manifold_distance": 1.5, "min_copy_ratio": 1.0, "min_confidence": 0.5})
    assert keep.tolist() == [True, False, False, False, True]


def test_a_null_bound_is_not_applied():
    keep = keep_mask(SCORES, {"max_manifold_distance": None, "min_copy_ratio": None, "min_confidence": 0.5})
    assert keep.tolist() == [True, True, True, False, True]


def test_a_misspelt_bound_is_refused_instead_of_silently_not_applied():
    with pytest.raises(ValueError, match="min_confidance.*valid: max_manifold_distance"):
        keep_mask(SCORES, {"min_confidance": 0.5})


def test_missing_scores_name_the_fix():
    with pytest.raises(DataError, match="re-run the audit stage"):
        keep_mask({"confidence": np.ones(2)}, {})


def test_curation_by_audit_scores_drops_copies_but_keeps_blurry_samples_at_the_class_mean():
    from synthaug.evaluation.memorization import class_sample_scores

    rng = np.random.default_rng(0)
    train, val = rng.normal(size=(200, 32)), rng.normal(size=(100, 32))
    copies = train[:10] + rng.normal(0, 0.05, size=(10, 32))
    blurry = train.mean(axis=0) + rng.normal(0, 0.02, size=(10, 32))
    fresh = rng.normal(size=(10, 32))
    synthetic = np.concatenate([copies, blurry, fresh])
    scores = class_sample_scores(
        synthetic,
        np.zeros(30, dtype=int),
        train,
        np.zeros(200, dtype=int),
        val,
        np.zeros(100, dtype=int),
        k=5,
        quantile=0.05,
        copy_distance_ratio=0.5,
    )
    scores["confidence"] = np.ones(30)
    keep = keep_mask(scores, {"min_copy_ratio": 1.0})
    assert keep.tolist() == [False] * 10 + [True] * 20
