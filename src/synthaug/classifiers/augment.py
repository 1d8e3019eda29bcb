"""Classic augmentation of spectrogram batches, applied on the fly to training batches.

Spectrograms are z-scored log-mel (dB) values [B, 1, mels, frames], so 0 is the training mean of
each mel channel: masks fill with 0. Each transform draws its random parameters for a batch
(`draw`, on the CPU, from a seeded torch.Generator) separately from applying them (`apply`), so a
test can inspect what was drawn and the same generator state always gives the same batch. Each
transform touches a sample with probability `p` (default 1). Targets are soft: [B, n_classes]
probabilities; only Mixup changes them.

Each transform reads its options from its validated config (synthaug.augment_configs, the one home
of their defaults, bounds and descriptions). `Augmenter.from_params` composes the enabled transforms
in one fixed order (gain, time shift, frequency mask, time mask, mixup: mixup last so it mixes
already-augmented inputs). With no transform enabled it returns inputs unchanged and targets one-hot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F

from synthaug.augment_configs import GainConfig, MaskConfig, MixupConfig, TimeShiftConfig, augmentation_configs

Params = dict[str, torch.Tensor]


def _chosen(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


@dataclass
class Transform:
    """One augmentation; subclasses implement `draw` and `apply`."""

    name: ClassVar[str]

    def draw(self, shape: Sequence[int], generator: torch.Generator) -> Params:
        """Random parameters for a batch of `shape` [B, C, mels, frames], as CPU tensors."""
        raise NotImplementedError

    def apply(self, x: torch.Tensor, targets: torch.Tensor, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch transformed with `params` (x and targets are not modified in place)."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, targets: torch.Tensor, generator: torch.Generator):
        return self.apply(x, targets, self.draw(x.shape, generator))


@dataclass
class _Mask(Transform):
    """`n_masks` bands of width uniform in [0, max_width] along one axis, set to 0 (the mean)."""

    settings: MaskConfig = field(default_factory=MaskConfig)
    axis: ClassVar[int]

    def draw(self, shape: Sequence[int], generator: torch.Generator) -> Params:
        batch, size, n_masks = shape[0], shape[self.axis], self.settings.n_masks
        width = torch.randint(0, min(self.settings.max_width, size) + 1, (batch, n_masks), generator=generator)
        start = (torch.rand(batch, n_masks, generator=generator) * (size - width + 1)).long()
        width = width * _chosen(batch, self.settings.p, generator)[:, None]
        return {"start": start, "width": width}

    def apply(self, x, targets, params):
        positions = torch.arange(x.shape[self.axis], device=x.device)
        start, stop = params["start"].to(x.device), (params["start"] + params["width"]).to(x.device)
        inside = (positions >= start[..., None]) & (positions < stop[..., None])  # [B, n_masks, size]
        masked = inside.any(dim=1)  # [B, size]
        view = (x.shape[0], 1, -1, 1) if self.axis == 2 else (x.shape[0], 1, 1, -1)
        return x.masked_fill(masked.view(view), 0.0), targets


@dataclass
class FrequencyMask(_Mask):
    """SpecAugment frequency masking: bands of mel channels set to the mean."""

    name: ClassVar[str] = "frequency_mask"
    axis: ClassVar[int] = 2


@dataclass
class TimeMask(_Mask):
    """SpecAugment time masking: runs of frames set to the mean."""

    name: ClassVar[str] = "time_mask"
    axis: ClassVar[int] = 3


@dataclass
class RandomGain(Transform):
    """A loudness change of g dB, g uniform in [-max_db, max_db] per sample.

    The inputs are z-scored dB: x = (dB - mean_c) / std_c per mel channel c, and a gain of g dB adds
    g to every dB value, so it shifts channel c by g / std_c. Give `channel_std` (the featurizer's
    per-channel std, length mels) for that exact shift; without it every channel shifts by g, i.e.
    the inputs are treated as dB with unit scale.
    """

    name: ClassVar[str] = "gain"
    settings: GainConfig = field(default_factory=GainConfig)
    channel_std: Sequence[float] | None = None  # set by the code (the normalization), not a param

    def draw(self, shape, generator):
        gain = (2 * torch.rand(shape[0], generator=generator) - 1) * self.settings.max_db
        return {"gain_db": gain * _chosen(shape[0], self.settings.p, generator)}

    def apply(self, x, targets, params):
        shift = params["gain_db"].to(x.device, x.dtype).view(-1, 1, 1, 1)
        if self.channel_std is not None:
            std = torch.as_tensor(np.asarray(self.channel_std, dtype=np.float32), device=x.device)
            if std.numel() != x.shape[2]:
                raise ValueError(f"channel_std has {std.numel()} values but the spectrograms have {x.shape[2]} mels")
            shift = shift / std.view(1, 1, -1, 1)
        return x + shift, targets


@dataclass
class TimeShift(Transform):
    """Shift in time by up to `max_fraction` of the frames either way; circular roll or zero (mean) fill."""

    name: ClassVar[str] = "time_shift"
    settings: TimeShiftConfig = field(default_factory=TimeShiftConfig)

    def draw(self, shape, generator):
        limit = int(self.settings.max_fraction * shape[3])
        shift = torch.randint(-limit, limit + 1, (shape[0],), generator=generator)
        return {"shift": shift * _chosen(shape[0], self.settings.p, generator)}

    def apply(self, x, targets, params):
        frames = x.shape[3]
        source = torch.arange(frames, device=x.device) - params["shift"].to(x.device)[:, None]  # [B, frames]
        index = source.remainder(frames).view(x.shape[0], 1, 1, frames).expand_as(x)
        shifted = x.gather(3, index)
        if not self.settings.circular:
            outside = (source < 0) | (source >= frames)
            shifted = shifted.masked_fill(outside.view(x.shape[0], 1, 1, frames), 0.0)
        return shifted, targets


@dataclass
class Mixup(Transform):
    """Mixup: x_i <- lam_i x_i + (1 - lam_i) x_j and the same for targets, lam_i ~ Beta(alpha, alpha).

    j is a random permutation of the batch; a sample not chosen (probability 1 - p) keeps lam = 1.
    """

    name: ClassVar[str] = "mixup"
    settings: MixupConfig = field(default_factory=MixupConfig)

    def draw(self, shape, generator):
        # torch's Beta sampler takes no generator; a numpy one seeded from `generator` keeps the draw
        # reproducible from the same single source.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        alpha = self.settings.alpha
        lam = torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, shape[0])).float()
        lam = torch.where(_chosen(shape[0], self.settings.p, generator), lam, torch.ones_like(lam))
        return {"lam": lam, "partner": torch.randperm(shape[0], generator=generator)}

    def apply(self, x, targets, params):
        lam, partner = params["lam"].to(x.device), params["partner"].to(x.device)
        mixed_x = lam.view(-1, 1, 1, 1).to(x.dtype) * x + (1 - lam).view(-1, 1, 1, 1).to(x.dtype) * x[partner]
        mixed_t = lam.view(-1, 1).to(targets.dtype) * targets + (1 - lam).view(-1, 1).to(targets.dtype) * targets[partner]
        return mixed_x, mixed_t


# By params name; applied in the order of synthaug.augment_configs.AUGMENTATION_CONFIGS.
TRANSFORMS: dict[str, type[Transform]] = {t.name: t for t in (RandomGain, TimeShift, FrequencyMask, TimeMask, Mixup)}


class Augmenter:
    """Applies `transforms` in order to a training batch; call with (x, y, n_classes, generator)."""

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        self.transforms = list(transforms)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any] | None,
        *,
        channel_std: Sequence[float] | np.ndarray | None = None,
        key: str = "train_classifier.augment",
    ) -> Augmenter:
        """Build from {name: {option: value}} (synthaug.augment_configs); a missing, None or False entry is off.

        `channel_std` (the per-mel-channel std of the normalization) goes to `gain`. Unknown names or
        options are ConfigErrors naming `key`.<name>.
        """
        transforms: list[Transform] = []
        for name, settings in augmentation_configs(params, key).items():
            runtime = {"channel_std": None if channel_std is None else list(channel_std)} if name == RandomGain.name else {}
            transforms.append(cast(Any, TRANSFORMS[name])(settings=settings, **runtime))  # each takes its own config type
        return cls(transforms)

    def __bool__(self) -> bool:
        return bool(self.transforms)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, n_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(augmented x, soft targets [B, n_classes]) for inputs x and integer labels y."""
        targets = F.one_hot(y, n_classes).to(x.dtype)
        for transform in self.transforms:
            x, targets = transform(x, targets, generator)
        return x, targets
