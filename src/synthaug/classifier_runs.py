"""One classifier run: train on real (+ synthetic) spectrograms, predict, evaluate, save, log to MLflow.

The train_classifier stage makes one run per seed; the scarcity stage four per point of its sweep.
A run writes its folder atomically and, once everything is logged to MLflow, `run.json` (headline
metrics and the MLflow run id) into it, so a caller resuming after a kill skips finished runs (`completed`): their MLflow runs are
logged already and nothing is trained twice. An unfinished run resumes from its epoch checkpoint.

What a run folder holds, and how it is read back, is synthaug.evaluation.run_folder.

`run_seeds` runs one method's seeds, `workers` at a time: the trainings go to forked worker
processes with one torch thread each (a small CNN keeps two threads of one process poorly busy),
while this process evaluates, saves and logs each finished seed in seed order, so MLflow's store
is written by one process only. A seed's weights depend on its thread count, not on which process
trains it: a parallel seed equals a sequential run of that seed with `num_threads=1`.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from synthaug import tracking
from synthaug.classifiers import Augmenter, build_classifier
from synthaug.classifiers.saved import save_classifier
from synthaug.config import TrainClassifierParams
from synthaug.devices import pick_device
from synthaug.evaluation.figures import confusion_matrix_figure, learning_curves, roc_figure
from synthaug.evaluation.metrics import evaluate
from synthaug.evaluation.run_folder import (
    EVALUATED_SPLITS,
    FILE_PREDICTIONS,
    RUN_FILE,
    completed,
    file_predictions_frame,
    has_clips,
    headline,
    predictions_frame,
)
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import SpectrogramSet
from synthaug.training import TrainConfig, TrainResult, predict_proba, train_classifier


@dataclass
class ClassifierData:
    """What a run trains and is judged on: training arrays (real, then any synthetic rows) and real val/test."""

    train_x: np.ndarray
    train_y: np.ndarray
    val: SpectrogramSet
    test: SpectrogramSet
    channel_std: np.ndarray  # per-mel standard deviation of the real training data, for gain augmentation
    n_synthetic: int = 0

    @property
    def class_names(self) -> list[str]:
        return list(self.val.class_names)


@dataclass
class RunContext:
    """Where a run is logged and how it is tagged, beyond the project-wide tags of `tracking.stage_run`."""

    project_root: Path
    dataset_name: str
    protocol: str
    stage: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    log_model: bool = True
    # The data sets the run reads (features per split, synthetic set), logged as its MLflow inputs;
    # the one with context "validation" ("test") is the data set of the val_* (test_*) metrics.
    inputs: list[tracking.DataInput] = field(default_factory=list)


def _build(seed: int, data: ClassifierData, settings: TrainClassifierParams):
    architecture = settings.model["architecture"]
    options = {k: v for k, v in settings.model.items() if k != "architecture"}
    model = build_classifier(architecture, len(data.class_names), tuple(data.train_x.shape[1:]), seed=seed, **options)
    return model, architecture, options


def fit_classifier(
    seed: int,
    data: ClassifierData,
    settings: TrainClassifierParams,
    checkpoints: Path,
    *,
    augment: dict | None = None,
    num_threads: int | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train the classifier of one seed (resuming from `checkpoints`); return its best-epoch result.

    `num_threads`: torch threads while training (None: all cores this process may use).
    """
    model, _, _ = _build(seed, data, settings)
    augment = settings.augment if augment is None else augment
    augmenter = Augmenter.from_params(augment, channel_std=data.channel_std)
    config = TrainConfig.for_seed(settings, seed, num_threads=num_threads)
    return train_classifier(
        model,
        (data.train_x, data.train_y),
        (data.val.x, data.val.y, data.val.file_id),
        config,
        augmenter=augmenter or None,
        n_synthetic=data.n_synthetic,
        checkpoint_dir=checkpoints,
        on_epoch_end=on_epoch_end,
        progress=progress,
    )


