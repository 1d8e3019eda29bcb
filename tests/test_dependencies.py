"""Dependencies have one home: pyproject.toml pins the direct ones (extras included) and
requirements.lock, written by `make lock`, holds those versions with hashes (tools/lock_check.py,
which `make lint` runs)."""

from __future__ import annotations

from pathlib import Path

from tools.lock_check import declared_pins, problems

ROOT = Path(__file__).resolve().parents[1]


def test_the_lock_holds_every_pin_of_pyproject_with_hashes():
    assert problems(ROOT / "pyproject.toml", ROOT / "requirements.lock") == []
    pins = declared_pins(ROOT / "pyproject.toml")
    assert pins["torch"] == "2.14.1" and pins["torchaudio"] == "2.11.0" and pins["psycopg"] == "3.3.9"


def test_the_check_names_a_pin_the_lock_does_not_hold_an_unpinned_dependency_and_a_missing_hash(tmp_path):
    pyproject = (ROOT / "pyproject.toml").read_text()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(pyproject.replace('"numpy==2.4.6"', '"numpy==2.5.0"').replace('"tqdm==4.70.1"', '"tqdm"'))
    lines, in_pandas = [], False
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        in_pandas = line.startswith("pandas==") or (in_pandas and line.strip().startswith("--hash"))
        if not (in_pandas and line.strip().startswith("--hash")):
            lines.append(line.removesuffix(" \\") if line.startswith("pandas==") else line)
    unhashed = tmp_path / "requirements.lock"
    unhashed.write_text("\n".join(lines) + "\n")
    found = problems(changed, unhashed)
    assert any("numpy==2.4.6, but pyproject.toml pins 2.5.0; run `make lock`" in p for p in found)
    assert any("tqdm is not pinned with ==" in p for p in found)
    assert any("pandas has no hash" in p for p in found) and len(found) == 3
