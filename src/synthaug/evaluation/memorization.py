"""Per-sample scores of a synthetic set against the training data: nearest training samples, copies
(memorization) and the scores curation reads.

A sample is a copy of a training sample only when (1) its distance d1 to the nearest training sample
is below the `quantile` quantile of real validation samples' nearest-training distances (closer than
unseen real data comes) AND (2) d1 / d2 (nearest over second-nearest distinct training sample) is
below `copy_distance_ratio`: it sits next to one training sample in particular. A sample collapsed to
the class mean is close to every training sample (d1 ~ d2) and is not a copy; an exact or near copy
has d1 / d2 ~ 0. Nothing here reads the test split; callers pass validation data.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors

from synthaug.evaluation.distances import (
    as_embeddings,
    check_same_width,
)


def nearest_training(train: np.ndarray, queries: np.ndarray, train_groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each query's distance to its nearest training row, to the nearest row of another group, and the nearest's index.

    "Another group": with `train_groups` (participant, recording or file of each training row) the
    second distance d2 is to the nearest training row outside the nearest row's group; without them each
    distinct row is its own group. A participant's second recording, or the clip overlapping the nearest
    one, is not a second, independent training sample: a copy of one clip sits as close to its neighbour
    clip as to itself, and measured against that neighbour it would not look like a copy. Exact duplicate
    training rows are merged first (keeping the first row's group), so that a copy of a duplicated sample
    still has a d2 above zero. Returns {"nearest": d1 [N], "second": d2 [N], "index": [N] (rows of `train`)};
    ValueError if `train` has fewer than 2 distinct rows or all of them share one group.
    """
    train, queries = as_embeddings("train", train), as_embeddings("queries", queries)
    check_same_width(train=train, queries=queries)
    distinct, first_row = np.unique(train, axis=0, return_index=True)
    if len(distinct) < 2:
        raise ValueError(f"nearest-training distances need at least 2 distinct training samples, got {len(distinct)}")
    groups = np.arange(len(distinct)) if train_groups is None else group_codes(train_groups, len(train))[first_row]
    if len(np.unique(groups)) < 2:
        raise ValueError("nearest-training distances need training samples from at least 2 groups")
    if len(queries) == 0:
        return {"nearest": np.empty(0), "second": np.empty(0), "index": np.empty(0, dtype=np.intp)}
    # Enough neighbours that the largest group cannot fill them all: the first one outside the nearest's
    # group is then among them.
    k = min(len(distinct), int(np.bincount(groups).max()) + 1)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(distinct).kneighbors(queries)
    other = groups[indices] != groups[indices[:, :1]]
    second = distances[np.arange(len(queries)), other.argmax(axis=1)]
    return {"nearest": distances[:, 0], "second": second, "index": first_row[indices[:, 0]]}


def group_codes(groups, n: int) -> np.ndarray:
    """Group labels [n] (any hashable values) as integer codes 0..G-1; ValueError on a length mismatch."""
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} rows")
    return np.unique(groups.astype(str), return_inverse=True)[1].ravel()


def _distance_ratio(nearest: np.ndarray, second: np.ndarray) -> np.ndarray:
    """d1 / d2; 0 for an exact copy (d1 = 0), and d2 > 0 always holds since training rows are distinct."""
    return np.divide(nearest, second, out=np.zeros_like(nearest), where=second > 0)


def memorization(
    synthetic: np.ndarray,
    train: np.ndarray,
    unseen: np.ndarray,
    *,
    quantile: float = 0.05,
    copy_distance_ratio: float = 0.5,
    train_groups: np.ndarray | None = None,
) -> dict:
    """Which synthetic samples are copies of a training sample, judged against real samples the generator never saw.

    d1, d2: each synthetic sample's distances to its nearest training sample and to the nearest training
    sample of another group (`train_groups`; see `nearest_training`).
    threshold = the `quantile` quantile of the nearest-training distances of the `unseen` real samples
    (validation): only a share `quantile` of fresh real data comes that close to the training set. A sample
    is a copy when d1 < threshold AND d1 / d2 < copy_distance_ratio. The second condition keeps samples that
    are close to the training set as a whole, such as a blurry sample at the class mean (d1 ~ d2), from
    counting as copies of any one sample. A generator that copies its training data has rate ~1; one that
    draws fresh samples from the data distribution at most ~`quantile`.

    Returns {"rate", "threshold", "quantile", "copy_distance_ratio": float, "synthetic_to_train" (d1),
    "distance_ratio" (d1 / d2), "nearest_train" (index into train), "unseen_to_train", "is_copy": arrays};
    rate is NaN for an empty synthetic set. ValueError if `unseen` is empty, `train` has fewer than 2
    distinct rows, or a bound is outside (0, 1].
    """
    synthetic, train, unseen = (
        as_embeddings("synthetic", synthetic),
        as_embeddings("train", train),
        as_embeddings("unseen", unseen),
    )
    check_same_width(synthetic=synthetic, train=train, unseen=unseen)
    if len(unseen) == 0:
        raise ValueError("memorization needs real unseen (validation) samples to calibrate the copy threshold")
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    if not 0.0 < copy_distance_ratio <= 1.0:
        raise ValueError(f"copy_distance_ratio must be in (0, 1], got {copy_distance_ratio}")
    unseen_to_train = nearest_training(train, unseen)["nearest"]
    threshold = float(np.quantile(unseen_to_train, quantile))
    near = nearest_training(train, synthetic, train_groups)
    ratio = _distance_ratio(near["nearest"], near["second"])
    is_copy = (near["nearest"] < threshold) & (ratio < copy_distance_ratio)
    return {
        "rate": float(is_copy.mean()) if len(synthetic) else math.nan,
        "threshold": threshold,
        "quantile": float(quantile),
        "copy_distance_ratio": float(copy_distance_ratio),
        "synthetic_to_train": near["nearest"],
        "distance_ratio": ratio,
        "nearest_train": near["index"],
        "unseen_to_train": unseen_to_train,
        "is_copy": is_copy,
    }


