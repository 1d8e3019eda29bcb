"""Curation: which synthetic samples to keep, from their audit scores and the `curation` bounds.

A sample is dropped when it lies too far outside the real training manifold (`manifold_distance`
above `max_manifold_distance`), is a near-copy of a training sample (`copy_ratio` below
`min_copy_ratio`), or the baseline classifier doubts its label (`confidence` below
`min_confidence`). A bound set to None is not applied; a score that could not be computed (NaN,
e.g. for a class with too few samples) never drops a sample.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from synthaug.config import CurationParams
from synthaug.errors import DataError

SCORES = ("manifold_distance", "copy_ratio", "confidence")
CURATION_BOUNDS = ("max_manifold_distance", "min_copy_ratio", "min_confidence")


def keep_mask(scores: Mapping[str, np.ndarray], bounds: CurationParams) -> np.ndarray:
    """Boolean [N]: True for the synthetic samples within every bound."""
    missing = [name for name in SCORES if name not in scores]
    if missing:
        raise DataError(f"audit scores lack {', '.join(missing)}; re-run the audit stage (dvc repro)")
    n = len(scores["confidence"])
    keep = np.ones(n, dtype=bool)
    checks = (("manifold_distance", bounds.max_manifold_distance, np.greater),
              ("copy_ratio", bounds.min_copy_ratio, np.less),
              ("confidence", bounds.min_confidence, np.less))
    for name, bound, outside in checks:
        if bound is not None:
            values = np.asarray(scores[name], dtype=np.float64)
            keep &= ~(outside(values, bound) & ~np.isnan(values))
    return keep


def embedding_scores(
    synthetic: np.ndarray, synthetic_y: np.ndarray, train: np.ndarray, train_y: np.ndarray,
    reference: np.ndarray, reference_y: np.ndarray, *, k: int, quantile: float,
) -> dict[str, np.ndarray]:
    """manifold_distance and copy_ratio [N] of synthetic samples, class by class, from embeddings.

    As the audit stage scores them, with the copy threshold calibrated on `reference` (the audit
    uses the test split; tuning, which must not, the validation split). A class with fewer than two
    training samples or no reference sample keeps NaN scores, which never drop a sample.
    """
    from synthaug.evaluation.fidelity import memorization, sample_scores

    scores = {name: np.full(len(synthetic), np.nan, np.float32) for name in ("manifold_distance", "copy_ratio")}
    for c in np.unique(synthetic_y):
        rows, train_rows, reference_rows = synthetic_y == c, train_y == c, reference_y == c
        if train_rows.sum() < 2 or not reference_rows.any():
            continue
        threshold = memorization(synthetic[rows], train[train_rows], reference[reference_rows], quantile=quantile)["threshold"]
        per_sample = sample_scores(synthetic[rows], train[train_rows], k=k, copy_threshold=threshold)
        for name in scores:
            scores[name][rows] = per_sample[name]
    return scores
