"""Adapter `csv`: any table that lists audio files with a label (and optionally group and split).

Rows with an empty label or group, or whose file does not exist, are left out and counted in the
report (`missing_label`, `missing_group`, `missing_files`); split values other than train, val,
test or empty are a DataError. Other columns of the table are kept as extra manifest columns.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from synthaug.datasets.base import (AdapterResult, counted, finish, require_dir, require_file,
                                    resolve_option_path)
from synthaug.datasets.manifest import MANIFEST_COLUMNS, SPLITS
from synthaug.errors import ConfigError, DataError


def load(
    root: Path,
    table: str | Path = "metadata.csv",
    path_column: str = "path",
    label_column: str = "label",
    group_column: str | None = None,
    split_column: str | None = None,
    source: str = "csv",
) -> AdapterResult:
    """List the files of `table` (absolute, or relative to `root`); its paths are relative to `root`.

    `group_column` None makes every file its own group; `split_column` None leaves the split to
    `assign_splits`. `source` fills the manifest's source column.
    """
    files, report = read_table(root, table=table, path_column=path_column, label_column=label_column,
                               group_column=group_column, split_column=split_column, source=source)
    return finish(files, Path(root), "csv", report)


def read_table(root: Path, *, table: str | Path, path_column: str, label_column: str,
               group_column: str | None = None, split_column: str | None = None,
               source: str) -> tuple[pd.DataFrame, dict]:
    """The usable rows of `table` (manifest columns without the probed ones) and the report so far;
    adapters for sources that ship such a table build on this."""
    root = require_dir(Path(root), "data root", "point prepare.root at the folder holding the audio files")
    table_path = require_file(resolve_option_path(root, table, "metadata.csv", "table"), "metadata table",
                              "set prepare.options.table to the CSV that lists the audio files")
    # Everything as literal text: a label "NA" or a speaker "None" is data, not a missing value.
    rows = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    columns = {"path_column": path_column, "label_column": label_column,
               "group_column": group_column, "split_column": split_column}
    for key, column in columns.items():
        if column is not None and column not in rows.columns:
            raise ConfigError(f"prepare.options.{key}: column {column!r} is not in {table_path}; "
                              f"its columns are {list(rows.columns)}")

    files = pd.DataFrame({
        "path": rows[path_column].str.strip().map(lambda p: _relative_posix(p, root, table_path)),
        "label": rows[label_column].str.strip(),
        "split": rows[split_column].str.strip().str.lower() if split_column else "",
        "source": source,
    })
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
    }
    return files[~no_label & ~no_group & ~missing], report


def _relative_posix(path: str, root: Path, table_path: Path) -> str:
    """A table path as posix relative to root; absolute paths must lie inside root."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(root.resolve())
        except ValueError:
            raise DataError(f"{table_path}: path {path} lies outside the data root {root}; "
                            "list paths relative to the data root") from None
    return PurePosixPath(candidate.as_posix()).as_posix()


def _check_splits(splits: pd.Series, table_path: Path, split_column: str | None) -> None:
    unknown = sorted(set(splits) - {*SPLITS, ""})
    if unknown:
        raise DataError(f"{table_path}: column {split_column!r} holds unknown split values {unknown}; "
                        f"allowed: {list(SPLITS)} or empty")
