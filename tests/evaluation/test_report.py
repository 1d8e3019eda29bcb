"""The report's comparisons: per-seed scores, mean ± std and paired differences read from run folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthaug.config import parse_params
from synthaug.errors import DataError
from synthaug.evaluation.comparison import (
    MIN_TEST_GROUPS_PER_CLASS,
    compare_methods,
    detectable_at_80_power,
    detectable_difference,
)
from synthaug.evaluation.formatting import method_label
from synthaug.evaluation.report import (
    markdown_decision,
    markdown_endpoint,
    markdown_methods,
    markdown_per_class,
    method_notes,
    multiple_comparisons_line,
    resolution_lines,
    scarcity_budget_line,
)
from synthaug.evaluation.statistics import holm_adjust
from synthaug.stages.report import report_setup

CLASSES = ["negative", "positive"]


def write_run(folder: Path, y: np.ndarray, p_positive: np.ndarray, ids: list[str]) -> Path:
    folder.mkdir(parents=True)
    for split in ("val", "test"):
        frame = pd.DataFrame(
            {"file_id": ids, "label": np.asarray(CLASSES)[y], "p_negative": 1 - p_positive, "p_positive": p_positive}
        )
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
    per_class = markdown_per_class(results, support={"negative": 100, "positive": 100}).splitlines()
    assert per_class[0] == "| Method | Class | Precision | Recall | Δ recall vs baseline [CI], p | F1 | Support |"
    assert len(per_class) == 2 + 2 * 2  # one row per method and class
    assert per_class[2].startswith("| baseline | negative | ") and per_class[2].endswith(" | 100 |")


def test_methods_tested_on_other_files_are_refused(runs, tmp_path: Path):
    y = np.repeat([0, 1], 100)
    other = [
        write_run(tmp_path / "other" / f"seed{s}", y, np.full(200, 0.5), [f"g{i:03d}" for i in range(200)]) for s in range(3)
    ]
    with pytest.raises(DataError, match="different files"):
        compare_methods({"baseline": runs["baseline"], "other": other}, CLASSES, n_resamples=100)
    with pytest.raises(DataError, match="baseline"):
        compare_methods({"better": runs["better"]}, CLASSES)


def participants(size: int) -> dict[str, str]:
    """{file id: participant} for the fixture's 200 files, `size` consecutive files (one class) per participant."""
    return {f"f{i:03d}": f"p{i // size:03d}" for i in range(200)}


def test_each_method_has_its_own_interval_beside_mean_and_std(runs):
    results = compare_methods(runs, CLASSES, groups=participants(2), n_resamples=200)
    for method, result in results.items():
        for score in ("macro_f1", "auroc", "accuracy", "macro_f1_val_threshold"):
            interval = result.intervals[score]
            assert interval["ci_low"] <= result.summary[score]["mean"] <= interval["ci_high"], (method, score)
            assert interval["n_groups"] == 100 and interval["n_files"] == 200
    row = next(line for line in markdown_methods(results).splitlines() if line.startswith("| better |"))
    auroc = results["better"].intervals["auroc"]
    assert f"± {results['better'].summary['auroc']['std']:.3f} [{auroc['ci_low']:.2f}, {auroc['ci_high']:.2f}]" in row
    assert results["better"].versus_baseline["auroc"]["n_groups"] == 100


def test_header_states_the_detectable_difference_and_the_groups_per_class(runs):
    results = compare_methods(runs, CLASSES, groups=participants(2), n_resamples=200)
    assert results["baseline"].test_groups == {"negative": 50, "positive": 50}
    resolution = detectable_difference(results)
    versus = results["better"].versus_baseline["auroc"]
    assert resolution["auroc"] == (versus["ci_high"] - versus["ci_low"]) / 2  # one compared method: its half-width
    header = "\n".join(resolution_lines(results))
    assert "with 100 test groups (50 negative, 50 positive)" in header
    powered = detectable_at_80_power(results)
    assert set(resolution) == {"auroc", "macro_f1_val_threshold"}  # the primary endpoints
    assert f"AUROC ±{resolution['auroc']:.3f} (80 % power: ±{powered['auroc']:.3f})" in header
    assert powered["auroc"] == pytest.approx(1.4294 * resolution["auroc"], rel=1e-3)
    assert "Warning" not in header


