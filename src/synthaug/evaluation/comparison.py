"""Each method against the baseline: scores over seeds, paired differences, Holm families, resolution.

`compare_methods` turns the run folders of each method (one per seed or trial, see
synthaug.evaluation.run_folder) into per-seed scores, mean ± std with a bootstrap confidence interval,
per-class results and, for every method but the baseline, the paired difference to the baseline
(overall and seed by seed) with a bootstrap confidence interval and a permutation-test p-value
(synthaug.evaluation.statistics). p-values are Holm–Bonferroni adjusted in two families: the
primary endpoints (`report.primary_endpoints`, see synthaug.evaluation.endpoints) of every compared
method, and everything else (argmax macro F1, balanced accuracy, per-class recall, argmax accuracy),
which shows where a decision threshold moved and is secondary.

Every score is file-level on the real test split; the bootstrap resamples test groups (participants,
patients, speakers: the manifest's `group`) within class and the permutation test swaps whole groups,
because a group's recordings are not independent. The validation split only chooses the decision
threshold of "macro F1 at the validation threshold" (two classes only). `detectable_difference`
sizes the differences the test split can resolve. synthaug.evaluation.report renders them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthaug.datasets.manifest import groups_of
from synthaug.errors import DataError
from synthaug.evaluation.endpoints import DEFAULT_PRIMARY, THRESHOLD_SCORE, TITLES
from synthaug.evaluation.formatting import finite
from synthaug.evaluation.metrics import classification_metrics
from synthaug.evaluation.run_folder import file_level
from synthaug.evaluation.statistics import (
    POWER_80_FACTOR,
    bootstrap_interval,
    compare_to_baseline,
    groups_per_class,
    holm_adjust,
    share_of_gain,
    summarize,
)
from synthaug.evaluation.weighted_metrics import choose_threshold, metric_values, recall_metric

ARGMAX_SCORES = ("macro_f1", "auroc", "accuracy", "balanced_accuracy")
SCORE_TITLES = TITLES
RECALL_KEY = "recall:"  # "recall:<class name>": one class's recall (argmax decision)
# Below this many test groups in some class, a percentile bootstrap of a paired difference is both
# wide and unreliable (it under-covers with few clusters), so the report says no difference can be
# detected rather than quoting intervals as if they meant something.
MIN_TEST_GROUPS_PER_CLASS = 20


@dataclass
class MethodScores:
    """One method's file-level test results over its seeds."""

    method: str
    seeds: int
    per_seed: dict[str, list[float]]  # score -> one value per seed
    summary: dict[str, dict]  # score -> {mean, std, n}
    per_class: dict[str, dict[str, dict]]  # class -> precision/recall/f1 -> {mean, std, n}
    # score -> difference, ci_low, ci_high, p_value, p_holm, family ("primary" or "secondary")
    versus_baseline: dict[str, dict] = field(default_factory=dict)
    seed_differences: dict[str, list[float]] = field(default_factory=dict)  # score -> method - baseline, seed by seed
    primary: list[str] = field(default_factory=list)  # the primary endpoints, in the order declared
    thresholds: list[float] = field(default_factory=list)
    intervals: dict[str, dict] = field(default_factory=dict)  # score -> bootstrap_interval (value, ci_low, ci_high, …)
    test_groups: dict[str, int] = field(default_factory=dict)  # class -> test groups holding files of it
    n_test_groups: int = 0
    support: dict[str, int] = field(default_factory=dict)  # class -> test files of it


@dataclass
class _Predictions:
    y_test: np.ndarray  # [F]
    test: np.ndarray  # [S, F, C]
    test_ids: np.ndarray
    y_val: np.ndarray
    val: np.ndarray


def _load(method: str, run_dirs: Sequence[Path], class_names: list[str]) -> _Predictions:
    tests, vals = [], []
    for run_dir in run_dirs:
        tests.append(file_level(run_dir, "test", class_names))
        vals.append(file_level(run_dir, "val", class_names))
    for name, loaded in (("test", tests), ("val", vals)):
        if any(not np.array_equal(ids, loaded[0][2]) for _, _, ids in loaded):
            raise DataError(f"{method}: its seeds were evaluated on different {name} files; re-run them (dvc repro)")
    return _Predictions(tests[0][1], np.stack([t[0] for t in tests]), tests[0][2], vals[0][1], np.stack([v[0] for v in vals]))


