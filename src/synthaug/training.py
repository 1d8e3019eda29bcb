"""The one training loop for every classifier: read `train_classifier` top to bottom.

Adam with cosine annealing (torch's CosineAnnealingLR, T_max = epochs), soft-target cross-entropy
(so mixup's mixed targets train as they are), early stopping on validation macro F1 with patience,
the best epoch's weights restored at the end; with `patience=None`, every epoch is trained and the
last epoch's weights are kept (validation is then only recorded, never used to choose the model).
Imbalance: loss weights (`balance="class_weight"`, sklearn's "balanced") or each epoch's samples
drawn with replacement in inverse proportion to class frequency (`"weighted_sampler"`, what torch's
WeightedRandomSampler does). Both come from the *real* training counts (`class_balance`): a
synthetic sample takes its class's real weight (times `synthetic_weight`), so adding synthetic
minority samples does not lower the real minority's weight and move the decision threshold.
With `domain_adversarial_weight` > 0 a real-vs-synthetic head learns from the penultimate features
through a gradient reversal layer (domain-adversarial training): the network is pushed towards
features in which synthetic rows look real, so it cannot solve its task by spotting them.

Reproducible: all randomness (order, sampling, augmentation, dropout) comes from one torch.Generator
seeded with `config.seed` and the CPU runs deterministic algorithms, so seed, data and thread count
fix the weights. The checkpoint (atomic, every `checkpoint_every` epochs) holds the whole state: a
run restarted on the same `checkpoint_dir` ends with the weights of an uninterrupted one.

Fast (benchmarks/classifier_throughput.py): channels_last, freed memory kept by glibc's allocator on
the CPU, batches cut from one device tensor, losses summed on the device, evaluation under
inference_mode in large batches, bf16 autocast on CUDA.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from tqdm.auto import tqdm

from synthaug.classifiers.augment import Augmenter
from synthaug.classifiers.domain_adversarial import DOMAIN_HEAD_LR_FACTOR, adversarial_weight, domain_head, reverse_gradient
from synthaug.classifiers.models import SpectrogramClassifier
from synthaug.config import TrainClassifierParams
from synthaug.devices import pick_device
from synthaug.errors import ConfigError
from synthaug.evaluation.endpoints import validation_scores
from synthaug.evaluation.metrics import aggregate_by_file
from synthaug.io import torch_save_atomic

CHECKPOINT_NAME = "classifier_checkpoint.pt"
# Settings that change only where and how fast a run goes, not its result: a resumed run may differ in them.
RUNTIME_ONLY = ("device", "num_threads", "checkpoint_every", "eval_batch_size", "retain_memory")
# Section keys the loop does not read (the caller builds the model and the augmenter): not compared on resume.
NOT_READ = ("model", "augment", "seeds", "workers", "utility_keep_share")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)
_GLIBC = ctypes.CDLL(None) if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc" else None


class TrainConfig(TrainClassifierParams):
    """One classifier training: the `train_classifier` params section (its keys, defaults and checks live
    there, in synthaug.config) plus this run's seed and how it runs.

    Of the section, the loop reads epochs, batch_size, lr, weight_decay, patience, balance,
    synthetic_weight, domain_adversarial_weight, fine_tune_* and device; `model` and `augment` are the
    caller's (it builds the network and the Augmenter), as is the utility selection (it chooses the
    synthetic rows); `seeds` and `workers` are the stage's.
    """

    seed: int = 0
    num_threads: int | None = Field(None, ge=1)  # None: all cores this process may use
    checkpoint_every: int = Field(1, ge=1)
    amp: bool = True  # bf16 autocast, on CUDA only
    channels_last: bool = True
    eval_batch_size: int = Field(128, ge=1)
    retain_memory: bool = True  # CPU with glibc: keep freed memory in the heap while training (see _runtime)

    @classmethod
    def for_seed(cls, settings: TrainClassifierParams, seed: int, **runtime: Any) -> TrainConfig:
        """The training of one `seed` under `settings` (runtime: num_threads, checkpoint_every, ...)."""
        return cls.model_validate({**settings.model_dump(), "seed": seed, **runtime})


@dataclass
class ClassBalance:
    """Per-class loss weights and per-sample weights of one training set (see `class_balance`)."""

    class_weights: torch.Tensor | None  # [n_classes] loss weights, or None (no loss weighting)
    sample_scale: torch.Tensor | None  # [N] loss multiplier per sample (synthetic_weight on synthetic rows), or None
    draw_weights: torch.Tensor | None  # [N] unnormalized draw weights of the weighted sampler, or None


def class_balance(
    y: np.ndarray | torch.Tensor,
    n_classes: int,
    balance: str,
    *,
    n_synthetic: int = 0,
    synthetic_weight: float = 1.0,
) -> ClassBalance:
    """Class balance from the real training counts: y holds the real rows, then `n_synthetic` synthetic ones.

    class_weight: w_c = n_real / (n_classes * n_real_c) (sklearn's "balanced" on the real rows); every
    sample of class c weighs w_c, a synthetic one w_c * synthetic_weight. weighted_sampler: a sample of
    class c is drawn with weight 1 / n_real_c (times synthetic_weight when synthetic). none: only
    synthetic_weight scales the synthetic rows' loss. A real sample's weight therefore does not depend
    on how many synthetic samples are added: counting the synthetic rows would lower the augmented
    class's real weight (2.19 -> 1.63 for 128 synthetic positives on the demo) and shift the decision
    threshold, which reads as an accuracy gain with no better discrimination. A class with synthetic
    rows but no real ones weighs as a class of one real sample.
    """
    y = torch.as_tensor(np.asarray(y), dtype=torch.long).cpu()
    if not 0 <= int(n_synthetic) <= len(y):
        raise ValueError(f"n_synthetic must be in [0, {len(y)}], got {n_synthetic}")
    n_real = len(y) - int(n_synthetic)
    real_counts = torch.bincount(y[:n_real], minlength=n_classes).double()
    synthetic = torch.arange(len(y)) >= n_real
    scale = torch.where(synthetic, float(synthetic_weight), 1.0).float()
    scaled = bool(n_synthetic) and float(synthetic_weight) != 1.0
    if balance == "weighted_sampler":
        return ClassBalance(None, None, (1.0 / real_counts.clamp(min=1))[y] * scale.double())
    if balance == "class_weight":
        present = torch.bincount(y, minlength=n_classes) > 0
        weights = torch.where(present, max(n_real, 1) / (n_classes * real_counts.clamp(min=1)), 0.0).float()
        return ClassBalance(weights, scale if scaled else None, None)
    return ClassBalance(None, scale if scaled else None, None)


@dataclass
class TrainResult:
    model: nn.Module  # best-epoch weights (the last epoch's with patience None), on the training device
    # per epoch: epoch, train_loss, val_loss, every endpoint on validation (val_macro_f1, val_auroc, ...), lr, seconds
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool
    best_val_macro_f1: float = math.nan
    # When the training began (Unix seconds), where it ran apart from its MLflow run (a worker process):
    # the run is then opened with this start time, so its duration is the training's.
    started_at: float | None = None


def train_classifier(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray],
    config: TrainConfig | None = None,
    *,
    augmenter: Augmenter | None = None,
    n_synthetic: int = 0,
    checkpoint_dir: str | Path | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train `model` on train = (x, y) and pick its best epoch on val = (x, y[, file_id]).

    x: float [N, 1, mels, frames], y: int [N]; the last `n_synthetic` training rows are synthetic
    (class balance comes from the real rows, see `class_balance`). With file_id, validation macro F1 and accuracy are
    computed on file-averaged probabilities (the industrial protocol); val_loss stays per clip.
    `augmenter` transforms each training batch (real and synthetic alike). `on_epoch_end(epoch,
    record)` runs after the epoch's checkpoint is written. `progress`: None shows a bar only on a
    terminal, True/False force it on/off. Returns the model with the best epoch's weights, or with
    `config.patience` None the last epoch's: validation is still scored each epoch for the learning
    curve, but nothing about the returned model depends on it.
    """
    config = config or TrainConfig()
    device = pick_device(config.device)
    n_classes = int(getattr(model, "n_classes", 0)) or int(max(np.max(train[1]), np.max(val[1])) + 1)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    with _runtime(device, config.num_threads, config.retain_memory):
        # ---- data, once, as contiguous device tensors; class and sample weights -------------------
        x_train, y_train = _tensors(train[0], train[1], device, n_classes, "train")
        x_val, y_val = _tensors(val[0], val[1], device, n_classes, "val")
        val_files = np.asarray(val[2]).astype(str) if len(val) > 2 and val[2] is not None else None
        weighting = class_balance(
            y_train, n_classes, config.balance, n_synthetic=n_synthetic, synthetic_weight=config.synthetic_weight
        )
        class_weights = None if weighting.class_weights is None else weighting.class_weights.to(device)
        sample_scale = None if weighting.sample_scale is None else weighting.sample_scale.to(device)
        sample_weights = weighting.draw_weights
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if config.amp and device.type == "cuda" else contextlib.nullcontext()

        # The domain head (domain-adversarial training) sees which rows are synthetic: the last n_synthetic.
        adversary = domain_head(model, config.seed).to(device) if config.domain_adversarial_weight > 0 and n_synthetic else None
        is_synthetic = (torch.arange(len(y_train), device=device) >= len(y_train) - n_synthetic).float()

        # ---- model, optimizer, schedule, RNG; or all of them from the last checkpoint --------------
        model.to(device=device, memory_format=memory_format)  # type: ignore[call-overload]  # valid; torch's stub lacks this pair
        groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
        if adversary is not None:
            groups.append({"params": list(adversary.parameters()), "lr": config.lr * DOMAIN_HEAD_LR_FACTOR})
        optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        rng = torch.Generator().manual_seed(config.seed)
        state = _fresh_state()
        checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
        if checkpoint is not None and checkpoint.is_file():
            state = _load_checkpoint(checkpoint, config, model, optimizer, scheduler, rng, device, adversary)

        # ---- the epoch loop -------------------------------------------------------------------------
        bar = tqdm(
            total=config.epochs,
            initial=state["epoch"],
            unit="epoch",
            desc="train_classifier",
            disable=None if progress is None else not progress,
        )
        while state["epoch"] < config.epochs and not state["stopped_early"]:
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            order = (
                torch.randperm(len(y_train), generator=rng)
                if sample_weights is None
                else torch.multinomial(sample_weights, len(y_train), replacement=True, generator=rng)
            )
            # Dropout draws from the global RNG; seed it from ours, inside fork_rng so callers' state is kept.
            dropout_seed = int(torch.randint(0, 2**62, (1,), generator=rng))
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(dropout_seed)
                model.train()
                loss_sum = torch.zeros((), device=device)
                batches = _batches(order, config.batch_size, device)
                for position, index in enumerate(batches):
                    x, y = x_train[index], y_train[index]
                    x, targets = augmenter(x, y, n_classes, rng) if augmenter else (x, F.one_hot(y, n_classes).float())
                    with amp:
                        if adversary is None:
                            logits = model(x.contiguous(memory_format=memory_format))
                        else:
                            classifier = cast(SpectrogramClassifier, model)  # domain_head checked it is one
                            features = classifier.embed(x.contiguous(memory_format=memory_format))
                            logits = classifier.head(classifier.dropout(features))
                            progress_made = (state["epoch"] + position / len(batches)) / config.epochs
                            reversal = adversarial_weight(config.domain_adversarial_weight, progress_made)
                            domain_logits = adversary(reverse_gradient(features, reversal))
                    if sample_scale is None:
                        loss = F.cross_entropy(logits.float(), targets, weight=class_weights)
                    else:  # soft targets: "mean" divides by the batch size, so this is the same loss, scaled per sample
                        per_sample = F.cross_entropy(logits.float(), targets, weight=class_weights, reduction="none")
                        loss = (per_sample * sample_scale[index]).mean()
                    if adversary is not None:
                        # A mixup row keeps the domain of the row it was drawn as; the head's own loss is
                        # unweighted, the features feel it reversed and times the weight.
                        loss = loss + F.binary_cross_entropy_with_logits(domain_logits.float().squeeze(1), is_synthetic[index])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss.detach() * len(index)
            scheduler.step()

            val_loss, val_scores = _validate(model, x_val, y_val, val_files, config.eval_batch_size, memory_format)
            f1 = val_scores["val_macro_f1"]
            state["epoch"] += 1
            record = {
                "epoch": state["epoch"],
                "train_loss": loss_sum.item() / sum(map(len, batches)),
                "val_loss": val_loss,
                **val_scores,
                "lr": lr,
                "seconds": time.perf_counter() - started,
            }
            state["history"].append(record)
            if not math.isfinite(record["train_loss"]):
                raise FloatingPointError(
                    f"train_classifier: training loss became {record['train_loss']} at epoch "
                    f"{state['epoch']}; lower train_classifier.lr or check the input data"
                )
            if config.patience is None:  # fixed epochs: the model is the last epoch's, whatever validation says
                state.update(best_f1=f1, best_epoch=state["epoch"])
            elif f1 > state["best_f1"]:
                state.update(
                    best_f1=f1,
                    best_epoch=state["epoch"],
                    bad_epochs=0,
                    best_state={k: v.detach().clone() for k, v in model.state_dict().items()},
                )
            else:
                state["bad_epochs"] += 1
            state["stopped_early"] = (
                config.patience is not None and state["bad_epochs"] >= config.patience and state["epoch"] < config.epochs
            )
            finished = state["stopped_early"] or state["epoch"] == config.epochs
            if checkpoint is not None and (finished or state["epoch"] % config.checkpoint_every == 0):
                _save_checkpoint(checkpoint, config, model, optimizer, scheduler, rng, state, adversary)
            bar.update(1)
            bar.set_postfix(val_f1=f"{f1:.3f}", best=f"{state['best_f1']:.3f}@{state['best_epoch']}")
            if on_epoch_end is not None:
                on_epoch_end(state["epoch"], record)
        bar.close()

        if config.patience is not None:
            model.load_state_dict(state["best_state"])
        model.to(memory_format=torch.contiguous_format)  # hand the model back in the usual layout
    result = TrainResult(model, state["history"], state["best_epoch"], state["stopped_early"], state["best_f1"])
    if config.fine_tune_epochs and n_synthetic:
        result = _fine_tune_on_real(result, train, val, config, augmenter, n_synthetic, checkpoint, on_epoch_end, progress)
    return result


def _fine_tune_on_real(
    result: TrainResult, train, val, config: TrainConfig, augmenter, n_synthetic, checkpoint, on_epoch_end, progress
):
    """The two-stage recipe's second stage: `fine_tune_epochs` on the real rows alone, from the mixture's
    weights, lr x fine_tune_lr_factor with its own cosine schedule; the history runs on after the first stage's."""
    n_real = len(train[1]) - n_synthetic
    second_config = config.model_copy(
        update={"epochs": config.fine_tune_epochs, "lr": config.lr * config.fine_tune_lr_factor, "fine_tune_epochs": 0}
    )
    offset = len(result.history)
    second = train_classifier(
        result.model,
        (train[0][:n_real], train[1][:n_real]),
        val,
        second_config,
        augmenter=augmenter,
        checkpoint_dir=None if checkpoint is None else checkpoint.parent / "fine_tune",
        on_epoch_end=None if on_epoch_end is None else lambda epoch, record: on_epoch_end(offset + epoch, record),
        progress=progress,
    )
    history = result.history + [{**record, "epoch": offset + record["epoch"]} for record in second.history]
    return TrainResult(second.model, history, offset + second.best_epoch, second.stopped_early, second.best_val_macro_f1)


def predict_proba(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """Class probabilities [N, n_classes] (float32) for spectrograms x [N, 1, mels, frames], in eval mode."""
    was_training = model.training
    model.to(pick_device(device))
    try:
        inputs = x.float() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
        logits = _logits(model, inputs, batch_size, torch.contiguous_format)
    finally:
        model.train(was_training)
    return torch.softmax(logits, dim=1).cpu().numpy()


@torch.inference_mode()
def predict_embeddings(model: SpectrogramClassifier, x: np.ndarray, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """Penultimate-layer features [N, D] (float32) of a SpectrogramClassifier (its `embed`), in eval mode."""
    was_training = model.training
    model.to(pick_device(device)).eval()
    try:
        target = next(model.parameters()).device
        inputs = torch.from_numpy(np.asarray(x, dtype=np.float32))
        parts = [model.embed(part.to(target)).float().cpu() for part in inputs.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy() if parts else np.empty((0, 0), np.float32)


def _validate(model, x, y, files, batch_size, memory_format) -> tuple[float, dict[str, float]]:
    """(loss per clip, {val_<endpoint>: value}) on the validation set; the scores per file with `files`."""
    logits = _logits(model, x, batch_size, memory_format)
    loss = F.cross_entropy(logits, y).item()
    proba, labels = torch.softmax(logits, dim=1).cpu().numpy(), y.cpu().numpy()
    if files is not None:
        proba, labels, _ = aggregate_by_file(proba, labels, files)
    return loss, validation_scores(labels, proba)


@torch.inference_mode()
def _logits(model: nn.Module, x: torch.Tensor, batch_size: int, memory_format: torch.memory_format) -> torch.Tensor:
    """Logits of x in eval mode, batch by batch (batches moved to the model's device), float32."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model(part.to(device).contiguous(memory_format=memory_format)).float() for part in x.split(batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, getattr(model, "n_classes", 0), device=device)


def _batches(order: torch.Tensor, batch_size: int, device: torch.device) -> list[torch.Tensor]:
    # BatchNorm cannot normalize one sample whose feature map has shrunk to 1x1: a trailing batch of
    # one is dropped (a different sample each epoch, as the order is reshuffled).
    batches = list(order.to(device).split(batch_size))
    return batches[:-1] if len(batches) > 1 and len(batches[-1]) == 1 else batches


def _tensors(x, y, device: torch.device, n_classes: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if x.ndim != 4 or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"{split}: expected x [N, C, mels, frames] and y [N] with N > 0, got {list(x.shape)} and {list(y.shape)}"
        )
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"{split}: labels must lie in [0, {n_classes - 1}], got [{int(y.min())}, {int(y.max())}]")
    return x.to(device), y.to(device)


@contextlib.contextmanager
def _runtime(device: torch.device, num_threads: int | None, retain_memory: bool) -> Iterator[None]:
    """Process-wide settings while training, restored after: `num_threads` threads (default: all cores
    this process may use); on the CPU, deterministic algorithms (not on CUDA, where some kernels have
    none) and, with glibc and `retain_memory`, freed memory kept in the heap: glibc serves blocks over
    32 MiB (the medical CNN's activations) with mmap and unmaps them on free, so each step page-faults
    and zeroes them afresh. After: glibc's dynamic maxima and a trimmed heap.
    """
    previous = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]  # a module property
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(int(num_threads) if num_threads else cores)
    libc = _GLIBC if device.type == "cpu" and retain_memory else None
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]  # NaN-filling new tensors cost 16 % of a step
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 30), libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])
        torch.utils.deterministic.fill_uninitialized_memory = previous[3]  # type: ignore[attr-defined]
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, 32 << 20), libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
            libc.malloc_trim(0)


def _fresh_state() -> dict[str, Any]:
    """What the loop carries from epoch to epoch besides model, optimizer, schedule and RNG."""
    return {
        "epoch": 0,
        "history": [],
        "best_state": None,
        "best_epoch": 0,
        "best_f1": -math.inf,
        "bad_epochs": 0,
        "stopped_early": False,
    }


def _comparable(config: TrainConfig) -> dict[str, Any]:
    return config.model_dump(exclude=set(RUNTIME_ONLY + NOT_READ))


def _save_checkpoint(path: Path, config, model, optimizer, scheduler, rng: torch.Generator, state: dict, adversary=None) -> None:
    """Write the whole training state atomically (temporary file, then rename): tensors and primitives only."""
    payload = {
        "config": _comparable(config),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng_state": rng.get_state(),
        **({} if adversary is None else {"domain_head": adversary.state_dict()}),
        **state,
    }
    torch_save_atomic(payload, path)


def _load_checkpoint(path: Path, config, model, optimizer, scheduler, rng, device, adversary=None) -> dict[str, Any]:
    saved = torch.load(path, map_location=device, weights_only=True)
    changed = sorted(k for k, v in _comparable(config).items() if saved["config"].get(k) != v)
    if changed:
        raise ConfigError(
            f"{path}: checkpoint was written with other train_classifier settings ({', '.join(changed)});"
            " use a new checkpoint folder or delete this one to start over"
        )
    model.load_state_dict(saved["model"])
    if adversary is not None:
        adversary.load_state_dict(saved["domain_head"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    rng.set_state(saved["rng_state"].cpu())
    return {key: saved[key] for key in _fresh_state()}
