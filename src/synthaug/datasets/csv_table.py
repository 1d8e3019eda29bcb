"""Adapter `csv`: any table that lists audio files with a label (and optionally group and split).

Rows with an empty label or group, or whose file does not exist, are left out and counted in the
report (`missing_label`, `missing_group`, `missing_files`); split values other than train, val,
test or empty, and paths that lead outside the data root, are a DataError naming the line. Other
columns of the table are kept as extra manifest columns. Without `group_column`, every file is its
own group: columns whose names say they hold groups (participant, patient, speaker, subject,
group) are then listed in the report under `unused_group_columns`, for the data report to warn.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

import pandas as pd

from synthaug.datasets.base import AdapterResult, counted, finish, require_dir, require_file, resolve_option_path
from synthaug.datasets.manifest import MANIFEST_COLUMNS, SPLITS, escapes_root
from synthaug.errors import ConfigError, DataError

# Column names that say a column identifies the people or recordings files belong together by,
# e.g. "participant", "Speaker ID", "subject_id", "patient_no", "groups".
GROUP_LIKE_COLUMN = re.compile(r"(group|participant|patient|speaker|subject)s?([ _-]?(id|no|number|code))?")


def load(
    root: Path,
    table: str | Path = "metadata.csv",  # the CSV, relative to root
    path_column: str = "path",  # the column of audio paths, relative to root
    label_column: str = "label",  # the column of class labels
    group_column: str | None = None,  # the column of groups (participant, machine); null: each file its own group
    split_column: str | None = None,  # the column of predefined splits (train, val, test); null: assigned by prepare
    source: str = "csv",  # the manifest's source column
) -> AdapterResult:
    """List the files of `table` (absolute, or relative to `root`); its paths are relative to `root`.

    `group_column` None makes every file its own group; `split_column` None leaves the split to
    `assign_splits`. `source` fills the manifest's source column.
    """
    files, report = read_table(
        root,
        table=table,
        path_column=path_column,
        label_column=label_column,
        group_column=group_column,
        split_column=split_column,
        source=source,
    )
    return finish(files, Path(root), "csv", report)


def read_table(
    root: Path,
    *,
    table: str | Path,
    path_column: str,
    label_column: str,
    group_column: str | None = None,
    split_column: str | None = None,
    source: str,
) -> tuple[pd.DataFrame, dict]:
    """The usable rows of `table` (manifest columns without the probed ones) and the report so far;
    adapters for sources that ship such a table build on this."""
    root = require_dir(Path(root), "data root", "point dataset.root at the folder holding the audio files")
    table_path = require_file(
        resolve_option_path(root, table, "metadata.csv", "table"),
        "metadata table",
        "set dataset.options.table to the CSV that lists the audio files",
    )
    # Everything as literal text: a label "NA" or a speaker "None" is data, not a missing value.
    rows = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    columns = {
        "path_column": path_column,
        "label_column": label_column,
        "group_column": group_column,
        "split_column": split_column,
    }
    for key, column in columns.items():
        if column is not None and column not in rows.columns:
            raise ConfigError(
                f"dataset.options.{key}: column {column!r} is not in {table_path}; its columns are {list(rows.columns)}"
            )

    # Line numbers as an editor shows them: the header is line 1.
    paths = [
        _relative_posix(p, root, table_path, line=i + 2, column=path_column) for i, p in enumerate(rows[path_column].str.strip())
    ]
    files = pd.DataFrame(
        {
            "path": pd.Series(paths, index=rows.index, dtype=str),
            "label": rows[label_column].str.strip(),
            "split": rows[split_column].str.strip().str.lower() if split_column else "",
            "source": source,
        }
    )
    files["group"] = rows[group_column].str.strip() if group_column else files["path"]
    _check_splits(files["split"], table_path, split_column)
    mapped = {c for c in columns.values() if c}
    extras = [c for c in rows.columns if c not in mapped and c not in MANIFEST_COLUMNS]
    files = pd.concat([files, rows[extras]], axis=1)

    no_label = files["label"] == ""
    no_group = ~no_label & (files["group"] == "")
    exists = files["path"].map(lambda p: (root / p).is_file())
    missing = ~no_label & ~no_group & ~exists
    report = {
        "table": str(table_path),
        "rows": len(rows),
        "missing_label": counted(files.loc[no_label, "path"]),
        "missing_group": counted(files.loc[no_group, "path"]),
        "missing_files": counted(files.loc[missing, "path"]),
        "unused_group_columns": [] if group_column else group_like_columns(rows.columns),
    }
    return files[~no_label & ~no_group & ~missing], report


def group_like_columns(columns) -> list[str]:
    """The columns whose names say they hold a group (participant, speaker, ...) id."""
    return [str(c) for c in columns if GROUP_LIKE_COLUMN.fullmatch(str(c).strip().lower())]


def _relative_posix(path: str, root: Path, table_path: Path, *, line: int, column: str) -> str:
    """A table path as a normalized posix path relative to root; a path outside root is a DataError."""
    if not path:
        return path
    where = f"{table_path} line {line} (column {column!r})"
    fix = "list paths relative to dataset.root, to files inside it"
    candidate = Path(path)
    if candidate.is_absolute():
        # Compared as text first: files inside the root may be links into a cache (DVC) that
        # resolve elsewhere. Resolved second, for a root given through a link.
        for inner, outer in ((candidate, root.absolute()), (candidate.resolve(), root.resolve())):
            try:
                candidate = Path(os.path.normpath(inner)).relative_to(os.path.normpath(outer))
                break
            except ValueError:
                continue
        else:
            raise DataError(f"{where}: path {path} lies outside the data root dataset.root = {root}; {fix}")
    relative = posixpath.normpath(candidate.as_posix())
    if escapes_root(relative):
        raise DataError(f"{where}: path {path!r} leads outside the data root dataset.root = {root}; {fix}")
    return relative


def _check_splits(splits: pd.Series, table_path: Path, split_column: str | None) -> None:
    unknown = sorted(set(splits) - {*SPLITS, ""})
    if unknown:
        raise DataError(
            f"{table_path}: column {split_column!r} holds unknown split values {unknown}; allowed: {list(SPLITS)} or empty"
        )