def sample_scores(
    synthetic: np.ndarray,
    train: np.ndarray,
    *,
    k: int = 5,
    copy_threshold: float,
    copy_distance_ratio: float = 0.5,
    train_groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per synthetic sample scores for curating a synthetic set, both [N] float arrays.

    manifold_distance: min over training samples j of d(sample, train_j) / r_j, where r_j is train_j's
    distance to its k-th nearest other training sample (k clamped to len(train) - 1). Below 1 the sample is
    inside the real manifold exactly as PRDC's precision defines it (inside at least one real k-NN ball,
    so the share of scores < 1 equals precision against `train`), above 1 it is outside; the value says how
    far, in units of the local ball radius. The minimum over all balls is taken rather than only the nearest
    training sample's ball, because a sample can miss its nearest neighbour's small ball yet lie inside a
    larger ball further away, and precision counts it as inside.

    copy_ratio: max(d1 / copy_threshold, (d1 / d2) / copy_distance_ratio), with d1, d2 the distances to the
    nearest training sample and to the nearest one of another group (`train_groups`, see `nearest_training`). Below 1 exactly when `memorization` calls the
    sample a copy (closer to a training sample than unseen real data comes, and next to that one sample in
    particular); the larger term says which condition clears it. With copy_threshold 0 nothing is a copy
    and the ratio is inf.

    ValueError if train has fewer than 2 distinct samples or copy_threshold is negative.
    """
    synthetic, train = as_embeddings("synthetic", synthetic), as_embeddings("train", train)
    check_same_width(synthetic=synthetic, train=train)
    if len(train) < 2:
        raise ValueError(f"sample scores need at least 2 training samples, got {len(train)}")
    if not copy_threshold >= 0:
        raise ValueError(f"copy_threshold must be >= 0, got {copy_threshold}")
    if not 0.0 < copy_distance_ratio <= 1.0:
        raise ValueError(f"copy_distance_ratio must be in (0, 1], got {copy_distance_ratio}")
    k = max(1, min(int(k), len(train) - 1))
    # Column 0 is the sample itself (or an exact duplicate, also at distance 0, as in prdc's radii).
    radii = NearestNeighbors(n_neighbors=k + 1).fit(train).kneighbors(train)[0][:, k]
    if len(synthetic) == 0:
        return {"manifold_distance": np.empty(0), "copy_ratio": np.empty(0)}

    # Needs every synthetic-to-train distance, not only the nearest ones, so it is a chunked scan of the
    # distance matrix (bounded memory); NearestNeighbors has no query for "min distance / per-point radius".
    def reduce(chunk: np.ndarray, start: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = chunk / radii  # a zero radius (duplicated training samples) gives inf, or NaN at d = 0
        scaled[(chunk == 0) & (radii == 0)] = 0.0  # on a zero-radius point: as close as it gets
        return scaled.min(axis=1)

    manifold_distance = np.concatenate(list(pairwise_distances_chunked(synthetic, train, reduce_func=reduce)))
    near = nearest_training(train, synthetic, train_groups)
    if copy_threshold > 0:
        by_distance = near["nearest"] / copy_threshold
        by_ratio = _distance_ratio(near["nearest"], near["second"]) / copy_distance_ratio
        copy_ratio = np.maximum(by_distance, by_ratio)
    else:
        copy_ratio = np.full(len(synthetic), np.inf)
    return {"manifold_distance": manifold_distance, "copy_ratio": copy_ratio}


def class_sample_scores(
    synthetic: np.ndarray,
    synthetic_y: np.ndarray,
    train: np.ndarray,
    train_y: np.ndarray,
    val: np.ndarray,
    val_y: np.ndarray,
    *,
    k: int,
    quantile: float,
    copy_distance_ratio: float = 0.5,
    train_groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """`sample_scores` of synthetic samples class by class, each class against its own real samples.

    `train_groups` [len(train)]: each training row's group, for the copy rule (None: each row its own).
    The copy threshold of each class is calibrated on its validation samples `val` (real data no
    generator saw; never the test split, since curation steers training with these scores). A class
    with fewer than two distinct training samples or no validation sample keeps NaN scores, which never
    drop a sample.
    """
    scores = {name: np.full(len(synthetic), np.nan, np.float32) for name in ("manifold_distance", "copy_ratio")}
    groups = np.arange(len(train)) if train_groups is None else group_codes(train_groups, len(train))
    for c in np.unique(synthetic_y):
        rows, train_rows, val_rows = synthetic_y == c, train_y == c, val_y == c
        if len(np.unique(train[train_rows], axis=0)) < 2 or len(np.unique(groups[train_rows])) < 2 or not val_rows.any():
            continue
        copy_rule = {"copy_distance_ratio": copy_distance_ratio, "train_groups": groups[train_rows]}
        threshold = memorization(synthetic[rows], train[train_rows], val[val_rows], quantile=quantile, **copy_rule)["threshold"]
        per_sample = sample_scores(synthetic[rows], train[train_rows], k=k, copy_threshold=threshold, **copy_rule)
        for name in scores:
            scores[name][rows] = per_sample[name]
    return scores
