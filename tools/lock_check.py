"""Does requirements.lock match pyproject.toml? `make lint` runs this; `make lock` fixes what it finds.

The lock must pin every dependency pyproject.toml declares (extras included) at the version pinned
there, carry a hash for every package (pip then installs in hash-checking mode), and come from
`make lock`. Offline on purpose: lint must not need the package index. Written by hand because the
lock tools check a lock against an index, not against the project's own pins without one.

    python tools/lock_check.py pyproject.toml requirements.lock
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PROJECT = "synthaug"


def normalized(name: str) -> str:
    """PEP 503's normal form of a distribution name ('ruamel.yaml' -> 'ruamel-yaml')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_pins(pyproject: Path) -> dict[str, str | None]:
    """{distribution: pinned version, or None where the requirement is not an exact pin}."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    pins: dict[str, str | None] = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(?:==\s*([^\s;,]+))?\s*", requirement)
        name = normalized(match.group(1)) if match else requirement
        if name != PROJECT:
            pins[name] = match.group(3) if match else None
    return pins


def locked_entries(lock: Path) -> dict[str, tuple[str, int]]:
    """{distribution: (version, number of hashes)} of a `uv pip compile --generate-hashes` file."""
    entries: dict[str, tuple[str, int]] = {}
    current = ""
    for line in lock.read_text().splitlines():
        head = re.match(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", line)
        if head:
            current = normalized(head.group(1))
            entries[current] = (head.group(2), 0)
        elif current and line.strip().startswith("--hash="):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


def problems(pyproject: Path, lock: Path) -> list[str]:
    """What keeps the lock from matching pyproject.toml; [] when it matches."""
    found = []
    header = lock.read_text().splitlines()[:2]
    if len(header) < 2 or "make lock" not in header[1]:
        found.append(f"{lock}: not written by `make lock` (its second line names the command)")
    locked = locked_entries(lock)
    for name, version in declared_pins(pyproject).items():
        if version is None:
            found.append(f"{pyproject}: {name} is not pinned with ==; pin it (the lock holds {locked.get(name, ('none',))[0]})")
        elif name not in locked:
            found.append(f"{lock}: {name} is missing; run `make lock`")
        elif locked[name][0] != version:
            found.append(f"{lock}: {name}=={locked[name][0]}, but pyproject.toml pins {version}; run `make lock`")
    found += [f"{lock}: {name} has no hash; run `make lock`" for name, (_, hashes) in locked.items() if hashes == 0]
    return found


def main(argv: list[str]) -> int:
    pyproject, lock = (Path(a) for a in argv)
    found = problems(pyproject, lock)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
