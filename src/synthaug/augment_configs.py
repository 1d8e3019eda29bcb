"""One validated type per classic augmentation (params `train_classifier.augment`,
`train_classifier.classic_augmentation`, `scarcity.augment`), without torch.

Those keys keep their YAML shape, {name: {option: value}} with `true` for the defaults and a missing,
`null` or `false` entry off; they are validated here when params are loaded, and the transforms of
synthaug.classifiers.augment are built from the result. Each model holds one transform's options
with their defaults, bounds and, in the comment beside each, its description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from synthaug.config_base import Section
from synthaug.errors import ConfigError


class AugmentationConfig(Section):
    """The option every transform has."""

    p: float = Field(1.0, ge=0, le=1)  # probability that a sample is augmented


class GainConfig(AugmentationConfig):
    """A loudness change of g dB per sample, g uniform in [-max_db, max_db]."""

    max_db: float = Field(6.0, ge=0)  # largest gain either way, in dB


class TimeShiftConfig(AugmentationConfig):
    """A shift in time by up to `max_fraction` of the frames either way."""

    max_fraction: float = Field(0.1, ge=0, le=1)  # largest shift, as a share of the frames
    circular: bool = True  # true: roll the frames round; false: fill with zeros (the mean)


class MaskConfig(AugmentationConfig):
    """`n_masks` bands of width uniform in [0, max_width] along one axis, set to the mean (SpecAugment)."""

    n_masks: int = Field(2, ge=0)  # bands masked per sample
    max_width: int = Field(8, ge=0)  # widest band, in mel channels or frames


class MixupConfig(AugmentationConfig):
    """Mixup: each sample and its target mixed with another's, the weight drawn from Beta(alpha, alpha)."""

    alpha: float = Field(0.2, gt=0)  # the Beta(alpha, alpha) of the mixing weight
    p: float = Field(1.0, ge=0, le=1)  # probability that a sample is mixed


# Every transform by its params name, in the order they are applied: mixup last, so it mixes inputs
# the other transforms have already changed.
AUGMENTATION_CONFIGS: dict[str, type[AugmentationConfig]] = {
    "gain": GainConfig,
    "time_shift": TimeShiftConfig,
    "frequency_mask": MaskConfig,
    "time_mask": MaskConfig,
    "mixup": MixupConfig,
}


def augmentation_configs(
    augment: Mapping[str, Any] | None, key: str = "train_classifier.augment"
) -> dict[str, AugmentationConfig]:
    """{name: validated options} of the transforms `augment` turns on, in the order they are applied.

    `augment` is {name: options}; options `true` take the defaults, a missing, `null` or `false`
    entry is off. Raises ConfigError naming `key`.NAME[.OPTION] and what is valid.
    """
    if augment is not None and not isinstance(augment, Mapping):
        raise ConfigError(f"{key}: expected a mapping of augmentation names to options, got {augment!r}")
    augment = dict(augment or {})
    unknown = sorted(set(augment) - set(AUGMENTATION_CONFIGS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown augmentation; valid: {', '.join(AUGMENTATION_CONFIGS)}")
    configs: dict[str, AugmentationConfig] = {}
    for name, config in AUGMENTATION_CONFIGS.items():
        options = augment.get(name)
        if options is None or options is False:
            continue
        if options is True:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"{key}.{name}: expected options ({{}} or true for the defaults), got {options!r}")
        bad = sorted(set(options) - set(config.model_fields))
        if bad:
            raise ConfigError(f"{key}.{name}.{bad[0]}: unknown option; valid: {', '.join(sorted(config.model_fields))}")
        try:
            configs[name] = config.model_validate(dict(options))
        except ValidationError as exc:
            problems = [f"{key}.{name}.{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})" for e in exc.errors()]
            raise ConfigError("; ".join(problems)) from None
    return configs


def checked_augmentation(augment: dict[str, Any], key: str) -> dict[str, Any]:
    """`augment` unchanged once its transforms' options validate; for the params types' validators, a
    ValueError naming `key`.NAME.OPTION otherwise."""
    try:
        augmentation_configs(augment, key)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return augment


def classic_augmentation_default() -> dict[str, Any]:
    """`train_classifier.classic_augmentation`'s default: mixup and SpecAugment's two masks."""
    return {
        "mixup": {"alpha": 0.2},
        "time_mask": {"n_masks": 2, "max_width": 8},
        "frequency_mask": {"n_masks": 2, "max_width": 8},
    }
