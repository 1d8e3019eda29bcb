"""Audit of synthetic data against real data the generator never saw, beside a "perfect generator" reference.

Every metric here works on embeddings: 2-D float arrays [N, D], one row per sample. Callers use three views:
the penultimate layer of a trained classifier (computed elsewhere), `random_projection` of the flattened
normalized log-mel spectrogram and `band_statistics` (each mel band's mean and spread over time), both
computed here. All sets of one audit must live in the same space; every
function that takes two or more sets raises ValueError when their widths differ.

Design of the audit (`audit_class`, one class in one view):

- The primary reference is real data the generator never saw: the validation split. The generator's own
  training data is the second reference (a generator can look like its training set and still miss the
  distribution). Metrics against validation end in `_val`, against training in `_train`.
- A score only means something beside what a perfect generator would get at the same sample size. A set
  cannot be compared with itself, so the validation samples of the class are split by group (participant,
  recording: every clip of one group stays on one side) into a comparison half and a reference half. The
  reference half, real data the generator never saw, is scored exactly as a synthetic set is: against the
  comparison half and against the training data. Each synthetic set is subsampled to the reference half's
  size n (all of it when smaller) and scored against the same comparison half. This is the "real_validation"
  row that reports show beside each generator. The split and the subsample are redrawn `repeats` times
  (seeded) and every metric is the mean over repeats, which steadies the small-n estimates of both rows
  alike. With fewer than two groups there is no split: synthetic sets are compared with all validation
  samples and the reference row is NaN.
- Two-sample tests: out-of-fold AUROC of a classifier told to separate real from candidate rows (balanced
  by subsampling). k-nearest neighbours on standardized features sees differences in shape and spread
  (a set with the right mean and the wrong variance, a few modes, a lattice); logistic regression on the
  standardized features and their squares sees shifts of each feature's mean and spread with few samples
  in many dimensions, where kNN's neighbourhoods stop being informative (a collapsed set, or pure noise,
  can hold the nearest neighbours of every real sample). A plain linear test adds nothing to it, since
  the squares only add terms. `two_sample_auroc_val` / `_train` is the stronger of the two; reports
  quote the maximum over tests and views as the strongest evidence that a set differs from real data.
- KID: the unbiased MMD^2 with the cubic polynomial kernel (x.y/d + 1)^3, unbiased at any n (unlike the
  Fréchet distance). The cubic kernel is not scale-free, so the audit centres every set on the class's
  training mean and divides by one scalar (the training data's root mean feature variance): distances
  keep their geometry and x.y/d is of order 1 in every view.
- Fréchet distance, in a dimension the sample count supports: a PCA fitted on the real side reduces both
  sets to min(D, max(1, n // 5)) components (n the smaller set's size) before fitting Gaussians; in D
  dimensions from a few dozen samples the covariance estimate, not the generator, would dominate.
- Precision, recall, density and coverage (Naeem et al., 2020) against the validation comparison set.
- Memorization: a sample is a copy of a training sample only when (1) its distance d1 to the nearest
  training sample is below the `quantile` quantile of real validation samples' nearest-training distances
  (closer than unseen real data comes) AND (2) d1 / d2 (nearest over second-nearest distinct training
  sample) is below `copy_distance_ratio`: it sits next to one training sample in particular. A sample
  collapsed to the class mean is close to every training sample (d1 ~ d2) and is not a copy; an exact or
  near copy has d1 / d2 ~ 0. The threshold is calibrated on the comparison half, so the reference row
  shows the rate fresh real samples get (at most `quantile`).

Nothing here reads the test split; callers pass validation data (curation uses these scores).

Public functions: `random_projection`, `band_statistics`, `frechet_distance`, `reduced_frechet_distance`,
`kernel_inception_distance`, `precision_recall_density_coverage`, `memorization`, `two_sample_auroc`,
`group_halves`, `audit_class`, `sample_scores` and `class_sample_scores` (per-sample scores for curation).
All randomness (subsampling, projection, splits, cross-validation folds) is seeded, so an audit is
reproducible.
"""

from __future__ import annotations

import contextlib
import io
import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import sklearn
from joblib import Parallel, delayed
from prdc import compute_prdc
from scipy import linalg
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import pairwise_distances_chunked, roc_auc_score
from sklearn.metrics.pairwise import polynomial_kernel
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.random_projection import GaussianRandomProjection

