"""Can the audit tell good synthetic spectrograms from bad? Controlled synthetic sets made from real data.

For one class of a featurized data set, builds synthetic sets whose defect is known by construction,
audits them exactly as the audit stage does (`fidelity.audit_class`, validation groups from the
manifest) and prints one row per set beside the real-validation reference row:

- copies: training spectrograms plus faint noise (a generator that memorizes);
- blurry: the class's mean training spectrogram plus faint noise (a collapsed, blurry VAE);
- noise: unit Gaussian noise at the normalized scale (a diffusion model that never learned);
- shuffled: training spectrograms with their time frames shuffled (the right spectrum per mel bin,
  no temporal structure: texture, not sounds);
- mixup: averages of two random training spectrograms of the class (plausible, partly new).

    python benchmarks/audit_controls.py                                   # outputs/ of the pipeline
    python benchmarks/audit_controls.py --features outputs/features --manifest outputs/prepare/manifest.csv \\
        --classifier outputs/classifiers/baseline/seed0/model.pt --class positive --repeats 5

Without --classifier (or when the file is missing) only the log-mel view is audited. Nothing here
reads the test split.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from synthaug.datasets.manifest import file_groups  # noqa: E402
from synthaug.evaluation.distances import random_projection
from synthaug.evaluation.fidelity import REFERENCE, REFERENCE_LABEL, audit_class  # noqa: E402
from synthaug.spectrograms import load_spectrogram_set  # noqa: E402

COLUMNS = {
    "n": "n",
    "two_sample_auroc_knn_val": "kNN val",
    "two_sample_auroc_quadratic_val": "quad val",
    "two_sample_auroc_train": "AUROC tr",
    "kid_val": "KID val",
    "frechet_val": "FD val",
    "precision": "prec",
    "recall": "recall",
    "coverage": "cover",
    "memorization_rate": "copies",
}


def control_sets(train_x: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
    """Synthetic sets [n, 1, mels, frames] with known defects, from one class's training spectrograms."""
    rng = np.random.default_rng(seed)
    drawn = train_x[rng.integers(0, len(train_x), size=n)]
    shuffled = drawn.copy()
    for sample in shuffled:
        sample[0] = sample[0][:, rng.permutation(sample.shape[-1])]
    partners = train_x[rng.integers(0, len(train_x), size=n)]
    return {
        "copies": drawn + rng.normal(0, 0.05, size=drawn.shape),
        "blurry": train_x.mean(axis=0, keepdims=True) + rng.normal(0, 0.05, size=drawn.shape),
        "noise": rng.normal(0, 1, size=drawn.shape),
        "shuffled": shuffled,
        "mixup": 0.5 * (drawn + partners),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("outputs/features"))
    parser.add_argument("--manifest", type=Path, default=Path("outputs/prepare/manifest.csv"))
    parser.add_argument("--classifier", type=Path, default=Path("outputs/classifiers/baseline/seed0/model.pt"))
    parser.add_argument("--class", dest="class_name", help="class to audit (default: the smallest in training)")
    parser.add_argument("--n", type=int, default=200, help="spectrograms per control set")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--projection-dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train, val = (load_spectrogram_set(args.features / f"{split}.npz") for split in ("train", "val"))
    c = (
        train.class_names.index(args.class_name)
        if args.class_name
        else int(np.argmin(np.bincount(train.y, minlength=len(train.class_names))))
    )
    train_x, val_x = train.x[train.y == c], val.x[val.y == c]
    groups = file_groups(val.file_id[val.y == c], args.manifest if args.manifest.is_file() else None)
    sets = control_sets(train_x, args.n, args.seed)
    views = {"log_mel": lambda x: random_projection(x, dim=args.projection_dim, seed=args.seed)}
    if args.classifier.is_file():
        from synthaug.classifiers.saved import load_classifier
        from synthaug.training import predict_embeddings

        model = load_classifier(args.classifier)[0]
        views["classifier"] = lambda x: predict_embeddings(model, np.asarray(x, dtype=np.float32))
    print(
        f"class {train.class_names[c]}: {len(train_x)} training, {len(val_x)} validation spectrograms of "
        f"{len(np.unique(groups))} groups; {args.n} per control set, {args.repeats} splits"
    )
    for view, embed in views.items():
        started = time.perf_counter()
        rows = audit_class(
            embed(train_x),
            embed(val_x),
            groups,
            {name: embed(x) for name, x in sets.items()},
            repeats=args.repeats,
            seed=args.seed,
        )
        print(f"\n{view} view ({time.perf_counter() - started:.1f} s)")
        print(f"{'set':<18}" + "".join(f"{header:>10}" for header in COLUMNS.values()))
        for name, row in rows.items():
            label = REFERENCE_LABEL if name == REFERENCE else name
            print(f"{label:<18}" + "".join(f"{row[column]:>10.3g}" for column in COLUMNS))


if __name__ == "__main__":
    main()
