"""Adapter `demo`: the built-in procedural data sets written by `synthaug.datasets.demo`.

The generator writes `<root>/metadata.csv` with columns path, label, group, split (split may be
empty) plus extras, so this is the `csv` adapter on that table with source 'demo'.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthaug.datasets import csv_table
from synthaug.datasets.base import AdapterResult, finish, require_columns, require_dir, require_file

METADATA = "metadata.csv"


def load(root: Path) -> AdapterResult:
    """List the demo data set under `root` through `root/metadata.csv`."""
    fix = "generate the demo data set first (it writes metadata.csv beside the audio)"
    root = require_dir(Path(root), "demo data root", fix)
    table = require_file(root / METADATA, "demo metadata", fix)
    require_columns(pd.read_csv(table, nrows=0), ["path", "label", "group", "split"], table)
    files, report = csv_table.read_table(
        root, table=METADATA, path_column="path", label_column="label", group_column="group", split_column="split", source="demo"
    )
    return finish(files, root, "demo", report)
