"""The paper profiles reproduce the table of published values, and the report lists every departure from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from synthaug.config import parse_params
from synthaug.errors import ConfigError
from synthaug.evaluation.report import published_protocol_lines
from synthaug.profiles import apply_profile
from synthaug.protocols import (
    NOT_SET,
    PROFILES,
    differences_from_published,
    effective_configuration,
    published_arm,
    same,
    unstated_choices,
)
from synthaug.published_protocols import PROTOCOLS

REPO_ROOT = Path(__file__).resolve().parents[1]

# Departures a paper profile cannot undo: each is a choice made in code (or a published augmentation
# this package does not have), and the report must name it. A new one needs a code change or a line here.
KNOWN_DEPARTURES = {
    "medical": {"code.split_grouping", "code.synthetic_count", "derived.ddpm_attention_resolution"},
    "pucks": {"code.scarcity_clips", "scarcity.augment"},
    "metal_balls": {"derived.gans_per_level", "derived.classifier_trials_per_gan", "scarcity.augment"},
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO_ROOT / "profiles", tmp_path / "profiles")
    return tmp_path


def _effective(project: Path, profile: str | None = None) -> tuple[dict, dict]:
    if profile is not None:
        apply_profile(profile, project / "params.yaml", project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    return params, effective_configuration(params)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_paper_profile_reproduces_every_published_value(project: Path, protocol: str):
    params, effective = _effective(project, PROFILES[protocol])
    assert published_arm(params) == protocol
    for entry in PROTOCOLS[protocol]:
        if entry.data or not entry.stated or entry.key in KNOWN_DEPARTURES[protocol]:
            continue
        assert entry.key in effective, f"{entry.key} ({entry.source}) is not a key of the effective configuration"
        assert same(effective[entry.key], entry.value), (
            f"{PROFILES[protocol]}: {entry.key} is {effective[entry.key]!r}, published {entry.value!r} ({entry.source})"
        )
    listed = {d["key"] for d in differences_from_published(effective, protocol)}
    assert listed == KNOWN_DEPARTURES[protocol]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_table_key_names_a_setting_the_run_has(project: Path, protocol: str):
    # A misspelt key would be reported as "(not set)" forever instead of being compared.
    _, effective = _effective(project, PROFILES[protocol])
    missing = [e.key for e in PROTOCOLS[protocol] if not e.data and e.key not in effective]
    assert missing == []
    assert {d["key"] for d in unstated_choices(effective, protocol)} == {
        e.key for e in PROTOCOLS[protocol] if not e.stated and not e.data
    }


def test_quick_profile_lists_every_shrunk_setting_against_the_medical_study(project: Path):
    params, effective = _effective(project)
    assert published_arm(params) == "medical"
    listed = {d["key"]: d for d in differences_from_published(effective, "medical")}
    shrunk = {
        "train_classifier.model.width",
        "train_classifier.model.dropout",
        "train_classifier.epochs",
        "train_classifier.patience",
        "train_classifier.balance",
        "derived.classifier_runs_per_method",
        "derived.vae_epochs",
        "derived.wgan_gp_epochs",
        "derived.ddpm_epochs",
        "train_generator.models.vae.width",
        "train_generator.models.ddpm.sampling_steps",
        *KNOWN_DEPARTURES["medical"],
    }
    assert shrunk <= set(listed), shrunk - set(listed)
    assert listed["train_classifier.epochs"]["here"] == params["train_classifier"]["epochs"]
    assert listed["train_classifier.epochs"]["published"] == 100 and listed["train_classifier.epochs"]["source"] == "§2.3"
    # A setting the run shares with the study, and the data set (other data by design), are not departures.
    assert effective["featurize.window"] == "hann" and "featurize.window" not in listed
    assert not any(key.startswith("dataset") for key in listed)


def test_industrial_demo_lists_every_departure_from_pucks(project: Path):
    params, effective = _effective(project, "machine")
    assert published_arm(params) == "pucks"
    listed = {d["key"] for d in differences_from_published(effective, "pucks")}
    assert {
        "featurize.sample_rate",
        "featurize.n_mels",
        "train_classifier.batch_size",
        "train_classifier.epochs",
        "train_generator.models.cgan.images_per_stage",
        "synthesize.n_per_class",
        "derived.cgan_final_resolution",
        "derived.cgan_resolutions",
        "scarcity.files_per_class",
    } <= listed
    # Pucks trains a fixed number of epochs; so does the quick profile (patience null), so that is no departure.
    assert ("derived.early_stopping" in listed) == (params["train_classifier"]["patience"] is not None)


def test_paper_industrial_is_paper_pucks(project: Path):
    assert yaml.safe_load((REPO_ROOT / "profiles" / "paper-industrial.yaml").read_text()) == yaml.safe_load(
        (REPO_ROOT / "profiles" / "paper-pucks.yaml").read_text()
    )


def test_published_arm_follows_the_protocol_unless_named(project: Path):
    assert published_arm({"dataset": {"protocol": "industrial"}}) == "pucks"
    assert published_arm({"dataset": {"protocol": "medical"}, "report": {"published_protocol": "metal_balls"}}) == "metal_balls"
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["report"]["published_protocol"] = "pucks-2"
    with pytest.raises(ConfigError, match="report.published_protocol"):
        parse_params(params)


def test_settings_compare_as_values_not_as_spellings():
    assert same(0.001, 1e-3) and same(1500, 1500.0) and same((512, 1024), [512, 1024])
    assert same({"mixup": {"alpha": 0.2}}, {"mixup": {"alpha": 0.2000000000001}})
    assert not same(True, 1) and not same(0.3, 0.0) and not same([2, 4], [4, 2]) and not same(NOT_SET, 100)


def test_report_header_names_each_departure_or_says_it_matches():
    departures = [
        {"key": "train_classifier.epochs", "here": 30, "published": 100, "source": "§2.3", "note": ""},
        {
            "key": "scarcity.augment",
            "here": {"mixup": {"p": 1.0}},
            "published": "mixup | two more",
            "source": "Experimental Design",
            "note": "not in this package",
        },
    ]
    unstated = [{"key": "train_classifier.batch_size", "here": 32, "published": "not stated", "source": "§2.3", "note": ""}]
    text = "\n".join(published_protocol_lines(departures, unstated, "paper-medical"))
    assert "except in 2 setting(s)" in text and "| `train_classifier.epochs` | `30` | `100` | §2.3 |" in text
    assert "mixup \\| two more" in text  # a pipe inside a value must not split the table's cell
    assert "does not state" in text and "`train_classifier.batch_size` | `32`" in text
    matches = "\n".join(published_protocol_lines([], [], "paper-pucks"))
    assert "matches every setting" in matches and "except" not in matches


def test_effective_configuration_fills_in_the_defaults_a_run_uses(project: Path):
    # A default the params leave out still shapes the run, so it is compared like a written value.
    from synthaug.classifier_configs import MedicalCNNConfig
    from synthaug.generators import generator_class

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train_classifier"]["model"] = {"architecture": "medical_cnn"}
    effective = effective_configuration(params)
    assert effective["train_classifier.model.dropout"] == MedicalCNNConfig().dropout
    assert effective["train_classifier.model.width"] == MedicalCNNConfig().width
    ddpm_defaults = generator_class("ddpm").defaults()
    assert effective["train_generator.models.ddpm.num_train_timesteps"] == ddpm_defaults["num_train_timesteps"]
    featurize = params["featurize"]  # centred STFT frames of one clip
    assert (
        effective["derived.frames_per_clip"]
        == 1 + round(featurize["duration_s"] * featurize["sample_rate"]) // featurize["hop_length"]
    )
