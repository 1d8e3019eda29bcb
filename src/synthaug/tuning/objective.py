"""A trial: train the generator with the suggested values, mix its samples in, score the classifier on validation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from synthaug import tracking as tracking_conventions
from synthaug.class_plan import Classes, configured_ratio, describe_classes, synthetic_counts
from synthaug.errors import DataError
from synthaug.evaluation.endpoints import validation_key
from synthaug.tuning.attrs import (
    CLASSIFIER_PREFIX,
    COUNTS_ATTR,
    CURATION_ATTR,
    CURATION_DROPPED_ATTR,
    CURATION_PREFIX,
    MLFLOW_RUN_ATTR,
    PARENT_RUN_ATTR,
    RATIO,
)
from synthaug.tuning.mlflow_runs import Tracking, log_metrics, log_params, mlflow_client
from synthaug.tuning.space import study_space, suggest

if TYPE_CHECKING:
    from synthaug.config import AuditParams, CurationParams, SynthesizeParams, TrainClassifierParams, TrainGeneratorParams
    from synthaug.spectrograms import SpectrogramSet


@dataclass
class TuneData:
    """The real spectrograms a trial may use: training and validation only."""

    train: SpectrogramSet
    val: SpectrogramSet
    channel_std: np.ndarray  # per-mel std of the real training data (gain augmentation)
    # Trials that curate: a classifier trained on the real data only, with its train and val embeddings
    # (trained once per worker, on the first trial that needs it).
    reference: tuple[Any, np.ndarray, np.ndarray] | None = None


def load_tune_data(features_dir: Path) -> TuneData:
    """Read FEATURES/train.npz, val.npz and normalizer.json; nothing else (never test.npz)."""
    import json

    from synthaug.spectrograms import load_spectrogram_set

    features_dir = Path(features_dir)
    normalizer = features_dir / "normalizer.json"
    if not normalizer.is_file():
        raise DataError(f"{normalizer}: not found; run featurize first (dvc repro featurize)")
    train = load_spectrogram_set(features_dir / "train.npz")
    val = load_spectrogram_set(features_dir / "val.npz")
    if train.class_names != val.class_names:
        raise DataError(f"{features_dir}: train and val have different class names; re-run featurize")
    return TuneData(train, val, np.asarray(json.loads(normalizer.read_text())["std"], dtype=np.float32))


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs besides the suggested values: the params sections it reads (the tune
    stage passes them; never the whole params) and this worker's threads."""

    generator: str
    generation: TrainGeneratorParams  # classes, seed, device, minority_tolerance; models.<generator> is the base config
    synthesize: SynthesizeParams  # seed and batch size of the sampling; minority_ratio or n_per_class without a searched ratio
    classifier: TrainClassifierParams
    curation: CurationParams  # the pipeline's bounds, applied when curation.enabled
    audit: AuditParams  # k, memorization_quantile and copy_distance_ratio: curation scored as the audit scores it
    seeds: tuple[int, ...]  # tune.seeds: one classifier per seed, the objective is their mean
    objective: str = "auroc"  # report.primary_endpoints[0], scored on validation (synthaug.evaluation.endpoints)
    num_threads: int | None = None  # torch threads of this worker (None: all cores); not a params key

    @property
    def classes(self) -> Classes:
        return self.generation.classes

    @property
    def generator_config(self) -> dict[str, Any]:
        """train_generator.models.<generator>; a trial's suggested values override it."""
        return dict(self.generation.models.get(self.generator, {}))

    @property
    def fixed_curation(self) -> Mapping[str, float | None] | None:
        """The pipeline's curation bounds {bound: value or None} when curation.enabled, else None."""
        return pipeline_curation(self.curation)


