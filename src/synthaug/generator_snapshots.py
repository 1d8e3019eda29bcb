"""Snapshots kept while a generator trains, and the one it serves, chosen by fidelity.

`SnapshotKeeper` saves the whole generator (weights, EMA, training state) when training passes each of
`train_generator.fidelity_snapshots` evenly spaced steps; the files sit beside the resume checkpoint, so
an interrupted training keeps the snapshots it took. `choose_by_fidelity` then samples every snapshot,
scores the samples against the selection half of validation (synthaug.evaluation.selection) and returns
the generator to serve with the curve of scores. The training itself is untouched: a snapshot is a copy
of the state at that step, and a continued `fit` is unchanged by taking it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthaug.config import AuditParams
from synthaug.datasets.manifest import file_groups
from synthaug.errors import ConfigError
from synthaug.evaluation.distances import band_statistics, random_projection
from synthaug.evaluation.selection import choose_snapshot, selection_half, snapshot_scores, snapshot_steps
from synthaug.generators import generator_class
from synthaug.generators.base import Generator
from synthaug.generators.per_class import ModelSlot
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set

# Each snapshot samples as many spectrograms per class as the selection half holds, and at least this
# many: the audit draws each candidate to the reference half's size, so more would not be scored.
MIN_SAMPLES = 16


class SnapshotKeeper:
    """Saves a generator's state into `folder` as step_<N>.pt each time training passes one of `steps`."""

    def __init__(self, folder: Path, steps: list[int]) -> None:
        self.folder, self.steps = Path(folder), sorted(steps)
        # Counted once here (a resumed training finds its earlier snapshots) and kept up to date by after_log,
        # so a logged window costs no directory listing.
        self.taken = len(self.saved())

    @classmethod
    def for_budget(cls, folder: Path, total_steps: int, count: int) -> SnapshotKeeper:
        return cls(folder, snapshot_steps(total_steps, count))

    def saved(self) -> dict[int, Path]:
        """{step: file} of the snapshots taken so far (by this process or before a resume)."""
        return {int(path.stem.removeprefix("step_")): path for path in sorted(self.folder.glob("step_*.pt"))}

    def after_log(self, generator: Generator, step: int) -> None:
        """Called after each logged window: take a snapshot when a snapshot step was passed since the last one.

        Logged windows need not fall on the snapshot steps, so a snapshot is taken at the first logged
        step at or after each of them.
        """
        due = sum(1 for s in self.steps if s <= step)
        if due > self.taken:
            generator.save(self.folder / f"step_{step:06d}.pt")
            self.taken += 1


@dataclass
class SelectionData:
    """What choosing needs: the training and validation sets, the groups of their files and the halves."""

    train: SpectrogramSet
    train_groups: np.ndarray
    val: SpectrogramSet
    val_groups: np.ndarray
    in_selection: np.ndarray  # [len(val)] True for the selection half


def choose_by_fidelity(
    slot: ModelSlot,
    trained: Generator,
    snapshots: dict[int, Path],
    data: SelectionData,
    audit: AuditParams,
    *,
    device: str = "auto",
) -> tuple[Generator, dict]:
    """(the generator to serve, {"chosen_step", "last_step", "curve", "per_class"[, "ema"]}) for one model.

    `snapshots` are the saved steps; the trained generator itself is always a candidate at its last step.
    When every snapshot copies training data more often than real recordings do, the last step is served
    and "chosen_step" is None. A generator that keeps several averaging lengths (`ema_candidates`) then
    has its length chosen at the served step (`choose_average`, reported under "ema").
    """
    candidates: dict[int, Path | None] = {**snapshots, trained.steps_done: None}
    model_rows = np.isin(data.train.y, list(slot.labels))
    x_train = torch.as_tensor(data.train.x[model_rows], dtype=torch.float32)
    y_train = torch.as_tensor(np.vectorize(slot.labels.get)(data.train.y[model_rows]), dtype=torch.long)
    samples: dict[int, dict[int, dict[str, np.ndarray]]] = {}
    loaded: dict[int, Generator] = {}  # every loaded snapshot, so the chosen one is not loaded twice
    for step, path in sorted(candidates.items()):
        generator = trained if path is None else _load(trained, path, x_train, y_train, device)
        if path is not None:
            loaded[step] = generator
        samples[step] = _sampled_views(slot, generator, data, audit)
    by_class = _scores_by_class(slot, samples, data, audit)
    chosen, curve = choose_snapshot(by_class)
    served = loaded.get(chosen, trained) if chosen is not None else trained
    report = {"chosen_step": chosen, "last_step": trained.steps_done, "curve": curve, "per_class": by_class}
    if len(served.ema_decays()) > 1:
        report["ema"] = choose_average(slot, served, data, audit)
    return served, report


