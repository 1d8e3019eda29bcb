"""readme-results: rewrite README.md's results block from reports/results.json (--check: fail when stale).

Reads RESULTS (the report stage's results.json). Writes the marked results block of README.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthaug.errors import SynthaugError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readme", type=Path, default=Path("README.md"), help="default: README.md")
    parser.add_argument("--results", type=Path, default=Path("reports/results.json"), help="default: reports/results.json")
    parser.add_argument("--check", action="store_true", help="only check: exit 2 when the block is stale")


def run(args: argparse.Namespace) -> None:
    from synthaug.readme_results import stale, update_readme

    if args.check:
        if stale(args.readme, args.results):
            raise SynthaugError(f"{args.readme}: its results block does not match {args.results}; run `synthaug readme-results`")
        print(f"{args.readme}: results block matches {args.results}")
        return
    changed = update_readme(args.readme, args.results)
    print(f"{args.readme}: results block {'rewritten' if changed else 'already up to date'} from {args.results}")
