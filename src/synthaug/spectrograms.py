"""The one file format for real and synthetic spectrogram sets: an uncompressed, pickle-free .npz.

Arrays `x` (float32 [N, 1, n_mels, frames]), `y` (int64 [N]) and `file_id` (unicode [N]) are
stored as they are; class names, feature parameters and free-form metadata (for synthetic sets:
the generator's MLflow run id and seed) go into one JSON string in a 0-d unicode array `meta`, so
the file loads with allow_pickle=False.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthaug.errors import DataError

FORMAT_VERSION = 1
_ARRAYS = ("x", "y", "file_id", "meta")


@dataclass
class SpectrogramSet:
    """Labelled log-mel spectrograms, one row per clip; `file_id` groups the clips of one file."""

    x: np.ndarray  # float32 [N, 1, n_mels, frames]
    y: np.ndarray  # int64 [N], index into class_names
    file_id: np.ndarray  # str [N]
    class_names: list[str]
    feature_params: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)  # e.g. split; for synthetic sets generator run id, seed

    def select(self, mask: np.ndarray) -> SpectrogramSet:
        """The spectrograms where `mask` is true (a boolean array or indices), with the same metadata."""
        return dataclasses.replace(self, x=self.x[mask], y=self.y[mask], file_id=self.file_id[mask])

    def __len__(self) -> int:
        return len(self.x)


def save_spectrogram_set(path: str | Path, spectrograms: SpectrogramSet) -> None:
    """Write `spectrograms` to `path` (.npz) atomically: a temporary file beside it, then a rename.

    Raises DataError (naming `path`) when the set is inconsistent, so a bad set is never written.
    """
    path = Path(path)
    s = _as_canonical(spectrograms, path)
    meta = {
        "format_version": FORMAT_VERSION,
        "class_names": s.class_names,
        "feature_params": s.feature_params,
        "metadata": s.metadata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, x=s.x, y=s.y, file_id=s.file_id, meta=np.array(json.dumps(meta)))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_spectrogram_set(path: str | Path) -> SpectrogramSet:
    """Read a set written by save_spectrogram_set; DataError naming the file if missing or invalid."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: spectrogram set not found; run the stage that writes it (featurize or synthesize)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in _ARRAYS if name not in data.files]
            if missing:
                raise DataError(f"{path}: not a spectrogram set, missing arrays {missing}; re-run the stage that writes it")
            arrays = {name: data[name] for name in _ARRAYS}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        # allow_pickle=False raises ValueError on object arrays; a truncated file fails in zipfile.
        raise DataError(f"{path}: cannot read spectrogram set ({exc}); re-run the stage that writes it") from exc
    try:
        meta = json.loads(str(arrays["meta"]))
        class_names, feature_params, metadata = meta["class_names"], meta["feature_params"], meta["metadata"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: invalid metadata in spectrogram set ({exc}); re-run the stage that writes it") from exc
    loaded = SpectrogramSet(
        x=arrays["x"],
        y=arrays["y"],
        file_id=arrays["file_id"],
        class_names=list(class_names),
        feature_params=dict(feature_params),
        metadata=dict(metadata),
    )
    return _as_canonical(loaded, path)


def _as_canonical(s: SpectrogramSet, path: Path) -> SpectrogramSet:
    """Check shapes and labels, and return the set with canonical dtypes (float32, int64, str)."""

    def fail(problem: str) -> DataError:
        return DataError(f"{path}: inconsistent spectrogram set: {problem}")

    x, y, file_id = np.asarray(s.x), np.asarray(s.y), np.asarray(s.file_id)
    if x.ndim != 4 or x.shape[1] != 1:
        raise fail(f"x must be [N, 1, n_mels, frames], got shape {list(x.shape)}")
    if not np.issubdtype(x.dtype, np.floating):
        raise fail(f"x must hold floats, got {x.dtype}")
    if y.shape != (len(x),) or file_id.shape != (len(x),):
        raise fail(f"x has {len(x)} rows but y has shape {list(y.shape)} and file_id {list(file_id.shape)}")
    if len(y) and not np.issubdtype(y.dtype, np.integer):
        raise fail(f"y must hold integer class indices, got {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= len(s.class_names)):
        raise fail(f"labels range over [{y.min()}, {y.max()}] but there are {len(s.class_names)} class names")
    if file_id.dtype.kind not in "UO" and len(file_id):
        raise fail(f"file_id must hold strings, got {file_id.dtype}")
    return SpectrogramSet(
        x=x.astype(np.float32, copy=False),
        y=y.astype(np.int64, copy=False),
        file_id=file_id.astype(str),
        class_names=[str(name) for name in s.class_names],
        feature_params=dict(s.feature_params),
        metadata=dict(s.metadata),
    )
