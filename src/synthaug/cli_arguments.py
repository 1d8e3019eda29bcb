"""The argument every `synthaug` command that reads params shares; each command module adds its own
(`add_arguments`), and synthaug.cli builds the parser from them."""

from __future__ import annotations

import argparse
from pathlib import Path

PARAMS_HELP = "params file (default: params.yaml in the current folder)"


def add_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help=PARAMS_HELP)
