"""The Generator interface: fit on spectrograms, sample n for a label, save/load with its config.

Every generator shares one training loop (`Generator.fit`) whose budget is `steps` optimizer steps,
never epochs: a class of 74 spectrograms gets as many updates as one of 7,000. Batches are drawn
from an endless seeded stream (each pass over the data a fresh permutation from the run's RNG), so
the loop needs no notion of an epoch and resumes mid-pass. The loop also owns
- the optional wall-clock cap `max_minutes`: training stops cleanly after the current step, writes
  a checkpoint and records `stop_reason = "max_minutes"`;
- checkpoints every `checkpoint_every` steps and at the end, written atomically, and an exact
  resume from the last one (weights, optimizers, EMA, RNG, batch stream, the open loss window);
- with `teacher_classes: all` and `fine_tune_steps` > 0, a fine-tune after the main budget: that many
  more steps on the rows of the augmented classes alone (`fit`'s `fine_tune_labels`), from their own
  batch stream, which checkpoints carry like the first;
- one continuing process across calls: the random generator, the batch stream and the open loss
  window live on the instance (and in saved models and checkpoints), so `fit` to 10 steps, then
  to 20, trains exactly as one `fit` to 20 does, bit for bit;
- the loss history: mean losses over every `log_every` steps, indexed by step;
- a guard that stops on NaN/inf losses (checked every step, so no checkpoint holds a NaN step) or a
  logged window mean that exploded, keeping the last good checkpoint;
- an exponential moving average of the sampling network's weights (`ema_decay`, from step
  `ema_start`), which `sample` uses once it exists, and, for choosing the averaging length after
  training, one more average per decay in `ema_candidates` (`adopt_ema` makes one of them the average
  that samples);
- a progress bar with an ETA on a terminal, quiet in logs and CI.

A subclass builds its networks and optimizers (`build`), runs one optimizer step (`train_step`),
fits what sampling needs beyond the networks after training (`finish_training`, optional), samples (`sample`, through `sampling_network()` so the EMA weights are used) and lists what a
checkpoint must hold (`modules`).

Shapes: spectrograms are float32 [N, 1, mels, frames], z-scored per mel channel. Unconditional
generators ignore labels (the caller fits one per class, or one on the minority class only);
conditional ones learn p(x | label), one model for every class: the cgan always, the VAE, WGAN-GP
and DDPM when their config sets `class_conditional: true`, so ten classes cost one model rather than
ten. Each generator's hyperparameters, defaults and checks are its model in synthaug.generator_configs.
"""

from __future__ import annotations

import math
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from synthaug.devices import pick_device
from synthaug.errors import DataError, SynthaugError
from synthaug.generator_configs import GENERATOR_CONFIGS, generator_config, key_name
from synthaug.generators.batches import BatchStream
from synthaug.generators.ema import EmaSampling
from synthaug.io import torch_save_atomic

CHECKPOINT_NAME = "checkpoint.pt"
# Saved models and checkpoints carry this number; 2 = step budgets (older files counted epochs).
STATE_FORMAT = 2
# A logged loss this many times larger than its first logged value counts as diverged.
DIVERGENCE_FACTOR = 1e4
STOPPED_BY_TIME_CAP = "max_minutes"
# Logged records carry these beside the losses; they are not losses and the guard skips them.
RECORD_KEYS = ("step", "seconds_per_step")


class TrainingDiverged(SynthaugError):
    """Losses became NaN/inf or exploded; the last good checkpoint is kept."""


class OldGeneratorState(SynthaugError):
    """A saved model or checkpoint written before budgets were counted in steps."""


