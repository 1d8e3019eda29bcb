"""scarcity@N-T: one point of the industrial data-scarcity sweep, N real files per class, trial T.

Reads params `dataset`, `train_generator` (device, models.cgan), `synthesize` (n_per_class,
batch_size), `train_classifier` and `scarcity`; reads MANIFEST (for the nested subsets of
`scarcity_subsets`) and FEATURES/{train,val,test}.npz. As the industrial study does, it trains the
conditional GAN on exactly the subset's training clips (seed T; seed 0 for every trial when
`scarcity.gan_per_trial` is false, the study's single GAN per level for Pucks), draws `synthesize.n_per_class`
synthetic spectrograms per class, and trains these classifiers with seed T on that same real subset:

- baseline: the real subset alone;
- baseline_classic: the real subset with classic augmentation (`scarcity.augment`);
- gan: the real subset plus the synthetic set;
- gan_classic: the real subset plus the synthetic set, classic augmentation on both;
- real_ceiling (`scarcity.ceiling`): the real subset plus up to `synthesize.n_per_class` more real
  clips per class from the training files the subset left out, in the order larger subsets add them
  (all of them where they hold fewer clips; `datasets.splits.scarcity_held_back`). Validation and
  test files are never among them. The largest subset of a class with no files left has none.

Labelled data stays inside the point's budget of N files per class. featurize z-scores every
split with the statistics of the whole training split, so the stage undoes that normalization
(FEATURES/normalizer.json) and z-scores train subset, validation and test with statistics fitted
on the subset's clips alone; the GAN and the classifiers see only that scaling. Model selection:
with `scarcity.early_stopping` false (the study's fixed 70 or 1,500 epochs) each classifier trains
`train_classifier.epochs` epochs and keeps the last, and the whole validation split is only scored
for the learning curves; with true, early stopping (`train_classifier.patience`) reads N validation
files per class drawn with `scarcity.subset_seed`, and the run's validation scores are on those
files. Test uses the full real test split. Writes OUT_DIR/subset.txt (the files trained on), OUT_DIR/ceiling.txt
(the held-back files the ceiling added, empty without one),
OUT_DIR/normalizer.json (the subset's statistics), OUT_DIR/val_subset.txt (with early stopping: the
validation files read), OUT_DIR/real_vs_synthetic.png, one run folder per variant (see
synthaug.classifier_runs) and OUT_DIR/point.json; the variants' headline metrics to METRICS. Logs
one MLflow run for the GAN and one per classifier, tagged with files_per_class and trial. Work in
progress waits under checkpoints/scarcity/, so a killed point resumes where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthaug import tracking
from synthaug.checkpoints import checkpoint_dir
from synthaug.cli_arguments import add_params
from synthaug.config import Params, ScarcityParams, TrainClassifierParams, load_params
from synthaug.datasets.manifest import read_manifest
from synthaug.errors import ConfigError, DataError
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.sweep_layout import CEILING

# torch and scikit-learn (through synthaug.sweep) load in the functions that use them, so `synthaug
# scarcity --help` and a bad parameter answer before they do.
if TYPE_CHECKING:
    from synthaug.sweep import Arm, SubsetData

GENERATOR = "cgan"
VARIANTS = {  # variant -> (adds synthetic data, classic augmentation)
    "baseline": (False, False),
    "baseline_classic": (False, True),
    "gan": (True, False),
    "gan_classic": (True, True),
}


def validation_budget(manifest: pd.DataFrame, files_per_class: int, seed: int) -> list[str]:
    """`files_per_class` validation files per class (sorted paths), nested across sizes as the training subsets are."""
    from synthaug.datasets.splits import scarcity_subsets

    val_rows = manifest[manifest["split"] == "val"]
    counts = val_rows["label"].value_counts()
    short = {label: int(n) for label, n in counts.items() if n < files_per_class}
    missing = sorted(set(manifest["label"]) - set(counts.index))
    if short or missing:
        listed = ", ".join([f"{label!r} has {n}" for label, n in short.items()] + [f"{label!r} has 0" for label in missing])
        raise DataError(
            f"scarcity.early_stopping: true stops early on {files_per_class} validation files per class, but "
            f"class {listed}; set scarcity.early_stopping: false (fixed epochs) or lower scarcity.files_per_class"
        )
    # The training subsets' draw, applied to the validation rows: the same seed gives nested sets.
    return scarcity_subsets(val_rows.assign(split="train"), [files_per_class], seed=seed)[files_per_class]


def load_point(
    manifest: pd.DataFrame, features_dir: Path, settings: ScarcityParams, files_per_class: int
) -> tuple[SubsetData, list[str]]:
    """(the point's data: `files_per_class` files per class and every split renormalized with their
    statistics, with early stopping only the validation budget's files; that budget's files)."""
    from synthaug.datasets.splits import scarcity_subsets
    from synthaug.sweep import load_subset

    subset = scarcity_subsets(manifest, settings.files_per_class, seed=settings.subset_seed)[files_per_class]
    data = load_subset(features_dir, subset)
    if not settings.early_stopping:
        return data, []
    val_subset = validation_budget(manifest, files_per_class, settings.subset_seed)
    val = data.val.select(np.isin(data.val.file_id, val_subset))
    if not len(val):
        raise DataError(f"{features_dir / 'val.npz'}: none of the validation budget's files; re-run featurize (dvc repro)")
    return dataclasses.replace(data, val=val), val_subset


def point_arms(gan: Arm, ceiling: tuple[np.ndarray, np.ndarray, list[str]] | None, augment: dict[str, Any]) -> list[Arm]:
    """The variants' arms (VARIANTS), and the ceiling's when it has rows."""
    from synthaug.sweep import Arm

    arms = []
    for variant, (with_synthetic, classic) in VARIANTS.items():
        extra = (gan.extra_x, gan.extra_y) if with_synthetic else (None, None)
        arm = Arm(variant, *extra, augment=augment if classic else {})
        arm.tags = gan.tags if arm.n_extra else {"synthaug.generator_run_id": "", "synthaug.synthetic_set": "none"}
        arm.inputs = gan.inputs if arm.n_extra else []
        arms.append(arm)
    if ceiling is not None:
        real_tags = {"synthaug.generator_run_id": "", "synthaug.synthetic_set": "held-back real files"}
        arms.append(Arm(CEILING, ceiling[0], ceiling[1], tags=real_tags))
    return arms


def point_summary(
    data: SubsetData,
    val_subset: list[str],
    gan: Arm,
    ceiling: tuple[np.ndarray, np.ndarray, list[str]] | None,
    settings: ScarcityParams,
    classifier: TrainClassifierParams,
) -> dict[str, Any]:
    """point.json without the runs: sizes, the ceiling's files and clips, normalization and model selection."""
    class_names = data.train.class_names
    selection: dict[str, Any]
    if settings.early_stopping:
        per_class = len(val_subset) // len(class_names)  # the budget's files per class
        selection = {"early_stopping": True, "patience": classifier.patience, "val_files_per_class": per_class}
        selection["val_files"] = len(val_subset)
    else:
        selection = {"early_stopping": False, "epochs": classifier.epochs, "kept": "last epoch"}
    if ceiling is not None:
        clips = np.bincount(ceiling[1], minlength=len(class_names)).tolist()
        added: dict[str, Any] | str = {"files": len(ceiling[2]), "clips_per_class": dict(zip(class_names, clips))}
    else:
        added = "off" if not settings.ceiling else "no training files left out"
    return {
        "n_real_clips": len(data.train_subset),
        "n_synthetic": gan.n_extra,
        "ceiling": added,
        "generator_run_id": gan.tags["synthaug.generator_run_id"],
        "normalization": "per-mel z-score fitted on the subset's clips",
        "selection": selection,
    }


