"""The pipeline runs the end-to-end tests share: one per protocol, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline_projects import SIDE_BY_SIDE, build_side_by_side, new_project

# The industrial protocol on the tiny machine set: 3 recordings per class before validation is carved
# out, the smallest scarcity sweep with nesting (1 and 2 files per class) and trials to average (2).
MACHINE_OVERLAY = {
    "demo": {"machine": {"train_files_per_class": 3}},
    "scarcity": {"files_per_class": [1, 2], "trials": [0, 1]},
    "curation": {"enabled": True, "min_confidence": 0.9},
}

# The medical protocol made scarce, at its smallest: one trial at half the positives' groups (which
# leaves held-back groups for the ceiling) and at all of them (none left), one generator, and two ways
# of using its samples besides plain mixing.
MEDICAL_OVERLAY = {
    "minority_scarcity": {
        "fractions": [0.5, 1.0],
        "trials": [0],
        "generators": ["vae"],
        "methods": {"fine_tune": {"fine_tune_epochs": 1}, "utility": {"utility_keep_share": 0.5}},
    }
}


@pytest.fixture(scope="session")
def pipeline_projects(tmp_path_factory) -> tuple[Path, Path]:
    """(medical, industrial): `dvc repro` of the tiny profile with MEDICAL_OVERLAY, and of the machine profile with MACHINE_OVERLAY,
    built side by side."""
    medical, machine = tmp_path_factory.mktemp("medical"), tmp_path_factory.mktemp("machine")
    built = build_side_by_side(
        lambda: new_project(medical, overlay=MEDICAL_OVERLAY, **SIDE_BY_SIDE),
        lambda: new_project(machine, "machine", overlay=MACHINE_OVERLAY, **SIDE_BY_SIDE),
    )
    return built[0], built[1]
