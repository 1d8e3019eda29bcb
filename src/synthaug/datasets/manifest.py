"""The manifest: one row per audio file, the contract between `prepare` and every later stage.

Columns, in this order (adapters may append extra columns after them):

- `path`        posix path relative to the data root the adapter was given
- `label`       class name (str)
- `group`       participant, speaker or recording id (str); no group appears in two splits
- `split`       'train', 'val', 'test', or '' when the source predefines no split for the row
- `source`      where the row comes from: the adapter name or the recording channel (str)
- `duration_s`  float seconds, NaN when the file cannot be probed
- `sample_rate` int Hz, 0 when the file cannot be probed
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from synthaug.errors import DataError

MANIFEST_COLUMNS = ("path", "label", "group", "split", "source", "duration_s", "sample_rate")
SPLITS = ("train", "val", "test")
TEXT_COLUMNS = ("path", "label", "group", "split", "source")

# Text columns must round-trip literally: a label "NA" or a group "null" is data, not a missing
# value. Only numeric and extra columns get pandas' usual missing-value markers.
_MISSING_MARKERS = ["", "nan", "NaN", "NA", "<NA>", "None", "null"]
_EXAMPLES = 5


def to_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """Return `df` with the manifest columns first, in order, and their dtypes fixed.

    Text columns become str with '' (never NaN) for missing values; `duration_s` float;
    `sample_rate` int with 0 for missing. Extra columns keep their values and order.
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"manifest lacks columns {missing}; it must have {list(MANIFEST_COLUMNS)}")
    extras = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    out = df.loc[:, [*MANIFEST_COLUMNS, *extras]].copy()
    for column in TEXT_COLUMNS:
        out[column] = out[column].fillna("").astype(str)
    out["duration_s"] = pd.to_numeric(out["duration_s"], errors="coerce").astype(float)
    out["sample_rate"] = pd.to_numeric(out["sample_rate"], errors="coerce").fillna(0).astype("int64")
    return out.reset_index(drop=True)


def validate_manifest(df: pd.DataFrame, where: str) -> list[str]:
    """Check the manifest contract; raise DataError naming `where` and every problem found.

    Problems: missing columns, no rows, empty or absolute paths, paths that lead out of the data
    root (`../x.wav`), empty labels or groups, duplicate paths, split values outside SPLITS and '',
    a group in more than one split.
    A group carrying several labels is allowed (a participant may have recordings of two
    classes) but worth knowing: it comes back as a list of notes (empty when there is nothing).
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{where}: manifest lacks columns {missing}; required: {list(MANIFEST_COLUMNS)}")
    if df.empty:
        raise DataError(f"{where}: manifest has no rows; check the data root and the adapter options")

    text = df.loc[:, list(TEXT_COLUMNS)].fillna("").astype(str)
    problems = []
    for column in ("path", "label", "group"):
        blank = text[column].str.strip() == ""
        if blank.any():
            problems.append(f"{blank.sum()} rows with an empty {column!r} (e.g. row {blank.idxmax()})")
    absolute = text["path"].map(lambda p: PurePosixPath(p).is_absolute() or Path(p).is_absolute())
    if absolute.any():
        problems.append(
            f"{absolute.sum()} absolute paths (paths are relative to the data root), e.g. {_examples(text.loc[absolute, 'path'])}"
        )
    outside = ~absolute & text["path"].map(escapes_root)
    if outside.any():
        rows = [f"row {i}: {p!r}" for i, p in text.loc[outside, "path"].items()]
        problems.append(
            f"{outside.sum()} paths lead outside the data root (dataset.root), "
            f"e.g. {_examples(rows)}; list only files inside the data root"
        )
    duplicated = text["path"].duplicated(keep=False)
    if duplicated.any():
        problems.append(
            f"{text.loc[duplicated, 'path'].nunique()} paths listed more than once, "
            f"e.g. {_examples(text.loc[duplicated, 'path'].unique())}"
        )
    unknown = sorted(set(text["split"]) - {*SPLITS, ""})
    if unknown:
        problems.append(f"unknown split values {unknown}; allowed: {list(SPLITS)} or '' (no predefined split)")
    assigned = text[text["split"] != ""]
    splits_per_group = assigned.groupby("group")["split"].nunique()
    leaking = splits_per_group[splits_per_group > 1].index
    if len(leaking):
        problems.append(f"{len(leaking)} groups appear in more than one split, e.g. {_examples(leaking)}")
    if problems:
        raise DataError(f"{where}: invalid manifest: " + "; ".join(problems))

    labels_per_group = text.groupby("group")["label"].nunique()
    mixed = labels_per_group[labels_per_group > 1].index
    if len(mixed):
        return [f"{where}: {len(mixed)} groups carry more than one label, e.g. {_examples(mixed)}"]
    return []


def escapes_root(path: str) -> bool:
    """Whether a relative posix path leads out of the folder it is relative to (`../x`, `a/../../x`).

    Judged on the text, not by resolving links: a data root whose files are links into a cache
    (DVC can check data out as symlinks) is still inside the root.
    """
    normal = posixpath.normpath(str(path).replace("\\", "/"))
    return normal == ".." or normal.startswith("../")


def write_manifest(df: pd.DataFrame, path: str | Path) -> None:
    """Validate `df` and write it as CSV atomically: an interrupted write leaves no partial file."""
    path = Path(path)
    validate_manifest(df, where=str(path))
    manifest = to_manifest(df)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            manifest.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest CSV; text columns come back as str with '' for missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest {path} not found; run the `prepare` stage first (dvc repro prepare)")
    header = pd.read_csv(path, nrows=0).columns
    df = pd.read_csv(
        path,
        dtype={c: str for c in TEXT_COLUMNS if c in header},
        keep_default_na=False,
        na_values={c: _MISSING_MARKERS for c in header if c not in TEXT_COLUMNS},
    )
    validate_manifest(df, where=str(path))
    return to_manifest(df)


def _examples(values) -> list[str]:
    return [str(v) for v in list(values)[:_EXAMPLES]]


def group_mapping(manifest_path: Path) -> dict[str, str]:
    """{file id: group} from the manifest: featurize names each file by its manifest `path`."""
    manifest = read_manifest(manifest_path)
    return dict(zip(manifest["path"].astype(str), manifest["group"].astype(str)))


def groups_of(file_ids: np.ndarray, mapping: Mapping[str, str] | None, *, source: str = "the manifest") -> np.ndarray:
    """The group of each file id from {file id: group}; each file its own group without a mapping (its clips
    still stay together).

    The one answer to "which group is this file in": a file id the mapping does not list is a DataError,
    never a group of its own, since it means the features or predictions are older than the manifest and
    a participant's recordings could land on both sides of a split.
    """
    file_ids = np.asarray(file_ids, dtype=str)
    if mapping is None:
        return file_ids
    missing = sorted(set(file_ids.tolist()) - set(mapping))
    if missing:
        raise DataError(
            f"{source}: {len(missing)} file(s) not listed, e.g. {missing[0]!r}; they are older than the manifest: "
            "re-run featurize and the stages after it (dvc repro)"
        )
    return np.asarray([mapping[file_id] for file_id in file_ids], dtype=str)


def file_groups(file_ids: np.ndarray, manifest_path: Path | None) -> np.ndarray:
    """The manifest's `group` of each file id (`groups_of`); each file its own group without a manifest."""
    if manifest_path is None:
        return np.asarray(file_ids, dtype=str)
    return groups_of(file_ids, group_mapping(manifest_path), source=str(manifest_path))
