"""Dependencies have one story: pyproject.toml names the direct ones, requirements.in pins exactly those,
and requirements.lock holds the same versions (make lock resolves the one into the other)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement line ('moto[server]==5.2.5' -> 'moto')."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~; ]", requirement.strip(), maxsplit=1)[0]).lower()


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {_name(line): line.split("==", 1)[1] for line in lines if "==" in line}


def test_pyproject_and_requirements_in_name_the_same_packages_and_the_lock_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {_name(r) for r in extra if not r.startswith("synthaug")}
    pinned = _pins(ROOT / "requirements.in")
    assert declared == set(pinned), (
        f"only in pyproject.toml: {sorted(declared - set(pinned))}; only in requirements.in: {sorted(set(pinned) - declared)}"
    )
    locked = _pins(ROOT / "requirements.lock")
    assert {name: version for name, version in pinned.items() if locked.get(name) != version} == {}
