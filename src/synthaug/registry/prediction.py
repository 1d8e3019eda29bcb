"""Classify audio files with a registered model: expand paths, predict in batches, write a CSV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synthaug.errors import DataError
from synthaug.io import write_text_atomic

# Decodable by soundfile (libsndfile); folders are searched for these, files given by name are always tried.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
FILES_PER_BATCH = 32


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the audio files under each folder (recursively), sorted; DataError for a missing path."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise DataError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return files


def predict_files(model, files: Sequence[Path], *, batch_size: int = FILES_PER_BATCH, progress: bool = True) -> pd.DataFrame:
    """`model.predict` (a pyfunc or an AudioClassifier) over `files` in batches: path, label, p_<class>..., n_clips, error."""
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(files), unit="file", desc="predict", disable=None if progress else True) as bar:
        for start in range(0, len(files), batch_size):
            batch = [str(p) for p in files[start : start + batch_size]]
            out = model.predict(pd.DataFrame({"path": batch}))
            parts.append(pd.concat([pd.DataFrame({"path": batch}), out.reset_index(drop=True)], axis=1))
            bar.update(len(batch))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"path": []})


def write_predictions(frame: pd.DataFrame, out: Path) -> None:
    """The predictions as CSV, written atomically (a half-written file never looks complete)."""
    write_text_atomic(Path(out), frame.to_csv(index=False, float_format="%.6f"))


def evaluate_split(model, manifest_path: Path, data_root: Path, split: str, class_names: list[str], metric: str) -> float:
    """`metric` (val_file_macro_f1, ...) of `model` on the manifest's files of `split`, from their audio."""
    from synthaug.datasets.manifest import read_manifest
    from synthaug.evaluation.metrics import evaluate

    manifest = read_manifest(manifest_path)
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise DataError(f"{manifest_path}: no files in split {split!r}")
    frame = predict_files(model, [Path(data_root) / p for p in rows["path"]], progress=False)
    failed = frame[frame["error"] != ""]
    if len(failed):
        raise DataError(f"{len(failed)} {split} file(s) cannot be read, e.g. {failed['path'].iloc[0]}: {failed['error'].iloc[0]}")
    columns = [f"p_{c}" for c in class_names]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the model predicts other classes than {class_names}; compare models of the same data set")
    y = pd.Categorical(rows["label"], categories=class_names).codes.astype(np.int64)
    level, name = metric.split("_", 2)[1:]
    result = evaluate(y, frame[columns].to_numpy(np.float64), rows["path"].to_numpy(), class_names)
    return float(result[level][name])
