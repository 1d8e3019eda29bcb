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

import json
import shutil
from pathlib import Path

import numpy as np

from synthaug import tracking
from synthaug.checkpoints import checkpoint_dir
from synthaug.class_plan import learned_classes, synthetic_counts
from synthaug.classifier_runs import RunContext
from synthaug.config import load_params
from synthaug.datasets.manifest import read_manifest
from synthaug.datasets.splits import held_back_files, minority_subsets
from synthaug.errors import ConfigError, DataError
from synthaug.features import Normalizer
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import load_spectrogram_set
from synthaug.sweep import (
    Arm,
    copy_runs,
    generator_arm,
    held_back_rows,
    real_vs_synthetic_logger,
    run_arms,
    subset_normalization,
)
from synthaug.sweep_layout import BASELINE, CEILING, CLASSIC, point_name


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
    params = load_params(params_path)
    dataset, settings, generators = params.dataset, params.minority_scarcity, params.train_generator
    if fraction not in settings.fractions or trial not in settings.trials:
        raise ConfigError(
            f"minority_scarcity: (fraction {fraction}, trial {trial}) is not in minority_scarcity.fractions "
            f"{settings.fractions} x minority_scarcity.trials {settings.trials}"
        )
    classifier = params.train_classifier.model_copy(update={"patience": None})  # fixed epochs: no validation choice
    manifest = read_manifest(manifest_path)
    train, val, test = (load_spectrogram_set(features_dir / f"{split}.npz") for split in ("train", "val", "test"))
    class_names = list(train.class_names)
    minority = [class_names[c] for c in learned_classes(train.y, class_names, "minority", generators.minority_tolerance)]
    subset_seed = settings.subset_seed + trial
    subset = minority_subsets(manifest, minority, [fraction], seed=subset_seed)[fraction]
    chosen = np.isin(train.file_id, subset)
    if not chosen.any():
        raise DataError(f"{features_dir / 'train.npz'}: none of the subset's files; re-run featurize (dvc repro)")
    stored = Normalizer.from_dict(json.loads((features_dir / "normalizer.json").read_text()))
    normalizer, train_subset, renormalized = subset_normalization(
        train, chosen, stored, {"train": train, "val": val, "test": test}
    )
    counts = synthetic_counts(
        train_subset.y,
        class_names,
        minority,
        ratio=params.synthesize.minority_ratio,
        n_per_class=0,
        tolerance=generators.minority_tolerance,
    )
    point = point_name(fraction, trial)
    tags = {"synthaug.minority_fraction": str(fraction), "synthaug.trial": str(trial)}
    fingerprint = {
        "point": point,
        "generators": {g: generators.models[g] for g in settings.generators},
        "counts": counts,
        "classifier": classifier.model_dump(exclude={"seeds"}),
        "minority_scarcity": settings.model_dump(),
    }
    staging = checkpoint_dir(
        "minority_scarcity", point, fingerprint, [features_dir / f"{s}.npz" for s in ("train", "val", "test")]
    )

    generated: list[Arm] = []
    for name in settings.generators:
        run = {
            "project_root": project_root,
            "dataset_name": dataset.name,
            "protocol": dataset.protocol,
            "run_name": f"minority-scarcity-{point}-{name}",
            "tags": {"synthaug.method": name, "synthaug.seed": str(trial), **tags},
            "inputs": tracking.feature_inputs(features_dir, dataset.name, {"train": train}, splits=("train",)),
        }
        generated.append(
            generator_arm(
                name,
                generators.models[name],
                train_subset,
                minority,
                counts,
                seed=trial,
                batch_size=params.synthesize.batch_size,
                checkpoint_root=staging / name,
                device=generators.device,
                run=run,
                stage="minority_scarcity",  # tagged apart from the pipeline's own generators and classifiers
                while_logging=real_vs_synthetic_logger(train_subset, name),
            )
        )
    # The baseline first: utility selection scores the other arms' samples under its classifier.
    arms = [Arm(BASELINE), Arm(CLASSIC, augment=classifier.classic_augmentation), *generated]
    arms += [arm.using(method, changes) for arm in generated for method, changes in settings.methods.items()]
    held_back = held_back_files(manifest, subset, minority, seed=subset_seed)
    ceiling = held_back_rows(renormalized["train"], held_back, counts) if settings.ceiling else None
    if ceiling is not None:
        arms.append(Arm(CEILING, ceiling[0], ceiling[1], tags={"synthaug.synthetic_set": "held-back real recordings"}))
    context = RunContext(
        project_root,
        dataset.name,
        dataset.protocol,
        "minority_scarcity",
        tags=tags,
        params={"minority_fraction": fraction, "trial": trial},
        log_model=False,
        inputs=tracking.feature_inputs(features_dir, dataset.name, {"train": train}),
    )
    runs = run_arms(
        arms,
        train_subset,
        renormalized["val"],
        renormalized["test"],
        channel_std=normalizer.std,
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
        "n_real_clips": {name: int((train_subset.y == c).sum()) for c, name in enumerate(class_names)},
        "n_extra": counts,
        "ceiling": "added" if ceiling is not None else ("off" if not settings.ceiling else "too few held-back recordings"),
        "normalization": "per-mel z-score fitted on the subset's clips",
        "selection": {"early_stopping": False, "epochs": classifier.epochs, "kept": "last epoch"},
        "runs": runs,
    }
    with atomic_directory(out_dir) as tmp:
        (tmp / "subset.txt").write_text("\n".join(subset) + "\n")
        (tmp / "ceiling.txt").write_text("".join(f + "\n" for f in ceiling[2]) if ceiling is not None else "")
        copy_runs(staging, tmp, list(runs))
        write_json_atomic(tmp / "point.json", summary)
    write_json_atomic(metrics_path, {arm: run["test"]["file"] for arm, run in runs.items()})
    shutil.rmtree(staging, ignore_errors=True)
