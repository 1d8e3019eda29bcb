"""Does one class-conditional generator learn ten classes? Label accuracy and fidelity of its samples.

`class_conditional: true` makes one VAE, WGAN-GP or DDPM learn every class (`train_generator.classes:
all`) instead of one model per class. This benchmark trains one such model (the active profile's recipe
of params.yaml's `train_generator.models.NAME`, with `class_conditional: true`) on the ten digits of the
Free Spoken Digit Dataset in ../shared/datasets/fsdd (3,000 recordings, 6 speakers, 50 takes of each
digit per speaker) as one continuing training and, at each budget of optimizer steps (`--steps`), draws
`--samples` spectrograms of every digit and measures, on each of two held-out halves:

- **label accuracy**: the share of samples that a classifier of real spectrograms (logistic regression on
  4 x 4 average-pooled log-mels, trained on the generator's own training recordings) assigns to the digit
  they were drawn for. Beside it, the same classifier's accuracy on held-out real recordings: what samples
  as good as real data would score. A model that ignores its labels scores about 0.1.
- **fidelity per digit**: the audit's strongest two-sample AUROC and KID of each digit's samples against
  held-out real recordings of that digit (`fidelity.audit_class`, log-mel random-projection view), as
  mean and worst over the ten digits, beside the real (held-out) reference row.

Data: takes 0-39 of every speaker train (2,400 spectrograms), takes 40-44 form the selection half (300:
budgets and recipes are chosen on it) and takes 45-49 the reporting half (300: the quoted figures). Both
halves hold every speaker, as the training takes do (split by speaker, the real reference row would
measure speaker identity); within a half the audit splits recordings one by one. Every point is trained
with `--seeds` (mean ± sd over them), with CPU seconds per step and per sample beside it. Log-mels at the
recordings' 8 kHz (no upsampling): FFT 512, hop 128, 64 mel bands up to 4 kHz, 0.75 s centre-cropped or
padded, so [1, 64, 47] as the quick profile's demo.

    python benchmarks/conditional_generators.py --generators vae,wgan_gp,ddpm --steps 300,1000 --seeds 0,1,2 --jobs 2
    python benchmarks/conditional_generators.py --generators ddpm --set formulation=edm ... --variant edm

Results go to benchmarks/results/conditional_generators.json and a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FSDD_ROOT = ROOT.parent / "shared" / "datasets" / "fsdd"
RESULTS = ROOT / "benchmarks" / "results" / "conditional_generators.json"
HELD_OUT_TAKES = {"selection": range(40, 45), "reporting": range(45, 50)}
HALVES = tuple(HELD_OUT_TAKES)


def load_fsdd() -> dict:
    """FSDD log-mels at 8 kHz, z-scored per mel band on the training takes: train/held-out x, y, speaker."""
    import pandas as pd

    from synthaug.feature_params import LogMelParams
    from synthaug.features import extract, fit_normalizer

    table = FSDD_ROOT / "metadata.csv"
    if not table.is_file():
        sys.exit(f"{FSDD_ROOT} is missing: the FSDD data set is read from ../shared/datasets/fsdd")
    files = pd.read_csv(table)
    params = LogMelParams(sample_rate=8000, n_fft=512, hop_length=128, n_mels=64, f_max=4000.0, duration_s=0.75)
    extraction = extract([FSDD_ROOT / p for p in files["path"]], list(files["path"]), params, workers=2, progress=False)
    halves = {half: files["take"].isin(takes).to_numpy() for half, takes in HELD_OUT_TAKES.items()}
    train = ~np.logical_or.reduce(list(halves.values()))
    x = fit_normalizer(extraction.x[train]).apply(extraction.x)
    y = files["digit"].to_numpy(dtype=np.int64)
    recordings = files["path"].to_numpy()
    return {
        "train": (x[train], y[train]),
        **{half: (x[rows], y[rows], recordings[rows]) for half, rows in halves.items()},
        "params": params.model_dump(),
    }


def pooled(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.nn.functional.avg_pool2d(torch.as_tensor(x), 4).flatten(1).double().numpy()


def evaluate(data: dict, classifier, samples: dict[int, np.ndarray], half: str) -> dict:
    """Label accuracy of the samples, and per-digit fidelity against one held-out half's recordings."""
    from synthaug.evaluation.distances import random_projection
    from synthaug.evaluation.fidelity import REFERENCE, audit_class, strongest_two_sample

    def view(v: np.ndarray) -> np.ndarray:
        return random_projection(v, dim=128, seed=0)

    x_train, y_train = data["train"]
    x_real, y_real, recordings = data[half]
    drawn = np.concatenate([samples[d] for d in sorted(samples)])
    labels = np.concatenate([np.full(len(samples[d]), d) for d in sorted(samples)])
    per_digit = []
    for digit in sorted(samples):
        rows = audit_class(
            view(x_train[y_train == digit]),
            view(x_real[y_real == digit]),
            recordings[y_real == digit],
            {"generator": view(samples[digit])},
            repeats=3,
            seed=0,
            train_groups=np.arange((y_train == digit).sum()),
            against_train=False,  # the figures read the held-out side only
        )
        best = strongest_two_sample({"log_mel": rows["generator"]})
        reference = strongest_two_sample({"log_mel": rows[REFERENCE]})
        per_digit.append(
            {
                "digit": digit,
                "auroc": best["auroc"],
                "reference_auroc": reference["auroc"],
                "kid": rows["generator"]["kid_val"],
                "reference_kid": rows[REFERENCE]["kid_val"],
            }
        )
    aurocs = [d["auroc"] for d in per_digit]
    return {
        "label_accuracy": float((classifier.predict(pooled(drawn)) == labels).mean()),
        "auroc_mean": float(np.mean(aurocs)),
        "auroc_worst": float(np.max(aurocs)),
        "reference_auroc_mean": float(np.mean([d["reference_auroc"] for d in per_digit])),
        "kid_mean": float(np.mean([d["kid"] for d in per_digit])),
        "per_digit": per_digit,
    }


