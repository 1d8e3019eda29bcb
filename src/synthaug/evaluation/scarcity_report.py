"""The report's section on the industrial data-scarcity sweep: accuracy per level and variant, the
paired differences to each level's baseline, each variant's share of the ceiling's gain, and one
verdict sentence per variant and level.

The numbers come from synthaug.evaluation.comparison (one `compare_methods` per level, trials
pairing the variants as seeds pair methods elsewhere, and `ceiling_shares`); this module lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping

from synthaug.evaluation.comparison import MethodScores, detectable_difference, has_resolution
from synthaug.evaluation.endpoints import TITLES
from synthaug.evaluation.formatting import difference, markdown_table, mean_std, share_cell, spread_words, verdict_sentence
from synthaug.sweep_layout import CEILING

SCARCITY_VARIANTS = ("baseline", "baseline_classic", "gan", "gan_classic")  # every point has these
SHARE_SCORE = "accuracy"  # the ceiling share the table quotes (the industrial study's score)

Shares = Mapping[int, Mapping[str, Mapping[str, dict]]]  # {files per class: {variant: {score: share_of_gain}}}


def render_scarcity(
    scarcity: Mapping[int, Mapping[str, MethodScores]], shares: Shares, *, trials: int, gan_per_trial: bool
) -> list[str]:
    """The "Data scarcity" section; `scarcity`: {files per class: {variant: scores}}, baseline first."""
    variants = [v for v in (*SCARCITY_VARIANTS, CEILING) if any(v in point for point in scarcity.values())]
    gan_note = (
        "each trial trains its own conditional GAN"
        if gan_per_trial
        else "one conditional GAN per level (seed 0) serves every trial, trained"
    )
    rows = [
        [str(n), *(mean_std(point[v].summary["accuracy"]) if v in point else "—" for v in variants)]
        for n, point in scarcity.items()
    ]
    lines = [
        "",
        "## Data scarcity",
        "",
        f"Test accuracy (file level, {spread_words(trials, 'trial')}) against real training files "
        f"per class; {gan_note} on exactly that subset.",
        "",
        markdown_table(["Files per class", *variants], rows),
        "",
        f"`{CEILING}` (+ real, the ceiling) adds up to as many real clips per class as the GAN adds synthetic ones, "
        "from the training files the subset left out (those a larger subset adds next); where those files hold fewer "
        "clips it adds all of them, so it reads as what the rest of this data set's real training files give. The "
        "largest subset has none when no files are left.",
        "",
        "![accuracy against files per class](figures/scarcity_accuracy.png)",
        "",
        "![macro F1 against files per class](figures/scarcity_macro_f1.png)",
        "",
        "Differences to the baseline at each level (accuracy, macro F1), and each variant's accuracy gain as a share "
        "of the ceiling's (paired bootstrap over test files and trials; quoted only where the ceiling's own gain is "
        "resolved):",
        "",
    ]
    rows = []
    for n, point in scarcity.items():
        for v in (v for v in variants[1:] if v in point):
            versus = point[v].versus_baseline
            share = shares.get(n, {}).get(v, {}).get(SHARE_SCORE)
            rows.append([str(n), v, difference(versus.get("accuracy")), difference(versus.get("macro_f1")), share_cell(share)])
    lines += [
        markdown_table(
            [
                "Files per class",
                "Variant",
                "Δ accuracy [CI], p, Holm p",
                "Δ macro F1 [CI], p, Holm p",
                "Share of ceiling (accuracy)",
            ],
            rows,
        ),
        "",
        "Verdicts:",
        "",
    ]
    for n, point in scarcity.items():
        resolution = detectable_difference(point) if has_resolution(point) else None
        for v, result in point.items():
            if not result.versus_baseline:
                continue
            primary = {s: result.versus_baseline[s] for s in result.primary if s in result.versus_baseline}
            share = shares.get(n, {}).get(v, {}).get(SHARE_SCORE)
            lines.append(f"- {verdict_sentence(f'{v} at {_files(n)}', primary, TITLES, resolution, share)}")
    return lines


def _files(n: int) -> str:
    return f"{n} file per class" if n == 1 else f"{n} files per class"
