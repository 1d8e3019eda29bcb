"""Which classes a generator learns, and one model per class or one conditional model for all.

Which classes are learned is `class_plan.learned_classes` (`minority`: every class clearly smaller
than the largest, as the medical protocol grows its minority class; `all`: every class, as the
industrial one; or a list of class names). A generator never sees a class it does not learn. A
conditional generator (the cgan, or a VAE, WGAN-GP or DDPM whose config sets `class_conditional:
true`) is one model over the learned classes (over every training class with `teacher_classes: all`,
still sampled only for the learned ones); an unconditional one gets one model per learned class.

A trained set is a folder with one state-dict file per model and `generators.json` saying which
file serves which class and under which label inside the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from synthaug.class_plan import DEFAULT_MINORITY_TOLERANCE, Classes, learned_classes
from synthaug.errors import DataError
from synthaug.generator_configs import generator_config
from synthaug.generators import generator_class
from synthaug.generators.base import Generator
from synthaug.io import write_json_atomic

INDEX_FILE = "generators.json"
Mode = Classes


@dataclass
class ModelSlot:
    """One trained model and the classes it serves: real class index -> label inside the model."""

    key: str
    labels: dict[int, int]


def plan_models(
    name: str,
    y: np.ndarray,
    class_names: list[str],
    mode: Mode,
    tolerance: float = DEFAULT_MINORITY_TOLERANCE,
    config: Mapping[str, Any] | None = None,
) -> list[ModelSlot]:
    """The models to train for generator `name` with `config` under `mode` (train_generator.classes)."""
    settings = generator_config(name, config)  # ConfigError for a bad key, e.g. teacher_classes all without a conditional model
    targets = learned_classes(y, class_names, mode, tolerance)
    if settings.conditional:
        if settings.teacher_classes == "all":
            # Every training class teaches the one model; synthesize still draws only the augmented classes.
            targets = [int(c) for c in np.unique(y)]
        return [ModelSlot(key="conditional", labels={c: i for i, c in enumerate(targets)})]
    return [ModelSlot(key=f"class-{class_names[c]}", labels={c: 0}) for c in targets]


def fit_models(
    name: str,
    config: Mapping[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    *,
    mode: Mode,
    tolerance: float = DEFAULT_MINORITY_TOLERANCE,
    seed: int,
    checkpoint_root: Path | None,
    device: str = "auto",
    on_log: Callable[[ModelSlot, Generator, int, dict[str, float]], None] | None = None,
    on_start: Callable[[int, ModelSlot], None] | None = None,
    checkpoint_every: int = 100,
    log_every: int = 10,
    progress: bool = True,
) -> list[tuple[ModelSlot, Generator]]:
    """Train every model of the plan on exactly its classes' spectrograms; return them with their slots.

    `on_start(index, slot)` runs before model `index` of the plan trains; `on_log(slot, generator,
    step, record)` after each logged window of `log_every` steps, once a checkpoint due at that
    step is written (see Generator.fit).
    """
    trained = []
    # A teacher's fine-tune narrows it to the classes it is sampled for: the learned ones.
    augmented = learned_classes(y, class_names, mode, tolerance)
    for index, slot in enumerate(plan_models(name, y, class_names, mode, tolerance, config)):
        if on_start is not None:
            on_start(index, slot)
        chosen = np.isin(y, list(slot.labels))
        if not chosen.any():
            raise DataError(f"generator {name}: no training spectrograms for {slot.key}")
        model_labels = np.vectorize(slot.labels.get)(y[chosen]).astype(np.int64)
        generator = generator_class(name)(
            config, input_shape=tuple(x.shape[1:]), n_classes=len(slot.labels), seed=seed + index, device=device
        )
        callback = None
        if on_log is not None:
            callback = lambda step, record, s=slot, g=generator: on_log(s, g, step, record)  # noqa: E731
        checkpoint_dir = None if checkpoint_root is None else checkpoint_root / slot.key
        generator.fit(
            x[chosen],
            model_labels,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            log_every=log_every,
            on_log=callback,
            progress=progress,
            fine_tune_labels=[slot.labels[c] for c in augmented if c in slot.labels],
        )
        trained.append((slot, generator))
    return trained


def save_models(
    out_dir: Path, name: str, trained: list[tuple[ModelSlot, Generator]], class_names: list[str], **info: Any
) -> None:
    """Write one .pt per model plus the index; `info` (e.g. the MLflow run id) goes into the index."""
    slots = []
    for slot, generator in trained:
        generator.save(out_dir / f"{slot.key}.pt")
        slots.append({"key": slot.key, "file": f"{slot.key}.pt", "labels": {class_names[c]: m for c, m in slot.labels.items()}})
    write_json_atomic(out_dir / INDEX_FILE, {"generator": name, "class_names": class_names, "models": slots, **info})


def load_models(model_dir: Path, device: str = "auto") -> tuple[dict[str, Any], dict[str, tuple[Generator, int]]]:
    """(index, {class name: (generator, label inside it)}) for a folder written by save_models."""
    index_path = model_dir / INDEX_FILE
    if not index_path.is_file():
        raise DataError(f"{index_path}: not found; run the train_generator stage first (dvc repro)")
    index = json.loads(index_path.read_text())
    cls = generator_class(index["generator"])
    by_class: dict[str, tuple[Generator, int]] = {}
    for slot in index["models"]:
        generator = cls.load(model_dir / slot["file"], device=device)
        for class_name, label in slot["labels"].items():
            by_class[class_name] = (generator, int(label))
    return index, by_class


def by_class(trained: list[tuple[ModelSlot, Generator]], class_names: list[str]) -> dict[str, tuple[Generator, int]]:
    """{class name: (generator, label inside it)} for freshly trained models, as load_models gives."""
    return {class_names[c]: (generator, m) for slot, generator in trained for c, m in slot.labels.items()}


def sample_classes(
    models: Mapping[str, tuple[Generator, int]],
    counts: Mapping[str, int],
    class_names: list[str],
    *,
    seed: int,
    batch_size: int,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw counts[class] spectrograms of each class: (x float32 [N, ...], y int64 [N] in class_names' indices).

    `progress` shows a bar with an ETA on a terminal (a DDIM sampler can take minutes), never in CI.
    """
    xs, ys = [], []
    quiet = not progress or bool(os.environ.get("CI"))
    with tqdm(total=sum(counts.values()), unit="sample", desc="synthesize", disable=True if quiet else None) as bar:
        for offset, (class_name, n) in enumerate(sorted(counts.items())):
            generator, label = models[class_name]
            for start in range(0, n, batch_size):
                batch = min(batch_size, n - start)
                # One seed per (class, batch): the set does not depend on the batch size's effect on RNG order.
                xs.append(generator.sample(batch, label, seed=seed * 1_000_003 + offset * 10_007 + start))
                bar.update(batch)
            ys.append(np.full(n, class_names.index(class_name), np.int64))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)