# Offset added to both covariances when the square root of their product is singular or not finite; the
# value and the retry follow the reference FID implementation (pytorch-fid).
FRECHET_EPS = 1e-6
# The key of the "perfect generator" row: real validation data scored as a synthetic set is.
REFERENCE = "real_validation"
REFERENCE_LABEL = "real (validation)"  # how reports and figures name that row
TWO_SAMPLE_TESTS = ("knn", "quadratic")
# Fréchet distance: at least this many samples per reduced dimension.
SAMPLES_PER_FRECHET_DIM = 5


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
    Projections of the same rows in calls with different row counts agree to float32 round-off, not bit
    for bit: the BLAS picks its kernel by matrix shape.
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        return np.empty((0, dim), dtype=np.float32)
    flat = x.reshape(len(x), -1)
    projection = GaussianRandomProjection(n_components=dim, random_state=seed)
    # float32 fitting keeps the matrix in float32, so transform does not make a float64 copy of the input.
    projection.fit(np.zeros((1, flat.shape[1]), dtype=np.float32))
    return projection.transform(flat).astype(np.float32, copy=False)


def band_statistics(x: np.ndarray) -> np.ndarray:
    """[N, 1, mels, frames] -> [N, 2 * mels] float32: each mel band's mean and standard deviation over time.

    A view that needs no trained model and ignores where in the clip things happen: it sees a wrong
    spectral envelope, or bands that are too smooth or too busy over time (the texture a generator most
    easily gets wrong), which a random projection of the whole spectrogram dilutes among time positions.
    """
    bands = np.asarray(x, dtype=np.float64)[:, 0]
    return np.concatenate([bands.mean(axis=2), bands.std(axis=2)], axis=1).astype(np.float32)


# Fréchet distance


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
    A negative result from round-off (identical sets) is clipped to 0. In D dimensions the estimate needs
    many more than D samples; see `reduced_frechet_distance` for small sets.

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


def frechet_dims(n: int, width: int) -> int:
    """The dimension a Fréchet distance between sets of at least n rows is computed in: min(width, n // 5), >= 1."""
    return max(1, min(int(width), int(n) // SAMPLES_PER_FRECHET_DIM))


def reduced_frechet_distance(real: np.ndarray, candidate: np.ndarray) -> dict:
    """Fréchet distance after a PCA, fitted on `real`, to `frechet_dims(min(len(real), len(candidate)), D)` dims.

    A D-dimensional covariance from n < 5 D samples is mostly noise and biases the distance upwards by an
    amount that depends on n and D rather than on the sets; the reduction keeps at least five samples per
    dimension. The PCA is fitted on the real side only, so every candidate compared with the same real set
    is measured along the same directions. Returns {"frechet": float, "dims": int}; ValueError if a set
    has fewer than 2 rows.
    """
    real, candidate = _embeddings("real", real), _embeddings("candidate", candidate)
    _same_width(real=real, candidate=candidate)
    n = min(len(real), len(candidate))
    if n < 2:
        raise ValueError(f"Fréchet distance needs at least 2 samples per set, got {len(real)} and {len(candidate)}")
    dims = min(frechet_dims(n, real.shape[1]), len(real))
    pca = PCA(n_components=dims, svd_solver="full").fit(real)
    return {"frechet": frechet_distance(pca.transform(real), pca.transform(candidate)), "dims": int(dims)}


# Kernel inception distance


def kernel_inception_distance(real: np.ndarray, candidate: np.ndarray, *, max_samples: int = 1000, seed: int = 0) -> float:
    """KID: the unbiased estimate of MMD^2 between two sets with the kernel k(x, y) = (x.y / D + 1)^3.

    MMD^2_u = mean_{i != j} k(r_i, r_j) + mean_{i != j} k(c_i, c_j) - 2 mean_{i, j} k(r_i, c_j)
    (Bińkowski et al., 2018). Its expectation is 0 when both sets come from one distribution, whatever their
    sizes, so it may come out slightly negative; it grows with any difference the cubic kernel sees (mean,
    covariance, skew). The kernel matrices come from scikit-learn's polynomial_kernel; the estimator is
    written out because torchmetrics and torch-fidelity compute Inception features themselves. Sets larger
    than `max_samples` are subsampled (seeded) to bound the quadratic cost. The kernel is not scale-free:
    pass features of order 1 (the audit rescales them, see the module docstring). ValueError if a set has
    fewer than 2 rows.
    """
    real, candidate = _embeddings("real", real), _embeddings("candidate", candidate)
    _same_width(real=real, candidate=candidate)
    if len(real) < 2 or len(candidate) < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} and {len(candidate)}")
    rng = np.random.default_rng(seed)
    if len(real) > max_samples:
        real = real[rng.choice(len(real), size=max_samples, replace=False)]
    if len(candidate) > max_samples:
        candidate = candidate[rng.choice(len(candidate), size=max_samples, replace=False)]

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return polynomial_kernel(a, b, degree=3, gamma=1.0 / real.shape[1], coef0=1.0)

    def within(a: np.ndarray) -> float:
        matrix = kernel(a, a)
        return float((matrix.sum() - np.trace(matrix)) / (len(a) * (len(a) - 1)))

    return within(real) + within(candidate) - 2.0 * float(kernel(real, candidate).mean())


# Precision, recall, density, coverage


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


# Memorization


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
    train, queries = _embeddings("train", train), _embeddings("queries", queries)
    _same_width(train=train, queries=queries)
    distinct, first_row = np.unique(train, axis=0, return_index=True)
    if len(distinct) < 2:
        raise ValueError(f"nearest-training distances need at least 2 distinct training samples, got {len(distinct)}")
    groups = np.arange(len(distinct)) if train_groups is None else _group_codes(train_groups, len(train))[first_row]
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


def _group_codes(groups, n: int) -> np.ndarray:
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
    synthetic, train, unseen = (_embeddings("synthetic", synthetic), _embeddings("train", train), _embeddings("unseen", unseen))
    _same_width(synthetic=synthetic, train=train, unseen=unseen)
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


# Two-sample tests


def _with_squares(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, x * x])


