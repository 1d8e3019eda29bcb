"""params.yaml validation: the shipped file is valid, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synthaug.config import deep_merge, load_params, parse_params
from synthaug.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def shipped() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def test_shipped_params_are_valid_and_follow_the_medical_protocol():
    params = load_params(REPO_ROOT / "params.yaml")
    features = params.featurize
    # The quick profile halves the published time and mel resolution; the paper profile restores it.
    assert (features.sample_rate, features.n_fft, features.hop_length, features.n_mels) == (16000, 2048, 1024, 64)
    published = yaml.safe_load((REPO_ROOT / "profiles" / "paper-medical.yaml").read_text())["featurize"]
    assert (published["n_fft"], published["hop_length"], published["n_mels"]) == (2048, 512, 128)
    assert (features.f_min, features.f_max, features.duration_s) == (0.0, 8000.0, 3.0)
    split = params.prepare.split
    assert (split.train, split.val, split.test) == (0.7, 0.15, 0.15)


@pytest.mark.parametrize(
    "overlay, key",
    [
        ({"featurize": {"n_mels": 0}}, "featurize.n_mels"),
        ({"featurize": {"n_mesl": 64}}, "featurize.n_mesl"),
        ({"featurize": {"mode": "chunks"}}, "featurize.mode"),
        ({"featurize": {"f_max": 12000}}, "Nyquist"),
        ({"featurize": {"n_fft": 1024, "hop_length": 1024}}, "hop_length 1024 must be below n_fft"),
        ({"prepare": {"split": {"train": 0.8}}}, "must be 1.0"),
        ({"dataset": {"name": "has space"}}, "dataset.name"),
        ({"featrize": {}}, "featrize"),
        ({"train_classifier": {"seeds": [0, 0]}}, "train_classifier.seeds"),
        ({"train_classifier": {"seeds": []}}, "train_classifier.seeds"),
        ({"ensemble": {"members": ["baseline"]}}, "ensemble.members"),
        ({"scarcity": {"files_per_class": [4, 0]}}, "scarcity.files_per_class"),
        ({"scarcity": {"trials": [1, 1]}}, "scarcity.trials"),
        ({"report": {"confidence": 1.5}}, "report.confidence"),
    ],
)
def test_invalid_params_name_the_key(overlay, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_params(deep_merge(shipped(), overlay))


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_deep_merge_keeps_siblings():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}


def test_spectrograms_too_coarse_in_time_are_warned_about_naming_the_keys():
    """4 kHz audio with the 16 kHz STFT left in place: 12 frames of 256 ms for a 3 s clip."""
    from synthaug.feature_params import LogMelParams

    coarse = LogMelParams(sample_rate=4000, f_max=2000, n_fft=2048, hop_length=1024).resolution_warnings()
    assert len(coarse) == 2
    assert "only 12 frames" in coarse[0] and "featurize.hop_length" in coarse[0]
    assert "256 ms" in coarse[1] and "n_fft: 256, hop_length: 128" in coarse[1]  # 32 ms frames again
    assert LogMelParams(sample_rate=16000, n_fft=2048, hop_length=1024, n_mels=64).resolution_warnings() == []
    assert LogMelParams().resolution_warnings() == []  # the medical protocol's settings
