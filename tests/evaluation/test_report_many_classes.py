"""The report stays readable for any number of classes and seeds: ten classes, one seed, fabricated runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthaug.config import parse_params
from synthaug.evaluation.comparison import compare_methods
from synthaug.evaluation.fidelity import REFERENCE, REFERENCE_LABEL
from synthaug.evaluation.figures import audit_bars
from synthaug.evaluation.report import render
from synthaug.evaluation.scarcity_report import SCARCITY_VARIANTS
from synthaug.stages.report import report_setup

DIGITS = [str(d) for d in range(10)]
MAX_COLUMNS = 8


def write_run(folder: Path, y: np.ndarray, skill: float, rng: np.random.Generator) -> Path:
    """Predictions of a classifier right on about `skill` of the files, for val and test."""
    folder.mkdir(parents=True)
    ids = [f"f{i:03d}" for i in range(len(y))]
    for split in ("val", "test"):
        logits = rng.normal(0, 1, (len(y), len(DIGITS)))
        logits[np.arange(len(y)), y] += np.where(rng.random(len(y)) < skill, 4.0, 0.0)
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        frame = pd.DataFrame({"file_id": ids, "label": np.asarray(DIGITS)[y]})
        for c, name in enumerate(DIGITS):
            frame[f"p_{name}"] = proba[:, c]
        frame.to_csv(folder / f"predictions_{split}.csv", index=False)
    return folder


def audit_row(value: float) -> dict:
    return {
        "n": 12,
        "two_sample_auroc_knn_val": value,
        "two_sample_auroc_quadratic_val": value,
        "two_sample_auroc_knn_train": value,
        "two_sample_auroc_quadratic_train": value,
        "kid_val": 0.01,
        "frechet_val": 1.5,
        "frechet_dims_val": 2,
        "precision": 0.8,
        "recall": 0.5,
        "coverage": 0.6,
        "memorization_rate": 0.0,
    }


@pytest.fixture(scope="module")
def ten_class_report(tmp_path_factory) -> tuple[str, dict]:
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 8)  # 8 test files per digit
    methods = {m: [write_run(root / m / "seed0", y, skill, rng)] for m, skill in (("baseline", 0.5), ("vae", 0.6), ("cgan", 0.7))}
    scarcity_runs = {v: [write_run(root / "scarcity" / v, y, 0.5, rng)] for v in SCARCITY_VARIANTS}
    results = compare_methods(methods, DIGITS, n_resamples=50)
    scarcity = {4: compare_methods(scarcity_runs, DIGITS, n_resamples=50)}
    params = parse_params(
        {
            "dataset": {"name": "fsdd", "protocol": "industrial", "adapter": "fsdd", "root": "data"},
            "train_generator": {"classes": "all"},
            "train_classifier": {"seeds": [0]},
            "scarcity": {"files_per_class": [4], "trials": [0]},
        }
    )
    audits = {
        name: {
            "classes": {d: {view: audit_row(0.9) for view in ("classifier", "log_mel")} for d in DIGITS},
            "reference": {d: {view: audit_row(0.55) for view in ("classifier", "log_mel")} for d in DIGITS},
        }
        for name in ("vae", "cgan")
    }
    markdown = render(report_setup(params), results, scarcity, [], "paper-pucks", len(DIGITS), audits, [], learned_classes=DIGITS)
    return markdown, audits


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_every_table_of_a_ten_class_report_fits_a_page(ten_class_report):
    markdown, _ = ten_class_report
    widths = {line.count("|") - 1 for line in table_lines(markdown)}
    assert widths and max(widths) <= MAX_COLUMNS, sorted(widths)


def test_per_class_results_are_one_row_per_method_and_class(ten_class_report):
    markdown, _ = ten_class_report
    section = markdown.split("## Per-class results")[1].split("\n## ")[0]
    rows = table_lines(section)
    assert rows[0] == "| Method | Class | Precision | Recall | Δ recall vs baseline [CI], p | F1 | Support |"
    assert len(rows) == 2 + 3 * 10
    assert {row.split(" | ")[1] for row in rows[2:]} == set(DIGITS)
    assert all(row.endswith(" | 8 |") for row in rows[2:])  # support: 8 test files per digit


def test_one_seed_reports_no_std(ten_class_report):
    markdown, _ = ten_class_report
    assert "1 seed, no std" in markdown and "± 0.000" not in markdown
    assert not any(" ± " in line for line in table_lines(markdown))  # one value per cell: nothing to spread
    assert "Test accuracy (file level, 1 trial, no std)" in markdown
    assert "cgan (progressive GAN" not in markdown  # a cgan learning ten classes is conditional


def test_the_audit_figure_covers_all_ten_classes_on_a_page(ten_class_report):
    from synthaug.stages.report import _audit_frame

    _, audits = ten_class_report
    figure = audit_bars(_audit_frame(audits), reference=REFERENCE_LABEL, title="audit")
    titles = {axis.get_title() for axis in figure.axes if axis.get_visible()}
    assert titles == {f"{d}, {view} view" for d in DIGITS for view in ("classifier", "log-mel")}
    width, height = figure.get_size_inches()
    assert width <= 22 and height <= 16  # five classes per row, two rows per view
    for axis in figure.axes:
        if axis.get_visible():
            assert [tick.get_text() for tick in axis.get_xticklabels()] == [REFERENCE_LABEL, "vae", "cgan"]
    assert REFERENCE not in titles


def test_one_seed_and_one_test_group_per_class_is_not_called_a_perfect_resolution(tmp_path):
    from synthaug.evaluation.report import resolution_lines

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(10), 4)
    runs = {m: [write_run(tmp_path / m, y, skill, rng)] for m, skill in (("baseline", 0.5), ("vae", 0.6))}
    groups = {f"f{i:03d}": f"speaker{label}" for i, label in enumerate(y)}  # one speaker per digit
    header = "\n".join(resolution_lines(compare_methods(runs, DIGITS, groups=groups, n_resamples=50)))
    # The bootstrap has nothing to draw: no resolution figure at all (it would measure the one seed alone).
    assert "±" not in header and "not estimated" in header and "cannot be detected" in header
