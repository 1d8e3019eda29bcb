"""Shared test fixtures: where the real data sets live, and skipping cleanly when they do not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real data sets sit beside the checkout in ../shared/datasets; never copied into the project.
SHARED_DATASETS = Path(os.environ.get("SYNTHAUG_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))


def shared_dataset(name: str) -> Path:
    """Path of a real data set under ../shared/datasets, or skip the test when it is absent."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"real data set {name!r} not found at {path} (set SYNTHAUG_SHARED_DATASETS)")
    return path


@pytest.fixture
def fsdd_root() -> Path:
    return shared_dataset("fsdd")


@pytest.fixture
def covid19_cough_root() -> Path:
    return shared_dataset("covid19-cough")


@pytest.fixture
def coswara_metadata_root() -> Path:
    return shared_dataset("coswara-metadata")


# Fixtures that start a server process; a test that uses one must carry the `services` marker, so that
# `make test-fast` (-m "not services ...") never starts a server.
SERVER_FIXTURES = {"postgres", "s3_endpoint"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("services") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests start a server (fixtures " + ", ".join(sorted(SERVER_FIXTURES)) + ") but are not marked "
            "@pytest.mark.services:\n  " + "\n  ".join(unmarked)
        )
