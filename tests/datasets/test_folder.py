"""The folder adapter: class folders, split folders, and splits or groups taken from file names."""

from __future__ import annotations

import pytest

from synthaug.datasets import folder
from synthaug.errors import ConfigError, DataError
from tests.datasets.helpers import write_audio


def test_class_folders_and_stray_files(tmp_path):
    for path in ("dog/a.wav", "dog/deep/b.flac", "cat/c.ogg", "cat/d.WAV"):
        write_audio(tmp_path / path)
    write_audio(tmp_path / "loose.wav")  # no class folder
    (tmp_path / "README.txt").write_text("notes")
    (tmp_path / "cat" / ".hidden.wav").write_bytes(b"")

    result = folder.load(tmp_path)
    manifest, report = result.manifest, result.report
    assert manifest[["path", "label"]].values.tolist() == [
        ["cat/c.ogg", "cat"],
        ["cat/d.WAV", "cat"],
        ["dog/a.wav", "dog"],
        ["dog/deep/b.flac", "dog"],
    ]
    assert (manifest["group"] == manifest["path"]).all()  # every file its own group
    assert (manifest["split"] == "").all() and set(manifest["source"]) == {"folder"}
    assert (manifest["sample_rate"] == 8000).all()
    assert report["unmatched"]["label"] == {"count": 1, "examples": ["loose.wav"]}
    assert report["ignored_files"] == {".txt": 1, "(hidden)": 1}


def test_split_folders(tmp_path):
    for path in ("train/ok/1.wav", "train/ok/2.wav", "train/bad/3.wav", "test/ok/4.wav", "test/bad/5.wav"):
        write_audio(tmp_path / path)
    manifest = folder.load(tmp_path, split_dirs={"train": "train", "test": "test"}).manifest
    assert manifest.set_index("path")["split"].to_dict() == {
        "test/bad/5.wav": "test",
        "test/ok/4.wav": "test",
        "train/bad/3.wav": "train",
        "train/ok/1.wav": "train",
        "train/ok/2.wav": "train",
    }
    assert manifest.set_index("path")["label"]["train/bad/3.wav"] == "bad"


def test_idmt_style_split_from_noise_level_in_the_name(tmp_path):
    """IDMT-ISA-METAL-BALLS / -PUCKS: class folders; the test files carry louder background noise."""
    names = ["ball_rec01_vol050.wav", "ball_rec02_vol100.wav", "ball_rec03_vol050.wav", "ball_rec04_vol075.wav"]
    for cls in ("steel", "glass"):
        for name in names:
            write_audio(tmp_path / cls / name)
    options = {"split_pattern": r"_vol(?P<split>\d+)\.wav$", "split_map": {"050": "train", "100": "test"}}
    result = folder.load(tmp_path, group_pattern=r"(?P<group>[^/]+/ball_rec\d+)", **options)
    manifest = result.manifest
    assert len(manifest) == 6
    assert manifest.groupby("split").size().to_dict() == {"test": 2, "train": 4}
    assert manifest.loc[manifest["path"] == "glass/ball_rec02_vol100.wav", ["label", "split", "group"]].values.tolist() == [
        ["glass", "test", "glass/ball_rec02"]
    ]
    assert result.report["unmatched"]["split"]["count"] == 2  # vol075 is in no split_map
    # A group rule that puts one group in both predefined splits is caught, not silently kept.
    with pytest.raises(DataError, match="more than one split"):
        folder.load(tmp_path, group_pattern=r"(?P<group>^[^/]+)", **options)


def test_label_pattern_from_file_name(tmp_path):
    for name in ("x_label-up_1.wav", "x_label-down_2.wav", "unlabelled.wav"):
        write_audio(tmp_path / "all" / name)
    result = folder.load(tmp_path, label_pattern=r"label-(?P<label>\w+?)_")
    assert sorted(result.manifest["label"]) == ["down", "up"]
    assert result.report["unmatched"]["label"]["examples"] == ["all/unlabelled.wav"]


@pytest.mark.parametrize(
    "options, key",
    [
        ({"split_pattern": "vol(\\d+)"}, "dataset.options.split_pattern"),
        ({"group_pattern": "(?P<group"}, "dataset.options.group_pattern"),
        ({"split_map": {"a": "train"}}, "dataset.options.split_map"),
        ({"split_pattern": "(?P<split>x)", "split_map": {"x": "training"}}, "dataset.options.split_map"),
        ({"split_dirs": {"train": "train"}, "split_pattern": "(?P<split>x)"}, "dataset.options.split_dirs"),
        ({"split_dirs": {"training": "train"}}, "dataset.options.split_dirs"),
    ],
)
def test_bad_options_are_named(tmp_path, options, key):
    write_audio(tmp_path / "train" / "a" / "x.wav")
    with pytest.raises(ConfigError, match=key):
        folder.load(tmp_path, **options)


def test_missing_split_folder_and_empty_tree(tmp_path):
    write_audio(tmp_path / "train" / "a" / "x.wav")
    with pytest.raises(DataError, match="split folder for 'test'"):
        folder.load(tmp_path, split_dirs={"train": "train", "test": "test"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no usable audio files"):
        folder.load(tmp_path / "empty")
