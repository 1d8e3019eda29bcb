"""The spectrogram-set file: round trip, no pickle, atomic writes, clear errors for bad files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from synthaug.errors import DataError
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set, save_spectrogram_set


def make_set(n: int = 6) -> SpectrogramSet:
    rng = np.random.default_rng(0)
    return SpectrogramSet(
        x=rng.standard_normal((n, 1, 16, 12)).astype(np.float32),
        y=np.arange(n) % 2,
        file_id=[f"file-{i // 2}" for i in range(n)],
        class_names=["healthy", "covid"],
        feature_params={"sample_rate": 16000, "n_mels": 16, "f_max": 8000.0, "win_length": None},
        metadata={"generator_run_id": "0123abcd", "seed": 7},
    )


def test_round_trip_keeps_arrays_and_metadata(tmp_path: Path):
    original = make_set()
    save_spectrogram_set(tmp_path / "train.npz", original)
    loaded = load_spectrogram_set(tmp_path / "train.npz")
    assert np.array_equal(loaded.x, original.x) and loaded.x.dtype == np.float32
    assert loaded.y.tolist() == [0, 1, 0, 1, 0, 1] and loaded.y.dtype == np.int64
    assert loaded.file_id.tolist() == original.file_id and loaded.file_id.dtype.kind == "U"
    assert loaded.class_names == original.class_names
    assert loaded.feature_params == original.feature_params and loaded.metadata == original.metadata
    assert len(loaded) == 6


def test_an_empty_set_round_trips(tmp_path: Path):
    empty = SpectrogramSet(np.zeros((0, 1, 16, 12), np.float32), np.zeros(0, np.int64), np.zeros(0, str), ["a"])
    save_spectrogram_set(tmp_path / "empty.npz", empty)
    assert load_spectrogram_set(tmp_path / "empty.npz").x.shape == (0, 1, 16, 12)


def test_the_file_holds_no_pickled_objects(tmp_path: Path):
    save_spectrogram_set(tmp_path / "s.npz", make_set())
    with np.load(tmp_path / "s.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["file_id", "meta", "x", "y"]
        assert all(data[name].dtype.kind != "O" for name in data.files)
        assert json.loads(str(data["meta"]))["class_names"] == ["healthy", "covid"]


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path):
    save_spectrogram_set(tmp_path / "s.npz", make_set())
    save_spectrogram_set(tmp_path / "s.npz", make_set(4))  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]
    assert len(load_spectrogram_set(tmp_path / "s.npz")) == 4


def test_an_inconsistent_set_is_never_written(tmp_path: Path):
    bad = make_set()
    bad.y = bad.y[:-1]
    with pytest.raises(DataError, match="6 rows"):
        save_spectrogram_set(tmp_path / "s.npz", bad)
    assert list(tmp_path.iterdir()) == []


def test_labels_must_index_class_names(tmp_path: Path):
    bad = make_set()
    bad.y = bad.y + 1
    with pytest.raises(DataError, match="2 class names"):
        save_spectrogram_set(tmp_path / "s.npz", bad)


def test_missing_file_names_the_path_and_the_fix(tmp_path: Path):
    with pytest.raises(DataError, match=r"missing\.npz: spectrogram set not found; run the stage"):
        load_spectrogram_set(tmp_path / "missing.npz")


def test_a_file_that_is_not_npz_raises_data_error(tmp_path: Path):
    (tmp_path / "s.npz").write_text("not an archive")
    with pytest.raises(DataError, match=r"s\.npz: cannot read spectrogram set"):
        load_spectrogram_set(tmp_path / "s.npz")


def test_a_truncated_file_raises_data_error(tmp_path: Path):
    save_spectrogram_set(tmp_path / "s.npz", make_set())
    data = (tmp_path / "s.npz").read_bytes()
    (tmp_path / "s.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"s\.npz"):
        load_spectrogram_set(tmp_path / "s.npz")


def test_missing_arrays_are_named(tmp_path: Path):
    np.savez(tmp_path / "s.npz", x=np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(DataError, match=r"missing arrays \['y', 'file_id', 'meta'\]"):
        load_spectrogram_set(tmp_path / "s.npz")


def test_inconsistent_shapes_in_a_file_raise_data_error(tmp_path: Path):
    meta = np.array(json.dumps({"class_names": ["a", "b"], "feature_params": {}, "metadata": {}}))
    np.savez(
        tmp_path / "s.npz", x=np.zeros((3, 4, 4), np.float32), y=np.zeros(3, np.int64), file_id=np.array(["a"] * 3), meta=meta
    )
    with pytest.raises(DataError, match=r"s\.npz: inconsistent spectrogram set: x must be \[N, 1, n_mels, frames\]"):
        load_spectrogram_set(tmp_path / "s.npz")


def test_a_pickled_array_is_refused(tmp_path: Path):
    meta = np.array(json.dumps({"class_names": ["a"], "feature_params": {}, "metadata": {}}))
    np.savez(
        tmp_path / "s.npz",
        x=np.zeros((1, 1, 4, 4), np.float32),
        y=np.zeros(1, np.int64),
        file_id=np.array([object()], dtype=object),
        meta=meta,
    )
    assert zipfile.is_zipfile(tmp_path / "s.npz")
    with pytest.raises(DataError, match=r"s\.npz: cannot read spectrogram set"):
        load_spectrogram_set(tmp_path / "s.npz")
