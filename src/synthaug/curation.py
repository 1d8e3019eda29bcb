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

from synthaug.errors import DataError

SCORES = ("manifold_distance", "copy_ratio", "confidence")
CURATION_BOUNDS = ("max_manifold_distance", "min_copy_ratio", "min_confidence")


def keep_mask(scores: Mapping[str, np.ndarray], bounds: Mapping[str, float | None]) -> np.ndarray:
    """Boolean [N]: True for the synthetic samples within every bound.

    `bounds`: {bound name (CURATION_BOUNDS): value, or None where the bound is not applied}; a bound
    left out is not applied either.
    """
    unknown = sorted(set(bounds) - set(CURATION_BOUNDS))
    if unknown:
        raise ValueError(f"unknown curation bound(s) {', '.join(unknown)}; valid: {', '.join(CURATION_BOUNDS)}")
    missing = [name for name in SCORES if name not in scores]
    if missing:
        raise DataError(f"audit scores lack {', '.join(missing)}; re-run the audit stage (dvc repro)")
    n = len(scores["confidence"])
    keep = np.ones(n, dtype=bool)
    checks = (
        ("manifold_distance", bounds.get("max_manifold_distance"), np.greater),
        ("copy_ratio", bounds.get("min_copy_ratio"), np.less),
        ("confidence", bounds.get("min_confidence"), np.less),
    )
    for name, bound, outside in checks:
        if bound is not None:
            values = np.asarray(scores[name], dtype=np.float64)
            keep &= ~(outside(values, bound) & ~np.isnan(values))
    return keep
