"""One validated type per classifier architecture (params `train_classifier.model`), without torch.

`train_classifier.model` keeps its YAML shape (`architecture` and the options it overrides); it is
validated against its architecture's model when params are loaded, and again when a classifier is
built (synthaug.classifiers.models.build_classifier). Each model holds the architecture's options
with their defaults, bounds and, in the comment beside each, its description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from synthaug.config_base import Section
from synthaug.errors import ConfigError


class ArchitectureConfig(Section):
    """The options every architecture has."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    architecture: str
    dropout: float = Field(0.3, ge=0, lt=1)  # dropout before the linear layer

    def options(self) -> dict[str, Any]:
        """The architecture's own options (everything but its name), as its network takes them."""
        return self.model_dump(exclude={"architecture"})


class MedicalCNNConfig(ArchitectureConfig):
    """4 x (conv3x3 -> BN -> ReLU -> MaxPool 2x2), filters 32/64/128/256 x `width`; GAP; dropout; linear."""

    architecture: Literal["medical_cnn"] = "medical_cnn"
    width: float = Field(1.0, gt=0)  # multiplies the filters 32/64/128/256


class ResNetCNNConfig(ArchitectureConfig):
    """Stem conv, `blocks` residual blocks each followed by AvgPool 2x2, a final conv, global max pooling."""

    architecture: Literal["resnet_cnn"] = "resnet_cnn"
    blocks: int = Field(4, ge=1)  # residual blocks, each followed by 2 x 2 average pooling
    width: int = Field(32, ge=1)  # the first block's channels (doubling per block up to 8 x width)


class ThreeLayerCNNConfig(ArchitectureConfig):
    """3 x (conv3x3 -> BN -> ReLU -> MaxPool 2x2) with `width`, 2 x `width`, 4 x `width` filters; GAP; linear."""

    architecture: Literal["three_layer_cnn"] = "three_layer_cnn"
    width: int = Field(32, ge=1)  # the first convolution's filters (then 2 x and 4 x width)


ARCHITECTURE_CONFIGS: dict[str, type[ArchitectureConfig]] = {
    "medical_cnn": MedicalCNNConfig,
    "resnet_cnn": ResNetCNNConfig,
    "three_layer_cnn": ThreeLayerCNNConfig,
}


def classifier_config(model: Mapping[str, Any]) -> ArchitectureConfig:
    """The architecture `model["architecture"]` with `model`'s other keys as its options, validated.

    Raises ConfigError naming train_classifier.model.KEY and the valid choices.
    """
    architecture = model.get("architecture")
    if architecture not in ARCHITECTURE_CONFIGS:
        raise ConfigError(
            f"train_classifier.model.architecture: unknown architecture {architecture!r}; valid: {', '.join(sorted(ARCHITECTURE_CONFIGS))}"
        )
    config = ARCHITECTURE_CONFIGS[str(architecture)]
    unknown = sorted(set(model) - set(config.model_fields))
    if unknown:
        raise ConfigError(
            f"train_classifier.model.{unknown[0]}: unknown option(s) {', '.join(unknown)} for architecture "
            f"{architecture!r}; valid: {', '.join(sorted(set(config.model_fields) - {'architecture'}))}"
        )
    try:
        return config.model_validate(dict(model))
    except ValidationError as exc:
        problems = [
            f"train_classifier.model.{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})" for e in exc.errors()
        ]
        raise ConfigError("; ".join(problems)) from None
