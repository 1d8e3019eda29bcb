"""The adapter registry: names, option checking and clear errors."""

from __future__ import annotations

import json

import pytest

from synthaug.datasets import ADAPTERS, AdapterResult, load_dataset
from synthaug.errors import ConfigError, DataError
from tests.datasets.helpers import write_audio


def test_every_adapter_is_registered():
    assert set(ADAPTERS) == {"coswara", "folder", "csv", "fsdd", "covid19-cough", "demo"}


def test_unknown_adapter_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.adapter: .*'nope'.*'coswara'.*'folder'"):
        load_dataset("nope", tmp_path, {})


def test_unknown_option_is_named_with_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.options.min_qualty: .*'coswara'.*'min_quality'"):
        load_dataset("coswara", tmp_path, {"min_qualty": 1})
    with pytest.raises(ConfigError, match=r"dataset.options.table: .*'fsdd'.*none"):
        load_dataset("fsdd", tmp_path, {"table": "x.csv"})


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_missing_root_names_the_path(tmp_path, adapter):
    missing = tmp_path / "not-there"
    with pytest.raises(DataError, match="not-there"):
        load_dataset(adapter, missing, None)


def test_options_reach_the_adapter(tmp_path):
    for cls in ("a", "b"):
        write_audio(tmp_path / cls / "x.wav")
        write_audio(tmp_path / cls / "y.flac")
    result = load_dataset("folder", tmp_path, {"extensions": ["flac"], "source": "mine"})
    assert isinstance(result, AdapterResult)
    assert result.manifest["path"].tolist() == ["a/y.flac", "b/y.flac"]
    assert set(result.manifest["source"]) == {"mine"}


def test_reports_are_json_serializable(tmp_path):
    write_audio(tmp_path / "a" / "x.wav")
    (tmp_path / "a" / "broken.wav").write_bytes(b"RIFF")
    result = load_dataset("folder", tmp_path, {})
    assert json.loads(json.dumps(result.report))["unreadable"]["count"] == 1