def _two_sample_model(test: str, n_fit: int, seed: int):
    if test == "knn":
        # About sqrt(n) neighbours: enough votes for a graded probability, few enough to stay local.
        neighbours = max(1, min(25, round(math.sqrt(n_fit))))
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbours))
    if test == "quadratic":
        # Each feature and its square, not sklearn's PolynomialFeatures: its D^2 cross terms are too many
        # features for a few dozen samples, while the squares alone carry every per-feature spread.
        return make_pipeline(
            StandardScaler(),
            FunctionTransformer(_with_squares),
            StandardScaler(),
            # liblinear: the fastest solver for a few hundred rows (this runs per fold and split)
            LogisticRegression(solver="liblinear", max_iter=1000, random_state=seed),
        )
    raise ValueError(f"unknown two-sample test {test!r}; valid: {', '.join(TWO_SAMPLE_TESTS)}")


def subsample_groups(groups: np.ndarray, n: int, rng: np.random.Generator, *, min_groups: int = 2) -> np.ndarray:
    """Row indices of whole groups, drawn in random order until n rows would be exceeded.

    Equalising two sets' sizes row by row would split a participant's recordings or a file's clips
    between the kept and the dropped rows; this keeps or drops each group whole. At least `min_groups`
    groups are kept (as many as there are, if fewer), even past n rows: cross-validation by group needs
    two on each side. All rows when there are at most n.
    """
    codes = np.asarray(groups)
    if len(codes) <= n:
        return np.arange(len(codes))
    kept: list[np.ndarray] = []
    total = 0
    for group in rng.permutation(np.unique(codes)):
        rows = np.flatnonzero(codes == group)
        if len(kept) >= min_groups and total + len(rows) > n:
            continue
        kept.append(rows)
        total += len(rows)
        if total >= n and len(kept) >= min_groups:
            break
    return np.sort(np.concatenate(kept))


