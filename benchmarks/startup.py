"""Start-up time: from process start to the first line of a stage's real work, and `synthaug --help`.

A stage's real work begins when its `main()` runs, so the time before it is that of
`synthaug STAGE --help`: a fresh interpreter that builds the CLI's parser for that stage, which
imports the stage module and nothing of the other stages (the commands of synthaug.cli.COMMANDS).
Each command runs in a fresh process, --repeat times; the best round and the median are printed
(on a shared machine other load only ever slows a round down, so the best is the steadier figure). `-X importtime` of the same import
says which heavy packages each stage pulls in. See benchmarks/README.md, "Start-up".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from synthaug.cli import COMMANDS

STAGE_COMMANDS = {name: module for name, module in COMMANDS.items() if module.startswith("synthaug.stages.")}

# Packages worth naming when a stage imports them: each costs seconds on a two-core machine.
HEAVY = ("torch", "torchaudio", "diffusers", "mlflow", "optuna", "matplotlib", "sklearn", "scipy", "pandas")
IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def wall_times(command: list[str], repeat: int, cwd: Path) -> tuple[float, float]:
    """(best, median) seconds of `repeat` fresh runs of `command`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds)


def heavy_imports(module: str, cwd: Path) -> dict[str, float]:
    """Seconds of cumulative import time of each heavy package `module` imports at top level."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import synthaug.cli, {module}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = {}
    for line in result.stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match and match.group(4) in HEAVY:
            seconds[match.group(4)] = int(match.group(2)) / 1e6
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per command (best and median reported)")
    parser.add_argument("--dvc", action="store_true", help="also time a no-op `dvc status` and `dvc repro`")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    synthaug_bin = shutil.which("synthaug") or str(Path(sys.executable).with_name("synthaug"))

    figures: dict[str, dict] = {}
    help_s, help_median = wall_times([synthaug_bin, "--help"], args.repeat, root)
    figures["synthaug --help"] = {"seconds": help_s, "median_s": help_median}
    print(f"{'':<28} {'best':>6}   {'median':>6}   {'with params (best)':>18}")
    print(f"{'synthaug --help':<28} {help_s:6.2f} s {help_median:6.2f} s")
    for stage, module in STAGE_COMMANDS.items():
        # `synthaug STAGE --help`: the process up to the stage's parser, its module imported (what every
        # run of the stage pays before main() starts).
        seconds, median = wall_times([synthaug_bin, stage, "--help"], args.repeat, root)
        # Every stage's main() first loads and validates params.yaml: include it as start-up too.
        with_params, _ = wall_times(
            [
                sys.executable,
                "-c",
                f"import synthaug.cli as cli; cli.build_parser([{stage!r}]); "
                "from synthaug.config import load_params; load_params('params.yaml')",
            ],
            args.repeat,
            root,
        )
        heavy = heavy_imports(module, root)
        figures[f"stage {stage}"] = {
            "seconds": seconds,
            "median_s": median,
            "with_params_s": with_params,
            "heavy_imports_s": heavy,
        }
        named = ", ".join(f"{name} {s:.1f}" for name, s in sorted(heavy.items(), key=lambda kv: -kv[1]) if s >= 0.05)
        print(f"{'stage ' + stage:<28} {seconds:6.2f} s {median:6.2f} s {with_params:6.2f} s with params   {named}")
    if args.dvc:
        dvc_bin = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
        for command in (["status"], ["repro", "--dry"]):
            seconds, median = wall_times([dvc_bin, *command], args.repeat, root)
            figures["dvc " + " ".join(command)] = {"seconds": seconds, "median_s": median}
            print(f"{'dvc ' + ' '.join(command):<28} {seconds:6.2f} s {median:6.2f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
