"""A generated block inside a hand-written document: found by its marker lines, replaced whole, and
written or checked from the command line (the parameter and command references in docs/)."""

from __future__ import annotations

import sys
from pathlib import Path


def block_span(text: str, begin: str, end: str, where: str) -> tuple[int, int]:
    """(start, stop) offsets of the block in `text`, both marker lines included."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{where}: no generated block; it needs the lines {begin!r} and {end!r}")
    return start, stop + len(end) + 1


def replace_block(text: str, block: str, begin: str, end: str, where: str) -> str:
    """`text` with its generated block replaced by `block` (which carries the markers)."""
    start, stop = block_span(text, begin, end, where)
    return text[:start] + block + text[stop:]


def write_or_check(path: Path, block: str, begin: str, end: str, *, check: bool, stale: str) -> int:
    """Rewrite the generated block of `path` (exit 0), or with `check` exit 1 when it differs,
    printing `stale` (what is out of date and the command that regenerates it)."""
    text = path.read_text()
    new = replace_block(text, block, begin, end, str(path))
    if not check:
        if new != text:
            path.write_text(new)
        print(f"{path}: {'updated' if new != text else 'up to date'}")
        return 0
    if new != text:
        print(f"{path}: {stale}", file=sys.stderr)
        return 1
    print(f"{path}: up to date")
    return 0
