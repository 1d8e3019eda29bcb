"""Does one class-conditional generator learn ten classes? Label accuracy and fidelity of its samples.

`class_conditional: true` makes one VAE, WGAN-GP or DDPM learn every class (`train_generator.classes:
all`) instead of one model per class. This benchmark trains one such model (the active profile's recipe
of params.yaml's `train_generator.models.NAME`, with `class_conditional: true`) on the ten digits of the
Free Spoken Digit Dataset in ../shared/datasets/fsdd (3,000 recordings, 6 speakers, 50 takes of each
digit per speaker) for increasing CPU-time budgets and, after each budget, draws `--samples` spectrograms
of every digit and measures:

- **label accuracy**: the share of samples that a classifier of real spectrograms (logistic regression on
  4 x 4 average-pooled log-mels, trained on the generator's own training recordings) assigns to the digit
  they were drawn for. Beside it, the same classifier's accuracy on held-out real recordings: what samples
  as good as real data would score. A model that ignores its labels scores about 0.1.
- **fidelity per digit**: the audit's strongest two-sample AUROC and KID of each digit's samples against
  held-out real recordings of that digit (`fidelity.audit_class`, log-mel random-projection view), as
  mean and worst over the ten digits, beside the real (held-out) reference row.

Data: takes 0-39 of every speaker train (2,400 spectrograms), takes 40-49 are held out (600). The
audit splits the held-out recordings one by one, not by speaker: both halves then hold every speaker,
as the training takes do (split by speaker, the real reference row would measure speaker identity). Log-mels at the recordings' 8 kHz (no upsampling): FFT 512, hop 128,
64 mel bands up to 4 kHz, 0.75 s centre-cropped or padded, so [1, 64, 47] as the quick profile's demo.

    python benchmarks/conditional_generators.py --generators ddpm --budgets 3,10

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
HELD_OUT_TAKES = range(40, 50)


def load_fsdd() -> dict:
    """FSDD log-mels at 8 kHz, z-scored per mel band on the training takes: train/held-out x, y, speaker."""
    import pandas as pd

    from synthaug.config import LogMelParams
    from synthaug.features import extract, fit_normalizer

    table = FSDD_ROOT / "metadata.csv"
    if not table.is_file():
        sys.exit(f"{FSDD_ROOT} is missing: the FSDD data set is read from ../shared/datasets/fsdd")
    files = pd.read_csv(table)
    params = LogMelParams(sample_rate=8000, n_fft=512, hop_length=128, n_mels=64, f_max=4000.0, duration_s=0.75)
    extraction = extract([FSDD_ROOT / p for p in files["path"]], list(files["path"]), params, workers=2, progress=False)
    held_out = files["take"].isin(HELD_OUT_TAKES).to_numpy()
    x = fit_normalizer(extraction.x[~held_out]).apply(extraction.x)
    y = files["digit"].to_numpy(dtype=np.int64)
    recordings = files["path"].to_numpy()
    return {
        "train": (x[~held_out], y[~held_out]),
        "held_out": (x[held_out], y[held_out], recordings[held_out]),
        "params": params.model_dump(),
    }


def pooled(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.nn.functional.avg_pool2d(torch.as_tensor(x), 4).flatten(1).double().numpy()


def evaluate(data: dict, classifier, samples: dict[int, np.ndarray]) -> dict:
    """Label accuracy of the samples, and per-digit fidelity against the held-out recordings."""
    from synthaug.evaluation.fidelity import REFERENCE, audit_class, random_projection, strongest_two_sample

    def view(v: np.ndarray) -> np.ndarray:
        return random_projection(v, dim=128, seed=0)

    x_train, y_train = data["train"]
    x_real, y_real, recordings = data["held_out"]
    drawn = np.concatenate([samples[d] for d in sorted(samples)])
    labels = np.concatenate([np.full(len(samples[d]), d) for d in sorted(samples)])
    per_digit = []
    for digit in sorted(samples):
        rows = audit_class(
            view(x_train[y_train == digit]),
            view(x_real[y_real == digit]),
            recordings[y_real == digit],
            {"generator": view(samples[digit])},
            repeats=5,
            seed=0,
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


def run(name: str, budgets: list[float], n_samples: int) -> dict:
    import torch
    from generator_fidelity import generator_params, train_to_budget
    from sklearn.linear_model import LogisticRegression

    from synthaug.generators import generator_class

    torch.set_num_threads(1)
    data = load_fsdd()
    x_train, y_train = data["train"]
    x_real, y_real, _ = data["held_out"]
    classifier = LogisticRegression(max_iter=3000).fit(pooled(x_train), y_train)
    real_accuracy = float((classifier.predict(pooled(x_real)) == y_real).mean())
    print(f"label classifier: held-out real accuracy {real_accuracy:.3f}", flush=True)
    config = {**generator_params(None).train_generator.models[name], "class_conditional": True, "max_minutes": None}
    if name != "cgan":
        config["steps"] = 10**9  # the budget ends training
    generator = generator_class(name)(config, input_shape=tuple(x_train.shape[1:]), n_classes=10, seed=0, device="cpu")
    rows, spent = [], 0.0
    for minutes in budgets:
        spent = train_to_budget(generator, x_train, y_train, minutes, spent)
        samples = {digit: generator.sample(n_samples, digit, seed=digit) for digit in range(10)}
        row = {"generator": name, "budget_minutes": minutes, "steps": generator.steps_done, **evaluate(data, classifier, samples)}
        rows.append(row)
        print(
            f"{name} {minutes:g} min {row['steps']} steps: label accuracy {row['label_accuracy']:.3f} "
            f"(real {real_accuracy:.3f}); AUROC mean {row['auroc_mean']:.3f} worst {row['auroc_worst']:.3f} "
            f"(real {row['reference_auroc_mean']:.2f}); KID mean {row['kid_mean']:.3g}",
            flush=True,
        )
    return {
        "data": "FSDD, 10 digits",
        "n_train": len(x_train),
        "n_held_out": len(x_real),
        "log_mel": data["params"],
        "real_label_accuracy": real_accuracy,
        "config": config | {"steps": None},
        "rows": rows,
    }


def table(results: dict) -> str:
    lines = [
        "| generator | CPU minutes | steps | label accuracy (real held-out) | two-sample AUROC, mean / worst digit (real) | KID, mean |",
        "|---|---|---|---|---|---|",
    ]
    for result in results.values():
        for row in result["rows"]:
            lines.append(
                f"| {row['generator']} (one conditional model) | {row['budget_minutes']:g} | {row['steps']} | "
                f"{row['label_accuracy']:.3f} ({result['real_label_accuracy']:.3f}) | {row['auroc_mean']:.3f} / "
                f"{row['auroc_worst']:.3f} ({row['reference_auroc_mean']:.2f}) | {row['kid_mean']:.3g} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="ddpm", help="comma-separated: vae, wgan_gp, ddpm (default ddpm)")
    parser.add_argument("--budgets", default="3,10", help="comma-separated CPU minutes (default 3,10)")
    parser.add_argument("--samples", type=int, default=60, help="spectrograms drawn per digit and budget (default 60)")
    parser.add_argument("--plot", action="store_true", help="only print the table of the saved results")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if not args.plot:
        budgets = sorted(float(b) for b in args.budgets.split(","))
        for name in args.generators.split(","):
            results[name] = run(name, budgets, args.samples)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