def run_classifier(
    name: str,
    seed: int,
    data: ClassifierData,
    settings: TrainClassifierParams,
    out_dir: Path,
    checkpoints: Path,
    context: RunContext,
    *,
    augment: dict | None = None,
    num_threads: int | None = None,
    fitted: TrainResult | None = None,
) -> dict:
    """Train, evaluate and save one classifier (method `name`, `seed`); return its run.json content.

    `augment` overrides `settings.augment` (the scarcity sweep's classic-augmentation variants).
    `fitted`: the seed's training already done elsewhere (`run_seeds`' workers); it is evaluated,
    saved and logged with its per-epoch history. A finished `out_dir` is returned as it is.
    """
    done = completed(out_dir)
    if done is not None:
        return done
    class_names = data.class_names
    input_shape = tuple(data.train_x.shape[1:])
    augment = settings.augment if augment is None else augment
    device = settings.device
    n_train = len(data.train_y)

    with tracking.stage_run(
        project_root=context.project_root,
        dataset_name=context.dataset_name,
        stage=context.stage,
        protocol=context.protocol,
        params={
            **context.params,
            "train_classifier": {**settings.model_dump(exclude={"seeds"}), "augment": augment},
            "seed": seed,
            "n_train": n_train,
            "n_synthetic": data.n_synthetic,
        },
        run_name=f"{context.stage}-{name}-seed{seed}",
        tags={"synthaug.method": name, "synthaug.seed": str(seed), **context.tags},
        started_at=None if fitted is None else fitted.started_at,
    ) as run:
        import mlflow

        datasets = tracking.log_data_inputs(context.inputs)
        logged: set[int] = set()

        def on_epoch_end(epoch: int, record: dict) -> None:
            mlflow.log_metrics({k: float(v) for k, v in record.items() if k != "epoch"}, step=epoch)
            logged.add(epoch)

        val, test = data.val, data.test
        if fitted is None:
            if any(Path(checkpoints).glob("*.pt")):
                print(f"{context.stage} {name} seed {seed}: resuming from the checkpoint in {checkpoints}")
            result = fit_classifier(
                seed, data, settings, checkpoints, augment=augment, num_threads=num_threads, on_epoch_end=on_epoch_end
            )
        else:
            result = fitted
        architecture = settings.model["architecture"]
        options = {k: v for k, v in settings.model.items() if k != "architecture"}
        for record in result.history:  # epochs restored from a checkpoint were logged by an earlier run
            if record["epoch"] not in logged:
                mlflow.log_metrics({k: float(v) for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))

        splits = {"val": val, "test": test}
        probabilities = {s: predict_proba(result.model, splits[s].x, device=device) for s in EVALUATED_SPLITS}
        evaluations = {s: evaluate(splits[s].y, probabilities[s], splits[s].file_id, class_names) for s in EVALUATED_SPLITS}
        summary = {
            "method": name,
            "seed": seed,
            "mlflow_run_id": run.info.run_id,
            **{s: headline(evaluations[s]) for s in EVALUATED_SPLITS},
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "n_train": n_train,
            "n_synthetic": data.n_synthetic,
        }
        title = f"{name}, seed {seed}"
        figures = {
            "learning_curves.png": learning_curves(result.history, best_epoch=result.best_epoch, title=title),
            "confusion_matrix.png": confusion_matrix_figure(
                evaluations["test"]["clip"]["confusion_matrix"], class_names, title=f"{title}: test"
            ),
            "roc.png": roc_figure(test.y, probabilities["test"], class_names, title=f"{title}: test ROC"),
        }
        curve = pd.DataFrame(result.history)[["epoch", "train_loss", "val_loss", "val_macro_f1", "val_auroc", "val_accuracy"]]
        with atomic_directory(out_dir) as tmp:
            save_classifier(
                tmp / "model.pt",
                result.model,
                architecture=architecture,
                options=options,
                class_names=class_names,
                input_shape=input_shape,
            )
            for split in EVALUATED_SPLITS:
                predictions_frame(splits[split], probabilities[split]).to_csv(tmp / f"predictions_{split}.csv", index=False)
                if has_clips(splits[split]):
                    file_predictions_frame(tmp, split, class_names).to_csv(
                        tmp / FILE_PREDICTIONS.format(split=split), index=False
                    )
            write_json_atomic(tmp / "evaluation.json", evaluations)
            curve.to_csv(tmp / "learning_curve.csv", index=False)
            for file_name, figure in figures.items():
                figure.savefig(tmp / file_name, dpi=80)

        model_id = None
        if context.log_model:
            # A zero batch of the input shape: the example only fixes the signature's shape and dtype (and
            # torch.export's dynamic batch, two rows), so no recording of any split, medical ones above all,
            # is exported with the model.
            model_id = tracking.log_classifier(result.model, np.zeros((2, *input_shape), dtype=np.float32), class_names).model_id
        split_context = {"val": "validation", "test": "test"}
        for split in EVALUATED_SPLITS:
            # Linked to the logged model and the split's data set: the model's page lists them per data set.
            dataset = next((datasets[i.name] for i in context.inputs if i.context == split_context[split]), None)
            for level, values in summary[split].items():
                mlflow.log_metrics(
                    {f"{split}_{level}_{k}": float(v) for k, v in values.items() if v == v}, model_id=model_id, dataset=dataset
                )
        mlflow.log_metric("best_epoch", result.best_epoch, model_id=model_id)
        for file_name in figures:  # the saved PNGs: logging the figures would render them again
            tracking.log_file(out_dir / file_name)
        for artifact in [
            "evaluation.json",
            *(f"predictions_{s}.csv" for s in EVALUATED_SPLITS),
            *(FILE_PREDICTIONS.format(split=s) for s in EVALUATED_SPLITS if has_clips(splits[s])),
        ]:
            tracking.log_file(out_dir / artifact, "evaluation")
    write_json_atomic(out_dir / RUN_FILE, summary)  # last: the run counts as finished once it is logged
    shutil.rmtree(checkpoints, ignore_errors=True)
    return summary


