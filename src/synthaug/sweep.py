"""One point of a data-scarcity sweep: a real subset, the arms that add data to it, one classifier per arm.

Both sweeps use it: the industrial one (`synthaug scarcity`: N files of every class) and the medical
one (`synthaug minority_scarcity`: a share of the minority class's groups). A point's data stays in
its budget: `subset_normalization` z-scores everything with statistics of the subset alone.

An arm (`Arm`) is the real subset plus optional extra training rows and an optional classic
augmentation: the baseline adds nothing; a generator arm adds its synthetic spectrograms; the
ceiling arm adds as many *real* spectrograms of the same classes, from training groups the subset
left out. Extra rows of every kind enter the classifier as synthetic rows do (the class weights
come from the subset's real counts alone), so arms differ only in what the extra rows are.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthaug import tracking
from synthaug.classifier_runs import ClassifierData, RunContext, run_classifier
from synthaug.classifiers.saved import load_classifier
from synthaug.classifiers.utility import keep_most_useful, utility_scores
from synthaug.config import TrainClassifierParams
from synthaug.errors import DataError
from synthaug.evaluation.figures import real_vs_synthetic
from synthaug.features import Normalizer, fit_normalizer
from synthaug.generators.per_class import Mode, by_class, fit_models, sample_classes
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set


def subset_normalization(
    train: SpectrogramSet, chosen: np.ndarray, stored: Normalizer, others: dict[str, SpectrogramSet]
) -> tuple[Normalizer, SpectrogramSet, dict[str, SpectrogramSet]]:
    """(normalizer fitted on the chosen training clips only, those clips and `others` z-scored with it).

    Every set arrives z-scored with `stored` (featurize's statistics of the whole training split):
    it is brought back to dB with `stored` and normalized again with the subset's own statistics,
    so no statistic of data outside the subset reaches the models.
    """
    raw_subset = stored.invert(train.x[chosen])
    normalizer = fit_normalizer(raw_subset)
    note = {"normalization": f"per-mel z-score fitted on the scarcity subset ({len(raw_subset)} clips)"}
    subset = dataclasses.replace(train.select(chosen), x=normalizer.apply(raw_subset), metadata={**train.metadata, **note})
    renormalized = {
        name: dataclasses.replace(s, x=normalizer.apply(stored.invert(s.x)), metadata={**s.metadata, **note})
        for name, s in others.items()
    }
    return normalizer, subset, renormalized


@dataclass
class SubsetData:
    """A point's data: its training subset and every split, z-scored with the subset's own statistics."""

    subset: list[str]  # the training files of the point
    normalizer: Normalizer  # fitted on the subset's clips
    train_subset: SpectrogramSet
    train: SpectrogramSet  # the whole training split (a ceiling draws from it)
    val: SpectrogramSet
    test: SpectrogramSet


def load_subset(features_dir: Path, subset: list[str]) -> SubsetData:
    """featurize's splits under `features_dir` renormalized with the statistics of the `subset` files' clips."""
    train, val, test = (load_spectrogram_set(features_dir / f"{split}.npz") for split in ("train", "val", "test"))
    chosen = np.isin(train.file_id, subset)
    if not chosen.any():
        raise DataError(f"{features_dir / 'train.npz'}: none of the subset's files; re-run featurize (dvc repro)")
    stored = Normalizer.from_dict(json.loads((features_dir / "normalizer.json").read_text()))
    normalizer, train_subset, renormalized = subset_normalization(
        train, chosen, stored, {"train": train, "val": val, "test": test}
    )
    return SubsetData(subset, normalizer, train_subset, renormalized["train"], renormalized["val"], renormalized["test"])


@dataclass
class Arm:
    """One classifier of a point: the real subset plus `extra` rows (synthetic or held-back real)."""

    name: str
    extra_x: np.ndarray | None = None
    extra_y: np.ndarray | None = None
    augment: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)  # train_classifier keys this arm sets (a way to use the extra rows)
    tags: dict[str, str] = field(default_factory=dict)  # MLflow tags beyond the point's
    inputs: list[tracking.DataInput] = field(default_factory=list)  # the extra rows as an MLflow data set

    @property
    def n_extra(self) -> int:
        return 0 if self.extra_y is None else len(self.extra_y)

    def using(self, method: str, changes: Mapping[str, Any]) -> Arm:
        """The same extra rows used another way: arm "<name>+<method>" with train_classifier `changes`."""
        return dataclasses.replace(
            self, name=f"{self.name}+{method}", changes=dict(changes), tags={**self.tags, "synthaug.use": method}
        )


def held_back_rows(
    train: SpectrogramSet, files: Mapping[str, Sequence[str]], counts: Mapping[str, int], *, at_most: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """(x, y, files used): counts[class] training rows of each class from its held-back `files`, in
    their order; None if any class has too few.

    A file's clips are taken together and the last file may be cut short, so the count is exact.
    With `at_most`, a class whose held-back files hold fewer rows gives all of them (None only if
    one gives none): the industrial sweep's long recordings give far fewer real clips than a
    generator draws, and "all the real data left" is the ceiling a user can compare with there.
    """
    rows: list[int] = []
    for class_name, n in counts.items():
        order = {path: rank for rank, path in enumerate(files.get(class_name, []))}
        candidates = [int(i) for i in np.flatnonzero(np.isin(train.file_id, list(order)))]
        candidates.sort(key=lambda i: (order[str(train.file_id[i])], i))
        if len(candidates) < n and not (at_most and candidates):
            return None
        rows.extend(candidates[:n])
    index = np.asarray(rows, dtype=np.int64)
    return train.x[index], train.y[index], sorted({str(f) for f in train.file_id[index]})


def generator_arm(
    name: str,
    config: Mapping[str, Any],
    subset: SpectrogramSet,
    classes: Mode,
    counts: Mapping[str, int],
    *,
    seed: int,
    batch_size: int,
    checkpoint_root: Path,
    device: str,
    run: dict[str, Any],
    while_logging: Callable[[Arm], None] | None = None,
    stage: str = "train_generator",
) -> Arm:
    """Train generator `name` on the subset's `classes`, draw counts[class] spectrograms; logged as one MLflow run.

    `run`: tracking.stage_run's project_root, dataset_name, protocol, run_name, tags and inputs.
    `while_logging(arm)` runs inside that MLflow run once the samples are drawn (e.g. to log a figure).
    `stage`: the run's synthaug.stage tag.
    """
    class_names = list(subset.class_names)
    with tracking.stage_run(
        stage=stage,
        params={"generator": name, **config, "seed": seed, "n_train": len(subset.y)},
        **run,
    ) as active:
        trained = fit_models(
            name, config, subset.x, subset.y, class_names, mode=classes, seed=seed, checkpoint_root=checkpoint_root, device=device
        )
        for slot, generator in trained:
            tracking.log_counts({k: float(v) for k, v in generator.history[-1].items()}, f"final.{slot.key}")
        x, y = sample_classes(by_class(trained, class_names), counts, class_names, seed=seed, batch_size=batch_size)
        arm = Arm(
            name,
            x,
            y,
            tags={"synthaug.generator_run_id": active.info.run_id, "synthaug.synthetic_set": run["run_name"]},
            inputs=[tracking.DataInput(f"{run['dataset_name']}-synthetic-{run['run_name']}", "training", x, y)],
        )
        if while_logging is not None:
            while_logging(arm)
    return arm


def real_vs_synthetic_logger(subset: SpectrogramSet, name: str, figures: dict[str, Any] | None = None) -> Callable[[Arm], None]:
    """A `while_logging` for generator_arm: logs the subset's spectrograms beside the arm's samples to its
    MLflow run as real_vs_synthetic.png, and keeps the figure in `figures` when given."""

    def log(arm: Arm) -> None:
        assert arm.extra_x is not None and arm.extra_y is not None  # a generator arm always adds samples
        synthetic = SpectrogramSet(
            x=arm.extra_x,
            y=arm.extra_y,
            file_id=np.array([f"synthetic/{i}" for i in range(arm.n_extra)]),
            class_names=subset.class_names,
            feature_params=subset.feature_params,
            metadata={},
        )
        figure = real_vs_synthetic(subset, synthetic, name)
        tracking.log_figure(figure, "real_vs_synthetic.png")
        if figures is not None:
            figures["real_vs_synthetic"] = figure

    return log


def run_arms(
    arms: Sequence[Arm],
    subset: SpectrogramSet,
    val: SpectrogramSet,
    test: SpectrogramSet,
    *,
    channel_std: np.ndarray,
    settings: TrainClassifierParams,
    seed: int,
    staging: Path,
    context: RunContext,
    label: str,
) -> dict[str, dict]:
    """Train, evaluate and save one classifier per arm (seed `seed`) under staging/runs/<arm>; {arm: run.json}.

    An arm whose `utility_keep_share` is below 1 keeps that share of its extra rows, ranked by their
    utility on `val` under the first arm's classifier (the baseline, trained on the subset alone).
    """
    runs = {}
    for arm in arms:
        arm_settings = settings.model_copy(update=arm.changes)
        extra_x, extra_y = arm.extra_x, arm.extra_y
        if arm_settings.utility_keep_share < 1 and extra_x is not None and extra_y is not None:
            reference, _ = load_classifier(staging / "runs" / arms[0].name / "model.pt")
            scores = utility_scores(reference, (extra_x, extra_y), (val.x, val.y))
            keep = keep_most_useful(scores, extra_y, arm_settings.utility_keep_share)
            extra_x, extra_y = extra_x[keep], extra_y[keep]
        x = subset.x if extra_x is None else np.concatenate([subset.x, extra_x])
        y = subset.y if extra_y is None else np.concatenate([subset.y, extra_y])
        n_extra = 0 if extra_y is None else len(extra_y)
        data = ClassifierData(x, y, val, test, channel_std=channel_std, n_synthetic=n_extra)
        arm_context = dataclasses.replace(context, tags={**context.tags, **arm.tags}, inputs=context.inputs + arm.inputs)
        runs[arm.name] = run_classifier(
            arm.name,
            seed,
            data,
            arm_settings,
            staging / "runs" / arm.name,
            staging / "epochs" / arm.name,
            arm_context,
            augment=arm.augment,
        )
        test_scores = runs[arm.name]["test"]["file"]
        print(
            f"{label} {arm.name}: test file AUROC {test_scores.get('auroc', float('nan')):.3f}, "
            f"macro F1 {test_scores['macro_f1']:.3f}"
        )
    return runs


def copy_runs(staging: Path, out_dir: Path, arms: Sequence[str]) -> None:
    """Each arm's finished run folder from staging/runs into the point's output folder."""
    for arm in arms:
        shutil.copytree(staging / "runs" / arm, out_dir / arm)
