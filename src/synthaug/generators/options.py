"""Checks of the training keys every generator shares (budget, time cap, EMA), without importing torch.

params.yaml's `train_generator.models.NAME` sections are validated here when params are loaded (so
a bad value is reported before any stage starts) and again when a generator is built. Each error
names the full params key and says what to write instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthaug.errors import ConfigError

# Keys of older parameter files and what replaced them.
RENAMED = {
    "epochs": "training budgets are optimizer steps, the same on any data size: replace `epochs: E` with "
    "`steps: S` (one epoch is about ceil(n_train / batch_size) steps; for wgan_gp count generator "
    "steps, about epochs x ceil(n_train / batch_size) / n_critic)",
}


# Keys every generator takes beside its own hyperparameters, with their defaults.
# teacher_classes: which training classes a conditional model learns from: `learned` (the classes
# train_generator.classes augments; published) or `all` (every training class teaches one
# conditional model, which is then sampled only for the augmented classes).
# fine_tune_steps: with teacher_classes all, optimizer steps trained after the teacher's budget on the
# augmented classes' spectrograms alone (0: none); the step budget is `steps` plus these.
# ema_candidates: further EMA decays averaged during training beside ema_decay, for the snapshot choice
# (train_generator.fidelity_snapshots) to pick the averaging length; the chosen one becomes ema_decay.
SHARED_DEFAULTS: dict[str, Any] = {"teacher_classes": "learned", "fine_tune_steps": 0, "ema_candidates": []}
TEACHER_CLASSES = ("learned", "all")

# The transforms of synthaug.generators.diffaugment, by name (that module checks the two agree).
DIFFAUGMENT_TRANSFORMS = ("time_shift", "freq_shift", "cutout")


def check_policy(policy: Sequence[str], key: str) -> list[str]:
    """A DiffAugment policy as a list, or ValueError naming `key` and the valid transform names."""
    if isinstance(policy, str) or not isinstance(policy, Sequence):
        raise ValueError(f"{key} must be a list of transform names (e.g. [time_shift, cutout]; [] = off), got {policy!r}")
    unknown = [name for name in policy if name not in DIFFAUGMENT_TRANSFORMS]
    if unknown:
        raise ValueError(
            f"{key}: unknown transform(s) {', '.join(map(str, unknown))}; valid: {', '.join(DIFFAUGMENT_TRANSFORMS)}"
        )
    return list(policy)


def key_name(generator: str, key: str) -> str:
    """The dotted params.yaml key of a generator's hyperparameter."""
    return f"train_generator.models.{generator}.{key}"


def check_training_config(generator: str, config: Mapping[str, Any], *, steps_optional: bool = False) -> None:
    """Raise ConfigError for a bad shared training key: steps, max_minutes, ema_decay, ema_start,
    class_conditional, teacher_classes, fine_tune_steps, ema_candidates."""
    for old, hint in RENAMED.items():
        if old in config:
            raise ConfigError(f"{key_name(generator, old)}: {hint}")
    steps = config.get("steps")
    if not (steps is None and steps_optional):
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            allowed = "null (derived) or a whole number >= 1" if steps_optional else "a whole number >= 1"
            raise ConfigError(f"{key_name(generator, 'steps')} must be {allowed} (optimizer steps), got {steps!r}")
    minutes = config.get("max_minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0):
        raise ConfigError(
            f"{key_name(generator, 'max_minutes')} must be null (no cap) or a number of minutes > 0, got {minutes!r}"
        )
    decay = config.get("ema_decay")
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1):
        raise ConfigError(
            f"{key_name(generator, 'ema_decay')} must be null or 0 (no EMA) or in (0, 1), e.g. 0.999, got {decay!r}"
        )
    start = config.get("ema_start", 0)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ConfigError(f"{key_name(generator, 'ema_start')} must be a whole number of steps >= 0, got {start!r}")
    conditional = config.get("class_conditional", False)
    if not isinstance(conditional, bool):
        raise ConfigError(
            f"{key_name(generator, 'class_conditional')} must be true (one model learns every class) or false "
            f"(one model per class), got {conditional!r}"
        )
    teacher = config.get("teacher_classes", SHARED_DEFAULTS["teacher_classes"])
    if teacher not in TEACHER_CLASSES:
        raise ConfigError(
            f"{key_name(generator, 'teacher_classes')} must be learned (the model learns the classes it augments) or "
            f"all (one conditional model learns every training class), got {teacher!r}"
        )
    fine_tune = config.get("fine_tune_steps", SHARED_DEFAULTS["fine_tune_steps"])
    if isinstance(fine_tune, bool) or not isinstance(fine_tune, int) or fine_tune < 0:
        raise ConfigError(
            f"{key_name(generator, 'fine_tune_steps')} must be a whole number of steps >= 0 (0: no fine-tune), got {fine_tune!r}"
        )
    if fine_tune > 0 and teacher != "all":
        raise ConfigError(
            f"{key_name(generator, 'fine_tune_steps')}: {fine_tune} needs {key_name(generator, 'teacher_classes')}: all "
            "(the fine-tune narrows a model taught by every class to the augmented ones); set it to 0 or teach with all"
        )
    candidates = config.get("ema_candidates", SHARED_DEFAULTS["ema_candidates"])
    if not isinstance(candidates, (list, tuple)) or any(
        isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d < 1 for d in candidates
    ):
        raise ConfigError(
            f"{key_name(generator, 'ema_candidates')} must be a list of decays in (0, 1), e.g. [0.99, 0.9999] "
            f"([]: none), got {candidates!r}"
        )
    if candidates and not decay:
        raise ConfigError(
            f"{key_name(generator, 'ema_candidates')}: {list(candidates)} are alternatives to an average; set "
            f"{key_name(generator, 'ema_decay')} (e.g. 0.999) or leave ema_candidates empty"
        )
    if decay in candidates or len(set(candidates)) != len(candidates):
        raise ConfigError(
            f"{key_name(generator, 'ema_candidates')}: {list(candidates)} repeats a decay (ema_decay is {decay}); list each once"
        )