# --- seeds in parallel worker processes ------------------------------------------------------------
_WORKER: dict = {}  # what a forked worker trains on, set before the fork (inherited, never pickled)


def _fit_in_worker(seed: int, checkpoints: Path) -> tuple[dict, list[dict], int, bool, float, float]:
    data, settings, augment = _WORKER["data"], _WORKER["settings"], _WORKER["augment"]
    epochs_done = _WORKER["epochs_done"]
    started_at = time.time()
    result = fit_classifier(
        seed,
        data,
        settings,
        checkpoints,
        augment=augment,
        num_threads=1,
        progress=False,
        on_epoch_end=lambda epoch, record: epochs_done.put(1),
    )
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    return state, result.history, result.best_epoch, result.stopped_early, result.best_val_macro_f1, started_at


def _parallel_fits(
    seeds: list[int],
    data: ClassifierData,
    settings: TrainClassifierParams,
    checkpoints: dict[int, Path],
    augment: dict | None,
    workers: int,
):
    """Yield (seed, TrainResult) in seed order, trained `workers` at a time in forked processes."""
    # fork: workers start in milliseconds and share the arrays (spawn would re-import torch and
    # pickle the data to each); torch's DataLoader workers rely on fork the same way.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    # Workers report each finished epoch here, for one progress bar over every seed (a terminal only,
    # never in CI); early stopping may end a seed before its last epoch.
    epochs_done = context.Queue()
    _WORKER.update(data=data, settings=settings, augment=augment, epochs_done=epochs_done)
    pool = ProcessPoolExecutor(min(workers, len(seeds)), mp_context=context)
    bar = tqdm(
        total=len(seeds) * settings.epochs,
        unit="epoch",
        desc=f"train_classifier ({len(seeds)} seeds)",
        disable=True if os.environ.get("CI") else None,
    )
    try:
        futures = {seed: pool.submit(_fit_in_worker, seed, checkpoints[seed]) for seed in seeds}
        for seed in seeds:
            while not wait([futures[seed]], timeout=0.5).done:
                bar.update(_drain(epochs_done))
            bar.update(_drain(epochs_done))
            state, history, best_epoch, stopped_early, best_f1, started_at = futures[seed].result()
            model, _, _ = _build(seed, data, settings)
            model.load_state_dict(state)
            yield seed, TrainResult(model, history, best_epoch, stopped_early, best_f1, started_at)
    finally:
        # On an error or Ctrl-C, drop the seeds not started yet instead of training them first.
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        _WORKER.clear()


def _drain(queue) -> int:
    """How many items `queue` holds right now, taking them all."""
    count = 0
    while True:
        try:
            queue.get_nowait()
        except Empty:
            return count
        count += 1


def run_seeds(
    name: str,
    seeds: list[int],
    data: ClassifierData,
    settings: TrainClassifierParams,
    out_dirs: dict[int, Path],
    checkpoints: dict[int, Path],
    context: RunContext,
    *,
    workers: int = 1,
    augment: dict | None = None,
    on_run: Callable[[dict], None] | None = None,
) -> list[dict]:
    """`run_classifier` for every seed (out_dirs[seed], checkpoints[seed]); return their run.json contents.

    With `workers` > 1 on the CPU, unfinished seeds train `workers` at a time in worker processes
    with one torch thread each; otherwise one after another here, with every core. `on_run(summary)`
    is called as each seed finishes, in seed order.
    """
    pending = [seed for seed in seeds if completed(out_dirs[seed]) is None]
    parallel = workers > 1 and len(pending) > 1 and pick_device(settings.device).type == "cpu"
    fits = iter(_parallel_fits(pending, data, settings, checkpoints, augment, workers) if parallel else ())
    runs = []
    for seed in seeds:
        fitted = next(fits)[1] if parallel and seed in pending else None
        run = run_classifier(
            name, seed, data, settings, out_dirs[seed], checkpoints[seed], context, augment=augment, fitted=fitted
        )
        if on_run is not None:
            on_run(run)
        runs.append(run)
    return runs
