"""The adapter interface: what every adapter returns, and the steps they all share.

An adapter is a module with `load(root: Path, **options) -> AdapterResult`. It lists the audio
files of one source with their label, group and (optional) predefined split; `finish` then probes
every file, fixes the manifest schema and adds the counts every report carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthaug.datasets.manifest import MANIFEST_COLUMNS, to_manifest, validate_manifest
from synthaug.datasets.probing import probe_files
from synthaug.errors import ConfigError, DataError

# Reports list a few examples of each problem, enough to find the cause without flooding the output.
MAX_EXAMPLES = 10


@dataclass
class AdapterResult:
    """`manifest`: the manifest frame. `report`: JSON-serializable counts of what was kept,
    excluded, missing or unreadable and why, with a few examples each."""

    manifest: pd.DataFrame
    report: dict = field(default_factory=dict)


def examples(values) -> list[str]:
    """The first few values, as sorted strings, for a report."""
    return sorted(str(v) for v in values)[:MAX_EXAMPLES]


def counted(values) -> dict:
    """{'count': n, 'examples': [...]} for a report."""
    values = list(values)
    return {"count": len(values), "examples": examples(values)}


def require_dir(path: Path, what: str, fix: str) -> Path:
    """Return `path` if it is a folder, else raise DataError naming it and the fix."""
    if not path.is_dir():
        raise DataError(f"{what} {path} is not a folder; {fix}")
    return path


def require_file(path: Path, what: str, fix: str) -> Path:
    """Return `path` if it is a file, else raise DataError naming it and the fix."""
    if not path.is_file():
        raise DataError(f"{what} {path} not found; {fix}")
    return path


def resolve_option_path(root: Path, value: str | Path | None, default: str, key: str) -> Path:
    """An option naming a file or folder: absolute, or relative to the data root."""
    if value is None:
        return root / default
    if not isinstance(value, (str, Path)) or not str(value):
        raise ConfigError(f"dataset.options.{key}: expected a path, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else root / path


def require_columns(table: pd.DataFrame, columns, where: Path) -> None:
    """Raise DataError when a metadata table lacks a column the adapter needs."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"{where} lacks columns {missing} (it has {list(table.columns)}); check that it is the right file for this adapter"
        )


def finish(files: pd.DataFrame, root: Path, adapter: str, report: dict) -> AdapterResult:
    """Probe every listed file and return the manifest plus the report with the shared counts.

    `files` holds `path`, `label`, `group`, `split`, `source` and any extra columns. The header
    read adds `duration_s`, `sample_rate` and `channels` (the native values; `channels` is the
    first extra column). Unreadable files stay in the manifest (duration NaN, sample rate and
    channels 0) and are counted: featurize decides whether to fail or skip them. An empty result
    is a DataError that quotes the report.
    """
    if files.empty:
        raise DataError(
            f"{adapter} adapter found no usable audio files under {root}; what it excluded: "
            f"{json.dumps(report, default=str)}. Check dataset.root and dataset.options"
        )
    files = files.sort_values("path", kind="stable").reset_index(drop=True)
    # Paths that lead out of the root are refused before any file outside it is opened.
    validate_manifest(to_manifest(files.assign(duration_s=float("nan"), sample_rate=0)), where=f"{adapter} adapter ({root})")
    probed = probe_files(root, files["path"].tolist())
    files = files.drop(columns=["channels"], errors="ignore")  # the header's count replaces a listed one
    files = files.assign(duration_s=probed["duration_s"], sample_rate=probed["sample_rate"])
    manifest = to_manifest(files)
    manifest.insert(len(MANIFEST_COLUMNS), "channels", probed["channels"].astype("int64").to_numpy())
    notes = validate_manifest(manifest, where=f"{adapter} adapter ({root})")

    unreadable = manifest.loc[probed["error"] != "", "path"]
    shared = {
        "adapter": adapter,
        "root": str(root),
        "files": len(manifest),
        "groups": int(manifest["group"].nunique()),
        "labels": _value_counts(manifest["label"]),
        "groups_per_label": {k: int(v) for k, v in manifest.groupby("label")["group"].nunique().items()},
        "splits": _value_counts(manifest["split"].replace("", "(none)")),
        "unreadable": {
            "count": int(len(unreadable)),
            "examples": [
                {"path": p, "error": e}
                for p, e in zip(unreadable[:MAX_EXAMPLES], probed.loc[unreadable.index[:MAX_EXAMPLES], "error"])
            ],
        },
        "notes": notes,
    }
    return AdapterResult(manifest=manifest, report={**shared, **report})


def _value_counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}
