"""Where the medical scarcity sweep writes and what its arms are called: shared by the stage that
writes the points (synthaug.stages.minority_scarcity) and the report that reads them
(synthaug.evaluation.minority_sweep), so neither imports the other's dependencies."""

from __future__ import annotations

# Also the main pipeline's names of the baseline and the train_classic stage's method.
BASELINE, CLASSIC, CEILING = "baseline", "classic_augmentation", "real_ceiling"


def point_name(fraction: float, trial: int) -> str:
    """A point's folder name, as dvc.yaml spells it: f<fraction>-t<trial> (f0.1-t0, f1.0-t2)."""
    return f"f{float(fraction)}-t{trial}"
