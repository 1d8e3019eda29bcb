"""The report's verdicts: one sentence per method against the baseline, and each generator against
the cheap bar (classic augmentation), paired, read from the differences, Holm p-values and resolution."""

from __future__ import annotations

from collections.abc import Mapping

from synthaug.evaluation.comparison import MethodScores, detectable_difference, has_resolution
from synthaug.evaluation.endpoints import TITLES
from synthaug.evaluation.formatting import markdown_table, verdict, verdict_sentence


def verdict_lines(methods: Mapping[str, MethodScores], labels: Mapping[str, str]) -> list[str]:
    """One sentence per compared method reading its primary endpoints (formatting.verdict_sentence)."""
    resolution = detectable_difference(methods) if has_resolution(methods) else None
    return [
        "- " + verdict_sentence(labels.get(m, m), _primary(r), TITLES, resolution)
        for m, r in methods.items()
        if r.versus_baseline
    ]


def render_against_classic(scores: Mapping[str, MethodScores], labels: Mapping[str, str]) -> list[str]:
    """The section comparing each generator's classifier with classic augmentation's ({} renders nothing).

    `scores` come from compare_methods with the classic method as the baseline, so its Holm family
    holds these comparisons alone.
    """
    compared = {m: r for m, r in scores.items() if r.versus_baseline}
    if not compared:
        return []
    primary = next(iter(compared.values())).primary
    rows = [[labels.get(m, m), *(_cell(r.versus_baseline.get(s)) for s in primary), _overall(r)] for m, r in compared.items()]
    return [
        "## Against classic augmentation (paired)",
        "",
        "What a user would try before any generator: the real data alone with classic augmentation "
        "(`train_classifier.classic_augmentation`). Each generator's classifier minus that one, seed by seed, with "
        "intervals over test groups and seeds; Holm-adjusted within this table.",
        "",
        markdown_table(["Method", *(f"Δ {TITLES.get(s, s)} [CI], Holm p" for s in primary), "Reading"], rows),
        "",
    ]


def _primary(result: MethodScores) -> dict[str, dict]:
    return {s: result.versus_baseline[s] for s in result.primary if s in result.versus_baseline}


def _cell(comparison: Mapping | None) -> str:
    if not comparison:
        return ""
    holm = comparison.get("p_holm")
    return f"{comparison['difference']:+.3f} [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]" + (
        f", {holm:.2g}" if holm is not None else ""
    )


def _overall(result: MethodScores) -> str:
    words = {verdict(c) for c in _primary(result).values()}
    if words == {"no detectable effect"} or not words - {"no detectable effect", "not measurable"}:
        return "no detectable difference"
    if "helps" in words and "hurts" in words:
        return "mixed"
    return "better than classic augmentation" if "helps" in words else "worse than classic augmentation"
