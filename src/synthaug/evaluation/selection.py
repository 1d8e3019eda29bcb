"""Checkpoints chosen by fidelity: which validation rows choose, how a snapshot is scored, which one wins.

A generator's last step is not always its best: small sets are memorised when training runs on, and a
GAN's samples drift. When `train_generator.fidelity_snapshots` is above 1, training keeps that many
snapshots and the one closest to real data is served. Choosing on the data the audit then reports
would flatter the chosen snapshot (a maximum over noisy scores is biased upwards), so validation is
split once, by group, into two halves:

- the *selection* half chooses the snapshot (`selection_half`);
- the *reporting* half is all the audit scores while any generator chooses this way, for every
  generator and the real reference alike, so their rows stay comparable.

A snapshot's score is the audit's own (`fidelity.audit_class`, the same repeats, splits and metrics) in
the views that need no trained classifier: the random projection of the log-mel and the per-band
statistics. Its figure of merit is the strongest two-sample AUROC over tests and views against the
selection half, averaged over the classes the model learns;
a snapshot that copies training data more often than fresh real recordings do (its memorization rate
above the reference row's, in any class) is refused, since a copy scores well against held-out data
while adding nothing. Among the rest the lowest AUROC wins, the earliest step on ties.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from synthaug.evaluation.fidelity import REFERENCE, audit_class, strongest_two_sample

# Seeds the split of validation groups into selection and reporting halves beside the audit's seed,
# so the halves do not coincide with the audit's own comparison/reference splits.
HALVES_STREAM = 0x5E1EC7


def selection_half(groups: np.ndarray, *, seed: int) -> np.ndarray:
    """A boolean mask of the rows in the selection half: half the groups (rounded up), drawn with `seed`.

    Whole groups land on one side (every clip of a participant is in one half). The complement is the
    reporting half.
    """
    groups = np.asarray(groups).astype(str)
    unique = np.unique(groups)
    chosen = np.random.default_rng([int(seed), HALVES_STREAM]).permutation(unique)[: (len(unique) + 1) // 2]
    return np.isin(groups, chosen)


def snapshot_scores(
    train: Mapping[str, np.ndarray],
    selection: Mapping[str, np.ndarray],
    selection_groups: np.ndarray,
    snapshots: Mapping[int, Mapping[str, np.ndarray]],
    *,
    repeats: int,
    k: int,
    quantile: float,
    copy_distance_ratio: float,
    seed: int,
    train_groups: np.ndarray | None = None,
) -> dict[int, dict[str, float | str]]:
    """{step: {two_sample_auroc, view, reference_two_sample_auroc, memorization_rate,
    reference_memorization_rate}} of each snapshot's samples of one class.

    Every argument holding data is {view: embeddings} (the snapshots: {step: {view: embeddings}}); each
    view is audited as the audit does (`audit_class`, the selection half's own reference row beside).
    As in the audit, the figure of merit is the strongest two-sample AUROC over tests and views; the copy
    rate quoted is that of the view where it exceeds the reference's most, so a snapshot that copies in
    any view is refused.
    """
    per_view = {
        view: audit_class(
            train[view],
            selection[view],
            selection_groups,
            {f"step {step}": samples[view] for step, samples in snapshots.items()},
            repeats=repeats,
            k=k,
            quantile=quantile,
            copy_distance_ratio=copy_distance_ratio,
            seed=seed,
            train_groups=train_groups,
            against_train=False,
        )
        for view in selection
    }
    scores: dict[int, dict[str, float | str]] = {}
    for step in snapshots:
        rows = {view: audit[f"step {step}"] for view, audit in per_view.items()}
        references = {view: audit[REFERENCE] for view, audit in per_view.items()}
        strongest = strongest_two_sample(rows)
        excess = {view: rows[view]["memorization_rate"] - references[view]["memorization_rate"] for view in rows}
        measured = [view for view in rows if not math.isnan(excess[view])]
        copy_view = max(measured, key=excess.__getitem__) if measured else next(iter(rows))
        scores[step] = {
            "two_sample_auroc": strongest["auroc"],
            "view": strongest["view"],
            "reference_two_sample_auroc": strongest_two_sample(references)["auroc"],
            "memorization_rate": rows[copy_view]["memorization_rate"],
            "reference_memorization_rate": references[copy_view]["memorization_rate"],
        }
    return scores


def admissible(score: Mapping[str, Any]) -> bool:
    """False when the snapshot copies training data more often than fresh real recordings do."""
    rate, reference = score["memorization_rate"], score["reference_memorization_rate"]
    return math.isnan(rate) or math.isnan(reference) or rate <= reference


def choose_snapshot(by_class: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> tuple[int | None, dict[int, dict]]:
    """(chosen step or None, {step: summary}) from {class: snapshot_scores(...)} of one model.

    A step's summary holds the mean strongest two-sample AUROC over the classes and whether every class
    admits it. None when no step is admissible (every snapshot copies more than real data does): the
    caller keeps the last step and says so.
    """
    steps = sorted({step for scores in by_class.values() for step in scores})
    summary = {}
    for step in steps:
        aurocs = [scores[step]["two_sample_auroc"] for scores in by_class.values() if step in scores]
        finite = [a for a in aurocs if not math.isnan(a)]
        summary[step] = {
            "two_sample_auroc": float(np.mean(finite)) if finite else math.nan,
            "admissible": all(admissible(scores[step]) for scores in by_class.values() if step in scores),
        }
    candidates = [s for s in steps if summary[s]["admissible"]]
    if not candidates:
        return None, summary
    # NaN (too little data to test) ranks last; ties go to the earliest step.
    chosen = min(candidates, key=lambda s: (_rank(summary[s]["two_sample_auroc"]), s))
    return chosen, summary


def _rank(value: float) -> float:
    return math.inf if math.isnan(value) else value


def snapshot_steps(total_steps: int, count: int) -> list[int]:
    """`count` steps evenly spaced over a budget, the last one the budget itself (at least step 1)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return sorted({max(1, round(total_steps * (i + 1) / count)) for i in range(count)})
