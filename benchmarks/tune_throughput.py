"""Tuning throughput: `synthaug tune` trials per hour with one worker process and with two.

Builds the tiny demo cough set (40 participants, the tiny profile) in a temporary project, then
runs two studies of the same fixed, small trials on a journal file: one worker process, then two
worker processes, each with one torch thread (`--threads 1`, as a user would start two workers
on a two-core machine); `--all-cores` adds one worker using every core. A trial trains the VAE on the minority class
(2 epochs, width 0.125), draws its synthetic share and trains the medical CNN (width 0.125, 3
epochs, one seed), logging everything to the project's MLflow store, as a real study does.

Two rates per setting: steady (trials / time from the first trial's start to the last trial's end,
from Optuna's own timestamps) and wall (trials / time from launching the workers to their exit,
process start-up and imports included). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
STUDY = "throughput"
TUNE = {
    "seeds": [0],
    "pruner": "none",
    "space": {
        "shared": {"ratio": {"low": 0.25, "high": 1.0}},
        "vae": {
            "lr": {"low": 1.0e-4, "high": 1.0e-3, "log": True},
            "epochs": {"low": 2, "high": 2},
            "latent_dim": {"choices": [32]},
            "beta": {"low": 0.1, "high": 0.1},
        },
    },
}


def build_project(root: Path) -> Path:
    """The tiny demo cough set, prepared and featurized, in `root` (params: repo + tiny profile + TUNE)."""
    from synthaug.config import deep_merge, read_yaml
    from synthaug.datasets.demo import write_demo
    from synthaug.stages import featurize, prepare

    params = deep_merge(read_yaml(REPO_ROOT / "params.yaml"), read_yaml(REPO_ROOT / "profiles" / "tiny.yaml"))
    params = deep_merge(
        params, {"featurize": {"workers": 1}, "train_classifier": {"epochs": 3, "patience": 3, "seeds": [0]}, "tune": TUNE}
    )
    params["tune"]["space"] = TUNE["space"]  # exactly these trials, whatever params.yaml searches
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with contextlib.chdir(root):
        write_demo("cough", root / "data/demo/cough", seed=0, **params["demo"]["cough"])
        prepare.main(Path("params.yaml"), Path("outputs/prepare"), Path("metrics/prepare.json"), project_root=root)
        featurize.main(
            Path("params.yaml"),
            Path("outputs/prepare/manifest.csv"),
            Path("outputs/features"),
            Path("metrics/featurize.json"),
            project_root=root,
        )
    return root


def worker(project: Path, storage: str, study: str, threads: int | None) -> None:
    """One `synthaug tune --worker` process."""
    from synthaug.stages import tune

    os.chdir(project)
    with contextlib.redirect_stdout(io.StringIO()):  # one line per trial from each worker is noise here
        tune.main(
            Path("params.yaml"),
            Path("outputs/features"),
            storage=storage,
            study_name=study,
            worker=True,
            threads=threads,
            project_root=project,
        )


def measure(project: Path, n_workers: int, n_trials: int, threads: int | None) -> dict:
    """Create a study of n_trials, run n_workers worker processes on it; return its rates."""
    from synthaug import tuning
    from synthaug.stages import tune

    name = f"{STUDY}-{n_workers}x{threads or 'all'}"  # a fresh study (and journal) per setting
    storage = f"journal:{project / f'{name}.journal'}"
    with contextlib.chdir(project), contextlib.redirect_stdout(io.StringIO()):
        tune.main(
            Path("params.yaml"),
            Path("outputs/features"),
            n_trials=n_trials,
            storage=storage,
            study_name=name,
            create_only=True,
            project_root=project,
        )
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=worker, args=(project, storage, name, threads)) for _ in range(n_workers)]
    launched = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    wall = time.perf_counter() - launched
    if any(p.exitcode != 0 for p in processes):
        raise SystemExit(f"a worker failed (exit codes {[p.exitcode for p in processes]})")
    trials = tuning.load_study(name, tuning.make_storage(storage, project)).get_trials()
    finished = [t for t in trials if t.state in tuning.FINISHED_OK]
    steady = (max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)).total_seconds()
    return {
        "workers": n_workers,
        "threads_per_worker": threads or len(os.sched_getaffinity(0)),
        "trials": len(finished),
        "steady_s": steady,
        "wall_s": wall,
        "trials_per_hour_steady": 3600 * len(finished) / steady,
        "trials_per_hour_wall": 3600 * len(finished) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8, help="trials per study (default 8)")
    parser.add_argument("--all-cores", action="store_true", help="also time one worker using every core (torch threads = cores)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    os.environ.pop("MLFLOW_TRACKING_URI", None)  # runs go to the temporary project's own store
    root = Path(tempfile.mkdtemp(prefix="synthaug-tune-bench-"))
    results = {}
    try:
        project = build_project(root / "project")
        # One thread per worker in both settings, so the speed-up is that of the second worker alone.
        one = results["one_worker"] = measure(project, 1, args.trials, threads=1)
        two = results["two_workers"] = measure(project, 2, args.trials, threads=1)
        if args.all_cores:
            results["one_worker_all_cores"] = measure(project, 1, args.trials, threads=None)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'setting':<28} {'trials':>6} {'steady s':>9} {'trials/h':>9} {'wall s':>8} {'trials/h':>9}")
    for result in results.values():
        setting = f"{result['workers']} worker(s) x {result['threads_per_worker']} thread(s)"
        print(
            f"{setting:<28} {result['trials']:>6} {result['steady_s']:>9.1f} {result['trials_per_hour_steady']:>9.0f} "
            f"{result['wall_s']:>8.1f} {result['trials_per_hour_wall']:>9.0f}"
        )
    speedup = {
        "steady": two["trials_per_hour_steady"] / one["trials_per_hour_steady"],
        "wall": two["trials_per_hour_wall"] / one["trials_per_hour_wall"],
    }
    print(f"speed-up of 2 workers over 1: {speedup['steady']:.2f}x steady, {speedup['wall']:.2f}x wall")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**results, "speedup": speedup}, indent=2) + "\n")


if __name__ == "__main__":
    main()
