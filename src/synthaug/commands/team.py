"""team: the team setup: a local stack (up/down), the DVC remote, and a connectivity check.

Reads the environment and team.env (see synthaug.team.settings). Writes, for up: .team/ (a
PostgreSQL cluster, an S3 endpoint (moto) and an MLflow server on loopback, their logs) and
team.env pointing at them; down: stops them; remote: SYNTHAUG_DVC_REMOTE as the default DVC
remote in .dvc/config.local; check: nothing, it reports which configured services answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthaug.errors import SynthaugError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "remote", "check"])
    parser.add_argument("url", nargs="?", help="remote: the DVC remote's URL (default: SYNTHAUG_DVC_REMOTE)")
    parser.add_argument("--postgres-port", type=int, help="up: PostgreSQL port (default: a free one)")
    parser.add_argument("--s3-port", type=int, help="up: S3 endpoint port (default: a free one)")
    parser.add_argument("--mlflow-port", type=int, help="up: MLflow server port (default: a free one)")


def run(args: argparse.Namespace) -> None:
    from synthaug.team import check, remote, stack

    root = Path.cwd()
    if args.action == "up":
        stack.up(root, postgres_port=args.postgres_port, s3_port=args.s3_port, mlflow_port=args.mlflow_port)
    elif args.action == "down":
        stack.down(root)
    elif args.action == "remote":
        remote.configure_remote(root, args.url)
    else:
        checks = check.run_checks(root)
        print(check.render(checks))
        failed = [c.service for c in checks if c.ok is False]
        if failed:
            raise SynthaugError(f"not reachable: {', '.join(failed)} (see above)")