def compare_methods(
    runs: Mapping[str, Sequence[Path]],
    class_names: list[str],
    *,
    groups: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    primary: Sequence[str] = DEFAULT_PRIMARY,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MethodScores]:
    """Scores of every method in `runs` ({method: run folders, one per seed}, seeds paired by position).

    `groups` maps each test file id (the manifest's `path`) to its group (participant, patient,
    speaker); intervals and permutation tests resample or swap whole groups. Without it every test
    file is its own group (recordings treated as independent). `primary`: the primary endpoints
    (`primary_endpoints` resolves them for the number of classes); they form the first Holm family.
    """
    if baseline not in runs:
        raise DataError(f"no {baseline!r} runs to compare with; the report needs the baseline classifier")
    loaded = {method: _load(method, dirs, class_names) for method, dirs in runs.items()}
    reference = loaded[baseline]
    binary = len(class_names) == 2
    test_groups = groups_of(reference.test_ids, groups, source="the manifest (test files)")
    per_class_groups = groups_per_class(reference.y_test, test_groups)
    group_counts = {name: per_class_groups.get(c, 0) for c, name in enumerate(class_names)}
    n_test_groups = len(np.unique(test_groups))
    support = {name: int(n) for name, n in zip(class_names, np.bincount(reference.y_test, minlength=len(class_names)))}
    resampling: dict[str, Any] = {"groups": test_groups, "n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    primary = primary_endpoints(primary, len(class_names))
    # Each class's recall (argmax), for where a moved decision went; its statistics metric by class index.
    recalls = {f"{RECALL_KEY}{name}": recall_metric(c) for c, name in enumerate(class_names)}
    argmax_scores = {**{score: score for score in ARGMAX_SCORES}, **recalls}
    thresholds = {
        m: [choose_threshold(p.y_val, p.val[s]) for s in range(len(p.val))] if binary else None for m, p in loaded.items()
    }

    def seed_scores(method: str, predictions: _Predictions) -> dict[str, list[float]]:
        values = {score: metric_values(predictions.y_test, predictions.test, m)[0].tolist() for score, m in argmax_scores.items()}
        if binary:
            values[THRESHOLD_SCORE] = metric_values(
                predictions.y_test, predictions.test, "macro_f1", thresholds=np.asarray(thresholds[method])
            )[0].tolist()
        return values

    reference_per_seed = seed_scores(baseline, reference)
    results = {}
    for method, predictions in loaded.items():
        if not np.array_equal(predictions.test_ids, reference.test_ids):
            raise DataError(f"{method} and {baseline} were tested on different files; re-run both (dvc repro)")
        per_seed = seed_scores(method, predictions)
        intervals = {
            score: bootstrap_interval(predictions.y_test, predictions.test, score, **resampling) for score in ARGMAX_SCORES
        }
        if binary:
            intervals[THRESHOLD_SCORE] = bootstrap_interval(
                predictions.y_test, predictions.test, "macro_f1", thresholds=np.asarray(thresholds[method]), **resampling
            )
        scores = MethodScores(
            method=method,
            seeds=len(predictions.test),
            per_seed=per_seed,
            summary={score: summarize(values) for score, values in per_seed.items()},
            per_class=_per_class(predictions, class_names),
            primary=list(primary),
            thresholds=thresholds[method] or [],
            intervals=intervals,
            test_groups=group_counts,
            n_test_groups=n_test_groups,
            support=support,
        )
        if method != baseline:
            if len(predictions.test) != len(reference.test):
                raise DataError(
                    f"{method} has {len(predictions.test)} seeds, {baseline} {len(reference.test)}; "
                    "paired comparisons need the same seeds"
                )
            compared = compare_to_baseline(
                reference.y_test, reference.test, predictions.test, metrics=list(argmax_scores.values()), **resampling
            )
            scores.versus_baseline = {score: compared[metric] for score, metric in argmax_scores.items()}
            if binary:
                scores.versus_baseline[THRESHOLD_SCORE] = compare_to_baseline(
                    reference.y_test,
                    reference.test,
                    predictions.test,
                    metrics=("macro_f1",),
                    thresholds_baseline=np.asarray(thresholds[baseline]),
                    thresholds_method=np.asarray(thresholds[method]),
                    **resampling,
                )["macro_f1"]
            scores.seed_differences = {
                score: [b - a for a, b in zip(reference_per_seed[score], values, strict=True)]
                for score, values in per_seed.items()
            }
        results[method] = scores
    adjust_p_values(results, primary)
    return results


def ceiling_shares(
    runs: Mapping[str, Sequence[Path]],
    class_names: list[str],
    *,
    ceiling: str,
    scores: Sequence[str] = ("auroc",),
    groups: Mapping[str, str] | None = None,
    baseline: str = "baseline",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, dict]]:
    """{method: {score: share_of_gain}} for every method but the baseline and the ceiling: its gain
    over the baseline as a share of the ceiling's gain (more real data), with a paired bootstrap
    interval over test groups and seeds. Threshold-free argmax scores only (AUROC by default)."""
    if ceiling not in runs or baseline not in runs:
        return {}
    loaded = {method: _load(method, dirs, class_names) for method, dirs in runs.items()}
    reference, top = loaded[baseline], loaded[ceiling]
    test_groups = groups_of(reference.test_ids, groups, source="the manifest (test files)")
    return {
        method: {
            score: share_of_gain(
                reference.y_test,
                reference.test,
                predictions.test,
                top.test,
                score,
                groups=test_groups,
                n_resamples=n_resamples,
                confidence=confidence,
                seed=seed,
            )
            for score in scores
        }
        for method, predictions in loaded.items()
        if method not in (baseline, ceiling)
    }


