"""The Generator interface: fit on spectrograms, sample n for a label, save/load with its config.

Every generator shares one epoch loop (`Generator.fit`): seeded shuffling, a checkpoint after every
epoch written atomically, resume from the last checkpoint, and a guard that stops on NaN or
diverging losses while keeping the last good checkpoint. A subclass only builds its networks and
optimizers (`build`), runs one epoch over mini-batches (`train_epoch`) and samples (`sample`).

Shapes: spectrograms are float32 [N, 1, mels, frames], z-scored per mel channel. Unconditional
generators ignore labels (the caller fits one per class, or one on the minority class only);
conditional ones (`conditional = True`) learn p(x | label).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from synthaug.devices import pick_device
from synthaug.errors import SynthaugError
from synthaug.io import torch_save_atomic

CHECKPOINT_NAME = "checkpoint.pt"
# A loss this many times larger than its first finite value counts as diverged.
DIVERGENCE_FACTOR = 1e4


class TrainingDiverged(SynthaugError):
    """Losses became NaN/inf or exploded; the last good checkpoint is kept."""


class Generator(ABC):
    """A generative model of spectrograms. Subclasses set `name`, `conditional` and `defaults`."""

    name: ClassVar[str]
    conditional: ClassVar[bool] = False
    # Hyperparameters and their defaults; `config` given to __init__ may override any of them and
    # nothing else (unknown keys are a ConfigError naming the generator and the key).
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        input_shape: tuple[int, int, int],
        n_classes: int = 1,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        from synthaug.errors import ConfigError

        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"generators.{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(self.defaults))}"
            )
        self.config: dict[str, Any] = {**self.defaults, **config}
        self.input_shape = tuple(int(d) for d in input_shape)
        self.n_classes = int(n_classes)
        self.seed = int(seed)
        self.device = pick_device(device)
        torch.manual_seed(self.seed)  # weight initialisation is part of the seeded result
        self.history: list[dict[str, float]] = []
        self.epochs_done = 0
        self.build()

    # ---- what a subclass implements -------------------------------------------------------------
    @abstractmethod
    def build(self) -> None:
        """Create networks and optimizers from self.config, self.input_shape, self.n_classes."""

    @abstractmethod
    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One pass over (x, y) already on self.device in mini-batches; return mean losses by name.

        All randomness (batch order, noise, timesteps) must come from `rng` so that a resumed run
        continues exactly as an uninterrupted one would.
        """

    @abstractmethod
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms [n, 1, mels, frames] float32 for `label` (ignored if unconditional)."""

    @abstractmethod
    def modules(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        """Everything whose state a checkpoint must hold (networks, optimizers, schedulers)."""

    def epochs_needed(self, n_train: int) -> int:
        """Epochs `fit` runs on n_train spectrograms; a schedule counted in images overrides this."""
        return int(self.config["epochs"])

    # ---- the shared epoch loop -------------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray | None = None,
        *,
        checkpoint_dir: Path | None = None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    ) -> list[dict[str, float]]:
        """Train for config['epochs'] epochs, resuming from checkpoint_dir when it holds a checkpoint.

        `on_epoch_end(epoch, losses)` runs after each epoch's checkpoint is safely written (for
        MLflow logging and sample grids). Returns the per-epoch loss history.
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected spectrograms of shape [N, {', '.join(map(str, self.input_shape))}], got {x.shape}")
        labels = np.zeros(len(x), dtype=np.int64) if y is None else np.asarray(y, dtype=np.int64)
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        yt = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        rng = torch.Generator(device="cpu").manual_seed(self.seed)
        checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        if checkpoint is not None and checkpoint.is_file():
            rng.set_state(self._load_checkpoint(checkpoint))
        epochs = self.epochs_needed(len(x))
        while self.epochs_done < epochs:
            started = time.perf_counter()
            losses = self.train_epoch(xt, yt, rng)
            self._check_losses(losses)
            losses = {**losses, "epoch_seconds": time.perf_counter() - started}
            self.history.append(losses)
            self.epochs_done += 1
            if checkpoint is not None:
                self._save_checkpoint(checkpoint, rng.get_state())
            if on_epoch_end is not None:
                on_epoch_end(self.epochs_done, losses)
        return self.history

    def _check_losses(self, losses: Mapping[str, float]) -> None:
        for key, value in losses.items():
            first = next((h[key] for h in self.history if key in h and math.isfinite(h[key])), None)
            exploded = first is not None and abs(value) > DIVERGENCE_FACTOR * max(abs(first), 1.0)
            if not math.isfinite(value) or exploded:
                raise TrainingDiverged(
                    f"{self.name}: loss {key!r} became {value} at epoch {self.epochs_done + 1}; the last good "
                    f"checkpoint (epoch {self.epochs_done}) is kept. Lower the learning rate or check the input data."
                )

    # ---- persistence ----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": dict(self.config),
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "seed": self.seed,
            "epochs_done": self.epochs_done,
            "history": self.history,
            "modules": {key: module.state_dict() for key, module in self.modules().items()},
        }

    def _restore(self, state: Mapping[str, Any]) -> None:
        for key, module in self.modules().items():
            module.load_state_dict(state["modules"][key])
        self.epochs_done = int(state["epochs_done"])
        self.history = list(state["history"])

    def _save_checkpoint(self, path: Path, rng_state: torch.Tensor) -> None:
        torch_save_atomic({**self._state(), "rng_state": rng_state}, path)

    def _load_checkpoint(self, path: Path) -> torch.Tensor:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self._restore(state)
        return state["rng_state"].cpu()

    def save(self, path: Path) -> None:
        """Write the trained generator with its config (state dicts only: loads with weights_only)."""
        torch_save_atomic(self._state(), Path(path))

    @classmethod
    def load(cls, path: Path, *, device: str = "auto") -> Generator:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state.get("name") != cls.name:
            raise ValueError(f"{path} holds a {state.get('name')!r} generator, not {cls.name!r}")
        generator = cls(
            state["config"], input_shape=tuple(state["input_shape"]), n_classes=state["n_classes"],
            seed=state["seed"], device=device,
        )
        generator._restore(state)
        return generator


def batches(n: int, batch_size: int, rng: torch.Generator, device: torch.device) -> list[torch.Tensor]:
    """Shuffled mini-batch index tensors for one epoch, drawn from `rng` (the last may be smaller)."""
    order = torch.randperm(n, generator=rng).to(device)
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        # A batch of one breaks batch norm in training mode; fold it into the previous batch.
        chunks[-2:] = [torch.cat(chunks[-2:])]
    return chunks
