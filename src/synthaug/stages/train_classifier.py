"""train_classifier@NAME: spectrograms (real, plus a synthetic set if given) -> one classifier per seed.

Reads params `dataset.name`, `dataset.protocol` and `train_classifier`; reads FEATURES/{train,val,
test}.npz and FEATURES/normalizer.json, and with --synthetic a synthetic set (added to training
only: validation and test stay real). With --classic (the train_classic stage) the real data alone
trains with `train_classifier.classic_augmentation` as its augmentation: the cheap bar. With --audit (the set's audit folder) and `curation.enabled`,
synthetic samples outside the `curation` bounds are dropped first and the share dropped is logged. For each seed in `train_classifier.seeds`, writes
OUT_DIR/seed<S>/ (model, predictions, evaluation, figures: see synthaug.evaluation.run_folder) and logs
one MLflow run. Writes the mean and standard deviation over seeds of the headline metrics to
METRICS, and the first seed's learning curve to PLOTS/learning_curve.csv (for `dvc plots`).
`train_classifier.workers` seeds train at once, in worker processes (synthaug.classifier_runs.run_seeds).

Finished seeds and per-epoch checkpoints wait under checkpoints/train_classifier/NAME/ until every
seed is done, so a killed run resumes where it stopped and OUT_DIR only ever holds a full set.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from synthaug import tracking
from synthaug.checkpoints import checkpoint_dir
from synthaug.cli_arguments import add_params
from synthaug.config import CurationParams, TrainClassifierParams, load_params
from synthaug.curation import CURATION_BOUNDS, keep_mask
from synthaug.errors import ConfigError
from synthaug.io import atomic_directory, write_json_atomic, write_text_atomic
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set


def classic_settings(settings: TrainClassifierParams) -> TrainClassifierParams:
    """The "+ classic augmentation" method's settings: the real data alone, augmented with `classic_augmentation`."""
    if not settings.classic_augmentation:
        raise ConfigError(
            "train_classifier.classic_augmentation is empty, so the train_classic stage would repeat the baseline; "
            "give it an augmentation, e.g. {mixup: {alpha: 0.2}, time_mask: {n_masks: 2, max_width: 8}}"
        )
    return settings.model_copy(update={"augment": settings.classic_augmentation})


def curated_synthetic(
    name: str, synthetic_path: Path, curation: CurationParams, audit_dir: Path | None
) -> tuple[SpectrogramSet, dict]:
    """(the synthetic set, with the samples curation drops removed when it is on; what curation did, {} when off)."""
    synthetic = load_spectrogram_set(synthetic_path)
    if not (curation.enabled and audit_dir is not None):
        return synthetic, {}
    keep = keep_mask(dict(np.load(audit_dir / "scores.npz")), curation.model_dump(include=set(CURATION_BOUNDS)))
    done = {
        "curation": curation.model_dump(),
        "curation_dropped": int((~keep).sum()),
        "curation_dropped_share": float((~keep).mean()) if len(keep) else 0.0,
    }
    print(f"train_classifier {name}: curation drops {done['curation_dropped']} of {len(keep)} synthetic samples")
    return synthetic.select(keep), done


def print_seed(name: str, run: dict) -> None:
    test_file = run["test"]["file"]
    print(
        f"train_classifier {name} seed {run['seed']}: test macro F1 {test_file['macro_f1']:.3f}, "
        f"AUROC {test_file['auroc']:.3f}, accuracy {test_file['accuracy']:.3f} (best epoch {run['best_epoch']})"
    )


def print_summary(name: str, summary: dict, n_seeds: int, out_dir: Path) -> None:
    from synthaug.evaluation.formatting import mean_std

    test_file = summary["test"]["file"]

    def over_seeds(metric: str) -> str:  # no "± 0.000" for one seed
        return mean_std({"mean": test_file[f"{metric}_mean"], "std": test_file[f"{metric}_std"], "n": n_seeds})

    print(
        f"train_classifier {name}: {n_seeds} seed(s), test macro F1 {over_seeds('macro_f1')}, AUROC {over_seeds('auroc')} -> {out_dir}"
    )