def train_gan(
    params: Params,
    data: SubsetData,
    point: str,
    seed: int,
    tags: dict[str, str],
    staging: Path,
    project_root: Path,
    features_dir: Path,
    figures: dict[str, Any],
) -> Arm:
    """The point's conditional GAN on the subset, `synthesize.n_per_class` samples of every class, one MLflow run."""
    from synthaug.sweep import generator_arm, real_vs_synthetic_logger

    dataset = params.dataset
    return generator_arm(
        GENERATOR,
        params.train_generator.models[GENERATOR],
        data.train_subset,
        "all",
        {name: params.synthesize.n_per_class for name in data.train.class_names},
        seed=seed,
        batch_size=params.synthesize.batch_size,
        checkpoint_root=staging / "gan",
        device=params.train_generator.device,
        run={
            "project_root": project_root,
            "dataset_name": dataset.name,
            "protocol": dataset.protocol,
            "run_name": f"scarcity-{point}-{GENERATOR}",
            "tags": {"synthaug.method": GENERATOR, "synthaug.seed": str(seed), **tags},
            # The feature file the subset is drawn from; the tags say which files per class and trial.
            "inputs": tracking.feature_inputs(features_dir, dataset.name, {"train": data.train}, splits=("train",)),
        },
        while_logging=real_vs_synthetic_logger(data.train_subset, GENERATOR, figures),
    )


