"""Profiles merge into params.yaml keeping its comments, and never leave an invalid file behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthaug.config import load_params
from synthaug.errors import ConfigError
from synthaug.profiles import apply_profile, available

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO_ROOT / "profiles", tmp_path / "profiles")
    return tmp_path


def test_every_shipped_profile_applies_and_validates(project: Path):
    for name in available(project):
        shutil.copy(REPO_ROOT / "params.yaml", project / "params.yaml")
        apply_profile(name, project / "params.yaml", project)
        load_params(project / "params.yaml")


def test_machine_profile_changes_only_its_keys_and_keeps_comments(project: Path):
    before = load_params(project / "params.yaml")
    apply_profile("machine", project / "params.yaml", project)
    params = load_params(project / "params.yaml")
    assert (params.dataset.name, params.dataset.protocol, params.featurize.mode) == ("demo-machine", "industrial", "clips")
    # Untouched keys keep their values.
    assert (params.featurize.n_mels, params.featurize.hop_length) == (before.featurize.n_mels, before.featurize.hop_length)
    assert "# The pipeline" not in (project / "params.yaml").read_text()
    assert "# Which data the pipeline reads" in (project / "params.yaml").read_text()


def test_invalid_overlay_leaves_params_untouched(project: Path):
    before = (project / "params.yaml").read_text()
    (project / "profiles" / "broken.yaml").write_text("featurize: {n_mels: -1}\n")
    with pytest.raises(ConfigError, match="featurize.n_mels"):
        apply_profile("broken", project / "params.yaml", project)
    assert (project / "params.yaml").read_text() == before


def test_unknown_profile_lists_the_available_ones(project: Path):
    with pytest.raises(ConfigError, match="tiny"):
        apply_profile("nope", project / "params.yaml", project)


def test_null_in_a_profile_removes_the_key(project: Path):
    apply_profile("machine", project / "params.yaml", project)
    assert list(load_params(project / "params.yaml").train_generator.models) == ["cgan"]
