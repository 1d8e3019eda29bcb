"""The manifest contract: schema, validation, atomic and dtype-stable CSV round trip."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from synthaug.datasets.manifest import MANIFEST_COLUMNS, SPLITS, read_manifest, to_manifest, validate_manifest, write_manifest
from synthaug.errors import DataError


def make(rows: list[dict]) -> pd.DataFrame:
    base = {"split": "", "source": "test", "duration_s": 1.0, "sample_rate": 16000}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_constants():
    assert MANIFEST_COLUMNS == ("path", "label", "group", "split", "source", "duration_s", "sample_rate")
    assert SPLITS == ("train", "val", "test")


def test_round_trip_keeps_text_literal_and_types(tmp_path):
    df = make(
        [
            {"path": "a/1.wav", "label": "NA", "group": "None", "split": "train", "snr": 3.5},
            {
                "path": "a/2.wav",
                "label": "null",
                "group": "g2",
                "split": "test",
                "duration_s": math.nan,
                "sample_rate": 0,
                "snr": None,
            },
        ]
    )
    path = tmp_path / "out" / "manifest.csv"
    write_manifest(df, path)
    back = read_manifest(path)
    assert list(back.columns) == [*MANIFEST_COLUMNS, "snr"]
    assert back["label"].tolist() == ["NA", "null"] and back["group"].tolist() == ["None", "g2"]
    for column in ("path", "label", "group", "split", "source"):
        assert back[column].map(type).eq(str).all()
    assert back["sample_rate"].dtype == "int64" and back["sample_rate"].tolist() == [16000, 0]
    assert back["duration_s"].dtype == "float64" and math.isnan(back.loc[1, "duration_s"])
    assert math.isnan(back.loc[1, "snr"])
    assert [p.name for p in path.parent.iterdir()] == ["manifest.csv"]  # no temporary file left


def test_empty_split_reads_back_as_empty_string(tmp_path):
    path = tmp_path / "manifest.csv"
    write_manifest(make([{"path": "x.wav", "label": "a", "group": "g"}]), path)
    assert read_manifest(path)["split"].tolist() == [""]


def test_failed_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "manifest.csv"
    write_manifest(make([{"path": "x.wav", "label": "a", "group": "g"}]), path)
    before = path.read_text()
    with pytest.raises(DataError):
        write_manifest(make([{"path": "x.wav", "label": "", "group": "g"}]), path)
    assert path.read_text() == before


@pytest.mark.parametrize(
    "rows, problem",
    [
        ([], "no rows"),
        ([{"path": "x.wav", "label": "a", "group": "g"}, {"path": "x.wav", "label": "a", "group": "h"}], "listed more than once"),
        (
            [
                {"path": "x.wav", "label": "a", "group": "g", "split": "train"},
                {"path": "y.wav", "label": "a", "group": "g", "split": "test"},
            ],
            "more than one split",
        ),
        ([{"path": "x.wav", "label": "a", "group": "g", "split": "validation"}], "unknown split values"),
        ([{"path": "/abs/x.wav", "label": "a", "group": "g"}], "absolute paths"),
        (
            [{"path": "x.wav", "label": "a", "group": "g"}, {"path": "a/../../params.yaml", "label": "a", "group": "h"}],
            r"1 paths lead outside the data root \(dataset.root\), e.g. \[\"row 1: 'a/../../params.yaml'\"\]",
        ),
        ([{"path": "x.wav", "label": "", "group": "g"}], "empty 'label'"),
    ],
)
def test_validation_names_the_place_and_the_problem(rows, problem):
    df = make(rows) if rows else pd.DataFrame(columns=list(MANIFEST_COLUMNS))
    with pytest.raises(DataError, match=f"where-it-is.*{problem}"):
        validate_manifest(df, "where-it-is")


def test_missing_columns_are_named():
    with pytest.raises(DataError, match=r"where: .*\['group', 'split'"):
        validate_manifest(pd.DataFrame({"path": ["x"], "label": ["a"]}), "where")


def test_group_with_two_labels_is_allowed_and_noted():
    df = make([{"path": "x.wav", "label": "a", "group": "g"}, {"path": "y.wav", "label": "b", "group": "g"}])
    notes = validate_manifest(df, "here")
    assert len(notes) == 1 and "more than one label" in notes[0]
    assert validate_manifest(df.assign(group=["g", "h"]), "here") == []


def test_to_manifest_orders_columns_and_fills_missing_values():
    df = make([{"extra": 1, "path": "x.wav", "label": "a", "group": "g", "split": None, "sample_rate": None}])
    out = to_manifest(df)
    assert list(out.columns) == [*MANIFEST_COLUMNS, "extra"]
    assert out.loc[0, "split"] == "" and out.loc[0, "sample_rate"] == 0


def test_read_missing_manifest_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="prepare"):
        read_manifest(tmp_path / "nope.csv")
