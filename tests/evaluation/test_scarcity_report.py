"""The report's data-scarcity section: the ceiling where every trial has one, its share, one verdict per variant."""

from __future__ import annotations

from synthaug.config import parse_params
from synthaug.evaluation.comparison import ceiling_shares, compare_methods
from synthaug.evaluation.scarcity_report import SCARCITY_VARIANTS, render_scarcity
from synthaug.stages.report import scarcity_runs
from tests.evaluation.test_minority_sweep_report import CLASSES, N_FILES, write_run


def test_the_section_adds_the_ceiling_where_every_trial_has_one_and_reads_each_variant(tmp_path):
    signals = {"baseline": 0.2, "baseline_classic": 0.2, "gan": 0.9, "gan_classic": 0.9, "real_ceiling": 2.0}
    for trial in (0, 1, 2):
        for variant, signal in signals.items():
            write_run(tmp_path / f"n1-t{trial}" / variant, signal, seed=100 * trial + len(variant))
            if variant != "real_ceiling" or trial == 0:  # the larger level: one trial's ceiling only
                write_run(tmp_path / f"n4-t{trial}" / variant, 1.0, seed=trial + len(variant))
    params = parse_params(
        {
            "dataset": {"name": "toy", "protocol": "industrial", "adapter": "folder", "root": "data"},
            "scarcity": {"files_per_class": [1, 4], "trials": [0, 1, 2]},
        }
    )
    folders = scarcity_runs(params, tmp_path)
    assert list(folders[1]) == [*SCARCITY_VARIANTS, "real_ceiling"] and list(folders[4]) == list(SCARCITY_VARIANTS)
    groups = {f"{split}/f{i:03d}.wav": f"{split}-g{i // 2}" for split in ("val", "test") for i in range(N_FILES)}
    statistics = {"n_resamples": 200, "confidence": 0.95, "seed": 0}
    primary = ["accuracy", "macro_f1"]
    scores = {n: compare_methods(point, CLASSES, groups=groups, primary=primary, **statistics) for n, point in folders.items()}
    shares = {
        n: ceiling_shares(point, CLASSES, ceiling="real_ceiling", scores=("accuracy",), groups=groups, **statistics)
        for n, point in folders.items()
    }
    assert shares[4] == {} and shares[1]["gan"]["accuracy"]["ceiling_ci_low"] > 0
    text = "\n".join(render_scarcity(scores, shares, trials=3, gan_per_trial=True))
    table = text.split("## Data scarcity")[1].split("\n\n")[2].splitlines()
    assert table[0] == "| Files per class | baseline | baseline_classic | gan | gan_classic | real_ceiling |"
    assert table[3].startswith("| 4 |") and table[3].endswith("| — |")  # no ceiling at the larger level
    gan_row = next(line for line in text.splitlines() if line.startswith("| 1 | gan |"))
    assert "%" in gan_row.split(" | ")[-1]  # a share of a resolved ceiling gain
    assert "- **real_ceiling at 1 file per class**: helps" in text
    assert text.count("\n- **") == 4 + 3  # a verdict per compared variant and level
