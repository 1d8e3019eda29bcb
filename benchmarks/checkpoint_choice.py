"""Does choosing a checkpoint by fidelity pay? Per-run choice among the budgets of generator_fidelity.py's runs.

generator_fidelity.py trains each generator once per seed and scores it at several budgets of that one
run (the chunks equal one long run), on a selection half and a reporting half of held-out real data. That
is exactly what `train_generator.fidelity_snapshots` does inside the pipeline, with the budgets as the
snapshots. This script reads those results and, for every run (generator x seed), takes the budget with
the lowest strongest two-sample AUROC on the selection half (the earliest on ties; a budget whose copy
rate is above zero is refused, since the benchmark's real reference copies nothing) and quotes its
reporting-half AUROC beside the last budget's, with the oracle (the best reporting figure, which no
honest procedure can reach) for scale.

    python benchmarks/checkpoint_choice.py                       # every results file, a markdown table
    python benchmarks/checkpoint_choice.py --results benchmarks/results/generator_fidelity_demo.json
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def per_run_choice(result: dict) -> dict[str, list[dict]]:
    """{generator: [one entry per seed: last, chosen and oracle reporting AUROC, the chosen and last steps]}."""
    runs: dict[tuple[str, int], dict[int, dict]] = defaultdict(dict)
    for row in result["rows"]:
        runs[(row["generator"], int(row["seed"]))][int(row["steps"])] = row
    out: dict[str, list[dict]] = defaultdict(list)
    for (generator, seed), by_steps in sorted(runs.items()):
        steps = sorted(by_steps)
        admissible = [s for s in steps if not by_steps[s]["selection"].get("copies", 0) > 0] or steps[-1:]
        chosen = min(admissible, key=lambda s: (_rank(by_steps[s]["selection"]["auroc"]), s))
        reporting = {s: by_steps[s]["reporting"]["auroc"] for s in steps}
        out[generator].append(
            {
                "seed": seed,
                "last_step": steps[-1],
                "chosen_step": chosen,
                "last": reporting[steps[-1]],
                "chosen": reporting[chosen],
                "oracle": min(reporting.values()),
            }
        )
    return out


def _rank(value: float) -> float:
    return math.inf if value is None or math.isnan(value) else value


def markdown(result: dict) -> str:
    lines = [
        f"**{result['data']}** (budgets {', '.join(map(str, result['steps']))}; seeds {', '.join(map(str, result['seeds']))}; "
        "strongest two-sample AUROC on the reporting half, mean ± sd over seeds)",
        "",
        "| generator | last budget | chosen per run | change | steps chosen | oracle |",
        "|---|---|---|---|---|---|",
    ]
    for generator, runs in per_run_choice(result).items():
        last, chosen, oracle = (np.array([r[k] for r in runs], dtype=float) for k in ("last", "chosen", "oracle"))
        steps = ", ".join(str(r["chosen_step"]) for r in runs)
        lines.append(
            f"| {generator} | {_pm(last)} | {_pm(chosen)} | {np.mean(chosen - last):+.3f} | {steps} | {np.mean(oracle):.3f} |"
        )
    return "\n".join(lines)


def _pm(values: np.ndarray) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, nargs="*", help="generator_fidelity.py results (default: all in results/)")
    args = parser.parse_args()
    paths = args.results or sorted(RESULTS.glob("generator_fidelity_*.json"))
    if not paths:
        raise SystemExit(f"no generator_fidelity results in {RESULTS}: run benchmarks/generator_fidelity.py first")
    print("\n\n".join(markdown(json.loads(path.read_text())) for path in paths))


if __name__ == "__main__":
    main()
