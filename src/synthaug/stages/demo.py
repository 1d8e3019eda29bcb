"""demo: write the built-in demo data sets into data/ when it holds no files yet.

Reads params `demo`. Writes DATA_DIR/demo/<kind>/ (audio + metadata.csv) for every demo kind.
Data already in DATA_DIR is never touched: the command says so and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthaug.cli_arguments import add_params
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug demo` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("data_dir", type=Path, nargs="?", default=Path("data"), help="data folder (default: data)")
    parser.add_argument("--force", action="store_true", help="write the demo sets even if DATA_DIR holds files")


def run(args: argparse.Namespace) -> None:
    """`synthaug demo`: main with the parsed arguments."""
    main(args.params, args.data_dir, force=args.force)
