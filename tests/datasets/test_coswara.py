"""The Coswara adapter on generated audio trees that use the real participant ids and statuses."""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest

from synthaug.datasets import coswara
from synthaug.datasets.splits import assign_splits
from synthaug.errors import ConfigError, DataError
from tests.conftest import shared_dataset
from tests.datasets.helpers import wav_bytes

STATUS_LABELS = {
    "healthy": "negative",
    "positive_mild": "positive",
    "positive_moderate": "positive",
    "positive_asymp": "positive",
}
RECORDINGS = ("cough-heavy", "cough-shallow")


def date_folder(record_date: str) -> str:
    return record_date.replace("-", "")


@pytest.fixture(scope="module")
def metadata_root():
    return shared_dataset("coswara-metadata")


@pytest.fixture(scope="module")
def metadata(metadata_root) -> pd.DataFrame:
    return pd.read_csv(metadata_root / "combined_data.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory, metadata):
    """Every listed participant with both cough recordings: one tiny file, hard-linked 5,492 times."""
    tone = tmp_path_factory.mktemp("tone") / "tone.wav"
    tone.write_bytes(wav_bytes(0.05, 16000))
    root = tmp_path_factory.mktemp("coswara-full")
    for pid, record_date in metadata[["id", "record_date"]].itertuples(index=False):
        folder = root / date_folder(record_date) / pid
        folder.mkdir(parents=True)
        for recording in RECORDINGS:
            os.link(tone, folder / f"{recording}.wav")
    return root


@pytest.fixture
def small_tree(tmp_path, metadata):
    """Four participants of every status, plus the awkward cases a real extraction has."""
    sample = metadata.groupby("covid_status").head(4)
    root = tmp_path / "coswara"
    root.mkdir()
    sample.to_csv(root / "combined_data.csv", index=False)
    ids = sample.groupby("covid_status")["id"].apply(list)
    cases = {
        "no_audio": ids["healthy"][0],
        "missing_shallow": ids["healthy"][1],
        "zero_byte": ids["positive_mild"][0],
        "two_folders": ids["positive_moderate"][0],
    }
    audio = wav_bytes(0.2, 16000)
    for pid, record_date in sample[["id", "record_date"]].itertuples(index=False):
        if pid == cases["no_audio"]:
            continue
        folder = root / date_folder(record_date) / pid
        folder.mkdir(parents=True, exist_ok=True)
        for recording in (*RECORDINGS, "vowel-a"):
            if not (pid == cases["missing_shallow"] and recording == "cough-shallow"):
                (folder / f"{recording}.wav").write_bytes(audio)
    (
        root / date_folder(sample.set_index("id").loc[cases["zero_byte"], "record_date"]) / cases["zero_byte"] / "cough-heavy.wav"
    ).write_bytes(b"")
    for recording in RECORDINGS:
        (root / "20990101" / cases["two_folders"]).mkdir(parents=True, exist_ok=True)
        (root / "20990101" / cases["two_folders"] / f"{recording}.wav").write_bytes(audio)
        (root / "20200101" / "not-in-metadata").mkdir(parents=True, exist_ok=True)
        (root / "20200101" / "not-in-metadata" / f"{recording}.wav").write_bytes(audio)
    return root, sample, cases


def test_small_tree_labels_groups_and_report(small_tree):
    root, sample, cases = small_tree
    result = coswara.load(root)
    manifest, report = result.manifest, result.report

    status = manifest["group"].map(sample.set_index("id")["covid_status"])
    assert (manifest["label"] == status.map(STATUS_LABELS)).all()
    assert set(manifest["recording"]) == set(RECORDINGS)
    assert manifest["group"].nunique() == 15  # 16 kept participants, one without audio
    assert len(manifest) == 29  # 15 x 2, one cough-shallow missing
    assert (manifest["split"] == "").all() and (manifest["source"] == "coswara").all()

    assert report["excluded_status"] == {s: 4 for s in set(sample["covid_status"]) - set(STATUS_LABELS)}
    assert report["participants_without_audio"] == {"count": 1, "examples": [cases["no_audio"]]}
    assert report["folders_without_metadata"] == {"count": 1, "examples": ["20200101/not-in-metadata"]}
    assert report["missing_recordings"]["count"] == 1
    assert report["missing_recordings"]["examples"] == [f"{cases['missing_shallow']}/cough-shallow"]
    assert report["participants_in_several_folders"]["count"] == 1
    assert report["quality"] == {"min_quality": None, "annotated": False}
    assert json.loads(json.dumps(report)) == report


def test_small_tree_prefers_the_record_date_folder(small_tree):
    root, sample, cases = small_tree
    manifest = coswara.load(root).manifest
    paths = manifest.loc[manifest["group"] == cases["two_folders"], "path"]
    record_date = sample.set_index("id").loc[cases["two_folders"], "record_date"]
    assert len(paths) == 2 and all(p.startswith(date_folder(record_date) + "/") for p in paths)


def test_empty_file_stays_in_manifest_as_unreadable(small_tree):
    root, _, cases = small_tree
    result = coswara.load(root)
    row = result.manifest[
        (result.manifest["group"] == cases["zero_byte"]) & (result.manifest["recording"] == "cough-heavy")
    ].iloc[0]
    assert math.isnan(row["duration_s"]) and row["sample_rate"] == 0
    assert result.report["unreadable"]["count"] == 1
    assert result.report["unreadable"]["examples"][0]["path"] == row["path"]
    readable = result.manifest.drop(row.name)
    assert (readable["sample_rate"] == 16000).all() and readable["duration_s"].between(0.19, 0.21).all()


def test_recordings_option_and_annotations(small_tree, metadata_root):
    root, _, _ = small_tree
    result = coswara.load(root, recordings=["cough-heavy"], annotations_dir=metadata_root / "annotations")
    assert set(result.manifest["recording"]) == {"cough-heavy"}
    labels = pd.read_csv(metadata_root / "annotations" / "cough-heavy_labels.csv", skipinitialspace=True)
    expected = labels.set_index("FILENAME")["QUALITY"]
    got = result.manifest.set_index(result.manifest["group"] + "_cough-heavy")["quality"]
    assert (got == expected.reindex(got.index)).all()


@pytest.mark.slow  # reads the whole real metadata tree
def test_full_tree_matches_combined_data(full_tree, metadata_root, metadata):
    result = coswara.load(
        full_tree, metadata_csv=metadata_root / "combined_data.csv", annotations_dir=metadata_root / "annotations"
    )
    manifest, report = result.manifest, result.report
    expected = metadata["covid_status"].map(STATUS_LABELS).value_counts().sort_index()
    got = manifest.groupby("label")["group"].nunique().sort_index()
    print("\nparticipants per class: adapter", got.to_dict(), "| combined_data.csv", expected.to_dict())
    assert got.to_dict() == expected.to_dict()
    assert manifest["label"].value_counts().to_dict() == (2 * expected).to_dict()
    excluded = metadata.loc[~metadata["covid_status"].isin(STATUS_LABELS), "covid_status"].value_counts()
    assert report["excluded_status"] == excluded.to_dict()
    assert report["participants_without_audio"]["count"] == 0
    assert report["folders_without_metadata"]["count"] == 0
    assert report["unreadable"]["count"] == 0

    split = assign_splits(manifest, seed=0)
    assert (split.groupby("group")["split"].nunique() == 1).all()
    share = split["split"].value_counts(normalize=True)
    print("files per split:", split["split"].value_counts().to_dict())
    for name, fraction in {"train": 0.70, "val": 0.15, "test": 0.15}.items():
        assert share[name] == pytest.approx(fraction, abs=0.02)
    overall = split["label"].value_counts(normalize=True)
    per_split = pd.crosstab(split["split"], split["label"], normalize="index")
    assert ((per_split - overall).abs() < 0.05).all().all()


@pytest.mark.parametrize("min_quality", [1, 2])
def test_quality_filter_against_real_annotations(full_tree, metadata_root, metadata, min_quality):
    result = coswara.load(
        full_tree,
        metadata_csv=metadata_root / "combined_data.csv",
        annotations_dir=metadata_root / "annotations",
        min_quality=min_quality,
    )
    kept = metadata[metadata["covid_status"].isin(STATUS_LABELS)]
    quality = pd.concat(
        [
            pd.read_csv(metadata_root / "annotations" / f"{r}_labels.csv", skipinitialspace=True).assign(recording=r)
            for r in RECORDINGS
        ]
    )
    quality["id"] = quality.apply(lambda row: row["FILENAME"].removesuffix("_" + row["recording"]), axis=1)
    candidates = kept.merge(pd.DataFrame({"recording": RECORDINGS}), how="cross")
    candidates = candidates.merge(quality[["id", "recording", "QUALITY"]], on=["id", "recording"], how="left")
    good = candidates[candidates["QUALITY"] >= min_quality]
    expected = set(good["record_date"].str.replace("-", "") + "/" + good["id"] + "/" + good["recording"] + ".wav")

    assert set(result.manifest["path"]) == expected
    assert (result.manifest["quality"] >= min_quality).all()
    assert json.dumps(result.report)
    report = result.report["quality"]
    assert report["unlabelled"]["count"] == candidates["QUALITY"].isna().sum()
    assert report["below_min_quality"]["count"] == (candidates["QUALITY"] < min_quality).sum()


def test_bad_options_and_missing_inputs(small_tree, tmp_path):
    root, _, _ = small_tree
    with pytest.raises(ConfigError, match="dataset.options.min_quality"):
        coswara.load(root, min_quality=3)
    with pytest.raises(ConfigError, match="dataset.options.recordings"):
        coswara.load(root, recordings="cough-heavy")
    with pytest.raises(DataError, match="annotations"):
        coswara.load(root, min_quality=1)  # no <root>/annotations: filtering is impossible
    with pytest.raises(DataError, match="missing.csv"):
        coswara.load(root, metadata_csv="missing.csv")
    with pytest.raises(DataError, match="not a folder"):
        coswara.load(tmp_path / "nowhere")
