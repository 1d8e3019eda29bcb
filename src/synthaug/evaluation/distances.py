"""Distances between sets of embeddings ([N, D] float arrays, one row per sample) and the views the
audit embeds spectrograms in.

- Views: `random_projection` of the flattened normalized log-mel spectrogram and `band_statistics`
  (each mel band's mean and spread over time); the third view, a classifier's penultimate layer, is
  computed where the classifier lives.
- KID: the unbiased MMD^2 with the cubic polynomial kernel (x.y/d + 1)^3, unbiased at any n (unlike
  the Fréchet distance).
- Fréchet distance, in a dimension the sample count supports: a PCA fitted on the real side reduces
  both sets to min(D, max(1, n // 5)) components before fitting Gaussians; in D dimensions from a few
  dozen samples the covariance estimate, not the generator, would dominate.
- Precision, recall, density and coverage (Naeem et al., 2020).

Every function that takes two or more sets raises ValueError when their widths differ. All
randomness is seeded. synthaug.evaluation.fidelity builds the audit from these.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
from prdc import compute_prdc
from scipy import linalg
from sklearn.decomposition import PCA
from sklearn.metrics.pairwise import polynomial_kernel
from sklearn.random_projection import GaussianRandomProjection

# Offset added to both covariances when the square root of their product is singular or not finite; the
# value and the retry follow the reference FID implementation (pytorch-fid).
FRECHET_EPS = 1e-6


# Fréchet distance: at least this many samples per reduced dimension.
SAMPLES_PER_FRECHET_DIM = 5


def as_embeddings(name: str, values) -> np.ndarray:
    """A finite float64 [N, D] array, or ValueError naming the argument."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [samples, features], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_same_width(**sets: np.ndarray) -> None:
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
    a, b = as_embeddings("a", a), as_embeddings("b", b)
    check_same_width(a=a, b=b)
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
    real, candidate = as_embeddings("real", real), as_embeddings("candidate", candidate)
    check_same_width(real=real, candidate=candidate)
    n = min(len(real), len(candidate))
    if n < 2:
        raise ValueError(f"Fréchet distance needs at least 2 samples per set, got {len(real)} and {len(candidate)}")
    dims = min(frechet_dims(n, real.shape[1]), len(real))
    pca = PCA(n_components=dims, svd_solver="full").fit(real)
    return {"frechet": frechet_distance(pca.transform(real), pca.transform(candidate)), "dims": int(dims)}


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
    real, candidate = as_embeddings("real", real), as_embeddings("candidate", candidate)
    check_same_width(real=real, candidate=candidate)
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
    real, synthetic = as_embeddings("real", real), as_embeddings("synthetic", synthetic)
    check_same_width(real=real, synthetic=synthetic)
    smallest = min(len(real), len(synthetic))
    if smallest < 3:
        raise ValueError(f"PRDC needs at least 3 samples per set, got {len(real)} real and {len(synthetic)} synthetic")
    k = max(1, min(int(k), smallest - 2))
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        values = compute_prdc(real_features=real, fake_features=synthetic, nearest_k=k)
    return {name: float(values[name]) for name in ("precision", "recall", "density", "coverage")} | {"k": k}
