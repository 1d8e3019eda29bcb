"""The report's minority scarcity section: arms present in every trial, the ceiling's share, one verdict per arm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synthaug.evaluation.minority_sweep import compare_sweep, render_sweep, sweep_frame, sweep_runs
from synthaug.sweep_layout import point_name

CLASSES = ["negative", "positive"]
N_FILES = 80


def write_run(folder: Path, signal: float, seed: int) -> None:
    """predictions_{val,test}.csv of a classifier whose positive probability separates the classes by `signal`."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], N_FILES // 2)
    for split in ("val", "test"):
        p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=N_FILES))))
        frame = pd.DataFrame({"file_id": [f"{split}/f{i:03d}.wav" for i in range(N_FILES)], "label": np.asarray(CLASSES)[y]})
        frame["p_negative"], frame["p_positive"] = 1 - p, p
        frame.to_csv(folder / f"predictions_{split}.csv", index=False)


def test_the_section_compares_the_arms_every_trial_has_and_quotes_a_share_only_of_a_resolved_ceiling(tmp_path):
    signals = {"baseline": 0.2, "classic_augmentation": 0.2, "ddpm": 0.9, "real_ceiling": 2.0}
    for trial in (0, 1, 2):
        for arm, signal in signals.items():
            write_run(tmp_path / point_name(0.1, trial) / arm, signal, seed=100 * trial + len(arm))
        write_run(tmp_path / point_name(1.0, trial) / "baseline", 1.0, seed=trial)
        write_run(tmp_path / point_name(1.0, trial) / "ddpm", 1.0, seed=trial + 7)
    write_run(tmp_path / point_name(1.0, 0) / "real_ceiling", 1.0, seed=0)  # one trial only: not compared
    runs = sweep_runs(tmp_path, [0.1, 1.0], [0, 1, 2])
    assert list(runs[0.1]) == ["baseline", "classic_augmentation", "ddpm", "real_ceiling"]
    assert list(runs[1.0]) == ["baseline", "ddpm"]
    groups = {f"{split}/f{i:03d}.wav": f"{split}-g{i // 2}" for split in ("val", "test") for i in range(N_FILES)}
    statistics = {"n_resamples": 200, "confidence": 0.95, "seed": 0}
    levels = compare_sweep(runs, CLASSES, groups=groups, primary=["auroc", "macro_f1_val_threshold"], statistics=statistics)
    share = levels[0].shares["ddpm"]["auroc"]
    assert share["ceiling_ci_low"] > 0 and 0 < share["share"] < 1  # a real share of a resolved gain
    assert levels[1].shares == {}
    text = "\n".join(render_sweep(levels, 3, "positive"))
    assert "| 0.1 | + ddpm |" in text and "of the ceiling's gain" in text
    assert "- **+ real (ceiling) at 0.1**: helps" in text
    frame = sweep_frame(levels)
    assert set(frame["arm"]) == {"baseline", "+ classic augmentation", "+ ddpm", "+ real (ceiling)"}
