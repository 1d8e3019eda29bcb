"""demo: write the built-in demo data sets into data/ when it holds no files yet.

Reads params `demo`; writes DATA_DIR/demo/<kind>/ (audio + metadata.csv) for every demo kind.
Data already in DATA_DIR is never touched: the command says so and exits.
"""

from __future__ import annotations

from pathlib import Path

from synthaug.config import load_params
from synthaug.datasets.demo import DEMO_KINDS, write_demo


def holds_files(folder: Path) -> bool:
    """True when `folder` has any file other than dotfiles (e.g. .gitignore, .gitkeep)."""
    return folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*"))


def main(params_path: Path, data_dir: Path, force: bool = False) -> bool:
    """Write the demo sets; return False (and write nothing) when data_dir already holds data."""
    if holds_files(data_dir) and not force:
        print(f"demo: {data_dir}/ already holds data; nothing written (use --force to add the demo sets)")
        return False
    demo = load_params(params_path).demo
    for kind in DEMO_KINDS:
        options = getattr(demo, kind)
        metadata = write_demo(kind, data_dir / "demo" / kind, seed=demo.seed, **options)
        print(f"demo: wrote the {kind} demo set -> {metadata.parent}")
    return True
