"""The results report: each method's scores over seeds and its paired comparison with the baseline.

`compare_methods` turns the run folders of each method (one per seed or trial, see
synthaug.classifier_runs) into per-seed scores, mean ± std, per-class results and, for every
method but the baseline, the paired difference to the baseline with a bootstrap confidence
interval and a permutation-test p-value (synthaug.evaluation.statistics). Every score is
file-level on the real test split; the validation split only chooses the decision threshold of
"macro F1 at the validation threshold" (two classes only). `markdown_*` render the tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthaug.classifier_runs import file_level
from synthaug.errors import DataError
from synthaug.evaluation.metrics import classification_metrics
from synthaug.evaluation.statistics import choose_threshold, compare_to_baseline, metric_values, summarize

ARGMAX_SCORES = ("macro_f1", "auroc", "accuracy")
THRESHOLD_SCORE = "macro_f1_val_threshold"
SCORE_TITLES = {"macro_f1": "Macro F1", THRESHOLD_SCORE: "Macro F1 (val. threshold)", "auroc": "AUROC", "accuracy": "Accuracy"}


@dataclass
class MethodScores:
    """One method's file-level test results over its seeds."""

    method: str
    seeds: int
    per_seed: dict[str, list[float]]  # score -> one value per seed
    summary: dict[str, dict]  # score -> {mean, std, n}
    per_class: dict[str, dict[str, dict]]  # class -> precision/recall/f1 -> {mean, std, n}
    versus_baseline: dict[str, dict] = field(default_factory=dict)  # score -> difference, ci_low, ci_high, p_value
    thresholds: list[float] = field(default_factory=list)


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
    baseline: str = "baseline",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MethodScores]:
    """Scores of every method in `runs` ({method: run folders, one per seed}, seeds paired by position)."""
    if baseline not in runs:
        raise DataError(f"no {baseline!r} runs to compare with; the report needs the baseline classifier")
    loaded = {method: _load(method, dirs, class_names) for method, dirs in runs.items()}
    reference = loaded[baseline]
    binary = len(class_names) == 2
    thresholds = {m: [choose_threshold(p.y_val, p.val[s]) for s in range(len(p.val))] if binary else None for m, p in loaded.items()}
    results = {}
    for method, predictions in loaded.items():
        if not np.array_equal(predictions.test_ids, reference.test_ids):
            raise DataError(f"{method} and {baseline} were tested on different files; re-run both (dvc repro)")
        per_seed = {score: metric_values(predictions.y_test, predictions.test, score)[0].tolist() for score in ARGMAX_SCORES}
        if binary:
            per_seed[THRESHOLD_SCORE] = metric_values(predictions.y_test, predictions.test, "macro_f1",
                                                      thresholds=np.asarray(thresholds[method]))[0].tolist()
        scores = MethodScores(
            method=method, seeds=len(predictions.test), per_seed=per_seed,
            summary={score: summarize(values) for score, values in per_seed.items()},
            per_class=_per_class(predictions, class_names), thresholds=thresholds[method] or [],
        )
        if method != baseline:
            if len(predictions.test) != len(reference.test):
                raise DataError(f"{method} has {len(predictions.test)} seeds, {baseline} {len(reference.test)}; "
                                "paired comparisons need the same seeds")
            common = {"n_resamples": n_resamples, "seed": seed}
            scores.versus_baseline = compare_to_baseline(reference.y_test, reference.test, predictions.test,
                                                         metrics=ARGMAX_SCORES, confidence=confidence, **common)
            if binary:
                scores.versus_baseline[THRESHOLD_SCORE] = compare_to_baseline(
                    reference.y_test, reference.test, predictions.test, metrics=("macro_f1",), confidence=confidence,
                    thresholds_baseline=np.asarray(thresholds[baseline]), thresholds_method=np.asarray(thresholds[method]),
                    **common)["macro_f1"]
        results[method] = scores
    return results


def _per_class(predictions: _Predictions, class_names: list[str]) -> dict[str, dict[str, dict]]:
    seeds = [classification_metrics(predictions.y_test, proba, class_names)["per_class"] for proba in predictions.test]
    return {name: {k: summarize([s[name][k] for s in seeds]) for k in ("precision", "recall", "f1")} for name in class_names}


def mean_std(stats: Mapping[str, float]) -> str:
    if stats.get("n", 0) == 0 or stats["mean"] is None or math.isnan(stats["mean"]):
        return "n/a"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def difference(comparison: Mapping[str, float] | None) -> str:
    """'+0.012 [−0.050, +0.071], p = 0.62' (or '' for the baseline itself)."""
    if not comparison:
        return ""
    if comparison["difference"] is None or math.isnan(comparison["difference"]):
        return "n/a"
    return (f"{comparison['difference']:+.3f} [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}], "
            f"p = {comparison['p_value']:.3g}")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_methods(results: Mapping[str, MethodScores], *, versus: Sequence[str] = ("macro_f1", "auroc")) -> str:
    """The published-style table: each score as mean ± std, then differences to the baseline with CIs."""
    scores = [s for s in SCORE_TITLES if any(s in r.summary for r in results.values())]
    header = ["Method", "Seeds", *(SCORE_TITLES[s] for s in scores), *(f"Δ {SCORE_TITLES[s]} vs baseline [CI], p" for s in versus)]
    rows = [[name, str(r.seeds), *(mean_std(r.summary[s]) if s in r.summary else "n/a" for s in scores),
             *(difference(r.versus_baseline.get(s)) for s in versus)] for name, r in results.items()]
    return markdown_table(header, rows)


def markdown_per_class(results: Mapping[str, MethodScores]) -> str:
    class_names = list(next(iter(results.values())).per_class)
    header = ["Method", *(f"{name}: {k}" for name in class_names for k in ("precision", "recall", "F1"))]
    rows = [[method, *(mean_std(r.per_class[name][k]) for name in class_names for k in ("precision", "recall", "f1"))]
            for method, r in results.items()]
    return markdown_table(header, rows)
