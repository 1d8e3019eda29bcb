"""Atomic writes: a failure mid-write leaves the previous output untouched and no debris."""

from __future__ import annotations

import json

import pytest

from synthaug.io import atomic_directory, write_json_atomic


def test_atomic_directory_replaces_on_success(tmp_path):
    out = tmp_path / "features"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_directory(out) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (out / "new.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["features"]


def test_atomic_directory_keeps_old_output_on_failure(tmp_path):
    out = tmp_path / "features"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert (out / "old.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["features"]


def test_write_json_atomic_handles_numpy(tmp_path):
    import numpy as np

    path = tmp_path / "m" / "metrics.json"
    write_json_atomic(path, {"n": np.int64(3), "f": np.float32(0.5)})
    assert json.loads(path.read_text()) == {"n": 3, "f": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