def choose_average(slot: ModelSlot, served: Generator, data: SelectionData, audit: AuditParams) -> dict:
    """The averaging length (EMA decay) the served snapshot samples with, chosen like the step: each of its
    averages is sampled and scored on the selection half, the lowest admissible mean AUROC wins (the
    configured ema_decay on ties, or when every average copies), and the generator adopts it.

    The step is chosen first with the configured average, then the length at that step, so the scoring
    costs snapshots + lengths rather than their product.
    """
    decays = served.ema_decays()
    samples = {}
    for index, decay in enumerate(decays):
        served.adopt_ema(decay)
        samples[index] = _sampled_views(slot, served, data, audit)
    chosen, curve = choose_snapshot(_scores_by_class(slot, samples, data, audit))
    served.adopt_ema(decays[0 if chosen is None else chosen])
    return {
        "chosen_decay": decays[0 if chosen is None else chosen],
        "configured_decay": decays[0],
        "curve": {repr(decays[index]): summary for index, summary in curve.items()},
    }


def _views(x: np.ndarray, audit: AuditParams) -> dict[str, np.ndarray]:
    """The audit's views that need no trained classifier (there is none yet when generators train)."""
    return {
        "log_mel": random_projection(x, dim=audit.projection_dim, seed=audit.seed),
        "band_statistics": band_statistics(x),
    }


def _sampled_views(slot: ModelSlot, generator: Generator, data: SelectionData, audit: AuditParams) -> dict:
    """{class: views of the candidate's samples}, as many per class as its selection half holds."""
    return {
        c: _views(generator.sample(max(MIN_SAMPLES, int(_selection_rows(data, c).sum())), label, seed=audit.seed), audit)
        for c, label in slot.labels.items()
    }


def _scores_by_class(slot: ModelSlot, samples: dict[int, dict], data: SelectionData, audit: AuditParams) -> dict:
    """{class name: snapshot_scores} of candidates {key: _sampled_views(...)} against the selection half."""
    by_class = {}
    for c in slot.labels:
        rows, train_rows = _selection_rows(data, c), data.train.y == c
        by_class[data.train.class_names[c]] = snapshot_scores(
            _views(data.train.x[train_rows], audit),
            _views(data.val.x[rows], audit),
            data.val_groups[rows],
            {key: by_label[c] for key, by_label in samples.items()},
            repeats=audit.repeats,
            k=audit.k,
            quantile=audit.memorization_quantile,
            copy_distance_ratio=audit.copy_distance_ratio,
            seed=audit.seed,
            train_groups=data.train_groups[train_rows],
        )
    return by_class


def _selection_rows(data: SelectionData, c: int) -> np.ndarray:
    return data.in_selection & (data.val.y == c)


def _load(trained: Generator, path: Path, x: torch.Tensor, y: torch.Tensor, device: str) -> Generator:
    """A snapshot, ready to sample: what training fits after its last step (the VAE's latent density) is
    fitted as a `fit` ending at that step would have."""
    generator = generator_class(trained.name).load(path, device=device)
    generator.finish_training(x.to(generator.device), y.to(generator.device))
    return generator


def selection_data(features_dir: Path, train: SpectrogramSet, manifest_path: Path | None, seed: int) -> SelectionData:
    """The validation set split into selection and reporting halves by group, for choosing snapshots."""
    val = load_spectrogram_set(features_dir / "val.npz")
    val_groups = file_groups(val.file_id, manifest_path)
    return SelectionData(
        train=train,
        train_groups=file_groups(train.file_id, manifest_path),
        val=val,
        val_groups=val_groups,
        in_selection=selection_half(val_groups, seed=seed),
    )


