"""The medical scarcity sweep in the report: each arm against the baseline per minority share, the
generators' share of the ceiling's gain, and one verdict sentence per arm and share.

Point folders are SWEEP/f<fraction>-t<trial>/<arm>/ (written by `synthaug minority_scarcity`); trials
pair arms as seeds pair methods elsewhere (same subset, same seed). The ceiling arm exists only where
the subset left enough minority recordings out, so each share compares the arms present in all of
its trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthaug.evaluation.comparison import MethodScores, ceiling_shares, compare_methods, detectable_difference
from synthaug.evaluation.endpoints import TITLES
from synthaug.evaluation.formatting import markdown_table, mean_std, share_cell, spread_words, verdict_sentence
from synthaug.sweep_layout import BASELINE, CEILING, CLASSIC, point_name

LABELS = {BASELINE: "baseline", CLASSIC: "+ classic augmentation", CEILING: "+ real (ceiling)"}


def arm_label(arm: str) -> str:
    return LABELS.get(arm, f"+ {arm}")


@dataclass
class SweepLevel:
    """One minority share: every arm's scores over the trials, and the generators' share of the ceiling."""

    fraction: float
    scores: dict[str, MethodScores]
    shares: dict[str, dict[str, dict]] = field(default_factory=dict)  # arm -> score -> share_of_gain


def sweep_runs(folder: Path, fractions: Sequence[float], trials: Sequence[int]) -> dict[float, dict[str, list[Path]]]:
    """{fraction: {arm: one run folder per trial}} for the arms every trial of that fraction has, baseline first."""
    out = {}
    for fraction in fractions:
        points = [folder / point_name(fraction, t) for t in trials]
        arms = [a.name for a in sorted(points[0].iterdir()) if a.is_dir()] if points[0].is_dir() else []
        common = [a for a in arms if all((p / a).is_dir() for p in points)]
        ordered = [a for a in (BASELINE, CLASSIC) if a in common] + [a for a in common if a not in (BASELINE, CLASSIC, CEILING)]
        ordered += [CEILING] if CEILING in common else []
        if BASELINE in ordered:
            out[fraction] = {a: [p / a for p in points] for a in ordered}
    return out


def compare_sweep(
    runs: Mapping[float, Mapping[str, Sequence[Path]]],
    class_names: list[str],
    *,
    groups: Mapping[str, str] | None,
    primary: Sequence[str],
    statistics: Mapping,
) -> list[SweepLevel]:
    """Each share's arms against its baseline (Holm within the share), and every arm's share of the ceiling's AUROC gain."""
    levels = []
    for fraction, arms in runs.items():
        scores = compare_methods(arms, class_names, groups=groups, primary=primary, **statistics)
        shares = ceiling_shares(arms, class_names, ceiling=CEILING, groups=groups, **statistics) if CEILING in arms else {}
        levels.append(SweepLevel(fraction, scores, shares))
    return levels


def sweep_frame(levels: Sequence[SweepLevel], score: str = "auroc") -> pd.DataFrame:
    """One row per share and arm: the score's mean and std over trials, its difference to the baseline with the interval."""
    rows = []
    for level in levels:
        for arm, result in level.scores.items():
            versus = result.versus_baseline.get(score, {})
            rows.append(
                {
                    "fraction": level.fraction,
                    "arm": arm_label(arm),
                    f"{score}_mean": result.summary[score]["mean"],
                    f"{score}_std": result.summary[score]["std"],
                    "difference": versus.get("difference", 0.0),
                    "ci_low": versus.get("ci_low", 0.0),
                    "ci_high": versus.get("ci_high", 0.0),
                    "p_holm": versus.get("p_holm"),
                }
            )
    return pd.DataFrame(rows)


def render_sweep(levels: Sequence[SweepLevel], trials: int, minority: str) -> list[str]:
    """The report's section: a table per share, then one verdict sentence per arm and share."""
    lines = [
        "",
        "## Minority scarcity (medical protocol)",
        "",
        f"The majority class whole, a share of the minority class's ({minority}) training groups kept; each trial "
        f"draws its own subset and seeds its models ({spread_words(trials, 'trial')}). The ceiling adds as many real "
        "minority recordings, from the groups the subset left out, as a generator adds synthetic ones. Differences "
        "are paired by trial with intervals over test groups and trials; Holm-adjusted within each share.",
        "",
        "![AUROC gain against the minority share](figures/minority_scarcity_auroc.png)",
        "",
    ]
    rows = []
    for level in levels:
        for arm, result in level.scores.items():
            versus = result.versus_baseline
            share = level.shares.get(arm, {}).get("auroc")
            rows.append(
                [
                    f"{level.fraction:g}",
                    arm_label(arm),
                    mean_std(result.summary["auroc"]),
                    _difference_cell(versus.get("auroc")),
                    _difference_cell(versus.get(result.primary[1])) if len(result.primary) > 1 else "",
                    share_cell(share),
                ]
            )
    second = (
        TITLES.get(levels[0].scores[BASELINE].primary[1], "") if levels and len(levels[0].scores[BASELINE].primary) > 1 else ""
    )
    lines.append(
        markdown_table(
            ["Minority share", "Arm", "AUROC", "Δ AUROC [CI], Holm p", f"Δ {second} [CI], Holm p", "Share of ceiling (AUROC)"],
            rows,
        )
    )
    lines += ["", "Verdicts:", ""]
    for level in levels:
        resolution = detectable_difference(level.scores)
        for arm, result in level.scores.items():
            if not result.versus_baseline:
                continue
            primary = {s: result.versus_baseline[s] for s in result.primary if s in result.versus_baseline}
            sentence = verdict_sentence(
                f"{arm_label(arm)} at {level.fraction:g}", primary, TITLES, resolution, level.shares.get(arm, {}).get("auroc")
            )
            lines.append(f"- {sentence}")
    return lines


def _difference_cell(comparison: Mapping | None) -> str:
    if not comparison:
        return ""
    holm = comparison.get("p_holm")
    text = f"{comparison['difference']:+.3f} [{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]"
    return text + (f", {holm:.2g}" if holm is not None else "")


def key_metrics(levels: Sequence[SweepLevel]) -> dict:
    """For `dvc metrics show`: per share, each arm's mean AUROC and difference to the baseline."""
    return {
        f"f{level.fraction:g}": {
            arm: {
                "auroc": result.summary["auroc"]["mean"],
                **({"delta_auroc": result.versus_baseline["auroc"]["difference"]} if result.versus_baseline else {}),
            }
            for arm, result in level.scores.items()
        }
        for level in levels
    }