def test_header_warns_loudly_when_a_class_has_too_few_groups(runs):
    results = compare_methods(runs, CLASSES, groups=participants(10), n_resamples=200)  # 10 participants per class
    assert results["baseline"].test_groups == {"negative": 10, "positive": 10} and 10 < MIN_TEST_GROUPS_PER_CLASS
    header = "\n".join(resolution_lines(results))
    assert "differences between methods cannot be detected" in header
    assert "10 of class `negative`, 10 of class `positive`" in header
    assert "±" not in header and "not estimated" in header  # no resolution figure from too few groups
    # Alone, the baseline has nothing to compare: the header still counts the groups.
    alone = "\n".join(resolution_lines(compare_methods({"baseline": runs["baseline"]}, CLASSES, n_resamples=100)))
    assert "200 test groups (100 negative, 100 positive)" in alone and "no method is compared" in alone


def test_test_files_missing_from_the_manifest_are_refused(runs):
    groups = participants(2)
    del groups["f007"]
    with pytest.raises(DataError, match="f007.*re-run featurize"):
        compare_methods(runs, CLASSES, groups=groups, n_resamples=100)


def test_p_values_are_holm_adjusted_within_the_primary_and_the_secondary_family(runs):
    results = compare_methods({**runs, "same": runs["baseline"]}, CLASSES, n_resamples=200)
    primary = [(m, s) for m in ("better", "same") for s in ("auroc", "macro_f1_val_threshold")]
    secondary = [
        (m, s) for m in ("better", "same") for s in results[m].versus_baseline if s not in ("auroc", "macro_f1_val_threshold")
    ]
    # argmax macro F1, accuracy, balanced accuracy and the two classes' recalls
    assert len(secondary) == 2 * 5
    for family, members in (("primary", primary), ("secondary", secondary)):
        expected = holm_adjust([results[m].versus_baseline[s]["p_value"] for m, s in members])
        assert [results[m].versus_baseline[s]["p_holm"] for m, s in members] == pytest.approx(expected)
        assert {results[m].versus_baseline[s]["family"] for m, s in members} == {family}
    better = results["better"].versus_baseline["auroc"]
    assert better["p_holm"] >= better["p_value"]
    row = next(line for line in markdown_methods(results).splitlines() if line.startswith("| better |"))
    assert f"p = {better['p_value']:.3g}, Holm {better['p_holm']:.3g}" in row
    header = multiple_comparisons_line(results, {})
    assert "Holm–Bonferroni" in header and "the 4 method-vs-baseline comparisons on the primary endpoints" in header
    assert "2 methods × 2: AUROC, Macro F1 (val. threshold)" in header and "the other 10" in header


def test_each_seed_s_paired_difference_is_shown_beside_the_pooled_one(runs):
    results = compare_methods(runs, CLASSES, n_resamples=100)
    better, baseline = results["better"], results["baseline"]
    expected = [b - a for a, b in zip(baseline.per_seed["auroc"], better.per_seed["auroc"], strict=True)]
    assert better.seed_differences["auroc"] == pytest.approx(expected)
    assert np.mean(expected) == pytest.approx(better.versus_baseline["auroc"]["difference"])
    table = markdown_endpoint(results, "auroc")
    assert table.splitlines()[0] == "| Method | Seeds | AUROC [CI] | Δ vs baseline [CI] | p | Holm p (primary) | Δ per seed |"
    assert ", ".join(f"{d:+.3f}" for d in expected) in table


