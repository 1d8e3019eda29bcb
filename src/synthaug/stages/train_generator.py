"""train_generator@NAME: training spectrograms -> a trained generator (one model per class, or one conditional).

Reads params `dataset.name`, `dataset.protocol`, `train_generator` (classes, minority_tolerance,
seed, device, log_every, checkpoint_every, grid_every) and `train_generator.models.NAME`; reads
FEATURES/train.npz. Writes OUT_DIR/*.pt (state dicts with their config and EMA weights) and
OUT_DIR/generators.json (which model serves which class, the MLflow run id), and final losses,
steps and timing to METRICS. Checkpoints go to checkpoints/train_generator/NAME/<fingerprint>/
(outside DVC's outputs, which DVC clears before a run), every `checkpoint_every` steps, so an
interrupted training resumes where it stopped; a change of parameters or data starts afresh. Logs
one MLflow run: params, mean losses every `log_every` steps (MLflow step = optimizer step), sample
grids every `grid_every` steps, the trained models, and the tag `synthaug.stopped_by` = max_minutes
when the wall-clock cap ended a training before its step budget. When it trains several models
(one per learned class), it says how many before it starts and, after the first logged steps, about
how long they will take in all. With `train_generator.fidelity_snapshots` above 1 it also reads
FEATURES/val.npz and the manifest (`--manifest`, each file's group), keeps that many snapshots of each
model and serves the one closest to the selection half of validation (synthaug.generator_snapshots),
with the averaging length chosen among the model's `ema_candidates` at that step, logging the curve as
selection.<model>.* and the choice to METRICS.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthaug import tracking
from synthaug.checkpoints import checkpoint_dir
from synthaug.class_plan import describe_classes
from synthaug.cli_arguments import add_params
from synthaug.config import TrainGeneratorParams, load_params
from synthaug.errors import ConfigError
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set

# torch and matplotlib (through synthaug.generators and synthaug.evaluation) load in the functions
# that use them, so `synthaug train_generator --help` and a bad parameter answer before they do.
if TYPE_CHECKING:
    from synthaug.generator_snapshots import SnapshotKeeper
    from synthaug.generators.base import Generator
    from synthaug.generators.per_class import ModelSlot

GRID_SAMPLES = 4


def sample_grid(slot: ModelSlot, generator: Generator, class_names: list[str], title: str):
    from synthaug.evaluation.figures import spectrogram_examples

    rows = [generator.sample(GRID_SAMPLES, label, seed=0) for label in slot.labels.values()]
    y = np.repeat(list(slot.labels), GRID_SAMPLES)
    return spectrogram_examples(np.concatenate(rows), y, class_names, per_class=GRID_SAMPLES, title=title)


def plan_message(name: str, slots: list[ModelSlot], classes: str) -> str | None:
    """What training several per-class models will cost, said before it starts; None for one model."""
    if len(slots) < 2:
        return None
    # Only unconditional generators get here: a conditional one is one model over every class it learns.
    return (
        f"train_generator {name}: {len(slots)} models to train, one per class (train_generator.classes: {classes}), "
        "one after another; the estimated total time follows the first model's first steps. For many classes, "
        f"`train_generator.models.{name}.class_conditional: true` trains one model that learns every class."
    )


def estimate_message(name: str, seconds_per_step: float, steps_left: int, n_models: int) -> str:
    """The estimated training time of every model still to train, from the first measured steps."""
    seconds = seconds_per_step * steps_left
    return (
        f"train_generator {name}: about {_duration(seconds)} of training for the {n_models} models "
        f"({steps_left} steps left at {seconds_per_step:.2f} s/step, measured on the first steps; "
        "sample grids and checkpoints add to it)"
    )


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class TrainingMonitor:
    """What the stage does while the models train (fit_models' on_start and on_log): progress lines
    and a time estimate, every loss record to MLflow (a resumed run's restored ones first), the
    snapshots the choice reads, and sample grids every `grid_every` steps."""

    name: str
    slots: list[ModelSlot]
    train: SpectrogramSet
    settings: TrainGeneratorParams
    checkpoint_root: Path
    choosing: bool  # keep snapshots for the choice (fidelity_snapshots > 1)
    index: int = 0  # the model of the plan now training
    started: float = field(default_factory=time.perf_counter)  # when it began
    estimated: bool = False
    logged_until: dict[str, int] = field(default_factory=dict)  # per model: the last step whose record went to MLflow
    keepers: dict[str, SnapshotKeeper] = field(default_factory=dict)
    last_grid: dict[str, int] = field(default_factory=dict)

    def n_train(self, slot: ModelSlot) -> int:
        return int(np.isin(self.train.y, list(slot.labels)).sum())

    def on_start(self, index: int, slot: ModelSlot) -> None:
        from tqdm.auto import tqdm

        n_slots, name = len(self.slots), self.name
        # After the second model, whole (grids, logs, checkpoints): the first one also pays one-time
        # start-up costs (lazy imports, the MLflow store), which can be most of a short training.
        if index == 2 and n_slots > 2:
            seconds = time.perf_counter() - self.started
            tqdm.write(
                f"train_generator {name}: the second model took {_duration(seconds)} in all; about "
                f"{_duration(seconds * (n_slots - 2))} for the other {n_slots - 2}"
            )
        self.index, self.started = index, time.perf_counter()
        if n_slots > 1:
            tqdm.write(
                f"train_generator {name}: model {index + 1} of {n_slots}, {slot.key} ({self.n_train(slot)} training spectrograms)"
            )

    def on_log(self, slot: ModelSlot, generator: Generator, step: int, record: dict[str, float]) -> None:
        import mlflow
        from tqdm.auto import tqdm

        from synthaug.generator_snapshots import SnapshotKeeper

        if len(self.slots) > 1 and not self.estimated:  # once, on the first steps this process measures
            self.estimated = True
            later = sum(generator.total_steps(self.n_train(s)) for s in self.slots[self.index + 1 :])
            steps_left = generator.total_steps(self.n_train(slot)) - step + later
            tqdm.write(estimate_message(self.name, float(record["seconds_per_step"]), steps_left, len(self.slots) - self.index))
        # A resumed run first logs the records restored from the checkpoint, so curves are whole.
        for past in generator.history:
            if past["step"] > self.logged_until.get(slot.key, 0):
                mlflow.log_metrics({f"{slot.key}.{k}": float(v) for k, v in past.items() if k != "step"}, step=int(past["step"]))
        self.logged_until[slot.key] = step
        budget = generator.total_steps(self.n_train(slot))
        if self.choosing:
            if slot.key not in self.keepers:
                folder = self.checkpoint_root / slot.key / "snapshots"
                self.keepers[slot.key] = SnapshotKeeper.for_budget(folder, budget, self.settings.fidelity_snapshots)
            self.keepers[slot.key].after_log(generator, step)
        # A grid when a multiple of grid_every was passed since the last one (log and grid periods
        # need not divide each other); the final grid is logged by the stage.
        every = self.settings.grid_every
        if step // every > self.last_grid.get(slot.key, 0) // every and generator.stop_reason is None and step < budget:
            self.last_grid[slot.key] = step
            figure = sample_grid(slot, generator, self.train.class_names, f"{self.name} {slot.key}, step {step}")
            tracking.log_figure(figure, f"samples/{slot.key}/step_{step:06d}.png")


def model_metrics(generator: Generator, n_train: int, selection: dict | None) -> dict:
    """METRICS' entry for one trained model: steps against the budget, why it stopped, final losses, the snapshot choice."""
    final = {k: float(v) for k, v in generator.history[-1].items() if k != "step"} if generator.history else {}
    metrics = {
        "steps": generator.steps_done,
        "steps_budget": generator.total_steps(n_train),
        "stopped_by": generator.stop_reason or "steps",
        "n_train": n_train,
        **final,
    }
    if selection is not None:
        chosen = {"chosen_step": selection["chosen_step"], "last_step": selection["last_step"]}
        chosen["curve"] = {str(step): summary for step, summary in selection["curve"].items()}
        if "ema" in selection:  # the averaging length chosen at the served step
            chosen["ema"] = selection["ema"]
        metrics["selection"] = chosen
    clamped = getattr(generator, "last_clamped_share", None)
    if clamped is not None:  # DDPM with clip_sample_range: how much the clamp bit on the final grid
        metrics["sampling_clamped_share"] = clamped
    return metrics


def refuse_idle_ema_candidates(name: str, config: dict, choosing: bool) -> None:
    if config.get("ema_candidates") and not choosing:
        raise ConfigError(
            f"train_generator.models.{name}.ema_candidates: {config['ema_candidates']} are averaging lengths for the "
            "snapshot choice to pick from, which is off (train_generator.fidelity_snapshots: 1); set "
            "fidelity_snapshots above 1 or leave ema_candidates empty"
        )


def finish_models(name: str, trained: list, monitor: TrainingMonitor, selections: dict[str, dict]) -> dict[str, dict]:
    """{model: METRICS entry} of the trained models; tags and says which stopped early, logs each one's final grid."""
    import mlflow

    metrics = {}
    for slot, generator in trained:
        metrics[slot.key] = model_metrics(generator, monitor.n_train(slot), selections.get(slot.key))
        if generator.stop_reason is not None:
            mlflow.set_tag("synthaug.stopped_by", generator.stop_reason)
            print(
                f"train_generator {name} {slot.key}: stopped by {generator.stop_reason} after "
                f"{generator.steps_done} of {metrics[slot.key]['steps_budget']} steps"
            )
        final_grid = sample_grid(slot, generator, monitor.train.class_names, f"{name} {slot.key}, final")
        tracking.log_figure(final_grid, f"samples/{slot.key}/final.png")
    return metrics


def log_outputs(out_dir: Path, metrics: dict) -> None:
    """The training time, the final numbers of every model and the saved models, to the active MLflow run."""
    import mlflow

    mlflow.log_metric("train_seconds", metrics["train_seconds"])
    final = {key: {k: v for k, v in values.items() if k != "stopped_by"} for key, values in metrics["models"].items()}
    tracking.log_counts(final, "final")
    for model_file in [*sorted(out_dir.glob("*.pt")), out_dir / "generators.json"]:
        tracking.log_file(model_file, "model")


def main(
    name: str,
    params_path: Path,
    features_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    project_root: Path = Path("."),
    manifest_path: Path | None = None,
) -> None:
    from synthaug.evaluation.formatting import method_label
    from synthaug.generator_snapshots import check_selection_data, selection_data, serve_chosen
    from synthaug.generators.per_class import fit_models, plan_models, save_models

    params = load_params(params_path)
    dataset, settings = params.dataset, params.train_generator
    config = settings.models.get(name, {})
    train = load_spectrogram_set(features_dir / "train.npz")
    classes = describe_classes(settings.classes)
    slots = plan_models(name, train.y, train.class_names, settings.classes, settings.minority_tolerance, config)
    label = method_label(name, sum(len(slot.labels) for slot in slots))
    choosing = settings.fidelity_snapshots > 1
    refuse_idle_ema_candidates(name, config, choosing)
    selection = selection_data(features_dir, train, manifest_path, params.audit.seed) if choosing else None
    if selection is not None:
        check_selection_data(selection, slots, features_dir)
    announcement = plan_message(name, slots, classes)
    if announcement is not None:
        print(announcement, flush=True)
    kept = {"classes", "minority_tolerance", "seed", "fidelity_snapshots"}
    fingerprint = {"generator": name, "config": config, **settings.model_dump(include=kept)}
    checkpoint_root = checkpoint_dir("train_generator", name, fingerprint, [features_dir / "train.npz"])
    monitor = TrainingMonitor(name, slots, train, settings, checkpoint_root, choosing)
    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="train_generator",
        protocol=dataset.protocol,
        params={"generator": name, **config, "classes": classes, "seed": settings.seed, "models_trained": len(slots)},
        run_name=f"train_generator-{name}",
        tags={"synthaug.method": name, "synthaug.seed": str(settings.seed), "synthaug.method_label": label},
        inputs=tracking.feature_inputs(features_dir, dataset.name, {"train": train}, splits=("train",)),
    ) as run:
        import mlflow

        if label != name:  # a cgan on one class is no conditional GAN: say so in the UI
            note = f"{label}: trained on one class only (train_generator.classes: {classes}), so its auxiliary classifier "
            mlflow.set_tag(
                "mlflow.note.content", note + "has no other class to tell apart; it is an unconditional progressive GAN."
            )
        if any(checkpoint_root.rglob("*.pt")):
            print(f"train_generator {name}: resuming from the checkpoints in {checkpoint_root}")
        started = time.perf_counter()
        trained = fit_models(
            name,
            config,
            train.x,
            train.y,
            train.class_names,
            mode=settings.classes,
            tolerance=settings.minority_tolerance,
            seed=settings.seed,
            checkpoint_root=checkpoint_root,
            device=settings.device,
            on_log=monitor.on_log,
            on_start=monitor.on_start,
            checkpoint_every=settings.checkpoint_every,
            log_every=settings.log_every,
        )
        metrics: dict = {"train_seconds": time.perf_counter() - started, "models": {}}
        selections: dict[str, dict] = {}
        if selection is not None:
            started = time.perf_counter()
            trained, selections = serve_chosen(name, trained, monitor.keepers, selection, params.audit, device=settings.device)
            metrics["selection_seconds"] = time.perf_counter() - started
        metrics["models"] = finish_models(name, trained, monitor, selections)
        with atomic_directory(out_dir) as tmp:
            save_models(
                tmp, name, trained, train.class_names, mlflow_run_id=run.info.run_id, classes=settings.classes, seed=settings.seed
            )
        write_json_atomic(metrics_path, metrics)
        log_outputs(out_dir, metrics)
    # Training finished and its outputs are written: the checkpoints have served their purpose.
    shutil.rmtree(checkpoint_root, ignore_errors=True)
    print(f"train_generator {name}: {len(trained)} model(s) in {metrics['train_seconds']:.0f} s -> {out_dir}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug train_generator` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("name", help="generator: vae, wgan_gp, ddpm or cgan")
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/generators/vae")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="manifest CSV written by prepare (file -> group, which keeps participants whole in the "
        "validation halves when choosing snapshots; without it each file is its own group)",
    )


def run(args: argparse.Namespace) -> None:
    """`synthaug train_generator`: main with the parsed arguments."""
    main(args.name, args.params, args.features, args.out_dir, args.metrics, manifest_path=args.manifest)
