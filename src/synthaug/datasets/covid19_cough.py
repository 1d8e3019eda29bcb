"""Adapter `covid19-cough`: induced-cough recordings (`metadata.json` + `raw/*.mp3`).

label: positive (covid19 true) or negative (false); records without a label are left out and
counted. `source` is the recording channel (call-center, telegram): the label is unevenly spread
over channels, so evaluations should also report per source. The data set has no participant id;
one recording per person is all we know, so the group is the file name stem (a person who
recorded twice could still land in two splits).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pandas as pd

from synthaug.datasets.base import AdapterResult, counted, finish, require_columns, require_dir, require_file
from synthaug.errors import ConfigError, DataError

METADATA = "metadata.json"
AUDIO_DIR = "raw"
LABELS = {True: "positive", False: "negative"}
EXTRAS = ("verified", "asymptomatic", "start_at", "end_at")


def load(
    root: Path,
    sources: list[str] | None = None,  # recording channels to keep (e.g. [telegram]); null: all
) -> AdapterResult:
    """List the recordings under `root`; `sources` keeps only those channels (None keeps all)."""
    fix = "point dataset.root at the covid19-cough data set (metadata.json and raw/)"
    root = require_dir(Path(root), "covid19-cough root", fix)
    metadata = require_file(root / METADATA, "covid19-cough metadata", fix)
    audio_dir = require_dir(root / AUDIO_DIR, "covid19-cough audio folder", fix)
    try:
        records = pd.DataFrame(json.loads(metadata.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{metadata} is not a JSON list of records ({exc})") from exc
    require_columns(records, ["filename", "covid19", "source"], metadata)

    channels = records["source"].fillna("").astype(str)
    wanted = _check_sources(sources, channels) if sources is not None else channels.unique()
    keep_channel = channels.isin(wanted)
    files = pd.DataFrame(
        {
            "path": AUDIO_DIR + "/" + records["filename"].astype(str),
            "label": records["covid19"].map(LABELS),
            "group": records["filename"].map(lambda name: PurePosixPath(str(name)).stem),
            "split": "",
            "source": channels,
        }
    )
    files = pd.concat([files, records[[c for c in EXTRAS if c in records]]], axis=1)

    no_label = files["label"].isna()
    exists = files["path"].map(lambda p: (root / p).is_file())
    listed = set(records["filename"].astype(str))
    on_disk = {p.name for p in audio_dir.iterdir() if p.is_file()}
    report = {
        "metadata": str(metadata),
        "records": len(records),
        "excluded_sources": {str(k): int(v) for k, v in channels[~keep_channel].value_counts().items()},
        "missing_label": counted(files.loc[keep_channel & no_label, "path"]),
        "missing_files": counted(files.loc[keep_channel & ~no_label & ~exists, "path"]),
        "files_without_metadata": counted(sorted(on_disk - listed)),
    }
    return finish(files[keep_channel & ~no_label & exists], root, "covid19-cough", report)


def _check_sources(sources, channels: pd.Series) -> list[str]:
    available = sorted(set(channels) - {""})
    if isinstance(sources, str) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"dataset.options.sources: expected a list of channel names from {available}, got {sources!r}")
    unknown = sorted(set(sources) - set(available))
    if unknown:
        raise ConfigError(f"dataset.options.sources: unknown channels {unknown}; available: {available}")
    return list(sources)
