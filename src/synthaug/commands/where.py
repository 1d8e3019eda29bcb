"""where: print where the pipeline's outputs and MLflow runs are.

Reads nothing but the folder layout. Writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUTPUTS = (
    "reports/results.md",
    "outputs/prepare/manifest.csv",
    "outputs/features",
    "outputs/generators",
    "outputs/synthetic",
    "outputs/audit",
    "outputs/classifiers",
    "outputs/ensemble",
    "outputs/scarcity",
    "outputs/minority_scarcity",
    "metrics",
    "plots",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments."""


def run(args: argparse.Namespace) -> None:
    from synthaug import tracking

    root = Path.cwd()
    print("Results:")
    for path in (p for p in OUTPUTS if (root / p).exists()):
        print(f"  {path}")
    print("  `dvc metrics show` prints the metrics; `dvc plots show` renders the curves.")
    print(f"MLflow runs: {tracking.tracking_uri(root)}")
    print(f"  artifacts: {tracking.artifact_root(root) or 'those of the tracking server'}")
    print("  open the UI with `make ui` (then http://127.0.0.1:5000)")
    print(
        "Next: `make promote` registers the classifiers and promotes a champion; "
        "`make predict FILES=...` classifies new audio with it."
    )
