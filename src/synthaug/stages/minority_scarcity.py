"""minority_scarcity@F-T: one point of the medical protocol made scarce, a share F of the minority's groups, trial T.

Reads params `dataset`, `train_generator` (classes tolerance, device, the models named in
`minority_scarcity.generators`), `synthesize` (minority_ratio, batch_size), `train_classifier` and
`minority_scarcity`; MANIFEST and FEATURES/{train,val,test}.npz. The majority class stays whole;
each minority class (train_generator's minority rule on the whole training split) keeps the first
round(F x its training groups) groups in an order drawn with `minority_scarcity.subset_seed` + T
(nested across F). Every model sees features z-scored with the subset's own statistics. The
classifiers (seed T, `train_classifier.epochs` epochs, the last kept, as the industrial sweep does)
are the arms of synthaug.sweep:

- baseline: the subset alone;
- classic_augmentation: the subset with `train_classifier.classic_augmentation`;
- one per generator: the subset plus round(synthesize.minority_ratio x the subset's minority
  count) spectrograms from that generator, trained (seed T) on the subset's minority class, mixed in;
- one per generator and entry of `minority_scarcity.methods` ("<generator>+<method>"): the same
  samples used another way (domain-adversarial training, a fine-tune on real data, selection by
  utility under the baseline: the train_classifier keys the entry sets);
- real_ceiling (`minority_scarcity.ceiling`): the subset plus as many real minority spectrograms
  from the training groups the subset left out (the next groups of the same order); skipped at a
  point whose left-out groups hold too few (F = 1 leaves none).

Writes OUT_DIR/subset.txt, OUT_DIR/ceiling.txt (the files the ceiling added), OUT_DIR/point.json and
one run folder per arm (synthaug.classifier_runs); the arms' test scores to METRICS. Logs one MLflow
run per generator and per classifier, tagged with the fraction and trial. Work in progress waits
under checkpoints/minority_scarcity/, so a killed point resumes where it stopped.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthaug import tracking
from synthaug.checkpoints import checkpoint_dir
from synthaug.class_plan import learned_classes, synthetic_counts
from synthaug.cli_arguments import add_params
from synthaug.config import Params, load_params
from synthaug.datasets.manifest import read_manifest
from synthaug.errors import ConfigError
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import load_spectrogram_set
from synthaug.sweep_layout import BASELINE, CEILING, CLASSIC, point_name

# torch and scikit-learn (through synthaug.sweep) load in the functions that use them, so `synthaug
# minority_scarcity --help` and a bad parameter answer before they do.
if TYPE_CHECKING:
    from synthaug.classifier_runs import RunContext
    from synthaug.sweep import Arm, SubsetData


def train_generators(
    params: Params,
    data: SubsetData,
    minority: list[str],
    counts: dict[str, int],
    point: str,
    trial: int,
    context: RunContext,
    staging: Path,
    features_dir: Path,
) -> list[Arm]:
    """Each generator of `minority_scarcity.generators` on the subset's minority classes, counts[class] samples each."""
    from synthaug.sweep import generator_arm, real_vs_synthetic_logger

    generators = params.train_generator
    arms = []
    for name in params.minority_scarcity.generators:
        run = {
            "project_root": context.project_root,
            "dataset_name": context.dataset_name,
            "protocol": context.protocol,
            "run_name": f"minority-scarcity-{point}-{name}",
            "tags": {"synthaug.method": name, "synthaug.seed": str(trial), **context.tags},
            "inputs": tracking.feature_inputs(features_dir, context.dataset_name, {"train": data.train}, splits=("train",)),
        }
        arms.append(
            generator_arm(
                name,
                generators.models[name],
                data.train_subset,
                minority,
                counts,
                seed=trial,
                batch_size=params.synthesize.batch_size,
                checkpoint_root=staging / name,
                device=generators.device,
                run=run,
                stage="minority_scarcity",  # tagged apart from the pipeline's own generators and classifiers
                while_logging=real_vs_synthetic_logger(data.train_subset, name),
            )
        )
    return arms


