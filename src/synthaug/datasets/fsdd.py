"""Adapter `fsdd`: the Free Spoken Digit Dataset (`metadata.csv` with path, digit, speaker, take).

label = the digit as text, group = the speaker (so no speaker is in two splits), no predefined
split. The report is the `csv` adapter's (missing files and labels are counted there).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthaug.datasets import csv_table
from synthaug.datasets.base import AdapterResult, finish, require_columns, require_dir, require_file

METADATA = "metadata.csv"


def load(root: Path) -> AdapterResult:
    """List `root/recordings/*.wav` through `root/metadata.csv`."""
    root = require_dir(Path(root), "FSDD root", "point dataset.root at the free-spoken-digit-dataset folder")
    table = require_file(
        root / METADATA, "FSDD metadata", "the FSDD folder must hold metadata.csv (columns path, digit, speaker, take)"
    )
    require_columns(pd.read_csv(table, nrows=0), ["path", "digit", "speaker"], table)
    files, report = csv_table.read_table(
        root, table=METADATA, path_column="path", label_column="digit", group_column="speaker", source="fsdd"
    )
    return finish(files, root, "fsdd", report)
