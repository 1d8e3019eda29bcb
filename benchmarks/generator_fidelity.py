"""Does each generator learn, and how fast? Fidelity of its samples against training compute.

Every generator of params.yaml's `train_generator.models` (the active profile's recipes) trains on one
class for increasing compute budgets; after each budget it draws `--samples` spectrograms, which the
audit (`synthaug.evaluation.fidelity.audit_class`, exactly as the audit stage scores a synthetic set)
compares with real recordings of that class the generator never saw. The figure of merit is the
strongest two-sample AUROC over the audit's tests and views (0.5: a detector cannot tell samples from
real; 1.0: it always can) beside the "real (validation)" reference row, which is what a perfect
generator would score on the same split sizes; KID (kernel inception distance in the first view) says
how far the sets are apart.

Data (`--data`):
- `demo`: the demo cough data's minority class at the active profile's resolution, read from the
  pipeline's outputs (run `make run` first): the training split trains, validation participants
  are scored, split into comparison and reference halves by participant. Views: the baseline
  classifier's embedding (outputs/classifiers/baseline/seed0) and a random projection of the log-mel.
- `covid19-cough`: the Telegram channel's COVID-19-positive recordings of ../shared/datasets/covid19-cough
  (186 files, 48 kHz, one recording per person), featurized with the profile's featurize settings,
  two thirds for training and one third scored (split by file, seeded). No classifier is trained for
  it, so the views are the log-mel projection and per-mel-band mean and standard deviation over time
  (the statistics a spectrogram's texture is judged by).

Budgets are minutes of CPU time of the training process with one torch thread (`--budgets 1,3,10`),
measured with time.process_time around training only (sampling and scoring are not counted), so a
busy machine slows the benchmark but does not change its result. `--jobs 2` trains two generators
side by side, one per core; one core-minute is less than a wall-clock minute on two cores, so the
curves are conservative for a quiet two-core machine.

    python benchmarks/generator_fidelity.py --data demo --budgets 1,3,10 --jobs 2
    python benchmarks/generator_fidelity.py --data covid19-cough --budgets 1,3,10,30 --jobs 2
    python benchmarks/generator_fidelity.py --plot        # figure and table from the saved results

Results go to benchmarks/results/generator_fidelity_DATA.json, the figure to
benchmarks/generator_fidelity.png and a markdown table to stdout (for benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "benchmarks"  # results/generator_fidelity_DATA.json and generator_fidelity.png go here
COUGH_ROOT = ROOT.parent / "shared" / "datasets" / "covid19-cough"
# Steps between two looks at the clock: small against any budget, large against the clock's cost.
CHUNK_STEPS = 10


def band_statistics(x: np.ndarray) -> np.ndarray:
    """[N, 1, mels, frames] -> [N, 2 * mels]: each mel band's mean and standard deviation over time."""
    bands = np.asarray(x, dtype=np.float64)[:, 0]
    return np.concatenate([bands.mean(axis=2), bands.std(axis=2)], axis=1)


def demo_class() -> dict:
    """The demo's minority class from the pipeline outputs: train, scored real set, groups and views."""
    from synthaug.classifiers.saved import load_classifier
    from synthaug.evaluation.fidelity import random_projection
    from synthaug.spectrograms import load_spectrogram_set
    from synthaug.stages.audit import file_groups
    from synthaug.training import predict_embeddings

    features, classifier = ROOT / "outputs" / "features", ROOT / "outputs" / "classifiers" / "baseline" / "seed0" / "model.pt"
    if not (features / "train.npz").is_file() or not classifier.is_file():
        sys.exit(f"{features} or {classifier} is missing: run `make run` first (the demo data and its baseline)")
    train, val = (load_spectrogram_set(features / f"{split}.npz") for split in ("train", "val"))
    c = int(np.argmin(np.bincount(train.y, minlength=len(train.class_names))))
    model = load_classifier(classifier)[0]
    return {
        "name": f"demo-cough, class {train.class_names[c]}",
        "train": train.x[train.y == c],
        "real": val.x[val.y == c],
        "groups": file_groups(val.file_id[val.y == c], ROOT / "outputs" / "prepare" / "manifest.csv"),
        "views": {
            "classifier": lambda x: predict_embeddings(model, np.asarray(x, np.float32)),
            "log_mel": lambda x: random_projection(x, dim=128, seed=0),
        },
    }


