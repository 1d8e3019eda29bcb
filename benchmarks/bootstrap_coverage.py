"""Coverage of the paired bootstrap and size of the permutation test when recordings share a participant.

Simulates many test sets of a binary task in which every participant (group) contributes 2 or 3
recordings, and two classifiers A and B whose scores share a participant effect (some people are
easy to classify for both) and each carry their own per-participant error (a method that misjudges
a participant misjudges all of that person's recordings). A and B are built the same way, so their
population AUROCs and macro F1s are equal: the true difference is exactly zero. For every data set
it computes the paired bootstrap interval of B − A twice, resampling participants within class
(the report's analysis) and resampling recordings within class (the analysis that ignores groups),
and counts how often each interval covers zero; with `--permutations` it also counts how often
the paired permutation test rejects at 5 % when it swaps whole participants and when it swaps
single recordings.

    python benchmarks/bootstrap_coverage.py                      # 1000 data sets, 1000 resamples
    python benchmarks/bootstrap_coverage.py --datasets 200 --resamples 300 --permutations 200

See benchmarks/README.md for measured figures. tests/evaluation/test_statistics.py runs the same
design at a smaller size and asserts the coverage.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from synthaug.evaluation.statistics import paired_bootstrap, paired_permutation_test  # noqa: E402

# The design: class shift of the score, shared participant effect, per-participant error of each
# method, per-recording noise shared by both methods, and a little per-recording noise of each.
CLASS_SHIFT = 1.0
PARTICIPANT_SD = 0.8
METHOD_PARTICIPANT_SD = 1.0
RECORDING_SD = 0.5
METHOD_RECORDING_SD = 0.1


def simulate_grouped_scores(
    rng: np.random.Generator, groups_per_class: int = 40, recordings: tuple[int, ...] = (2, 3)
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y [F], groups [F], proba_a [1, F, 2], proba_b [1, F, 2]) of one simulated test set; true B − A = 0."""
    n_groups = 2 * groups_per_class
    group_class = np.repeat([0, 1], groups_per_class)
    per_group = rng.choice(recordings, size=n_groups)
    groups = np.repeat(np.arange(n_groups), per_group)
    y = group_class[groups]
    shared = CLASS_SHIFT * y + rng.normal(0, PARTICIPANT_SD, n_groups)[groups] + rng.normal(0, RECORDING_SD, len(y))

    def method_proba() -> np.ndarray:
        score = shared + rng.normal(0, METHOD_PARTICIPANT_SD, n_groups)[groups] + rng.normal(0, METHOD_RECORDING_SD, len(y))
        p_positive = 1 / (1 + np.exp(-(score - CLASS_SHIFT / 2)))
        return np.stack([1 - p_positive, p_positive], axis=1)[None]

    return y, groups, method_proba(), method_proba()


def coverage(
    n_datasets: int, n_resamples: int, metric: str = "auroc", seed: int = 0, groups_per_class: int = 40
) -> dict[str, float]:
    """Share of simulated data sets whose 95 % interval of B − A covers the true 0, grouped and by recording."""
    rng = np.random.default_rng(seed)
    covered = {"grouped": 0, "recording": 0}
    widths = {"grouped": [], "recording": []}
    for i in range(n_datasets):
        y, groups, proba_a, proba_b = simulate_grouped_scores(rng, groups_per_class)
        for name, unit in (("grouped", groups), ("recording", None)):
            result = paired_bootstrap(y, proba_a, proba_b, metric, groups=unit, n_resamples=n_resamples, seed=i)
            covered[name] += result["ci_low"] <= 0 <= result["ci_high"]
            widths[name].append(result["ci_high"] - result["ci_low"])
    return {
        **{f"{k}_coverage": v / n_datasets for k, v in covered.items()},
        **{f"{k}_half_width": float(np.median(w)) / 2 for k, w in widths.items()},
    }


def rejection_rate(
    n_datasets: int, n_permutations: int, metric: str = "auroc", seed: int = 0, groups_per_class: int = 40
) -> dict[str, float]:
    """Share of simulated data sets (no true difference) where the permutation test gives p < 0.05."""
    rng = np.random.default_rng(seed)
    rejected = {"grouped": 0, "recording": 0}
    for i in range(n_datasets):
        y, groups, proba_a, proba_b = simulate_grouped_scores(rng, groups_per_class)
        for name, unit in (("grouped", groups), ("recording", None)):
            p = paired_permutation_test(y, proba_a, proba_b, metric, groups=unit, n_permutations=n_permutations, seed=i)
            rejected[name] += p < 0.05
    return {f"{k}_rejection_rate": v / n_datasets for k, v in rejected.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=1000, help="simulated test sets (default 1000)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval (default 1000)")
    parser.add_argument("--permutations", type=int, default=0, help="permutations per test; 0 skips the test (default)")
    parser.add_argument("--groups-per-class", type=int, default=40, help="participants per class (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"{args.groups_per_class} participants per class, 2-3 recordings each, true difference 0; "
        f"{args.datasets} data sets, {args.resamples} resamples"
    )
    for metric in ("auroc", "macro_f1"):
        start = time.perf_counter()
        result = coverage(args.datasets, args.resamples, metric, args.seed, args.groups_per_class)
        print(
            f"{metric:>9}: 95 % interval covers the truth {result['grouped_coverage']:.1%} resampling participants, "
            f"{result['recording_coverage']:.1%} resampling recordings; median half-width "
            f"{result['grouped_half_width']:.3f} vs {result['recording_half_width']:.3f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
    if args.permutations:
        for metric in ("auroc", "macro_f1"):
            result = rejection_rate(args.datasets, args.permutations, metric, args.seed, args.groups_per_class)
            print(
                f"{metric:>9}: permutation test rejects a true null at 5 % in {result['grouped_rejection_rate']:.1%} "
                f"of data sets swapping participants, {result['recording_rejection_rate']:.1%} swapping recordings"
            )


if __name__ == "__main__":
    main()
