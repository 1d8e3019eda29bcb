"""import: download a raw data set from S3 into data/ (resumable, verified).

Reads every object under s3://BUCKET/PREFIX (endpoint and credentials from the environment or
team.env). Writes them below DEST with their paths, and DEST/.synthaug-import.json; re-running
skips what is already there.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="s3://BUCKET/PREFIX")
    parser.add_argument("dest", type=Path, help="folder to write, e.g. data/coswara")


def run(args: argparse.Namespace) -> None:
    from synthaug.team.s3 import import_prefix

    report = import_prefix(args.url, args.dest)
    print(
        f"import: {len(report.downloaded)} file(s), {report.bytes / 1e6:.1f} MB downloaded and verified, "
        f"{len(report.skipped)} already present -> {args.dest}; version it with `dvc add data`"
    )
