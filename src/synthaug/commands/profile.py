"""profile: apply a profile (profiles/NAME.yaml) to params.yaml.

Reads profiles/NAME.yaml and PARAMS. Writes PARAMS with the profile merged in (comments kept;
validated first). Without NAME, lists the profiles.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthaug.cli_arguments import add_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_params(parser)
    parser.add_argument("name", nargs="?", help="profile name, e.g. tiny or machine")


def run(args: argparse.Namespace) -> None:
    from synthaug import profiles

    root = Path.cwd()
    if args.name is None:
        print("profiles: " + ", ".join(profiles.available(root)))
        return
    changed = profiles.apply_profile(args.name, args.params, root)
    print(f"profile {args.name}: updated {', '.join(changed)} in {args.params} (git checkout {args.params} undoes it)")
