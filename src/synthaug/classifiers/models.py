"""The CNN classifiers of the two protocols, and `build_classifier` to make one from params.

Every model takes spectrograms [B, C, mels, frames] of any size (C = 1 here) and returns logits
[B, n_classes]. Each splits into `embed` (convolutions and global pooling: the penultimate features
that a later audit inspects) and a head (dropout, then one linear layer). Pooling uses
`ceil_mode=True` so that inputs smaller than 2**blocks along an axis still leave one cell.

- `MedicalCNN`: the medical study's baseline, 4 blocks of conv3x3 -> BatchNorm -> ReLU -> MaxPool 2x2
  with 32/64/128/256 filters (times `width`), global average pooling.
- `ResNetCNN`: ResNet-style, for the industrial MB data set: residual blocks with average pooling
  after each block and global max pooling after the final convolution.
- `ThreeLayerCNN`: three 3x3 convolutions, for the industrial Pucks data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from synthaug.classifier_configs import classifier_config
from synthaug.errors import ConfigError


class SpectrogramClassifier(nn.Module):
    """Base: `embed(x)` gives pooled features [B, embed_dim]; forward adds dropout and a linear layer."""

    input_shape: tuple[int, ...]  # (channels, mels, frames), set by build_classifier

    def __init__(self, n_classes: int, embed_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_classes = int(n_classes)
        self.embed_dim = int(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    # No conv bias: the BatchNorm right after it has its own shift, so a bias would be redundant.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class MedicalCNN(SpectrogramClassifier):
    """4 x (conv3x3 -> BN -> ReLU -> MaxPool 2x2), filters 32/64/128/256 x `width`; GAP; dropout; linear."""

    FILTERS: ClassVar[tuple[int, ...]] = (32, 64, 128, 256)

    def __init__(self, n_classes: int, in_channels: int, *, width: float, dropout: float) -> None:
        channels = [_scaled(c, width) for c in self.FILTERS]
        super().__init__(n_classes, channels[-1], dropout)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *channels[:-1]], channels):
            layers += [*_conv_bn(c_in, c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
        self.features = nn.Sequential(*layers)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN when the width changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(c_in, c_out), nn.ReLU(inplace=True), *_conv_bn(c_out, c_out))
        self.shortcut = (
            nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNetCNN(SpectrogramClassifier):
    """Stem conv, `blocks` residual blocks each followed by AvgPool 2x2, a final conv, global max pooling.

    Block widths start at `width` and double per block up to 8 x `width`.
    """

    def __init__(self, n_classes: int, in_channels: int, *, blocks: int, width: int, dropout: float) -> None:
        channels = [int(width) * 2 ** min(i, 3) for i in range(int(blocks))]
        super().__init__(n_classes, channels[-1], dropout)
        layers: list[nn.Module] = [*_conv_bn(in_channels, channels[0]), nn.ReLU(inplace=True)]
        for c_in, c_out in zip([channels[0], *channels[:-1]], channels):
            layers += [ResidualBlock(c_in, c_out), nn.AvgPool2d(2, ceil_mode=True)]
        layers += [*_conv_bn(channels[-1], channels[-1]), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).amax(dim=(2, 3))


class ThreeLayerCNN(SpectrogramClassifier):
    """3 x (conv3x3 -> BN -> ReLU -> MaxPool 2x2) with `width`, 2 x `width`, 4 x `width` filters; GAP; linear."""

    def __init__(self, n_classes: int, in_channels: int, *, width: int, dropout: float) -> None:
        channels = [int(width), 2 * int(width), 4 * int(width)]
        super().__init__(n_classes, channels[-1], dropout)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *channels[:-1]], channels):
            layers += [*_conv_bn(c_in, c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
        self.features = nn.Sequential(*layers)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


ARCHITECTURES: dict[str, type[SpectrogramClassifier]] = {
    "medical_cnn": MedicalCNN,
    "resnet_cnn": ResNetCNN,
    "three_layer_cnn": ThreeLayerCNN,
}


def build_classifier(
    architecture: str, n_classes: int, input_shape: Sequence[int], *, seed: int | None = None, **options: Any
) -> SpectrogramClassifier:
    """A freshly initialised classifier for spectrograms of `input_shape` = (channels, mels, frames).

    `options` are the architecture's hyperparameters (synthaug.classifier_configs); an unknown
    architecture or a bad option is a ConfigError naming the params key and the valid choices. With
    `seed`, weights are initialised from that seed without touching the global RNG state.
    """
    config = classifier_config({"architecture": architecture, **options})
    cls = ARCHITECTURES[config.architecture]
    if len(input_shape) != 3 or min(int(d) for d in input_shape) < 1:
        raise ValueError(f"input_shape must be (channels, mels, frames), got {tuple(input_shape)}")
    if int(n_classes) < 2:
        raise ConfigError(f"train_classifier: a classifier needs at least 2 classes, got {n_classes}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        model = cls(int(n_classes), int(input_shape[0]), **config.options())
    model.input_shape = tuple(int(d) for d in input_shape)
    return model


def penultimate(model: SpectrogramClassifier, x: torch.Tensor) -> torch.Tensor:
    """The pooled features before the last linear layer, [B, model.embed_dim] (no dropout applied)."""
    return model.embed(x)
