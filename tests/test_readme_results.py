"""The README's demo figures are generated from reports/results.json and cannot drift from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthaug.errors import DataError
from synthaug.readme_results import BEGIN, END, render_block, stale, update_readme

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_readme_quotes_the_committed_results():
    results = ROOT / "reports" / "results.json"
    if not results.is_file():
        pytest.skip("reports/results.json is not in this checkout")
    assert not stale(ROOT / "README.md", results), (
        "README.md's results block does not match reports/results.json: run `synthaug readme-results` and commit both"
    )


def small_results() -> dict:
    def scores(auroc: float) -> dict:
        return {
            "summary": {
                "auroc": {"mean": auroc, "std": 0.01, "n": 3},
                "macro_f1_val_threshold": {"mean": 0.6, "std": 0.02, "n": 3},
            },
            "intervals": {"auroc": {"ci_low": auroc - 0.05, "ci_high": auroc + 0.05}},
            "versus_baseline": {},
            "primary": ["auroc", "macro_f1_val_threshold"],
        }

    vae = scores(0.72)
    vae["versus_baseline"] = {
        "auroc": {"difference": -0.03, "ci_low": -0.06, "ci_high": 0.01, "p_value": 0.04, "p_holm": 0.16},
        "accuracy": {"difference": 0.05, "ci_low": 0.01, "ci_high": 0.09, "p_value": 0.01, "p_holm": 0.05},
    }
    return {
        "dataset": "toy",
        "seeds": [0, 1, 2],
        "statistics": {
            "test_groups": {"negative": 40, "positive": 20},
            "primary_endpoints": ["auroc", "macro_f1_val_threshold"],
            "detectable_difference": {"auroc": 0.02, "macro_f1_val_threshold": 0.05},
            "detectable_at_80_power": {"auroc": 0.0286, "macro_f1_val_threshold": 0.0715},
        },
        "methods": {"baseline": scores(0.75), "vae": vae},
        "audit": {},
    }


def test_the_block_quotes_the_results_it_is_given(tmp_path):
    block = render_block(small_results())
    assert block.startswith(BEGIN) and block.endswith(END)
    assert "60 groups (40 negative, 20 positive); 3 seeds" in block
    assert "| + VAE | 0.720 ± 0.010 [0.67, 0.77] |" in block
    assert "-0.030 [-0.060, +0.010], Holm 0.16" in block and "+0.050 [+0.010, +0.090], Holm 0.05" in block
    assert "AUROC ±0.020 (80 % power: ±0.029)" in block

    readme, results = tmp_path / "README.md", tmp_path / "results.json"
    readme.write_text(f"# Title\n\nprose\n\n{BEGIN}\nold figures\n{END}\n\nmore prose\n")
    results.write_text(json.dumps(small_results()))
    assert stale(readme, results)
    assert update_readme(readme, results) and not stale(readme, results)
    assert readme.read_text().startswith("# Title\n\nprose\n\n") and readme.read_text().endswith("\n\nmore prose\n")
    assert not update_readme(readme, results)  # nothing left to change


def test_a_readme_without_the_markers_is_refused_with_the_fix(tmp_path):
    (tmp_path / "README.md").write_text("# no block\n")
    (tmp_path / "results.json").write_text(json.dumps(small_results()))
    with pytest.raises(DataError, match="exactly one results block"):
        update_readme(tmp_path / "README.md", tmp_path / "results.json")
    (tmp_path / "README.md").write_text(f"{BEGIN}\n{END}\n")
    with pytest.raises(DataError, match="make run"):
        update_readme(tmp_path / "README.md", tmp_path / "missing.json")
