"""Audit of synthetic data against real data the generator never saw, beside a "perfect generator" reference.

Every metric here works on embeddings: 2-D float arrays [N, D], one row per sample. Callers use three views:
the penultimate layer of a trained classifier (computed elsewhere), `random_projection` of the flattened
normalized log-mel spectrogram and `band_statistics` (each mel band's mean and spread over time), both in
synthaug.evaluation.distances. All sets of one audit must live in the same space; every function that
takes two or more sets raises ValueError when their widths differ.

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
- KID, the Fréchet distance in a reduced dimension, and precision, recall, density and coverage
  against the validation comparison set: synthaug.evaluation.distances. The cubic kernel of KID is
  not scale-free, so the audit centres every set on the class's training mean and divides by one
  scalar (the training data's root mean feature variance).
- Memorization (synthaug.evaluation.memorization): the copy threshold is calibrated on the comparison
  half, so the reference row shows the rate fresh real samples get (at most `quantile`).

Nothing here reads the test split; callers pass validation data (curation uses these scores).

Public functions: `two_sample_auroc`, `group_halves`, `audit_class`, `strongest_two_sample` and
`two_sample_permutation_test`. All randomness (subsampling, projection, splits, cross-validation
folds) is seeded, so an audit is reproducible.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import sklearn
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from synthaug.evaluation.distances import (
    as_embeddings,
    check_same_width,
    kernel_inception_distance,
    precision_recall_density_coverage,
    reduced_frechet_distance,
)
from synthaug.evaluation.memorization import group_codes, memorization

# The key of the "perfect generator" row: real validation data scored as a synthetic set is.
REFERENCE = "real_validation"
REFERENCE_LABEL = "real (validation)"  # how reports and figures name that row
TWO_SAMPLE_TESTS = ("knn", "quadratic")


# Fréchet distance


# Kernel inception distance


# Precision, recall, density, coverage


# Memorization


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
    real, synthetic = as_embeddings("real", real), as_embeddings("synthetic", synthetic)
    check_same_width(real=real, synthetic=synthetic)
    if len(real) < 2 or len(synthetic) < 2:
        raise ValueError(
            f"the two-sample test needs at least 2 samples per set, got {len(real)} real and {len(synthetic)} synthetic"
        )
    real_codes = np.arange(len(real)) if real_groups is None else group_codes(real_groups, len(real))
    synthetic_codes = np.arange(len(synthetic)) if synthetic_groups is None else group_codes(synthetic_groups, len(synthetic))
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
    train, val = as_embeddings("train", train), as_embeddings("val", val)
    sets = {name: as_embeddings(f"synthetic set {name!r}", values) for name, values in synthetic_sets.items()}
    check_same_width(train=train, val=val, **{f"synthetic set {name!r}": values for name, values in sets.items()})
    val_groups = np.asarray(val_groups)
    if len(val_groups) != len(val):
        raise ValueError(f"val_groups has {len(val_groups)} entries for {len(val)} validation rows")
    if REFERENCE in sets:
        raise ValueError(f"{REFERENCE!r} names the reference row, not a synthetic set")
    train_groups = np.arange(len(train)) if train_groups is None else group_codes(train_groups, len(train))
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
    real_codes = group_codes(real_groups, len(real[views[0]]))
    candidate_codes = group_codes(candidate_groups, len(candidate[views[0]])) + real_codes.max() + 1
    n_real_groups = len(np.unique(real_codes))
    if min(n_real_groups, len(np.unique(candidate_codes))) < 2:
        return {"auroc": math.nan, "p_value": math.nan, "permutations": 0}
    pooled = {
        view: np.concatenate(
            [as_embeddings(f"real[{view!r}]", real[view]), as_embeddings(f"candidate[{view!r}]", candidate[view])]
        )
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
