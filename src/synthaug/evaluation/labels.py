"""How methods and seed summaries are named wherever they are shown: reports, stage output, MLflow runs.

A module of its own, with no dependency beyond the standard library, so that the training stages
which name their runs do not depend on the report's statistics (and re-run when those change).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# The medical protocol trains generators on the minority class only: on two classes the
# "conditional" GAN then sees one class, its auxiliary classifier has nothing to tell apart, and it
# is an unconditional progressive GAN. Tables and MLflow runs say so instead of calling it
# class-conditional.
UNCONDITIONAL_CGAN_LABEL = "cgan (progressive GAN, unconditional: one class)"


def method_label(method: str, learned_classes: int) -> str:
    """The name a method goes by in reports and MLflow: the method itself, except a cgan that learns
    one class (`learned_classes`: how many classes the generators learn, see synthaug.class_plan)."""
    return UNCONDITIONAL_CGAN_LABEL if method == "cgan" and learned_classes == 1 else method


def mean_std(stats: Mapping[str, float]) -> str:
    """'0.745 ± 0.012' over several values; '0.745' alone for one (its std of 0 measures nothing)."""
    if stats.get("n", 0) == 0 or stats["mean"] is None or math.isnan(stats["mean"]):
        return "n/a"
    if stats["n"] == 1:
        return f"{stats['mean']:.3f}"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