def two_sample_auroc(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    test: str = "knn",
    seed: int = 0,
    folds: int = 5,
    real_groups: np.ndarray | None = None,
    synthetic_groups: np.ndarray | None = None,
) -> float:
    """Classifier two-sample test: out-of-fold AUROC of a classifier separating real (0) from synthetic (1).

    test "knn": k-nearest neighbours (k ~ sqrt of the training fold's size) on standardized features; it
    sees differences in shape (modes, clusters, a lattice) as well as in spread. test "quadratic": logistic
    regression on the standardized features and their squares; it sees shifts of the mean and of the
    spread of each feature with few samples in many dimensions, where kNN goes blind: there a set
    collapsed near the centre, or one spread far too wide, holds the nearest neighbours of every real
    sample (hubness), and kNN votes come out even.

    Groups: `real_groups` / `synthetic_groups` name the group (participant, recording, file) of each row;
    None makes every row its own group. The larger set is subsampled by whole groups (seeded) to about
    the size of the smaller, and the cross-validation folds are stratified group folds, so a group's rows
    are never on both sides of a fold. Row folds would let a held-out real row find its participant's
    other recording, or the clip overlapping it, in the training fold, a partner no synthetic row has:
    real data would look distinguishable from real data (0.68 for two recordings per participant, 1.00
    for half-overlapping clips), and the test could no longer rank generators. Scaling and the classifier
    are fitted inside each fold; folds are reduced to the smaller side's group count when that is
    smaller (at least 2). 0.5 means the classifier cannot tell the sets apart, 1 that they are trivially
    separable. ValueError if either set has fewer than 2 samples or 2 groups, or the test is unknown.
    """
    real, synthetic = _embeddings("real", real), _embeddings("synthetic", synthetic)
    _same_width(real=real, synthetic=synthetic)
    if len(real) < 2 or len(synthetic) < 2:
        raise ValueError(
            f"the two-sample test needs at least 2 samples per set, got {len(real)} real and {len(synthetic)} synthetic"
        )
    real_codes = np.arange(len(real)) if real_groups is None else _group_codes(real_groups, len(real))
    synthetic_codes = np.arange(len(synthetic)) if synthetic_groups is None else _group_codes(synthetic_groups, len(synthetic))
    rng = np.random.default_rng(seed)
    n = min(len(real), len(synthetic))
    real_rows, synthetic_rows = subsample_groups(real_codes, n, rng), subsample_groups(synthetic_codes, n, rng)
    real, synthetic = real[real_rows], synthetic[synthetic_rows]
    real_codes, synthetic_codes = real_codes[real_rows], synthetic_codes[synthetic_rows]
    n_groups = min(len(np.unique(real_codes)), len(np.unique(synthetic_codes)))
    if n_groups < 2:
        raise ValueError("the two-sample test needs at least 2 groups per set (whole groups stay on one side of a fold)")
    features = np.concatenate([real, synthetic])
    labels = np.concatenate([np.zeros(len(real), dtype=int), np.ones(len(synthetic), dtype=int)])
    groups = np.concatenate([real_codes, synthetic_codes + real_codes.max() + 1])
    n_splits = max(2, min(int(folds), n_groups))
    model = _two_sample_model(test, len(features) - 2 * math.ceil(len(features) / (2 * n_splits)), seed)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with sklearn.config_context(assume_finite=True):  # checked above; skips a check per fold and step
        proba = cross_val_predict(model, features, labels, cv=splitter, groups=groups, method="predict_proba")
    return float(roc_auc_score(labels, proba[:, 1]))


# The audit of one class in one view


