"""Fidelity, diversity and memorization audit of a synthetic set against real data, in an embedding space.

Every metric here works on embeddings: 2-D float arrays [N, D], one row per sample. Two views are used by
callers: the penultimate layer of a trained classifier (computed elsewhere) and `random_projection` of the
flattened normalized log-mel spectrogram (computed here). Real and synthetic sets of one audit must live in
the same space; every function that takes two or more sets raises ValueError when their widths differ.

Contract of the public functions:

- `random_projection(x, dim, seed)`: a fixed Gaussian projection of the flattened input; the matrix depends
  only on (input width, dim, seed), so separate calls on real and synthetic sets use the same matrix.
- `frechet_distance(a, b)`: Fréchet distance between Gaussians fitted to two sets (FID's formula, any space).
- `frechet_with_reference(real, synthetic, n_samples=, seed=)`: the same with an equal number `n` of rows on
  both sides, plus the real-vs-real value of two disjoint real halves of the same size. The Fréchet distance
  is biased upwards by a finite sample, so only values computed with equal `n` are comparable; the reference
  is the floor a perfect generator would reach at that `n`.
- `precision_recall_density_coverage(real, synthetic, k=)`: PRDC (Naeem et al., 2020) via the `prdc` package.
- `memorization(synthetic, train, test, quantile=)`: share of synthetic samples closer to a training sample
  than the `quantile` of real held-out test samples are; a generator that copies its training data scores ~1,
  one that samples fresh points from the data distribution scores ~`quantile`.
- `two_sample_auroc(real, synthetic, seed=, folds=)`: out-of-fold AUROC of a classifier told to separate the
  sets: 0.5 means indistinguishable, 1 trivially separable.
- `sample_scores(synthetic, train, k=, copy_threshold=)`: per synthetic sample scores for curating a set.
- `audit(real_train, real_test, synthetic, ...)`: all of the above as a JSON-ready dict of plain floats and
  ints; a metric that the set sizes do not allow (e.g. a 1-sample synthetic set) is float('nan').

All randomness (subsampling, projection, cross-validation folds) is seeded, so an audit is reproducible.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
from prdc import compute_prdc
from scipy import linalg
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import pairwise_distances_chunked, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.random_projection import GaussianRandomProjection

# Offset added to both covariances when the square root of their product is singular or not finite; the
# value and the retry follow the reference FID implementation (pytorch-fid).
FRECHET_EPS = 1e-6


def _embeddings(name: str, values) -> np.ndarray:
    """A finite float64 [N, D] array, or ValueError naming the argument."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [samples, features], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _same_width(**sets: np.ndarray) -> None:
    widths = {name: array.shape[1] for name, array in sets.items()}
    if len(set(widths.values())) > 1:
        raise ValueError(f"embeddings must have the same number of features, got {widths}")