def run_seed(task: tuple) -> list[dict]:
    """One seed's continuing training of one conditional model, scored at every budget."""
    import time

    import torch
    from generator_fidelity import generator_params

    from synthaug.generators import generator_class

    name, label, budgets, seed, n_samples, overrides, data, classifier = task
    torch.set_num_threads(1)
    x_train, y_train = data["train"]
    config = {**generator_params(None).train_generator.models[name], **overrides, "class_conditional": True, "max_minutes": None}
    generator = generator_class(name)(config, input_shape=tuple(x_train.shape[1:]), n_classes=10, seed=seed, device="cpu")
    rows, spent = [], 0.0
    for steps in budgets:
        generator.update_settings(steps=int(steps))  # one continuing training: fit to 300, then to 1000
        started = time.process_time()
        generator.fit(x_train, y_train, progress=False)
        spent += time.process_time() - started
        started = time.process_time()
        samples = {digit: generator.sample(n_samples, digit, seed=1000 * seed + digit) for digit in range(10)}
        sampling = time.process_time() - started
        row = {
            "generator": label,
            "seed": seed,
            "steps": generator.steps_done,
            "seconds_per_step": spent / generator.steps_done,
            "seconds_per_sample": sampling / (10 * n_samples),
            **{half: evaluate(data, classifier, samples, half) for half in HALVES},
        }
        rows.append(row)
        report = row["reporting"]
        print(
            f"{label} seed {seed} {row['steps']} steps ({row['seconds_per_step']:.3f} CPU s/step): label accuracy "
            f"{report['label_accuracy']:.3f}; AUROC mean {report['auroc_mean']:.3f} worst {report['auroc_worst']:.3f} "
            f"(real {report['reference_auroc_mean']:.2f}); selection AUROC mean {row['selection']['auroc_mean']:.3f}",
            flush=True,
        )
    return rows