def generator_params(profile: str | None):
    """params.yaml's sections, with profiles/PROFILE.yaml applied (on a copy) when a profile is named."""
    from synthaug.config import load_params
    from synthaug.profiles import apply_profile

    if profile is None:
        return load_params(ROOT / "params.yaml")
    folder = Path(tempfile.mkdtemp())
    (folder / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    apply_profile(profile, folder / "params.yaml", ROOT)
    return load_params(folder / "params.yaml")


def featurize_cough(cache: Path, profile: str | None, seed: int = 0) -> None:
    """Telegram COVID-19-positive cough recordings featurized with the profile's settings, z-scored on the
    training part, written to `cache` (outside the repository: the data set is not part of it)."""
    from synthaug.datasets.covid19_cough import load
    from synthaug.features import extract, fit_normalizer

    if not (COUGH_ROOT / "metadata.json").is_file():
        sys.exit(f"{COUGH_ROOT} is missing: the covid19-cough data set is read from ../shared/datasets")
    listing = load(COUGH_ROOT, sources=["telegram"]).manifest
    files = listing[listing["label"] == "positive"].reset_index(drop=True)
    params = generator_params(profile).featurize
    extraction = extract(
        [COUGH_ROOT / p for p in files["path"]], list(files["path"]), params.log_mel(), workers=2, progress=False
    )
    order = np.random.default_rng(seed).permutation(len(extraction.x))
    n_train = round(len(order) * 2 / 3)
    x = fit_normalizer(extraction.x[order[:n_train]]).apply(extraction.x)
    np.savez(cache, train=x[order[:n_train]], real=x[order[n_train:]], groups=extraction.file_id[order[n_train:]])


def load_class(data: str, cache: Path) -> dict:
    if data == "demo":
        return demo_class()
    from synthaug.evaluation.fidelity import random_projection

    saved = np.load(cache)
    return {
        "name": "covid19-cough, Telegram positives",
        "train": saved["train"],
        "real": saved["real"],
        "groups": saved["groups"],
        "views": {"log_mel": lambda v: random_projection(v, dim=128, seed=0), "band_statistics": band_statistics},
    }


def score(data: dict, samples: np.ndarray) -> dict:
    """The audit's strongest two-sample AUROC and its reference, and KID in the first view."""
    from synthaug.evaluation.fidelity import REFERENCE, audit_class, strongest_two_sample

    rows = {
        view: audit_class(
            embed(data["train"]), embed(data["real"]), data["groups"], {"generator": embed(samples)}, repeats=5, seed=0
        )
        for view, embed in data["views"].items()
    }
    best = strongest_two_sample({view: r["generator"] for view, r in rows.items()})
    reference = strongest_two_sample({view: r[REFERENCE] for view, r in rows.items()})
    first = rows[next(iter(rows))]
    return {
        "auroc": best["auroc"],
        "auroc_view": best["view"],
        "auroc_test": best["test"],
        "reference_auroc": reference["auroc"],
        "kid": first["generator"]["kid_val"],
        "reference_kid": first[REFERENCE]["kid_val"],
        "precision": first["generator"]["precision"],
        "recall": first["generator"]["recall"],
        "copies": first["generator"]["memorization_rate"],
    }


def train_to_budget(generator, x: np.ndarray, y: np.ndarray, minutes: float, spent: float, now=time.process_time) -> float:
    """Continue training until `now` has counted `minutes` in all (`spent` seconds so far); the new total."""
    while spent < 60.0 * minutes:
        generator.config["steps"] = generator.steps_done + CHUNK_STEPS
        started = now()
        generator.fit(x, y, progress=False)
        spent += now() - started
    return spent


def run_generator(task: tuple) -> list[dict]:
    """Train one generator through every budget, scoring its samples after each."""
    data_name, cache, name, config, budgets, n_samples, device, clock = task
    import torch

    from synthaug.generators import generator_class

    torch.set_num_threads(1)
    data = load_class(data_name, cache)
    train = data["train"]
    config = {**config, "max_minutes": None}
    if name != "cgan":
        config["steps"] = 10**9  # the budget below ends training, not the step count
    generator = generator_class(name)(config, input_shape=tuple(train.shape[1:]), n_classes=1, seed=0, device=device)
    # CPU time of this process with one thread, or wall-clock time (on a GPU, where CPU time says little).
    now = time.process_time if clock == "cpu" else time.perf_counter
    labels = np.zeros(len(train), dtype=np.int64)
    rows, spent = [], 0.0
    for minutes in budgets:
        spent = train_to_budget(generator, train, labels, minutes, spent, now)
        samples = generator.sample(n_samples, 0, seed=1)
        row = {
            "generator": name,
            "budget_minutes": minutes,
            "minutes_spent": spent / 60.0,
            "clock": clock,
            "steps": generator.steps_done,
            **score(data, samples),
        }
        rows.append(row)
        print(
            f"{name:>8} {minutes:>5g} min {row['steps']:>6} steps  AUROC {row['auroc']:.3f} "
            f"({row['auroc_view']}, {row['auroc_test']}; real {row['reference_auroc']:.2f})  KID {row['kid']:.3g}",
            flush=True,
        )
    return rows


def train_all(
    data_name: str,
    budgets: list[float],
    generators: list[str] | None,
    jobs: int,
    n_samples: int,
    profile: str | None = None,
    device: str = "cpu",
    clock: str = "cpu",
) -> dict:
    models = generator_params(profile).train_generator.models
    names = generators or list(models)
    cache = Path(tempfile.mkdtemp()) / "features.npz"
    if data_name != "demo":
        featurize_cough(cache, profile)
    tasks = [(data_name, cache, name, dict(models[name]), budgets, n_samples, device, clock) for name in names]
    started = time.perf_counter()
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            rows = [row for result in pool.map(run_generator, tasks, chunksize=1) for row in result]
    else:
        rows = [row for task in tasks for row in run_generator(task)]
    data = load_class(data_name, cache)
    return {
        "data": data["name"],
        "n_train": len(data["train"]),
        "n_real": len(data["real"]),
        "shape": list(data["train"].shape[1:]),
        "budgets_minutes": budgets,
        "samples": n_samples,
        "wall_minutes": (time.perf_counter() - started) / 60.0,
        "configs": {n: dict(models[n]) for n in names},
        "rows": rows,
    }


def table(result: dict) -> str:
    unit = "CPU minutes" if result.get("clock", "cpu") == "cpu" else f"minutes on {result.get('device')}"
    lines = [
        f"**{result['data']}** ({result['n_train']} training, {result['n_real']} scored real spectrograms of "
        f"shape {result['shape']}; real (validation) reference AUROC "
        f"{result['rows'][0]['reference_auroc']:.2f}, KID {result['rows'][0]['reference_kid']:.3g})",
        "",
        f"| generator | {unit} | steps | strongest two-sample AUROC (test, view) | KID | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['generator']} | {row['budget_minutes']:g} | {row['steps']} | {row['auroc']:.3f} "
            f"({row['auroc_test']}, {row['auroc_view']}) | {row['kid']:.3g} | {row['precision']:.2f} | "
            f"{row['recall']:.2f} |"
        )
    return "\n".join(lines)


def plot(results: list[dict], figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 7), squeeze=False)
    for column, result in enumerate(results):
        auroc_axis, kid_axis = axes[0, column], axes[1, column]
        for name in dict.fromkeys(row["generator"] for row in result["rows"]):
            rows = [row for row in result["rows"] if row["generator"] == name]
            minutes = [row["budget_minutes"] for row in rows]
            auroc_axis.plot(minutes, [row["auroc"] for row in rows], marker="o", label=name)
            kid_axis.plot(minutes, [max(row["kid"], 1e-3) for row in rows], marker="o", label=name)
        reference = result["rows"][0]
        auroc_axis.axhline(reference["reference_auroc"], color="k", linestyle="--", label="real (validation)")
        kid_axis.axhline(max(reference["reference_kid"], 1e-3), color="k", linestyle="--", label="real (validation)")
        auroc_axis.set(title=result["data"], xscale="log", ylim=(0.45, 1.02), ylabel="strongest two-sample AUROC")
        unit = "CPU minutes, one core" if result.get("clock", "cpu") == "cpu" else f"minutes on {result.get('device')}"
        kid_axis.set(xscale="log", yscale="log", xlabel=f"training budget ({unit})", ylabel="KID")
        auroc_axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["demo", "covid19-cough"], default="demo")
    parser.add_argument("--budgets", default="1,3,10", help="comma-separated CPU minutes (default 1,3,10)")
    parser.add_argument("--generators", help="comma-separated names (default: every generator in params.yaml)")
    parser.add_argument("--jobs", type=int, default=2, help="generators trained side by side (default 2)")
    parser.add_argument("--samples", type=int, default=200, help="spectrograms drawn per budget (default 200)")
    parser.add_argument("--profile", help="apply profiles/PROFILE.yaml to params.yaml's recipes first (e.g. paper-medical)")
    parser.add_argument("--device", default="cpu", help="torch device for training (default cpu; cuda on a GPU)")
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="budgets in CPU time of the training process (default) or wall-clock time (GPU)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="folder for results/*.json and the figure (default benchmarks/)")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure and tables from saved results")
    args = parser.parse_args()

    results = args.out / "results"
    results.mkdir(parents=True, exist_ok=True)
    if not args.plot:
        budgets = sorted(float(b) for b in args.budgets.split(","))
        generators = args.generators.split(",") if args.generators else None
        result = train_all(args.data, budgets, generators, args.jobs, args.samples, args.profile, args.device, args.clock)
        path = results / f"generator_fidelity_{args.data}.json"
        if generators and path.is_file():
            # A run of some generators replaces their rows and keeps the others'.
            saved_result = json.loads(path.read_text())
            kept = [row for row in saved_result["rows"] if row["generator"] not in generators]
            result["rows"] = kept + result["rows"]
            result["configs"] = {**saved_result["configs"], **result["configs"]}
            result["budgets_minutes"] = sorted({row["budget_minutes"] for row in result["rows"]})
        path.write_text(json.dumps(result, indent=1) + "\n")
    saved = [json.loads(path.read_text()) for path in sorted(results.glob("generator_fidelity_*.json"), reverse=True)]
    if saved:
        plot(saved, args.out / "generator_fidelity.png")
        for result in saved:
            print("\n" + table(result))


if __name__ == "__main__":
    main()