def test_a_moved_threshold_raises_accuracy_but_not_balanced_accuracy_or_auroc(tmp_path: Path):
    """The failure the primary endpoints exist for: the same ranking with a shifted decision."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], [150, 50])
    ids = [f"f{i:03d}" for i in range(len(y))]
    runs: dict[str, list[Path]] = {"baseline": [], "shifted": []}
    for seed in range(3):
        score = y + rng.normal(0, 0.8, len(y))  # one ranking for both methods
        balanced = 1 / (1 + np.exp(-2 * (score - 0.5)))  # the decision at the balanced point
        majority = 1 / (1 + np.exp(-2 * (score - 1.2)))  # the same ranking, decided for the majority more often
        runs["baseline"].append(write_run(tmp_path / "baseline" / f"seed{seed}", y, balanced, ids))
        runs["shifted"].append(write_run(tmp_path / "shifted" / f"seed{seed}", y, majority, ids))
    versus = compare_methods(runs, CLASSES, n_resamples=300)["shifted"].versus_baseline
    assert versus["accuracy"]["difference"] > 0.03 and versus["recall:positive"]["difference"] < -0.1
    assert versus["auroc"]["difference"] == pytest.approx(0.0, abs=1e-12)
    assert versus["balanced_accuracy"]["difference"] < 0
    assert abs(versus["macro_f1_val_threshold"]["difference"]) < versus["accuracy"]["difference"]
    decision = markdown_decision(compare_methods(runs, CLASSES, n_resamples=100))
    assert "Balanced accuracy [CI]" in decision and "Accuracy (argmax, secondary) [CI]" in decision


@pytest.mark.parametrize("early_stopping", [False, True])
def test_header_says_how_the_scarcity_sweep_selects_its_classifiers(early_stopping):
    params = parse_params(
        {
            "dataset": {"name": "toy", "protocol": "industrial", "adapter": "folder", "root": "data"},
            "train_classifier": {"epochs": 70, "patience": 9},
            "scarcity": {"files_per_class": [2], "early_stopping": early_stopping},
        }
    )
    line = scarcity_budget_line(report_setup(params))
    assert "z-scored with that subset's own statistics" in line
    if early_stopping:
        assert "stop early (patience 9) on N validation files per class" in line and "never on the whole split" in line
    else:
        assert "fixed 70 epochs and keep the last, reading no validation data" in line


def test_a_cgan_trained_on_one_class_is_labelled_an_unconditional_progressive_gan(runs):
    assert method_label("cgan", 1) == "cgan (progressive GAN, unconditional: one class)"
    assert method_label("cgan", 2) == "cgan" and method_label("vae", 1) == "vae"
    results = compare_methods({"baseline": runs["baseline"], "cgan": runs["better"]}, CLASSES, n_resamples=100)
    labels = {m: method_label(m, 1) for m in results}
    assert "| cgan (progressive GAN, unconditional: one class) | 3 |" in markdown_methods(results, labels=labels)
    assert "| cgan (progressive GAN, unconditional: one class) |" in markdown_per_class(results, labels)
    medical = parse_params(
        {
            "dataset": {"name": "toy", "protocol": "medical", "adapter": "folder", "root": "data"},
            "train_generator": {"classes": "minority"},
        }
    )
    notes = "\n".join(method_notes(report_setup(medical), results, 1))
    assert "trains on one class" in notes and "unconditional progressive GAN, not a class-conditional one" in notes
    assert "`train_generator.classes: minority`" in notes
    # Several minority classes (or all of them): the cgan is conditional again, and no note says otherwise.
    assert method_notes(report_setup(medical), results, 3) == []


def test_the_fitted_ensemble_is_said_to_be_scored_on_the_validation_half_its_weights_never_saw(runs):
    results = compare_methods({"baseline": runs["baseline"], "ensemble_fitted": runs["better"]}, CLASSES, n_resamples=100)
    params = parse_params(
        {
            "dataset": {"name": "toy", "protocol": "medical", "adapter": "folder", "root": "data"},
            "ensemble": {"validation_split_seed": 5},
        }
    )
    notes = "\n".join(method_notes(report_setup(params), results, 2))
    assert "weights minimize the log loss on one half of the validation groups" in notes
    assert "`ensemble.validation_split_seed` = 5" in notes and "come from the other half only" in notes


def test_the_summary_runs_description_names_the_one_class_cgan_for_what_it_is(runs):
    from synthaug.evaluation.report import summary_note

    results = compare_methods({"baseline": runs["baseline"], "cgan": runs["better"]}, CLASSES, n_resamples=100)
    note = summary_note("toy", results, ["abc"], "1", {m: method_label(m, 1) for m in results})
    assert "| cgan (progressive GAN, unconditional: one class) | 3 |" in note and "[abc](#/experiments/1/runs/abc)" in note