def primary_endpoints(declared: Sequence[str], n_classes: int) -> list[str]:
    """The declared primary endpoints for `n_classes`: macro F1 at the validation threshold needs two
    classes, so with more it becomes the argmax macro F1 (the report says so)."""
    resolved = ["macro_f1" if e == THRESHOLD_SCORE and n_classes != 2 else e for e in declared]
    return list(dict.fromkeys(resolved))


def adjust_p_values(results: Mapping[str, MethodScores], primary: Sequence[str] = DEFAULT_PRIMARY) -> dict[str, int]:
    """Add "p_holm" and "family" beside every "p_value" of `results`; returns {family: its size}.

    Two Holm–Bonferroni families: "primary" holds every method's comparisons on the `primary`
    endpoints, "secondary" every other score tested (also those a table does not show), because each
    was tested and could have been the one quoted. NaN p-values (AUROC undefined) are left out of the
    family and stay NaN.
    """
    sizes = {}
    for family in ("primary", "secondary"):
        comparisons = [
            c for r in results.values() for score, c in r.versus_baseline.items() if (score in primary) == (family == "primary")
        ]
        for comparison, adjusted in zip(comparisons, holm_adjust([c["p_value"] for c in comparisons]), strict=True):
            comparison["p_holm"], comparison["family"] = adjusted, family
        sizes[family] = sum(1 for c in comparisons if finite(c["p_value"]))
    return sizes


def holm_family(results: Mapping[str, MethodScores], family: str = "primary") -> tuple[int, int, list[str]]:
    """(methods compared with the baseline, comparisons adjusted together, scores) of one family of a table."""
    compared = [r for r in results.values() if r.versus_baseline]
    chosen = [(s, c) for r in compared for s, c in r.versus_baseline.items() if c.get("family", "primary") == family]
    scores = list(dict.fromkeys(s for s, _ in chosen))
    n = sum(1 for _, c in chosen if finite(c.get("p_value")))
    return len(compared), n, scores


def _per_class(predictions: _Predictions, class_names: list[str]) -> dict[str, dict[str, dict]]:
    seeds = [classification_metrics(predictions.y_test, proba, class_names)["per_class"] for proba in predictions.test]
    return {name: {k: summarize([s[name][k] for s in seeds]) for k in ("precision", "recall", "f1")} for name in class_names}


def detectable_difference(results: Mapping[str, MethodScores], scores: Sequence[str] | None = None) -> dict[str, float]:
    """{score: median over compared methods of the half-width of the paired difference's interval}; NaN without comparisons.

    A true difference much smaller than this half-width cannot be told from the noise of the test
    split and the seeds: it is the resolution of the comparison, not a property of any one method.
    A difference of exactly this size reaches significance only about half the time; at 80 % power
    it must be `POWER_80_FACTOR` (1.43) times larger (`detectable_at_80_power`). `scores`: default
    the primary endpoints.
    """
    scores = primary_of(results) if scores is None else scores
    out = {}
    for score in scores:
        half_widths = [
            (v["ci_high"] - v["ci_low"]) / 2
            for r in results.values()
            if (v := r.versus_baseline.get(score)) and finite(v["ci_low"]) and finite(v["ci_high"])
        ]
        out[score] = float(np.median(half_widths)) if half_widths else math.nan
    return out


def detectable_at_80_power(results: Mapping[str, MethodScores], scores: Sequence[str] | None = None) -> dict[str, float]:
    """{score: the paired difference the test split detects at the 5 % level with 80 % power} (normal approximation)."""
    return {score: value * POWER_80_FACTOR for score, value in detectable_difference(results, scores).items()}


def primary_of(results: Mapping[str, MethodScores]) -> list[str]:
    """The primary endpoints the results were computed for."""
    reference = next(iter(results.values()), None)
    return list(reference.primary) if reference is not None and reference.primary else list(DEFAULT_PRIMARY)


def has_resolution(results: Mapping[str, MethodScores]) -> bool:
    """Whether the test split has enough groups in every class for the bootstrap's intervals to mean something."""
    counts = next(iter(results.values())).test_groups
    return bool(counts) and min(counts.values()) >= MIN_TEST_GROUPS_PER_CLASS