def check_selection_data(data: SelectionData, slots: list[ModelSlot], features_dir: Path) -> None:
    """Refuse to choose snapshots on a class whose selection half cannot be scored (fewer than 2 groups)."""
    for slot in slots:
        for c in slot.labels:
            groups = np.unique(data.val_groups[data.in_selection & (data.val.y == c)])
            if len(groups) < 2:
                raise ConfigError(
                    f"train_generator.fidelity_snapshots: class {data.train.class_names[c]!r} has {len(groups)} "
                    f"group(s) in the selection half of {features_dir / 'val.npz'}; at least 2 are needed to score "
                    "a snapshot. Set train_generator.fidelity_snapshots: 1 (serve the last step), or give the "
                    "validation split more groups (prepare.split.val)."
                )


def selection_message(name: str, slot: ModelSlot, report: dict) -> str:
    """Which snapshot serves, with the curve it was chosen from."""
    curve = ", ".join(
        f"{step}: {summary['two_sample_auroc']:.2f}" + ("" if summary["admissible"] else " (copies)")
        for step, summary in report["curve"].items()
    )
    head = f"train_generator {name} {slot.key}: two-sample AUROC on the selection half by step ({curve}); "
    if report["chosen_step"] is None:
        message = head + (
            f"every snapshot copies training data more often than real recordings do: serving the last step, "
            f"{report['last_step']}"
        )
    else:
        message = head + f"serving step {report['chosen_step']} of {report['last_step']}"
    if "ema" in report:
        lengths = ", ".join(
            f"{decay}: {summary['two_sample_auroc']:.2f}" + ("" if summary["admissible"] else " (copies)")
            for decay, summary in report["ema"]["curve"].items()
        )
        message += f"; by EMA decay ({lengths}), sampling with {report['ema']['chosen_decay']}"
    return message


def log_selection(slot: ModelSlot, report: dict) -> None:
    """The fidelity curve of one model's snapshots as MLflow metrics (MLflow step = optimizer step)."""
    import mlflow

    for step, summary in report["curve"].items():
        mlflow.log_metric(f"selection.{slot.key}.two_sample_auroc", summary["two_sample_auroc"], step=step)
        for cls, scores in report["per_class"].items():
            mlflow.log_metrics(
                {
                    f"selection.{slot.key}.{cls}.{key}": value
                    for key, value in scores[step].items()
                    if isinstance(value, float) and value == value  # the view's name is not a metric; NaN is no value
                },
                step=step,
            )
    mlflow.log_metric(
        f"selection.{slot.key}.chosen_step", report["last_step"] if report["chosen_step"] is None else report["chosen_step"]
    )
    if "ema" in report:
        for decay, summary in report["ema"]["curve"].items():
            mlflow.log_metric(f"selection.{slot.key}.ema_{decay}.two_sample_auroc", summary["two_sample_auroc"])
        mlflow.log_metric(f"selection.{slot.key}.chosen_ema_decay", report["ema"]["chosen_decay"])


def serve_chosen(
    name: str,
    trained: list[tuple[ModelSlot, Generator]],
    keepers: dict[str, SnapshotKeeper],
    data: SelectionData,
    audit: AuditParams,
    *,
    device: str = "auto",
) -> tuple[list[tuple[ModelSlot, Generator]], dict[str, dict]]:
    """Each trained model replaced by its chosen snapshot, and {model key: choose_by_fidelity's report};
    the curves go to the active MLflow run and the choice to stdout."""
    served, reports = [], {}
    for slot, generator in trained:
        keeper = keepers.get(slot.key)
        chosen, report = choose_by_fidelity(slot, generator, keeper.saved() if keeper else {}, data, audit, device=device)
        reports[slot.key] = report
        served.append((slot, chosen))
        log_selection(slot, report)
        print(selection_message(name, slot, report))
    return served, reports
