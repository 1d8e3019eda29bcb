"""The csv adapter and the demo adapter built on it."""

from __future__ import annotations

import pandas as pd
import pytest

from synthaug.datasets import csv_table, demo_adapter
from synthaug.errors import ConfigError, DataError
from tests.datasets.helpers import write_audio


@pytest.fixture
def table_root(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav", "sub/d.wav"):
        write_audio(tmp_path / "audio" / name)
    pd.DataFrame(
        {
            "file": ["audio/a.wav", "audio/b.wav", "audio/c.wav", "audio/sub/d.wav", "audio/gone.wav", "audio/x.wav"],
            "class": ["yes", "no", "NA", "yes", "no", ""],
            "patient": ["p1", "p1", "p2", "p3", "p4", "p5"],
            "fold": ["train", "train", "test", "Test", "test", "train"],
            "age": ["30", "30", "41", "", "50", "60"],
        }
    ).to_csv(tmp_path / "list.csv", index=False)
    return tmp_path


def test_columns_groups_splits_and_report(table_root):
    result = csv_table.load(
        table_root,
        table="list.csv",
        path_column="file",
        label_column="class",
        group_column="patient",
        split_column="fold",
        source="clinic",
    )
    manifest, report = result.manifest, result.report
    assert manifest[["path", "label", "group", "split"]].values.tolist() == [
        ["audio/a.wav", "yes", "p1", "train"],
        ["audio/b.wav", "no", "p1", "train"],
        ["audio/c.wav", "NA", "p2", "test"],
        ["audio/sub/d.wav", "yes", "p3", "test"],
    ]
    assert set(manifest["source"]) == {"clinic"}
    assert list(manifest.columns)[-1] == "age"
    assert report["missing_files"] == {"count": 1, "examples": ["audio/gone.wav"]}
    assert report["missing_label"]["count"] == 1 and report["rows"] == 6


def test_defaults_make_each_file_its_own_group(table_root):
    table = pd.read_csv(table_root / "list.csv").rename(columns={"file": "path", "class": "label"})
    table.to_csv(table_root / "metadata.csv", index=False)
    manifest = csv_table.load(table_root).manifest
    assert (manifest["group"] == manifest["path"]).all() and (manifest["split"] == "").all()
    assert set(manifest["source"]) == {"csv"}


def test_absolute_table_path(table_root, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("tables") / "t.csv"
    pd.DataFrame({"path": ["audio/a.wav"], "label": ["x"]}).to_csv(elsewhere, index=False)
    assert csv_table.load(table_root, table=elsewhere).manifest["path"].tolist() == ["audio/a.wav"]


def test_wrong_column_and_bad_split_values(table_root):
    with pytest.raises(ConfigError, match=r"dataset.options.label_column: column 'label'.*'class'"):
        csv_table.load(table_root, table="list.csv", path_column="file")
    pd.DataFrame({"path": ["audio/a.wav"], "label": ["x"], "split": ["dev"]}).to_csv(table_root / "s.csv", index=False)
    with pytest.raises(DataError, match=r"unknown split values \['dev'\]"):
        csv_table.load(table_root, table="s.csv", split_column="split")
    with pytest.raises(DataError, match="metadata table .*missing.csv"):
        csv_table.load(table_root, table="missing.csv")


def test_demo_adapter_reads_metadata_csv(tmp_path):
    rows = []
    for i, (label, split) in enumerate([("tone", "train"), ("noise", "train"), ("tone", ""), ("noise", "")]):
        write_audio(tmp_path / "clips" / f"{i}.wav", sample_rate=16000)
        rows.append({"path": f"clips/{i}.wav", "label": label, "group": f"g{i}", "split": split, "snr_db": 10 * i})
    pd.DataFrame(rows).to_csv(tmp_path / "metadata.csv", index=False)
    result = demo_adapter.load(tmp_path)
    manifest = result.manifest
    assert manifest["split"].tolist() == ["train", "train", "", ""]
    assert set(manifest["source"]) == {"demo"} and (manifest["sample_rate"] == 16000).all()
    assert manifest["snr_db"].tolist() == ["0", "10", "20", "30"]
    assert result.report["adapter"] == "demo"


def test_demo_adapter_without_metadata_says_how_to_fix(tmp_path):
    with pytest.raises(DataError, match="generate the demo data set"):
        demo_adapter.load(tmp_path)