class Generator(EmaSampling, ABC):
    """A generative model of spectrograms. Subclasses set `name`; their hyperparameters, defaults and
    checks are the generator's model in synthaug.generator_configs (GENERATOR_CONFIGS[name])."""

    name: ClassVar[str]

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        input_shape: tuple[int, int, int],
        n_classes: int = 1,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        # `config` overrides any of the generator's keys and nothing else (ConfigError naming the key).
        self.settings = generator_config(self.name, config)
        channels, mels, frames = (int(d) for d in input_shape)
        self.input_shape: tuple[int, int, int] = (channels, mels, frames)
        self.n_classes = int(n_classes)
        self.class_conditional = self.settings.conditional
        self.seed = int(seed)
        self.device = pick_device(device)
        torch.manual_seed(self.seed)  # weight initialisation is part of the seeded result
        self.history: list[dict[str, float]] = []
        self.steps_done = 0
        self.stop_reason: str | None = None
        # The training process's random generator, batch stream and open loss window: created by the
        # first `fit`, carried by every later one (and by checkpoints and saved models), never re-seeded.
        self._rng: torch.Generator | None = None
        self._stream: BatchStream | None = None
        self._fine_tune_stream: BatchStream | None = None  # over the fine-tune rows, created when it starts
        self._window: dict[str, Any] = {"sums": {}, "count": 0}
        self.build()
        self.ema = self._build_ema()
        # Further averaging lengths, updated alike; the snapshot choice may adopt one (adopt_ema).
        self.ema_alternatives: dict[float, AveragedModel] = {}
        for decay in self.settings.ema_candidates:
            average = self._build_ema(float(decay))
            assert average is not None  # a decay in (0, 1), checked with the config
            self.ema_alternatives[float(decay)] = average

    @property
    def config(self) -> dict[str, Any]:
        """Every hyperparameter's value, as saved models and checkpoints hold them."""
        return self.settings.model_dump()

    def update_settings(self, **changes: Any) -> None:
        """Change hyperparameters of a built generator that its networks do not depend on (`steps`,
        `max_minutes`, `fine_tune_steps`, ...), validated as params are: fit to 250 steps, raise `steps`
        to 500, fit again, and the training continues."""
        self.settings = generator_config(self.name, {**self.config, **changes})

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every hyperparameter with its default (the published recipe)."""
        return GENERATOR_CONFIGS[cls.name]().model_dump()

    def labels_for(self, n: int, label: int | None) -> torch.Tensor | None:
        """The class labels [n] a conditional generator samples `label` with (None when unconditional)."""
        if not self.class_conditional:
            return None
        if label is None or isinstance(label, bool) or not 0 <= int(label) < self.n_classes:
            raise ValueError(f"{self.name} is class-conditional: label must be in [0, {self.n_classes}), got {label!r}")
        return torch.full((int(n),), int(label), dtype=torch.long, device=self.device)

    # ---- what a subclass implements -------------------------------------------------------------
    @abstractmethod
    def build(self) -> None:
        """Create networks and optimizers from self.settings, self.input_shape, self.n_classes."""

    @abstractmethod
    def train_step(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One optimizer step on (x, y), already on self.device; return this step's losses by name.

        x holds `batches_per_step()` mini-batches back to back. `self.steps_done` is the number of
        steps finished before this one. All randomness (noise, timesteps, augmentation) must come
        from `rng` so that a resumed run continues exactly as an uninterrupted one would.
        """

    @abstractmethod
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms [n, 1, mels, frames] float32 for `label` (ignored if unconditional)."""

    @abstractmethod
    def modules(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        """Everything whose state a checkpoint must hold (networks, optimizers, schedulers)."""

    def finish_training(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """After the last step of each `fit`, with the whole training set: fit what sampling needs
        beyond the networks (the VAE's latent mixture). Must not draw from the training process's
        random generator, so that a training continued by a later `fit` is unchanged."""
        return None

    def batches_per_step(self) -> int:
        """Mini-batches one `train_step` consumes (WGAN-GP: one per critic update)."""
        return 1

    def main_steps(self, n_train: int) -> int:
        """The main training's step budget on n_train spectrograms (`steps` unless a subclass derives it)."""
        assert self.settings.steps is not None  # only the cgan's may be null, and it derives its own budget
        return self.settings.steps

    def total_steps(self, n_train: int) -> int:
        """Every step `fit` trains on n_train spectrograms: the main budget, then `fine_tune_steps`."""
        return self.main_steps(n_train) + int(self.settings.fine_tune_steps)

    def batch_size_for(self, n_train: int) -> int:
        """The mini-batch size: `batch_size`, or the whole set when it is smaller."""
        return min(int(self.settings.batch_size), int(n_train))

    # ---- the shared step loop -------------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray | None = None,
        *,
        checkpoint_dir: Path | None = None,
        checkpoint_every: int = 100,
        log_every: int = 10,
        on_log: Callable[[int, dict[str, float]], None] | None = None,
        progress: bool = True,
        fine_tune_labels: list[int] | None = None,
    ) -> list[dict[str, float]]:
        """Train until `total_steps` (or `max_minutes`), resuming from checkpoint_dir when it holds a checkpoint.

        After `main_steps`, the `fine_tune_steps` draw only rows whose label is in `fine_tune_labels`
        (required when fine_tune_steps > 0: the model labels of the classes the teacher is sampled for).

        `on_log(step, record)` runs after each logged window (every `log_every` steps and at the
        end), once a checkpoint due at that step is safely written: for MLflow logging and sample
        grids. A record holds the window's mean losses, `step` and `seconds_per_step`. Returns the
        history of records. `progress=False` hides the progress bar (it shows only on a terminal
        and never when the CI environment variable is set).
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected spectrograms of shape [N, {', '.join(map(str, self.input_shape))}], got {x.shape}")
        if len(x) < 2:
            raise DataError(f"{self.name}: needs at least 2 training spectrograms, got {len(x)}")
        if int(checkpoint_every) < 1 or int(log_every) < 1:
            raise ValueError(f"checkpoint_every and log_every must be >= 1, got {checkpoint_every}, {log_every}")
        labels = np.zeros(len(x), dtype=np.int64) if y is None else np.asarray(y, dtype=np.int64)
        if self.class_conditional and len(labels) and not (0 <= labels.min() and labels.max() < self.n_classes):
            raise ValueError(f"{self.name}: labels must be in [0, {self.n_classes}), got {labels.min()}..{labels.max()}")
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        yt = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        if checkpoint is not None and checkpoint.is_file():
            self._load_checkpoint(checkpoint)
        self._last_checkpoint_step = self.steps_done if checkpoint is not None and checkpoint.is_file() else None
        rng, stream = self._training_process(len(x))
        steps, main = self.total_steps(len(x)), self.main_steps(len(x))
        draw = self.batch_size_for(len(x)) * self.batches_per_step()
        fine_tune_rows = self._fine_tune_rows(labels, fine_tune_labels, steps > main)
        fine_tune_draw = self.batch_size_for(len(fine_tune_rows)) * self.batches_per_step()
        minutes = self.settings.max_minutes
        deadline = None if minutes is None else time.perf_counter() + 60.0 * float(minutes)
        self.stop_reason = None
        window_started = time.perf_counter()
        bar = tqdm(
            total=steps,
            initial=self.steps_done,
            unit="step",
            desc=f"train {self.name}",
            dynamic_ncols=True,
            disable=True if (not progress or os.environ.get("CI")) else None,
        )
        window = self._window
        try:
            while self.steps_done < steps:
                if self.steps_done < main:
                    index = stream.take(draw).to(self.device)
                else:
                    index = torch.as_tensor(fine_tune_rows)[
                        self._fine_tune_process(rng, len(fine_tune_rows)).take(fine_tune_draw)
                    ]
                    index = index.to(self.device)
                losses = self.train_step(xt[index], yt[index], rng)
                self._check_finite(losses)
                self.steps_done += 1
                self._update_ema()
                for key, value in losses.items():
                    window["sums"][key] = window["sums"].get(key, 0.0) + float(value)
                window["count"] += 1
                capped = deadline is not None and time.perf_counter() >= deadline and self.steps_done < steps
                last = self.steps_done == steps or capped
                record = None
                if self.steps_done % int(log_every) == 0 or last:
                    record = {
                        "step": float(self.steps_done),
                        **{k: v / window["count"] for k, v in window["sums"].items()},
                        "seconds_per_step": (time.perf_counter() - window_started) / window["count"],
                    }
                    self._check_exploded(record)
                    self.history.append(record)
                    window, window_started = {"sums": {}, "count": 0}, time.perf_counter()
                    self._window = window
                    bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k not in RECORD_KEYS}, refresh=False)
                if capped:
                    self.stop_reason = STOPPED_BY_TIME_CAP
                if checkpoint is not None and (self.steps_done % int(checkpoint_every) == 0 or last):
                    self._save_checkpoint(checkpoint)
                bar.update(1)
                if record is not None and on_log is not None:
                    on_log(self.steps_done, record)
                if capped:
                    tqdm.write(
                        f"{self.name}: stopped after step {self.steps_done} of {steps}: the time cap "
                        f"max_minutes={minutes} was reached" + (" (checkpoint written)" if checkpoint else ""),
                        file=sys.stderr,
                    )
                    break
        finally:
            self._window = window
            bar.close()
        self.finish_training(xt, yt)
        return self.history

    def _training_process(self, n_train: int) -> tuple[torch.Generator, BatchStream]:
        """The run's random generator and batch stream: seeded once, then continued by every `fit`.

        Re-seeding them on each call would replay the same batches, noise and augmentations in every
        call, so a training driven in chunks (benchmarks, budgets) would see a fraction of its data.
        """
        if self._rng is None or self._stream is None:
            self._rng = torch.Generator(device="cpu").manual_seed(self.seed)
            self._stream = BatchStream(n_train, self._rng)
        elif self._stream.n != int(n_train):
            raise ValueError(
                f"{self.name}: this training continues on {self._stream.n} spectrograms, got {n_train}; "
                "a generator's training data cannot change between fit calls (build a new generator)"
            )
        return self._rng, self._stream

    def _fine_tune_rows(self, labels: np.ndarray, fine_tune_labels: list[int] | None, fine_tuning: bool) -> np.ndarray:
        """The rows the fine-tune draws from (all rows when there is no fine-tune)."""
        if not fine_tuning:
            return np.arange(len(labels))
        if not fine_tune_labels:
            raise ValueError(f"{self.name}: fine_tune_steps > 0 needs fit's fine_tune_labels (the classes to narrow to)")
        rows = np.flatnonzero(np.isin(labels, list(fine_tune_labels)))
        if len(rows) < 2:
            raise DataError(
                f"{self.name}: the fine-tune needs at least 2 spectrograms of labels {fine_tune_labels}, got {len(rows)}"
            )
        return rows

    def _fine_tune_process(self, rng: torch.Generator, n_rows: int) -> BatchStream:
        """The fine-tune's batch stream over its rows, drawing from the training's random generator."""
        if self._fine_tune_stream is None:
            self._fine_tune_stream = BatchStream(n_rows, rng)
        elif self._fine_tune_stream.n != int(n_rows):
            raise ValueError(f"{self.name}: this fine-tune continues on {self._fine_tune_stream.n} spectrograms, got {n_rows}")
        return self._fine_tune_stream

    def _check_finite(self, losses: Mapping[str, float]) -> None:
        bad = {key: value for key, value in losses.items() if not math.isfinite(float(value))}
        if bad:
            key, value = next(iter(bad.items()))
            self._diverged(key, value, self.steps_done + 1)

    def _check_exploded(self, record: Mapping[str, float]) -> None:
        for key, value in record.items():
            if key in RECORD_KEYS:
                continue
            first = next((h[key] for h in self.history if key in h), None)
            if first is not None and abs(value) > DIVERGENCE_FACTOR * max(abs(first), 1.0):
                self._diverged(key, value, self.steps_done)

    def _diverged(self, key: str, value: float, step: int) -> None:
        kept = (
            f"; the last good checkpoint (step {self._last_checkpoint_step}) is kept"
            if self._last_checkpoint_step is not None
            else ""
        )
        raise TrainingDiverged(
            f"{self.name}: loss {key!r} became {value} at step {step}{kept}. Lower the learning rate "
            f"({key_name(self.name, 'lr')} or its variants) or check the input data for NaN/inf."
        )

    # ---- persistence ----------------------------------------------------------------------------
    def _state(self, *, timings: bool = True) -> dict[str, Any]:
        """Everything a checkpoint or saved model holds; `timings=False` leaves the seconds per step out of
        the history, so the same training saves the same bytes (DVC hashes saved models; timings live in
        metrics and MLflow)."""
        history = self.history if timings else [{k: v for k, v in r.items() if k != "seconds_per_step"} for r in self.history]
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "config": self.config,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "seed": self.seed,
            "steps_done": self.steps_done,
            "stop_reason": self.stop_reason,
            "history": history,
            "modules": {key: module.state_dict() for key, module in self.modules().items()},
            "ema": None if self.ema is None else self.ema.state_dict(),
            "ema_alternatives": {repr(d): average.state_dict() for d, average in self.ema_alternatives.items()},
            # The training process, so a saved model or checkpoint continues where it stopped.
            "rng_state": None if self._rng is None else self._rng.get_state(),
            "stream": None if self._stream is None else {"n": self._stream.n, **self._stream.state_dict()},
            "fine_tune_stream": None
            if self._fine_tune_stream is None
            else {"n": self._fine_tune_stream.n, **self._fine_tune_stream.state_dict()},
            "window": {"sums": dict(self._window["sums"]), "count": int(self._window["count"])},
        }

    @staticmethod
    def _check_format(state: Mapping[str, Any], path: Path) -> None:
        if state.get("format") != STATE_FORMAT:
            raise OldGeneratorState(
                f"{path}: written by an older synthaug that counted generator training in epochs; it cannot "
                "be resumed or loaded. Delete it and train again (dvc repro train_generator, or delete the "
                "checkpoint folder)."
            )

    def _restore(self, state: Mapping[str, Any]) -> None:
        for key, module in self.modules().items():
            module.load_state_dict(state["modules"][key])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        for decay, average in self.ema_alternatives.items():
            average.load_state_dict(state["ema_alternatives"][repr(decay)])
        self.steps_done = int(state["steps_done"])
        self.stop_reason = state.get("stop_reason")
        self.history = list(state["history"])
        if state.get("rng_state") is not None and state.get("stream") is not None:
            self._rng = torch.Generator(device="cpu")
            self._rng.set_state(state["rng_state"].cpu())
            self._stream = BatchStream(int(state["stream"]["n"]), self._rng)
            self._stream.load_state_dict(state["stream"])
            if state.get("fine_tune_stream") is not None:
                self._fine_tune_stream = BatchStream(int(state["fine_tune_stream"]["n"]), self._rng)
                self._fine_tune_stream.load_state_dict(state["fine_tune_stream"])
        window = state.get("window") or {"sums": {}, "count": 0}
        self._window = {"sums": dict(window["sums"]), "count": int(window["count"])}

    def _save_checkpoint(self, path: Path) -> None:
        torch_save_atomic(self._state(), path)
        self._last_checkpoint_step = self.steps_done

    def _load_checkpoint(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self._check_format(state, path)
        if state.get("stream") is not None and "n" not in state["stream"]:
            # Checkpoints written before the stream recorded its length: the stream's order has it.
            state["stream"] = {**state["stream"], "n": len(state["stream"]["order"])}
        self._restore(state)

    def save(self, path: Path) -> None:
        """Write the trained generator with its config and EMA (state dicts only: loads with weights_only).

        The same training writes the same bytes: the history is saved without its timings."""
        torch_save_atomic(self._state(timings=False), Path(path))

    @classmethod
    def load(cls, path: Path, *, device: str = "auto") -> Generator:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state.get("name") != cls.name:
            raise ValueError(f"{path} holds a {state.get('name')!r} generator, not {cls.name!r}")
        cls._check_format(state, Path(path))
        generator = cls(
            state["config"],
            input_shape=tuple(state["input_shape"]),
            n_classes=state["n_classes"],
            seed=state["seed"],
            device=device,
        )
        generator._restore(state)
        return generator