def main(
    name: str,
    params_path: Path,
    features_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    plots_dir: Path,
    synthetic_path: Path | None = None,
    audit_dir: Path | None = None,
    project_root: Path = Path("."),
    classic: bool = False,
) -> None:
    # torch and scikit-learn load once the work begins, so a bad argument or parameter is reported at
    # once (tests/test_startup.py).
    from synthaug.classifier_runs import ClassifierData, RunContext, run_seeds
    from synthaug.evaluation.run_folder import seed_summary

    params = load_params(params_path)
    dataset, settings = params.dataset, params.train_classifier
    settings.refuse_utility_selection("the train_classifier stage")
    if classic:  # the "+ classic augmentation" method: the real data alone, augmented
        settings = classic_settings(settings)
    train, val, test = (load_spectrogram_set(features_dir / f"{split}.npz") for split in ("train", "val", "test"))
    normalizer = json.loads((features_dir / "normalizer.json").read_text())
    train_x, train_y = train.x, train.y
    tags: dict[str, str] = {"synthaug.synthetic_set": "none"}
    curation: dict = {}
    inputs = tracking.feature_inputs(features_dir, dataset.name, {"train": train, "val": val, "test": test})
    input_files = [features_dir / f"{split}.npz" for split in ("train", "val", "test")]
    if synthetic_path is not None:
        synthetic, curation = curated_synthetic(name, synthetic_path, params.curation, audit_dir)
        inputs.append(tracking.DataInput.from_file(synthetic_path, f"{dataset.name}-synthetic-{name}", "training", synthetic))
        train_x, train_y = np.concatenate([train_x, synthetic.x]), np.concatenate([train_y, synthetic.y])
        tags = {
            "synthaug.synthetic_set": str(synthetic_path),
            "synthaug.generator_run_id": synthetic.metadata.get("generator_run_id", ""),
            "synthaug.curated": str(bool(curation)).lower(),
        }
        input_files.append(synthetic_path)
    if curation and audit_dir is not None:  # the curation bounds change the training data, so they belong in the fingerprint
        input_files.append(audit_dir / "scores.npz")
    data = ClassifierData(
        train_x, train_y, val, test, channel_std=np.asarray(normalizer["std"]), n_synthetic=len(train_y) - len(train.y)
    )
    context = RunContext(
        project_root, dataset.name, dataset.protocol, "train_classifier", tags=tags, params=curation, inputs=inputs
    )
    # The fingerprint leaves out the seed list, so adding a seed keeps the finished ones.
    fingerprint = {**settings.model_dump(exclude={"seeds"}), **curation}
    staged = {seed: checkpoint_dir("train_classifier", f"{name}/seed{seed}", fingerprint, input_files) for seed in settings.seeds}
    runs = run_seeds(
        name,
        settings.seeds,
        data,
        settings,
        {s: staging / "run" for s, staging in staged.items()},
        {s: staging / "epochs" for s, staging in staged.items()},
        context,
        workers=settings.workers,
        on_run=lambda run: print_seed(name, run),
    )
    summary = {**seed_summary(runs), **{k: v for k, v in curation.items() if k != "curation"}}
    with atomic_directory(out_dir) as tmp:
        for seed, staging in staged.items():
            shutil.copytree(staging / "run", tmp / f"seed{seed}")
        write_json_atomic(tmp / "runs.json", runs)
    write_json_atomic(metrics_path, summary)
    first = out_dir / f"seed{settings.seeds[0]}" / "learning_curve.csv"
    write_text_atomic(plots_dir / "learning_curve.csv", first.read_text())
    for staging in staged.values():
        shutil.rmtree(staging, ignore_errors=True)
    print_summary(name, summary, len(runs), out_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug train_classifier` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("name", help="name of this classifier variant, e.g. baseline")
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/classifiers/baseline")
    parser.add_argument("--synthetic", type=Path, help="synthetic set (synthetic.npz) to add to training")
    parser.add_argument("--audit", type=Path, help="the synthetic set's audit folder (scores.npz), used when curation.enabled")
    parser.add_argument(
        "--classic",
        action="store_true",
        help="the '+ classic augmentation' method: the real data alone with train_classifier.classic_augmentation",
    )
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the learning-curve CSV")


def run(args: argparse.Namespace) -> None:
    """`synthaug train_classifier`: main with the parsed arguments."""
    main(
        args.name,
        args.params,
        args.features,
        args.out_dir,
        args.metrics,
        args.plots,
        args.synthetic,
        args.audit,
        classic=args.classic,
    )
