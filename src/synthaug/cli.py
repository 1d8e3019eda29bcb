"""The `synthaug` command: one subcommand per pipeline stage and tool, built from one table.

Each command is a module (`COMMANDS`): its docstring is its help (the first line, without the
"name:" it starts with, in the list of commands; the whole docstring under `synthaug NAME --help`),
its `add_arguments(parser)` declares its arguments and its `run(args)` does the work. Only the
dispatched command's module is imported, so `synthaug STAGE` pays for no other stage's imports;
the list of commands reads the docstrings from the source files without importing them. Stage
subcommands take their input and output paths as arguments that match dvc.yaml, read only their
own params sections, and are what `dvc repro` runs. Errors the user can fix are printed as one
message (exit code 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from pathlib import Path

from synthaug import __version__
from synthaug.errors import SynthaugError

# Every command and its module, pipeline stages first in the order `dvc repro` runs them.
# tests/test_cli.py fails when a module of synthaug.stages or synthaug.commands is missing here.
COMMANDS: dict[str, str] = {
    "demo": "synthaug.stages.demo",
    "prepare": "synthaug.stages.prepare",
    "featurize": "synthaug.stages.featurize",
    "train_generator": "synthaug.stages.train_generator",
    "synthesize": "synthaug.stages.synthesize",
    "train_classifier": "synthaug.stages.train_classifier",
    "audit": "synthaug.stages.audit",
    "ensemble": "synthaug.stages.ensemble",
    "scarcity": "synthaug.stages.scarcity",
    "minority_scarcity": "synthaug.stages.minority_scarcity",
    "report": "synthaug.stages.report",
    "tune": "synthaug.stages.tune",
    "register": "synthaug.stages.register",
    "promote": "synthaug.stages.promote",
    "predict": "synthaug.stages.predict",
    "profile": "synthaug.commands.profile",
    "serve": "synthaug.commands.serve",
    "team": "synthaug.commands.team",
    "import": "synthaug.commands.import_data",
    "ui": "synthaug.commands.ui",
    "where": "synthaug.commands.where",
    "readme-results": "synthaug.commands.readme_results",
}
DESCRIPTION = (
    "Does synthetic training data help your audio classifier? Each subcommand is one pipeline stage or tool; "
    "`dvc repro` runs the stages in order."
)


def docstring(module: str) -> str:
    """A command module's docstring, read from its source file without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SynthaugError(f"synthaug: no module {module} for a command; reinstall the package (make setup)")
    return ast.get_docstring(ast.parse(Path(spec.origin).read_text())) or ""


def summary(text: str) -> str:
    """The docstring's first line without its "name:" or "name@X:" prefix: the help in the command list."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    head, _, rest = first.partition(": ")
    return rest if rest and " " not in head else first


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with a known command in it, that command's arguments (its module is
    imported); otherwise (or with no argv) every command listed with its summary, for --help and errors."""
    command = next((w for w in argv or [] if not w.startswith("-")), None)
    chosen = [command] if command in COMMANDS else list(COMMANDS)
    parser = argparse.ArgumentParser(prog="synthaug", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"synthaug {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in chosen:
        if name == command:
            module = importlib.import_module(COMMANDS[name])
            text = module.__doc__ or ""
        else:
            module, text = None, docstring(COMMANDS[name])
        sub = commands.add_parser(
            name, help=summary(text), description=text, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if module is not None:
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """`argv` parsed as `synthaug` parses it (dvc.yaml's commands, in the tests)."""
    return build_parser(argv).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        from synthaug.team.settings import load_team_env

        load_team_env(Path.cwd())  # the team's services, when team.env says where they are
        args.run(args)
    except SynthaugError as exc:
        print(f"synthaug {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"synthaug {args.command}: interrupted; outputs of this step were not written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