def group_halves(groups: np.ndarray, *, repeats: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`repeats` seeded splits of rows into (comparison, reference) index arrays, whole groups on each side.

    Half of the groups (rounded up) form the comparison set, the rest the reference set (scikit-learn's
    GroupShuffleSplit). [] when there are fewer than 2 groups: no split keeps groups apart.
    """
    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2:
        return []
    splitter = GroupShuffleSplit(n_splits=int(repeats), test_size=0.5, random_state=seed)
    placeholder = np.zeros((len(groups), 1))
    return [(comparison, reference) for reference, comparison in splitter.split(placeholder, groups=groups)]


AUDIT_METRICS = (
    "two_sample_auroc_val",
    "two_sample_auroc_knn_val",
    "two_sample_auroc_quadratic_val",
    "two_sample_auroc_train",
    "two_sample_auroc_knn_train",
    "two_sample_auroc_quadratic_train",
    "kid_val",
    "kid_train",
    "frechet_val",
    "frechet_dims_val",
    "frechet_train",
    "frechet_dims_train",
    "precision",
    "recall",
    "density",
    "coverage",
    "k",
    "memorization_rate",
)
AUDIT_COUNTS = ("n", "n_available", "n_comparison", "n_train", "repeats")
# Metrics averaged over repeats; the strongest-test columns are then the maximum of their tests' means.
PER_REPEAT_METRICS = tuple(m for m in AUDIT_METRICS if m not in ("two_sample_auroc_val", "two_sample_auroc_train"))


def _rescaling(train: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre, scale) that bring the class's training data to zero mean and unit mean feature variance.

    One scalar for all features rather than per-feature standardization: it keeps the view's geometry
    (which distances are large) and cannot blow up a feature that happens to be near-constant in training.
    """
    centre = train.mean(axis=0) if len(train) else np.zeros(train.shape[1])
    variance = float(train.var(axis=0).mean()) if len(train) > 1 else 0.0
    return centre, math.sqrt(variance) if variance > 0 else 1.0


def _score(
    candidate: np.ndarray,
    comparison: np.ndarray,
    train: np.ndarray,
    *,
    k: int,
    quantile: float,
    copy_distance_ratio: float,
    seed: int,
    candidate_groups: np.ndarray,
    comparison_groups: np.ndarray,
    train_groups: np.ndarray,
    copies_of: np.ndarray | None = None,
    against_train: bool = True,
) -> dict[str, float]:
    """Every metric of one candidate set against one comparison (validation) set and the training data.

    Inputs are already rescaled; each set comes with the group of each row (two-sample folds and the
    copy rule keep groups whole). `copies_of` is the set whose memorization rate is measured (default:
    the candidate): a synthetic set's rate uses all its samples, since a rate does not depend on n.
    """
    nan = math.nan
    result: dict[str, float] = {}
    for reference_name, real, real_groups in (("val", comparison, comparison_groups), ("train", train, train_groups)):
        if reference_name == "train" and not against_train:
            result |= {
                f"{m}_train": nan
                for m in ("two_sample_auroc_knn", "two_sample_auroc_quadratic", "kid", "frechet", "frechet_dims")
            }
            continue
        enough = min(len(np.unique(real_groups)), len(np.unique(candidate_groups))) >= 2
        aurocs = {
            test: two_sample_auroc(
                real, candidate, test=test, seed=seed, real_groups=real_groups, synthetic_groups=candidate_groups
            )
            if enough
            else nan
            for test in TWO_SAMPLE_TESTS
        }
        result |= {f"two_sample_auroc_{test}_{reference_name}": value for test, value in aurocs.items()}
        enough = min(len(real), len(candidate)) >= 2
        result[f"kid_{reference_name}"] = kernel_inception_distance(real, candidate, seed=seed) if enough else nan
        frechet = reduced_frechet_distance(real, candidate) if enough else {"frechet": nan, "dims": nan}
        result[f"frechet_{reference_name}"], result[f"frechet_dims_{reference_name}"] = frechet["frechet"], frechet["dims"]
    if min(len(comparison), len(candidate)) >= 3:
        result |= precision_recall_density_coverage(comparison, candidate, k=k)
    else:
        result |= {"precision": nan, "recall": nan, "density": nan, "coverage": nan, "k": nan}
    copies_of = candidate if copies_of is None else copies_of
    if len(comparison) and len(copies_of) and len(np.unique(train, axis=0)) >= 2 and len(np.unique(train_groups)) >= 2:
        memorized = memorization(
            copies_of, train, comparison, quantile=quantile, copy_distance_ratio=copy_distance_ratio, train_groups=train_groups
        )
        result["memorization_rate"] = memorized["rate"]
    else:
        result["memorization_rate"] = nan
    return result


def audit_class(
    train: np.ndarray,
    val: np.ndarray,
    val_groups: np.ndarray,
    synthetic_sets: Mapping[str, np.ndarray],
    *,
    repeats: int = 5,
    k: int = 5,
    quantile: float = 0.05,
    copy_distance_ratio: float = 0.5,
    seed: int = 0,
    train_groups: np.ndarray | None = None,
    against_train: bool = True,
) -> dict[str, dict]:
    """The audit of one class in one view: {REFERENCE: metrics, name: metrics for each synthetic set}.

    `against_train=False` skips the comparisons with the training data (their metrics are NaN), for
    callers that only read the validation side (benchmarks), at about half the cost.

    `train` and `val` are the class's real training and validation embeddings, `val_groups` [len(val)] the
    group of each validation row (clips of one group never land on both sides of a split, nor of a
    two-sample fold), `train_groups` [len(train)] that of each training row (None: each row its own
    group), which the copy rule reads; each synthetic sample is its own group. See the module
    docstring for the design. Each row holds the metrics AUDIT_METRICS (means over the `repeats` splits;
    float('nan') where the set sizes do not allow one) and the counts AUDIT_COUNTS: n (candidate rows per
    split), n_available (rows the candidate had), n_comparison (mean comparison rows), n_train, repeats
    (splits used; 0 without a split). All values are plain floats and ints, ready for JSON.
    ValueError for mismatched widths, non-finite embeddings or len(val_groups) != len(val).
    """
    train, val = _embeddings("train", train), _embeddings("val", val)
    sets = {name: _embeddings(f"synthetic set {name!r}", values) for name, values in synthetic_sets.items()}
    _same_width(train=train, val=val, **{f"synthetic set {name!r}": values for name, values in sets.items()})
    val_groups = np.asarray(val_groups)
    if len(val_groups) != len(val):
        raise ValueError(f"val_groups has {len(val_groups)} entries for {len(val)} validation rows")
    if REFERENCE in sets:
        raise ValueError(f"{REFERENCE!r} names the reference row, not a synthetic set")
    train_groups = np.arange(len(train)) if train_groups is None else _group_codes(train_groups, len(train))
    centre, scale = _rescaling(train)
    train, val = (train - centre) / scale, (val - centre) / scale
    sets = {name: (values - centre) / scale for name, values in sets.items()}
    splits = group_halves(val_groups, repeats=repeats, seed=seed)
    settings: dict[str, Any] = {
        "k": k,
        "quantile": quantile,
        "copy_distance_ratio": copy_distance_ratio,
        "against_train": against_train,
    }

    rows: dict[str, list[dict]] = {REFERENCE: [], **{name: [] for name in sets}}
    sizes: dict[str, list[int]] = {name: [] for name in rows}
    comparison_sizes = []
    unsplit: list[tuple[np.ndarray, np.ndarray | None]] = [(np.arange(len(val)), None)]
    for repeat, (comparison_rows, reference_rows) in enumerate(splits or unsplit):
        comparison = val[comparison_rows]
        comparison_sizes.append(len(comparison))
        n = len(val) if reference_rows is None else len(reference_rows)
        settings |= {"seed": seed + repeat, "comparison_groups": val_groups[comparison_rows], "train_groups": train_groups}
        if reference_rows is not None:
            rows[REFERENCE].append(
                _score(val[reference_rows], comparison, train, candidate_groups=val_groups[reference_rows], **settings)
            )
            sizes[REFERENCE].append(len(reference_rows))
        for name, values in sets.items():
            drawn = values[candidate_rows(len(values), n, name, seed=seed, repeat=repeat)]
            rows[name].append(
                _score(drawn, comparison, train, candidate_groups=np.arange(len(drawn)), copies_of=values, **settings)
            )
            sizes[name].append(len(drawn))

    def summary(name: str, available: int) -> dict:
        scored = rows[name]
        metrics = {key: float(np.mean([r[key] for r in scored])) if scored else math.nan for key in PER_REPEAT_METRICS}
        for against in ("val", "train"):  # the strongest test: the highest of the tests' means over repeats
            metrics[f"two_sample_auroc_{against}"] = _nanmax(
                [metrics[f"two_sample_auroc_{t}_{against}"] for t in TWO_SAMPLE_TESTS]
            )
        counts = {
            "n": int(round(np.mean(sizes[name]))) if scored else 0,
            "n_available": int(available),
            "n_comparison": int(round(np.mean(comparison_sizes))),
            "n_train": len(train),
            "repeats": len(splits),
        }
        return metrics | counts

    reference_available = int(round(np.mean([len(r) for _, r in splits]))) if splits else 0
    return {
        REFERENCE: summary(REFERENCE, reference_available),
        **{name: summary(name, len(values)) for name, values in sets.items()},
    }


def _nanmax(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan


def candidate_rows(available: int, n: int, name: str, *, seed: int, repeat: int) -> np.ndarray:
    """The rows of a synthetic set of `available` samples scored at split `repeat`: min(n, available), drawn.

    Seeded by the set's name, so a set's subsample does not depend on which other sets are audited.
    """
    rng = np.random.default_rng([seed, repeat, zlib.crc32(name.encode())])
    return rng.choice(int(available), size=min(int(n), int(available)), replace=False)


def strongest_two_sample(by_view: Mapping[str, Mapping[str, float]], against: str = "val") -> dict:
    """The highest two-sample AUROC of one set over views and tests: {"auroc": float, "view": str, "test": str}.

    `by_view` is {view: audit_class row}. The one definition of "strongest" in the product: each test's
    AUROC is first averaged over the audit's repeats, then the highest over tests and views is taken (a
    row's `two_sample_auroc_val` is the same maximum within one view). A set is only as good as the best
    detector says; since a maximum over several tests also lifts a set that matches real data above 0.5,
    read it beside the reference row and `two_sample_permutation_test`'s p-value. NaN (and empty view
    and test) when no test could be run.
    """
    best: dict[str, Any] = {"auroc": math.nan, "view": "", "test": ""}
    for view, row in by_view.items():
        for test in TWO_SAMPLE_TESTS:
            value = row.get(f"two_sample_auroc_{test}_{against}")
            if value is not None and not math.isnan(value) and not value <= best["auroc"]:
                best = {"auroc": float(value), "view": view, "test": test}
    return best


def two_sample_permutation_test(
    real: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    real_groups: np.ndarray,
    candidate_groups: np.ndarray,
    *,
    permutations: int = 100,
    seed: int = 0,
    workers: int = 1,
) -> dict:
    """Is the strongest two-sample AUROC above what exchangeable sets give? A group permutation test.

    `real` and `candidate` map each view to embeddings whose rows are the same samples in every view;
    the groups name each row's participant, recording or file (a synthetic sample is its own group).
    The statistic is the strongest AUROC: the highest of `two_sample_auroc` over views and tests. Under
    the null hypothesis that the candidate is drawn like the real set, group labels are exchangeable:
    each permutation deals whole groups afresh to "real" and "candidate" (as many to each side as
    observed) and recomputes the maximum, so the selection over tests and views, and the correlation
    within a group, are in the null distribution too. The p-value is (1 + #{permuted >= observed}) /
    (1 + permutations). Returns {"auroc": observed statistic, "p_value", "permutations"}; NaN when a
    side has fewer than 2 groups. `workers` processes share the permutations; every deal is drawn before
    any is scored, so the result does not depend on how many there are.
    """
    views = list(real)
    real_codes = _group_codes(real_groups, len(real[views[0]]))
    candidate_codes = _group_codes(candidate_groups, len(candidate[views[0]])) + real_codes.max() + 1
    n_real_groups = len(np.unique(real_codes))
    if min(n_real_groups, len(np.unique(candidate_codes))) < 2:
        return {"auroc": math.nan, "p_value": math.nan, "permutations": 0}
    pooled = {
        view: np.concatenate([_embeddings(f"real[{view!r}]", real[view]), _embeddings(f"candidate[{view!r}]", candidate[view])])
        for view in views
    }
    codes = np.concatenate([real_codes, candidate_codes])
    groups = np.unique(codes)

    def strongest(is_real: np.ndarray) -> float:
        return max(
            two_sample_auroc(
                pooled[view][is_real],
                pooled[view][~is_real],
                test=test,
                seed=seed,
                real_groups=codes[is_real],
                synthetic_groups=codes[~is_real],
            )
            for view in views
            for test in TWO_SAMPLE_TESTS
        )

    observed = strongest(np.arange(len(codes)) < len(real_codes))
    rng = np.random.default_rng([seed, 1])
    deals = [np.isin(codes, rng.choice(groups, size=n_real_groups, replace=False)) for _ in range(int(permutations))]
    # Each permutation refits a few dozen small sklearn models on one core; processes, not threads, run them
    # side by side (the fits hold the GIL).
    permuted = Parallel(n_jobs=max(1, min(int(workers), len(deals))))(delayed(strongest)(deal) for deal in deals)
    exceed = sum(value >= observed for value in permuted)
    return {"auroc": observed, "p_value": (1 + exceed) / (1 + int(permutations)), "permutations": int(permutations)}


# Per-sample scores for curation


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
    synthetic, train = _embeddings("synthetic", synthetic), _embeddings("train", train)
    _same_width(synthetic=synthetic, train=train)
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
    groups = np.arange(len(train)) if train_groups is None else _group_codes(train_groups, len(train))
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
