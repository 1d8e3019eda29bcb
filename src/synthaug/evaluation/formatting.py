"""How methods, seed summaries and differences are written wherever they are shown: reports, stage
output, MLflow runs.

A module of its own, with no dependency beyond the standard library, so that the training stages
which name their runs do not depend on the report's statistics (and re-run when those change).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

# The medical protocol trains generators on the minority class only: on two classes the
# "conditional" GAN then sees one class, its auxiliary classifier has nothing to tell apart, and it
# is an unconditional progressive GAN. Tables and MLflow runs say so instead of calling it
# class-conditional.
UNCONDITIONAL_CGAN_LABEL = "cgan (progressive GAN, unconditional: one class)"


def method_label(method: str, learned_classes: int) -> str:
    """The name a method goes by in reports and MLflow: the method itself, except a cgan that learns
    one class (`learned_classes`: how many classes the generators learn, see synthaug.class_plan)."""
    if method == "classic_augmentation":
        return "classic augmentation"
    return UNCONDITIONAL_CGAN_LABEL if method == "cgan" and learned_classes == 1 else method


def mean_std(stats: Mapping[str, float]) -> str:
    """'0.745 ± 0.012' over several values; '0.745' alone for one (its std of 0 measures nothing)."""
    if stats.get("n", 0) == 0 or stats["mean"] is None or math.isnan(stats["mean"]):
        return "n/a"
    if stats["n"] == 1:
        return f"{stats['mean']:.3f}"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def spread_words(n: int, unit: str) -> str:
    """How a table's 'mean ± std' reads for `n` seeds or trials: '3 seeds: mean ± sample std', '1 seed, no std'."""
    return f"1 {unit}, no std" if n == 1 else f"{n} {unit}s: mean ± sample std"


def mean_std_interval(stats: Mapping[str, float], interval: Mapping[str, float] | None) -> str:
    """'0.745 ± 0.012 [0.70, 0.79]': mean ± std over seeds (the mean alone for one seed) and the
    bootstrap interval of the seed mean."""
    text = mean_std(stats)
    if text == "n/a" or not interval or not finite(interval.get("ci_low")) or not finite(interval.get("ci_high")):
        return text
    return f"{text} [{interval['ci_low']:.2f}, {interval['ci_high']:.2f}]"


def finite(value) -> bool:
    """A number that is neither None, NaN nor infinite."""
    return value is not None and math.isfinite(value)


def difference(comparison: Mapping[str, float] | None) -> str:
    """'+0.012 [−0.050, +0.071], p = 0.03, Holm 0.18' (or '' for the baseline itself).

    p is the raw permutation-test p-value, Holm the Holm–Bonferroni adjusted one (see `adjust_p_values`).
    """
    if not comparison:
        return ""
    if comparison["difference"] is None or math.isnan(comparison["difference"]):
        return "n/a"
    text = interval_text(comparison) + f", p = {comparison['p_value']:.3g}"
    return text + (f", Holm {comparison['p_holm']:.3g}" if finite(comparison.get("p_holm")) else "")


def interval_text(comparison: Mapping[str, float] | None) -> str:
    """'+0.012 [−0.050, +0.071]': a paired difference and its interval ('' for the baseline itself)."""
    if not comparison:
        return ""
    if comparison["difference"] is None or math.isnan(comparison["difference"]):
        return "n/a"
    return f"{comparison['difference']:+.3f} [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]"


def seed_differences_text(values: Sequence[float] | None) -> str:
    """'+0.012, −0.004, +0.031': the paired difference of each seed (seed s of the method minus seed s of the baseline)."""
    if not values:
        return ""
    return ", ".join("n/a" if not finite(v) else f"{v:+.3f}" for v in values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def number_text(value, spec: str) -> str:
    """A metric for a table; 'n/a' where it could not be computed (null in JSON, NaN), e.g. for tiny classes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


# The level at which a Holm-adjusted difference counts as detected in the report's verdicts.
VERDICT_ALPHA = 0.05


def verdict(comparison: Mapping[str, float] | None, alpha: float = VERDICT_ALPHA) -> str:
    """'helps', 'hurts' or 'no detectable effect': a paired difference read at its Holm-adjusted p-value."""
    if not comparison or not finite(comparison.get("difference")):
        return "not measurable"
    p_value = comparison.get("p_holm", comparison.get("p_value"))
    if p_value is not None and finite(p_value) and p_value < alpha:
        return "helps" if comparison["difference"] > 0 else "hurts"
    return "no detectable effect"


def share_text(share: Mapping[str, float] | None) -> str:
    """'captures 40 % [10 %, 70 %] of the ceiling's gain', or why no share is quoted.

    A share of a gain that may be zero or negative reads as nonsense (120 % of a loss), so it is
    quoted only when the ceiling's own gain is resolved (its interval above 0).
    """
    if not share or not finite(share.get("ceiling_gain")):
        return ""
    if not (finite(share.get("ceiling_ci_low")) and share["ceiling_ci_low"] > 0):
        return "no share of the ceiling: more real data itself gains nothing resolvable here"
    return f"captures {share['share']:.0%} [{share['ci_low']:.0%}, {share['ci_high']:.0%}] of the ceiling's gain"


def share_cell(share: Mapping[str, float] | None) -> str:
    """A table cell for a share of the ceiling: "40 % [10 %, 70 %]", "ceiling gain not resolved" or ""."""
    text = share_text(share)
    if text.startswith("captures "):
        return text.removeprefix("captures ").removesuffix(" of the ceiling's gain")
    return "ceiling gain not resolved" if text else ""


def verdict_sentence(
    label: str,
    comparisons: Mapping[str, Mapping[str, float]],
    titles: Mapping[str, str],
    resolution: Mapping[str, float] | None = None,
    share: Mapping[str, float] | None = None,
) -> str:
    """One sentence reading a method's primary endpoints: its overall verdict, then each endpoint's
    difference [interval] and Holm p, the resolution where known, and its share of the ceiling.

    Overall: "helps" when some endpoint is significantly better and none worse, "hurts" the
    reverse, "mixed" for both, otherwise "no detectable effect at this resolution".
    """
    words = {score: verdict(c) for score, c in comparisons.items()}
    found = set(words.values())
    if "helps" in found and "hurts" in found:
        overall = "mixed: better on one primary endpoint, worse on another"
    elif "helps" in found:
        overall = "helps"
    elif "hurts" in found:
        overall = "hurts"
    else:
        overall = "no detectable effect at this resolution"
    parts = []
    for score, comparison in comparisons.items():
        holm = comparison.get("p_holm")
        detail = interval_text(comparison) + (f", Holm p {holm:.2g}" if finite(holm) else "")
        if resolution and finite(resolution.get(score)):
            detail += f", resolution ±{resolution[score]:.3f}"
        parts.append(f"{titles.get(score, score)} {detail}")
    captured = share_text(share)
    return f"**{label}**: {overall} ({'; '.join(parts)}){'; ' + captured if captured else ''}."