def evaluate_trial(
    values: Mapping[str, Any],
    data: TuneData,
    setup: TrialSetup,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    on_generator_epoch: Callable[[str, int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train the generator (unless no synthetic data is asked for) and the classifiers; return the result.

    With curation (tuned `curation.*` bounds, or `curation.enabled` in params), synthetic samples
    outside the bounds are dropped before classifier training, scored as the audit scores them
    (see `curation_keep_mask`). `on_epoch(step, seed, record)` runs after each classifier epoch,
    step counting epochs across seeds (seed index x epochs + epoch) so trials are compared at equal
    training; raising from it stops the trial (pruning). Returns {"value": the mean over seeds of
    the objective (`setup.objective`, the first primary endpoint, on validation files) at the kept
    epoch, "per_seed": {seed: value}, "counts": {class: synthetic count drawn},
    "curation": every bound the trial applied (None: not applied) or None when it did not curate,
    "curation_dropped": samples dropped, "seconds": ...}.
    """
    import torch

    from synthaug.generators.per_class import by_class, fit_models, sample_classes

    started = time.perf_counter()
    if setup.num_threads:
        torch.set_num_threads(int(setup.num_threads))
    train = data.train
    class_names = list(train.class_names)
    ratio = values.get(RATIO)
    if ratio is None and setup.synthesize.minority_ratio is not None:
        ratio = configured_ratio(setup.classes, setup.synthesize.minority_ratio)
    # The pipeline's rule (synthesize), with the trial's ratio; a class the ratio gives none is left out
    # (ratio 0 is the baseline trial).
    counts = synthetic_counts(
        train.y,
        class_names,
        setup.classes,
        ratio=None if ratio is None else float(ratio),
        n_per_class=setup.synthesize.n_per_class,
        tolerance=setup.generation.minority_tolerance,
    )
    counts = {name: n for name, n in counts.items() if n > 0}
    train_x, train_y = train.x, train.y
    dropped = 0
    bounds = curation_bounds(values, setup.fixed_curation)
    if counts:
        config = {
            **setup.generator_config,
            **{k: v for k, v in values.items() if k != RATIO and not k.startswith((CURATION_PREFIX, CLASSIFIER_PREFIX))},
        }
        callback = None
        if on_generator_epoch is not None:
            callback = lambda slot, generator, step, record: on_generator_epoch(  # noqa: E731
                slot.key, step, {k: v for k, v in record.items() if k != "step"}
            )
        trained = fit_models(
            setup.generator,
            config,
            train.x,
            train.y,
            class_names,
            mode=setup.classes,
            tolerance=setup.generation.minority_tolerance,
            seed=setup.generation.seed,
            checkpoint_root=None,
            device=setup.generation.device,
            on_log=callback,
            progress=False,
        )
        x, y = sample_classes(
            by_class(trained, class_names),
            counts,
            class_names,
            seed=setup.synthesize.seed,
            batch_size=setup.synthesize.batch_size,
        )
        if not np.isfinite(x).all():
            raise FloatingPointError(f"generator {setup.generator} produced non-finite spectrograms with {dict(values)}")
        if bounds is not None:
            keep = curation_keep_mask(x, y, bounds, data, setup)
            x, y, dropped = x[keep], y[keep], int((~keep).sum())
        train_x, train_y = np.concatenate([train.x, x]), np.concatenate([train.y, y])

    # The trial's train_classifier keys (how its synthetic rows are used) over the pipeline's.
    classifier = setup.classifier.model_copy(
        update={k.removeprefix(CLASSIFIER_PREFIX): v for k, v in values.items() if k.startswith(CLASSIFIER_PREFIX)}
    )
    setup = dataclasses.replace(setup, classifier=classifier)
    per_seed: dict[int, float] = {}
    for index, seed in enumerate(setup.seeds):
        offset = index * (classifier.epochs + (classifier.fine_tune_epochs if len(train_y) > len(train.y) else 0))

        def epoch_end(epoch: int, record: dict[str, float], seed: int = seed, offset: int = offset) -> None:
            if on_epoch is not None:
                on_epoch(offset + epoch, seed, record)

        result = _train_classifier(train_x, train_y, data, setup, seed, epoch_end)
        # The objective on the epoch whose weights the classifier keeps (the last one with patience null).
        per_seed[seed] = float(result.history[result.best_epoch - 1][validation_key(setup.objective)])
    return {
        "value": float(np.mean(list(per_seed.values()))),
        "per_seed": per_seed,
        "counts": counts,
        "curation": bounds,
        "curation_dropped": dropped,
        "seconds": time.perf_counter() - started,
    }


def _train_classifier(
    train_x: np.ndarray,
    train_y: np.ndarray,
    data: TuneData,
    setup: TrialSetup,
    seed: int,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
):
    """One classifier as the pipeline trains it (train_classifier params), judged on the real validation split."""
    from synthaug.classifiers import Augmenter, build_classifier
    from synthaug.training import TrainConfig, train_classifier

    settings = setup.classifier
    options = {k: v for k, v in settings.model.items() if k != "architecture"}
    model = build_classifier(
        settings.model["architecture"], len(data.train.class_names), tuple(train_x.shape[1:]), seed=seed, **options
    )
    config = TrainConfig.for_seed(settings, seed, num_threads=setup.num_threads)
    augmenter = Augmenter.from_params(settings.augment, channel_std=data.channel_std)
    val = data.val
    return train_classifier(
        model,
        (train_x, train_y),
        (val.x, val.y, val.file_id),
        config,
        augmenter=augmenter or None,
        n_synthetic=len(train_y) - len(data.train.y),  # real rows first, then the trial's synthetic ones
        on_epoch_end=on_epoch_end,
        progress=False,
    )


def pipeline_curation(curation: CurationParams) -> dict[str, float | None] | None:
    """The bounds the pipeline curates with, {bound: value or None}; None when `curation.enabled` is false."""
    from synthaug.curation import CURATION_BOUNDS

    return curation.model_dump(include=set(CURATION_BOUNDS)) if curation.enabled else None


def curation_bounds(values: Mapping[str, Any], fixed: Mapping[str, float | None] | None) -> dict[str, float | None] | None:
    """The curation a trial applies, {bound: value or None where not applied}: its tuned `curation.*`
    bounds, the others from `fixed` (the pipeline's, see `pipeline_curation`; None: curation is off
    there); None when the trial does not curate at all."""
    tuned = {k.removeprefix(CURATION_PREFIX): v for k, v in values.items() if k.startswith(CURATION_PREFIX)}
    if not tuned and fixed is None:
        return None
    from synthaug.curation import CURATION_BOUNDS

    return {b: tuned.get(b, None if fixed is None else fixed.get(b)) for b in CURATION_BOUNDS}


def curation_keep_mask(
    x: np.ndarray, y: np.ndarray, bounds: Mapping[str, float | None], data: TuneData, setup: TrialSetup
) -> np.ndarray:
    """Which synthetic samples pass `bounds` (the pipeline's rule, synthaug.curation), scored by `curation_scores`."""
    from synthaug.curation import keep_mask

    return keep_mask(curation_scores(x, y, data, setup), bounds)


def curation_scores(x: np.ndarray, y: np.ndarray, data: TuneData, setup: TrialSetup) -> dict[str, np.ndarray]:
    """Per synthetic sample, the scores curation bounds, as the audit stage computes them: the embeddings and
    label confidence of a classifier trained on the real training data (the trial's baseline, seed
    tune.seeds[0]), and a copy threshold calibrated on validation."""
    from synthaug.evaluation.memorization import class_sample_scores
    from synthaug.training import predict_embeddings, predict_proba

    if data.reference is None:
        model = _train_classifier(data.train.x, data.train.y, data, setup, setup.seeds[0]).model
        data.reference = (model, predict_embeddings(model, data.train.x), predict_embeddings(model, data.val.x))
    model, train_embedded, val_embedded = data.reference
    scores: dict[str, np.ndarray] = class_sample_scores(
        predict_embeddings(model, x),
        y,
        train_embedded,
        data.train.y,
        val_embedded,
        data.val.y,
        k=setup.audit.k,
        quantile=setup.audit.memorization_quantile,
        copy_distance_ratio=setup.audit.copy_distance_ratio,
    )
    scores["confidence"] = predict_proba(model, x)[np.arange(len(y)), y]
    return scores


def make_objective(
    study: optuna.Study, data: TuneData, setup: TrialSetup, tracking: Tracking | None = None
) -> Callable[[optuna.Trial], float]:
    """The study's objective: suggest from the study's recorded space, evaluate, report per epoch
    for pruning; with `tracking`, log the trial as a nested MLflow run of the study's parent run."""
    space = study_space(study)
    parent_run = study.user_attrs.get(PARENT_RUN_ATTR)
    experiment_id = tracking.experiment_id() if tracking is not None else None

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, space)
        client, run_id = None, ""  # a trial run is made only when tracking is on
        if tracking is not None:
            client = mlflow_client()
            prefix = tracking_conventions.TAG_PREFIX
            tags = {
                **tracking.tags(),
                f"{prefix}stage": "tune_trial",
                f"{prefix}trial": str(trial.number),
                f"{prefix}generator": setup.generator,
                f"{prefix}study": study.study_name,
            }
            if parent_run:
                tags["mlflow.parentRunId"] = parent_run
            run_id = client.create_run(experiment_id, run_name=f"trial-{trial.number}", tags=tags).info.run_id
            trial.set_user_attr(MLFLOW_RUN_ATTR, run_id)
            log_params(
                client,
                run_id,
                {
                    **values,
                    "generator": setup.generator,
                    "trial": trial.number,
                    "seeds": list(setup.seeds),
                    "classes": describe_classes(setup.classes),
                },
            )

        objective_key = validation_key(setup.objective)

        def on_epoch(step: int, seed: int, record: dict[str, float]) -> None:
            value = float(record[objective_key])
            if client is not None:
                metrics = {f"seed{seed}.{k}": v for k, v in record.items() if k not in ("epoch", "seconds")}
                log_metrics(client, run_id, {**metrics, f"intermediate_{objective_key}": value}, step=step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation {setup.objective} {value:.4f} at step {step} lags the other trials")

        def on_generator_epoch(key: str, epoch: int, losses: dict[str, float]) -> None:
            if client is not None:
                log_metrics(client, run_id, {f"generator.{key}.{k}": v for k, v in losses.items()}, step=epoch)

        status, state = "FAILED", "FAIL"
        try:
            result = evaluate_trial(values, data, setup, on_epoch, on_generator_epoch)
            trial.set_user_attr(COUNTS_ATTR, {k: int(v) for k, v in result["counts"].items()})
            trial.set_user_attr(CURATION_ATTR, result["curation"])
            trial.set_user_attr(CURATION_DROPPED_ATTR, result["curation_dropped"])
            if client is not None:
                log_metrics(
                    client,
                    run_id,
                    {
                        f"objective_{objective_key}": result["value"],
                        "seconds": result["seconds"],
                        "n_synthetic": sum(result["counts"].values()) - result["curation_dropped"],
                        "curation_dropped": result["curation_dropped"],
                        **{f"seed{s}.{objective_key}": v for s, v in result["per_seed"].items()},
                    },
                )
            status, state = "FINISHED", "COMPLETE"
            return result["value"]
        except optuna.TrialPruned:
            status, state = "FINISHED", "PRUNED"
            raise
        except Exception as exc:
            if client is not None:
                client.set_tag(run_id, f"{tracking_conventions.TAG_PREFIX}error", f"{type(exc).__name__}: {exc}"[:5000])
            raise
        finally:
            if client is not None:
                client.set_tag(run_id, f"{tracking_conventions.TAG_PREFIX}trial_state", state)
                client.set_terminated(run_id, status)

    return objective