def write_point(
    out_dir: Path,
    data: SubsetData,
    val_subset: list[str],
    figure: Any,
    ceiling: tuple[np.ndarray, np.ndarray, list[str]] | None,
    staging: Path,
    arms: list[str],
    summary: dict[str, Any],
) -> None:
    """The point's folder, written whole or not at all."""
    from synthaug.sweep import copy_runs

    with atomic_directory(out_dir) as tmp:
        (tmp / "subset.txt").write_text("\n".join(data.subset) + "\n")
        write_json_atomic(tmp / "normalizer.json", data.normalizer.to_dict())
        if val_subset:
            (tmp / "val_subset.txt").write_text("\n".join(val_subset) + "\n")
        figure.savefig(tmp / "real_vs_synthetic.png", dpi=80)
        (tmp / "ceiling.txt").write_text("".join(f + "\n" for f in ceiling[2]) if ceiling is not None else "")
        copy_runs(staging, tmp, arms)
        write_json_atomic(tmp / "point.json", summary)


def main(
    files_per_class: int,
    trial: int,
    params_path: Path,
    manifest_path: Path,
    features_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    project_root: Path = Path("."),
) -> None:
    from synthaug.classifier_runs import RunContext
    from synthaug.datasets.splits import scarcity_held_back
    from synthaug.sweep import held_back_rows, run_arms

    params = load_params(params_path)
    dataset, settings, classifier = params.dataset, params.scarcity, params.train_classifier
    if files_per_class not in settings.files_per_class or trial not in settings.trials:
        raise ConfigError(
            f"scarcity: ({files_per_class} files per class, trial {trial}) is not in scarcity.files_per_class "
            f"{settings.files_per_class} x scarcity.trials {settings.trials}"
        )
    if GENERATOR not in params.train_generator.models:
        raise ConfigError("scarcity needs the conditional GAN: add `cgan` to train_generator.models")
    if not settings.early_stopping:
        classifier = classifier.model_copy(update={"patience": None})  # fixed epochs, the last epoch kept
    manifest = read_manifest(manifest_path)
    data, val_subset = load_point(manifest, features_dir, settings, files_per_class)
    point, gan_seed = f"n{files_per_class}-t{trial}", trial if settings.gan_per_trial else 0
    tags = {"synthaug.files_per_class": str(files_per_class), "synthaug.trial": str(trial)}
    gan_config = params.train_generator.models[GENERATOR]
    fingerprint = {"point": point, "generator": gan_config, "synthesize": params.synthesize.model_dump()}
    fingerprint |= {"classifier": classifier.model_dump(exclude={"seeds"}), "scarcity": settings.model_dump()}
    staging = checkpoint_dir("scarcity", point, fingerprint, [features_dir / f"{s}.npz" for s in ("train", "val", "test")])
    counts = {name: params.synthesize.n_per_class for name in data.train.class_names}  # the ceiling matches the GAN's
    figures: dict = {}
    gan = train_gan(params, data, point, gan_seed, tags, staging, project_root, features_dir, figures)
    held_back = scarcity_held_back(manifest, files_per_class, seed=settings.subset_seed)
    ceiling = held_back_rows(data.train, held_back, counts, at_most=True) if settings.ceiling else None
    arms = point_arms(gan, ceiling, settings.augment)
    # The feature files the runs' data come from (val and test as stored, before the subset's normalization).
    inputs = tracking.feature_inputs(features_dir, dataset.name, {"train": data.train})
    context = RunContext(
        project_root,
        dataset.name,
        dataset.protocol,
        "train_classifier",
        tags=tags,
        params={"files_per_class": files_per_class, "trial": trial},
        log_model=False,
        inputs=inputs,
    )
    runs = run_arms(
        arms,
        data.train_subset,
        data.val,
        data.test,
        channel_std=data.normalizer.std,
        settings=classifier,
        seed=trial,
        staging=staging,
        context=context,
        label=f"scarcity {point}",
    )
    summary = {
        "files_per_class": files_per_class,
        "trial": trial,
        **point_summary(data, val_subset, gan, ceiling, settings, classifier),
        "runs": runs,
    }
    write_point(out_dir, data, val_subset, figures["real_vs_synthetic"], ceiling, staging, [arm.name for arm in arms], summary)
    write_json_atomic(metrics_path, {variant: run["test"]["file"] for variant, run in runs.items()})
    shutil.rmtree(staging, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug scarcity` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("files_per_class", type=int, help="real training files per class, one of scarcity.files_per_class")
    parser.add_argument("trial", type=int, help="trial number, one of scarcity.trials (seeds the GAN and classifiers)")
    parser.add_argument("manifest", type=Path, help="manifest CSV written by prepare")
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/scarcity/n4-t0")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")


def run(args: argparse.Namespace) -> None:
    """`synthaug scarcity`: main with the parsed arguments."""
    main(args.files_per_class, args.trial, args.params, args.manifest, args.features, args.out_dir, args.metrics)
