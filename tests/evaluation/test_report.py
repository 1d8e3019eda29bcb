"""The report's comparisons: per-seed scores, mean ± std and paired differences read from run folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthaug.errors import DataError
from synthaug.evaluation.report import compare_methods, markdown_methods, markdown_per_class

CLASSES = ["negative", "positive"]


def write_run(folder: Path, y: np.ndarray, p_positive: np.ndarray, ids: list[str]) -> Path:
    folder.mkdir(parents=True)
    for split in ("val", "test"):
        frame = pd.DataFrame({"file_id": ids, "label": np.asarray(CLASSES)[y],
                              "p_negative": 1 - p_positive, "p_positive": p_positive})
        frame.to_csv(folder / f"predictions_{split}.csv", index=False)
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, list[Path]]:
    """A baseline right on 60 % of 200 files and a method right on 90 %, three seeds each."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    ids = [f"f{i:03d}" for i in range(len(y))]
    result: dict[str, list[Path]] = {"baseline": [], "better": []}
    for seed in range(3):
        for method, skill in (("baseline", 0.6), ("better", 0.9)):
            correct = rng.random(len(y)) < skill
            p = np.where(correct == (y == 1), 0.8, 0.2) + rng.normal(0, 0.05, len(y))
            result[method].append(write_run(tmp_path / method / f"seed{seed}", y, np.clip(p, 0.01, 0.99), ids))
    return result


def test_better_method_has_a_positive_difference_whose_interval_excludes_zero(runs):
    results = compare_methods(runs, CLASSES, n_resamples=300)
    better, baseline = results["better"], results["baseline"]
    assert baseline.versus_baseline == {} and better.seeds == 3
    assert better.summary["accuracy"]["mean"] > baseline.summary["accuracy"]["mean"] + 0.2
    for score in ("macro_f1", "accuracy", "auroc", "macro_f1_val_threshold"):
        versus = better.versus_baseline[score]
        assert versus["ci_low"] > 0 and versus["p_value"] < 0.05, score
    assert abs(better.versus_baseline["accuracy"]["difference"] - 0.3) < 0.06
    assert len(better.thresholds) == 3 and set(better.per_class) == set(CLASSES)


def test_a_method_compared_with_itself_differs_by_nothing(runs):
    results = compare_methods({"baseline": runs["baseline"], "copy": runs["baseline"]}, CLASSES, n_resamples=200)
    versus = results["copy"].versus_baseline["macro_f1"]
    assert versus["difference"] == 0 and versus["ci_low"] == 0 and versus["ci_high"] == 0 and versus["p_value"] == 1.0


def test_tables_show_every_method_with_mean_and_std(runs):
    results = compare_methods(runs, CLASSES, n_resamples=100)
    table = markdown_methods(results)
    assert table.count("\n") == 3  # header, rule, two methods
    assert "| better | 3 |" in table and "±" in table and "p = " in table
    assert "positive: F1" in markdown_per_class(results)


def test_methods_tested_on_other_files_are_refused(runs, tmp_path: Path):
    y = np.repeat([0, 1], 100)
    other = [write_run(tmp_path / "other" / f"seed{s}", y, np.full(200, 0.5), [f"g{i:03d}" for i in range(200)]) for s in range(3)]
    with pytest.raises(DataError, match="different files"):
        compare_methods({"baseline": runs["baseline"], "other": other}, CLASSES, n_resamples=100)
    with pytest.raises(DataError, match="baseline"):
        compare_methods({"better": runs["better"]}, CLASSES)