def main(
    fraction: float,
    trial: int,
    params_path: Path,
    manifest_path: Path,
    features_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    project_root: Path = Path("."),
) -> None:
    from synthaug.classifier_runs import RunContext
    from synthaug.datasets.splits import held_back_files, minority_subsets
    from synthaug.sweep import Arm, copy_runs, held_back_rows, load_subset, run_arms

    params = load_params(params_path)
    dataset, settings, generators = params.dataset, params.minority_scarcity, params.train_generator
    if fraction not in settings.fractions or trial not in settings.trials:
        raise ConfigError(
            f"minority_scarcity: (fraction {fraction}, trial {trial}) is not in minority_scarcity.fractions "
            f"{settings.fractions} x minority_scarcity.trials {settings.trials}"
        )
    classifier = params.train_classifier.model_copy(update={"patience": None})  # fixed epochs: no validation choice
    manifest = read_manifest(manifest_path)
    class_names = load_spectrogram_set(features_dir / "val.npz").class_names
    with np.load(features_dir / "train.npz", allow_pickle=False) as stored:  # the labels only: x is loaded once, below
        train_y = stored["y"]
    minority = [class_names[c] for c in learned_classes(train_y, class_names, "minority", generators.minority_tolerance)]
    subset_seed = settings.subset_seed + trial
    data = load_subset(features_dir, minority_subsets(manifest, minority, [fraction], seed=subset_seed)[fraction])
    ratio, tolerance = params.synthesize.minority_ratio, generators.minority_tolerance
    counts = synthetic_counts(data.train_subset.y, class_names, minority, ratio=ratio, n_per_class=0, tolerance=tolerance)
    point = point_name(fraction, trial)
    fingerprint = {"point": point, "generators": {g: generators.models[g] for g in settings.generators}, "counts": counts}
    fingerprint |= {"classifier": classifier.model_dump(exclude={"seeds"}), "minority_scarcity": settings.model_dump()}
    staging = checkpoint_dir(
        "minority_scarcity", point, fingerprint, [features_dir / f"{s}.npz" for s in ("train", "val", "test")]
    )
    context = RunContext(
        project_root,
        dataset.name,
        dataset.protocol,
        "minority_scarcity",
        tags={"synthaug.minority_fraction": str(fraction), "synthaug.trial": str(trial)},
        params={"minority_fraction": fraction, "trial": trial},
        log_model=False,
        inputs=tracking.feature_inputs(features_dir, dataset.name, {"train": data.train}),
    )
    generated = train_generators(params, data, minority, counts, point, trial, context, staging, features_dir)
    # The baseline first: utility selection scores the other arms' samples under its classifier.
    arms = [Arm(BASELINE), Arm(CLASSIC, augment=classifier.classic_augmentation), *generated]
    arms += [arm.using(method, changes) for arm in generated for method, changes in settings.methods.items()]
    held_back = held_back_files(manifest, data.subset, minority, seed=subset_seed)
    ceiling = held_back_rows(data.train, held_back, counts) if settings.ceiling else None
    if ceiling is not None:
        arms.append(Arm(CEILING, ceiling[0], ceiling[1], tags={"synthaug.synthetic_set": "held-back real recordings"}))
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
        label=f"minority_scarcity {point}",
    )
    summary = {
        "minority_fraction": fraction,
        "trial": trial,
        "minority_classes": minority,
        "n_real_clips": {name: int((data.train_subset.y == c).sum()) for c, name in enumerate(class_names)},
        "n_extra": counts,
        "ceiling": "added" if ceiling is not None else ("off" if not settings.ceiling else "too few held-back recordings"),
        "normalization": "per-mel z-score fitted on the subset's clips",
        "selection": {"early_stopping": False, "epochs": classifier.epochs, "kept": "last epoch"},
        "runs": runs,
    }
    with atomic_directory(out_dir) as tmp:
        (tmp / "subset.txt").write_text("\n".join(data.subset) + "\n")
        (tmp / "ceiling.txt").write_text("".join(f + "\n" for f in ceiling[2]) if ceiling is not None else "")
        copy_runs(staging, tmp, list(runs))
        write_json_atomic(tmp / "point.json", summary)
    write_json_atomic(metrics_path, {arm: run["test"]["file"] for arm, run in runs.items()})
    shutil.rmtree(staging, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug minority_scarcity` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument(
        "fraction", type=float, help="share of the minority's training groups, one of minority_scarcity.fractions"
    )
    parser.add_argument(
        "trial", type=int, help="trial number, one of minority_scarcity.trials (draws the subset, seeds the models)"
    )
    parser.add_argument("manifest", type=Path, help="manifest CSV written by prepare")
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/minority_scarcity/f0.25-t0")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")


def run(args: argparse.Namespace) -> None:
    """`synthaug minority_scarcity`: main with the parsed arguments."""
    main(args.fraction, args.trial, args.params, args.manifest, args.features, args.out_dir, args.metrics)