def run(
    name: str,
    budgets: list[int],
    seeds: list[int],
    n_samples: int,
    label: str | None = None,
    jobs: int = 1,
    overrides: dict | None = None,
) -> dict:
    """Every seed of one conditional model (`jobs` side by side, one core each); rows are named `label`."""
    import multiprocessing

    from generator_fidelity import generator_params
    from sklearn.linear_model import LogisticRegression

    label = label or name
    data = load_fsdd()
    x_train, y_train = data["train"]
    classifier = LogisticRegression(max_iter=3000).fit(pooled(x_train), y_train)
    real_accuracy = {half: float((classifier.predict(pooled(data[half][0])) == data[half][1]).mean()) for half in HALVES}
    print(f"label classifier: held-out real accuracy {real_accuracy}", flush=True)
    overrides = overrides or {}
    config = {**generator_params(None).train_generator.models[name], **overrides, "class_conditional": True, "max_minutes": None}
    # The data and the label classifier travel with each task: a pool's workers cannot start
    # featurization processes of their own, and the classifier is the same for every seed.
    tasks = [(name, label, budgets, seed, n_samples, overrides, data, classifier) for seed in seeds]
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            rows = [row for result in pool.map(run_seed, tasks, chunksize=1) for row in result]
    else:
        rows = [row for task in tasks for row in run_seed(task)]
    return {
        "data": "FSDD, 10 digits",
        "n_train": len(x_train),
        **{f"n_{half}": len(data[half][0]) for half in HALVES},
        "log_mel": data["params"],
        "real_label_accuracy": real_accuracy,
        "seeds": seeds,
        "config": config | {"steps": None},
        "rows": rows,
    }


def _mean_sd(values: list[float], spec: str) -> str:
    values_array = np.asarray(values, dtype=float)
    if len(values_array) < 2:
        return f"{values_array.mean():{spec}}"
    return f"{values_array.mean():{spec}} ± {values_array.std(ddof=1):{spec}}"


def table(results: dict) -> str:
    lines = [
        "| generator | steps | label accuracy (real) | AUROC mean / worst digit (real) | KID mean | selection: AUROC mean "
        "| CPU s / step | CPU s / sample |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results.values():
        if "seeds" not in result:
            continue  # a result of the earlier design (time budgets, one seed)
        by_steps: dict[int, list[dict]] = {}
        for row in result["rows"]:
            by_steps.setdefault(row["steps"], []).append(row)
        chosen = min(by_steps, key=lambda s: (round(np.mean([r["selection"]["auroc_mean"] for r in by_steps[s]]), 3), s))
        for steps, rows in sorted(by_steps.items()):
            report = [r["reporting"] for r in rows]
            lines.append(
                f"| {rows[0]['generator']} (one conditional model) | {steps}{' (chosen)' if steps == chosen else ''} | "
                f"{_mean_sd([r['label_accuracy'] for r in report], '.3f')} ({result['real_label_accuracy']['reporting']:.3f}) | "
                f"{_mean_sd([r['auroc_mean'] for r in report], '.3f')} / {_mean_sd([r['auroc_worst'] for r in report], '.3f')} "
                f"({np.mean([r['reference_auroc_mean'] for r in report]):.2f}) | {_mean_sd([r['kid_mean'] for r in report], '.3g')} | "
                f"{np.mean([r['selection']['auroc_mean'] for r in rows]):.3f} | {np.median([r['seconds_per_step'] for r in rows]):.3f} | "
                f"{np.median([r['seconds_per_sample'] for r in rows]):.4f} |"
            )
    return "\n".join(lines)


def main() -> None:
    from generator_fidelity import add_recipe_arguments, recipe_override

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="ddpm", help="comma-separated: vae, wgan_gp, ddpm (default ddpm)")
    parser.add_argument("--steps", default="300,1000", help="comma-separated step budgets (default 300,1000)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--samples", type=int, default=60, help="spectrograms drawn per digit and budget (default 60)")
    parser.add_argument("--plot", action="store_true", help="only print the table of the saved results")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained side by side, one core each (default 1)")
    add_recipe_arguments(parser)
    args = parser.parse_args()
    if bool(args.set) != bool(args.variant):
        parser.error("--set and --variant go together: a changed recipe is reported under its own name")
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if not args.plot:
        budgets = sorted(int(b) for b in args.steps.split(","))
        seeds = [int(s) for s in args.seeds.split(",")]
        for name in args.generators.split(","):
            label = f"{name}+{args.variant}" if args.variant else name
            overrides = dict(recipe_override(item) for item in args.set)
            results[label] = run(name, budgets, seeds, args.samples, label, args.jobs, overrides)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