def random_projection(x: np.ndarray, dim: int = 128, seed: int = 0) -> np.ndarray:
    """Flatten `x` to [N, D_in] and project it to [N, dim] float32 with a fixed Gaussian random projection.

    The projection matrix has i.i.d. N(0, 1/dim) entries drawn by scikit-learn's GaussianRandomProjection
    with `random_state=seed`; it is fitted on an all-zero row of the right width, because fitting only reads
    the input's shape. The matrix therefore depends only on (D_in, dim, seed), and real and synthetic sets
    projected in separate calls go through the same matrix. Pairwise distances are preserved up to a small
    relative distortion (Johnson-Lindenstrauss), which is what the distance-based metrics here rely on.
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        return np.empty((0, dim), dtype=np.float32)
    flat = x.reshape(len(x), -1)
    projection = GaussianRandomProjection(n_components=dim, random_state=seed)
    # float32 fitting keeps the matrix in float32, so transform does not make a float64 copy of the input.
    projection.fit(np.zeros((1, flat.shape[1]), dtype=np.float32))
    return projection.transform(flat).astype(np.float32, copy=False)


def _sqrt_trace_is_usable(root: np.ndarray) -> bool:
    """Finite, and any imaginary part of the diagonal is round-off (pytorch-fid's tolerance)."""
    if not np.isfinite(root).all():
        return False
    return not np.iscomplexobj(root) or bool(np.allclose(np.diagonal(root).imag, 0, atol=1e-3))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to embeddings `a` [N, D] and `b` [M, D].

    d = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with sample means and covariances. This is the
    FID formula in an arbitrary embedding space; pytorch-fid and torchmetrics are not used because they
    compute Inception features themselves and need torchvision and the Inception weights, while here the
    embeddings are given. As in pytorch-fid, when the matrix square root is singular or not finite it is
    retried with eps*I added to both covariances, and the imaginary round-off of the result is dropped.
    A negative result from round-off (identical sets) is clipped to 0.

    ValueError if the widths differ or a set has fewer than 2 rows (no covariance).
    """
    a, b = _embeddings("a", a), _embeddings("b", b)
    _same_width(a=a, b=b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Fréchet distance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    # atleast_2d: np.cov returns a 0-d array for one feature.
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    if not _sqrt_trace_is_usable(root):
        offset = np.eye(len(cov_a)) * FRECHET_EPS
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if not np.isfinite(root).all():
        raise ValueError("the covariance square root is not finite even after regularization")
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(np.real(root)))
    return max(value, 0.0)


def frechet_with_reference(real: np.ndarray, synthetic: np.ndarray, *, n_samples: int, seed: int = 0) -> dict:
    """Fréchet distance real vs synthetic with `n` rows on both sides, and a real-vs-real reference at `n`.

    n = min(n_samples, len(synthetic), len(real) // 2). The real rows are split, after a seeded permutation,
    into two disjoint halves of n rows: the first is compared with n synthetic rows drawn without
    replacement, and with the second half for the reference (the value sampling noise alone gives at n).
    Returns {"frechet": float, "reference": float, "n": int}; ValueError if n < 2.
    """
    real, synthetic = _embeddings("real", real), _embeddings("synthetic", synthetic)
    _same_width(real=real, synthetic=synthetic)
    n = min(int(n_samples), len(synthetic), len(real) // 2)
    if n < 2:
        raise ValueError(f"Fréchet distance with reference needs n >= 2, got n = {n} "
                         f"(n_samples {n_samples}, {len(synthetic)} synthetic, {len(real)} real)")
    rng = np.random.default_rng(seed)
    real_order = rng.permutation(len(real))
    first, second = real[real_order[:n]], real[real_order[n:2 * n]]
    drawn = synthetic[rng.choice(len(synthetic), size=n, replace=False)]
    return {"frechet": frechet_distance(first, drawn), "reference": frechet_distance(first, second), "n": n}


def precision_recall_density_coverage(real: np.ndarray, synthetic: np.ndarray, *, k: int = 5) -> dict:
    """PRDC of `synthetic` against `real` with k-nearest-neighbour balls, via `prdc.compute_prdc`.

    precision: share of synthetic samples inside some real sample's k-NN ball (fidelity); recall: share of
    real samples inside some synthetic sample's k-NN ball (diversity); density: mean number of real balls
    containing a synthetic sample, divided by k (~1 when the distributions match); coverage: share of real
    balls containing at least one synthetic sample.

    k is clamped to min(len(real), len(synthetic)) - 2 (at least 1): the k-th neighbour excluding the sample
    itself exists up to N - 1, but prdc's partial sort needs k + 1 < N, so N - 1 raises there. Returns
    {"precision", "recall", "density", "coverage": float, "k": int (the k used)}; ValueError if a set has
    fewer than 3 samples.
    """
    real, synthetic = _embeddings("real", real), _embeddings("synthetic", synthetic)
    _same_width(real=real, synthetic=synthetic)
    smallest = min(len(real), len(synthetic))
    if smallest < 3:
        raise ValueError(f"PRDC needs at least 3 samples per set, got {len(real)} real and {len(synthetic)} synthetic")
    k = max(1, min(int(k), smallest - 2))
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        values = compute_prdc(real_features=real, fake_features=synthetic, nearest_k=k)
    return {name: float(values[name]) for name in ("precision", "recall", "density", "coverage")} | {"k": k}


def _nearest(reference: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance and index of each query's nearest reference row."""
    distances, indices = NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(queries)
    return distances[:, 0], indices[:, 0]


def memorization(synthetic: np.ndarray, train: np.ndarray, test: np.ndarray, *, quantile: float = 0.05) -> dict:
    """How many synthetic samples sit closer to a training sample than real unseen samples typically do.

    synthetic_to_train [N] and nearest_train [N]: each synthetic sample's Euclidean distance to, and index
    of, its nearest training sample; test_to_train [M]: the same for each real test sample. threshold = the
    `quantile` quantile of test_to_train, i.e. only a share `quantile` of real held-out samples lie that close
    to the training set; rate = share of synthetic samples with synthetic_to_train < threshold. A generator
    that copies training samples has rate ~1; one drawing fresh samples from the data distribution ~quantile.

    Returns {"rate", "threshold", "quantile": float, "synthetic_to_train", "nearest_train",
    "test_to_train": np.ndarray}; rate is NaN for an empty synthetic set. ValueError if train or test is empty.
    """
    synthetic, train, test = (_embeddings("synthetic", synthetic), _embeddings("train", train),
                              _embeddings("test", test))
    _same_width(synthetic=synthetic, train=train, test=test)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"memorization needs training and test samples, got {len(train)} and {len(test)}")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    test_to_train, _ = _nearest(train, test)
    if len(synthetic):
        synthetic_to_train, nearest_train = _nearest(train, synthetic)
    else:
        synthetic_to_train, nearest_train = np.empty(0), np.empty(0, dtype=np.intp)
    threshold = float(np.quantile(test_to_train, quantile))
    rate = float(np.mean(synthetic_to_train < threshold)) if len(synthetic) else math.nan
    return {"rate": rate, "threshold": threshold, "quantile": float(quantile),
            "synthetic_to_train": synthetic_to_train, "nearest_train": nearest_train,
            "test_to_train": test_to_train}


def two_sample_auroc(real: np.ndarray, synthetic: np.ndarray, *, seed: int = 0, folds: int = 5) -> float:
    """Classifier two-sample test: out-of-fold AUROC of logistic regression separating real (0) from synthetic (1).

    The larger set is subsampled (seeded, without replacement) to the size of the smaller, so chance level is
    0.5 whatever the set sizes. Standardization and logistic regression are fitted inside each of the
    stratified, shuffled folds; folds are reduced to the per-class sample count when that is smaller
    (at least 2). 0.5 means the classifier cannot tell the sets apart, 1 that they are trivially separable.
    ValueError if either set has fewer than 2 samples.
    """
    real, synthetic = _embeddings("real", real), _embeddings("synthetic", synthetic)
    _same_width(real=real, synthetic=synthetic)
    if len(real) < 2 or len(synthetic) < 2:
        raise ValueError(f"the two-sample test needs at least 2 samples per set, got {len(real)} real "
                         f"and {len(synthetic)} synthetic")
    rng = np.random.default_rng(seed)
    n = min(len(real), len(synthetic))
    real = real[rng.choice(len(real), size=n, replace=False)]
    synthetic = synthetic[rng.choice(len(synthetic), size=n, replace=False)]
    features = np.concatenate([real, synthetic])
    labels = np.concatenate([np.zeros(n, dtype=int), np.ones(n, dtype=int)])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
    splitter = StratifiedKFold(n_splits=max(2, min(int(folds), n)), shuffle=True, random_state=seed)
    proba = cross_val_predict(model, features, labels, cv=splitter, method="predict_proba")
    return float(roc_auc_score(labels, proba[:, 1]))


def sample_scores(
    synthetic: np.ndarray, train: np.ndarray, *, k: int = 5, copy_threshold: float
) -> dict[str, np.ndarray]:
    """Per synthetic sample scores for curating a synthetic set, both [N] float arrays.

    manifold_distance: min over training samples j of d(sample, train_j) / r_j, where r_j is train_j's
    distance to its k-th nearest other training sample (k clamped to len(train) - 1). Below 1 the sample is
    inside the real manifold exactly as PRDC's precision defines it (inside at least one real k-NN ball,
    so the share of scores < 1 equals precision against `train`), above 1 it is outside; the value says how
    far, in units of the local ball radius. The minimum over all balls is taken rather than only the nearest
    training sample's ball, because a sample can miss its nearest neighbour's small ball yet lie inside a
    larger ball further away, and precision counts it as inside.

    copy_ratio: distance to the nearest training sample / copy_threshold; below 1 the sample is closer to a
    training sample than the memorization threshold (see `memorization`), i.e. a near-copy. With
    copy_threshold 0 nothing is a copy and the ratio is inf.

    ValueError if train has fewer than 2 samples or copy_threshold is negative.
    """
    synthetic, train = _embeddings("synthetic", synthetic), _embeddings("train", train)
    _same_width(synthetic=synthetic, train=train)
    if len(train) < 2:
        raise ValueError(f"sample scores need at least 2 training samples, got {len(train)}")
    if not copy_threshold >= 0:
        raise ValueError(f"copy_threshold must be >= 0, got {copy_threshold}")
    k = max(1, min(int(k), len(train) - 1))
    # Column 0 is the sample itself (or an exact duplicate, also at distance 0, as in prdc's radii).
    radii = NearestNeighbors(n_neighbors=k + 1).fit(train).kneighbors(train)[0][:, k]
    if len(synthetic) == 0:
        return {"manifold_distance": np.empty(0), "copy_ratio": np.empty(0)}

    # Needs every synthetic-to-train distance, not only the nearest ones, so it is a chunked scan of the
    # distance matrix (bounded memory); NearestNeighbors has no query for "min distance / per-point radius".
    def reduce(chunk: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = chunk / radii  # a zero radius (duplicated training samples) gives inf, or NaN at d = 0
        scaled[(chunk == 0) & (radii == 0)] = 0.0  # on a zero-radius point: as close as it gets
        return scaled.min(axis=1), chunk.min(axis=1)

    parts = list(pairwise_distances_chunked(synthetic, train, reduce_func=reduce))
    manifold_distance = np.concatenate([part[0] for part in parts])
    nearest_distance = np.concatenate([part[1] for part in parts])
    if copy_threshold > 0:
        copy_ratio = nearest_distance / copy_threshold
    else:
        copy_ratio = np.full(len(synthetic), np.inf)
    return {"manifold_distance": manifold_distance, "copy_ratio": copy_ratio}


def class_sample_scores(
    synthetic: np.ndarray, synthetic_y: np.ndarray, train: np.ndarray, train_y: np.ndarray,
    reference: np.ndarray, reference_y: np.ndarray, *, k: int, quantile: float,
) -> dict[str, np.ndarray]:
    """`sample_scores` of synthetic samples class by class, each class against its own real samples.

    The copy threshold of each class is calibrated on `reference` (the audit stage uses the test
    split; tuning, which must not, the validation split). A class with fewer than two
    training samples or no reference sample keeps NaN scores, which never drop a sample.
    """
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


def audit(
    real_train: np.ndarray,
    real_test: np.ndarray,
    synthetic: np.ndarray,
    *,
    n_samples: int = 500,
    k: int = 5,
    quantile: float = 0.05,
    seed: int = 0,
) -> dict:
    """All fidelity metrics of `synthetic` for one embedding space, as plain Python floats and ints.

    The real reference is `real_train` (the data the generator learned from) for the Fréchet distance with
    its real-vs-real reference, PRDC and the two-sample AUROC; `real_test` gives "frechet_test" (n =
    min(n_samples, len(synthetic), len(real_test)) rows on both sides) and the memorization threshold.
    Keys: frechet, frechet_reference, n_frechet, frechet_test, precision, recall, density, coverage, k,
    memorization_rate, memorization_threshold, two_sample_auroc, n_synthetic, n_train, n_test. A metric
    the set sizes do not allow is float('nan') (as is k when PRDC is not computed); mismatched widths and
    non-finite embeddings still raise ValueError, since they are errors rather than small sets.
    """
    real_train, real_test = _embeddings("real_train", real_train), _embeddings("real_test", real_test)
    synthetic = _embeddings("synthetic", synthetic)
    _same_width(real_train=real_train, real_test=real_test, synthetic=synthetic)
    nan = math.nan
    result: dict = {"n_synthetic": len(synthetic), "n_train": len(real_train), "n_test": len(real_test)}

    n = min(int(n_samples), len(synthetic), len(real_train) // 2)
    if n >= 2:
        frechet = frechet_with_reference(real_train, synthetic, n_samples=n_samples, seed=seed)
        result |= {"frechet": frechet["frechet"], "frechet_reference": frechet["reference"]}
    else:
        result |= {"frechet": nan, "frechet_reference": nan}
    result["n_frechet"] = int(n)

    n_test = min(int(n_samples), len(synthetic), len(real_test))
    if n_test >= 2:
        rng = np.random.default_rng(seed)
        test_rows = real_test[rng.choice(len(real_test), size=n_test, replace=False)]
        synthetic_rows = synthetic[rng.choice(len(synthetic), size=n_test, replace=False)]
        result["frechet_test"] = frechet_distance(test_rows, synthetic_rows)
    else:
        result["frechet_test"] = nan

    if min(len(real_train), len(synthetic)) >= 3:
        result |= precision_recall_density_coverage(real_train, synthetic, k=k)
    else:
        result |= {"precision": nan, "recall": nan, "density": nan, "coverage": nan, "k": nan}

    if len(synthetic) and len(real_train) and len(real_test):
        memorized = memorization(synthetic, real_train, real_test, quantile=quantile)
        result |= {"memorization_rate": memorized["rate"], "memorization_threshold": memorized["threshold"]}
    else:
        result |= {"memorization_rate": nan, "memorization_threshold": nan}

    if min(len(real_train), len(synthetic)) >= 2:
        result["two_sample_auroc"] = two_sample_auroc(real_train, synthetic, seed=seed)
    else:
        result["two_sample_auroc"] = nan

    order = ("frechet", "frechet_reference", "n_frechet", "frechet_test", "precision", "recall", "density",
             "coverage", "k", "memorization_rate", "memorization_threshold", "two_sample_auroc",
             "n_synthetic", "n_train", "n_test")
    return {key: result[key] if isinstance(result[key], int) else float(result[key]) for key in order}
