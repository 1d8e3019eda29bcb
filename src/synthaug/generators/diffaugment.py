"""Differentiable augmentation of spectrogram batches for GAN critics (DiffAugment, Zhao et al. 2020).

On a few dozen training spectrograms a critic memorises the real set within a few hundred steps and
its gradients stop telling the generator anything. DiffAugment shows the critic only augmented
inputs: the SAME transforms are applied to real and generated batches (each sample with its own
random parameters) and every transform is differentiable, so the generator is trained through them.

Transforms, chosen by name in `policy` (applied in the order given; [] is the identity):
- `time_shift`: roll each spectrogram along frames by up to TIME_SHIFT_FRACTION of its length,
  filling the vacated frames with zeros (the per-channel mean of z-scored data) rather than wrapping
  the end of a sound onto its start;
- `freq_shift`: the same along mel bins, by up to FREQ_SHIFT_FRACTION of them (a few bins: a small
  change of pitch, not of timbre);
- `cutout`: zero one random time x frequency rectangle of CUTOUT_FRACTION of each axis.

Written here rather than taken from a library: audio augmentation libraries (audiomentations,
torch-audiomentations, torchaudio's masking) draw their parameters from the global RNG, act on
waveforms or mask whole bands, and do not promise gradients; the critic needs seeded, per-sample,
differentiable transforms on spectrogram tensors. All random parameters come from `rng`, a CPU
torch.Generator, so a resumed training run continues bit-identically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from synthaug.generator_configs import DIFFAUGMENT_TRANSFORMS, check_policy

__all__ = ["TRANSFORMS", "check_policy", "diff_augment"]

TIME_SHIFT_FRACTION = 0.125  # DiffAugment's translation ratio for images
FREQ_SHIFT_FRACTION = 1 / 32  # 4 of 128 mel bins
CUTOUT_FRACTION = 0.5  # DiffAugment's cutout ratio: a rectangle of half of each axis, a quarter of the area


def _shift(x: torch.Tensor, shifts: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift each sample of x [B, C, H, W] by shifts[b] positions along dim (-1 or -2), zero-filled.

    A gather with a validity mask rather than torch.roll: roll takes one shift for the whole batch
    and wraps around; gather is differentiable with respect to x and takes one shift per sample.
    """
    size = x.shape[dim]
    positions = torch.arange(size, device=x.device)
    source = positions[None, :] - shifts[:, None].to(x.device)  # [B, size]: where each output position reads
    valid = (source >= 0) & (source < size)
    source = source.clamp(0, size - 1)
    view = [len(x), 1, 1, 1]
    view[dim] = size
    index = source.view(view).expand_as(x)
    return x.gather(dim, index) * valid.view(view).to(x.dtype)


def time_shift(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    limit = int(round(x.shape[-1] * TIME_SHIFT_FRACTION))
    shifts = torch.randint(-limit, limit + 1, (len(x),), generator=rng)
    return _shift(x, shifts, -1)


def freq_shift(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    limit = int(round(x.shape[-2] * FREQ_SHIFT_FRACTION))
    shifts = torch.randint(-limit, limit + 1, (len(x),), generator=rng)
    return _shift(x, shifts, -2)


def cutout(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    height, width = x.shape[-2:]
    cut_h, cut_w = max(1, int(height * CUTOUT_FRACTION + 0.5)), max(1, int(width * CUTOUT_FRACTION + 0.5))
    # The rectangle's centre may sit anywhere, so it can be clipped by an edge (as in DiffAugment).
    top = torch.randint(0, height + (1 - cut_h % 2), (len(x), 1, 1), generator=rng) - cut_h // 2
    left = torch.randint(0, width + (1 - cut_w % 2), (len(x), 1, 1), generator=rng) - cut_w // 2
    rows = torch.arange(height)[None, :, None]
    cols = torch.arange(width)[None, None, :]
    inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
    return x * (~inside).unsqueeze(1).to(x.device, x.dtype)


TRANSFORMS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "time_shift": time_shift,
    "freq_shift": freq_shift,
    "cutout": cutout,
}


# The names live in options.py, so that params can be checked without importing torch.
assert tuple(TRANSFORMS) == DIFFAUGMENT_TRANSFORMS, "options.DIFFAUGMENT_TRANSFORMS must list TRANSFORMS"


def diff_augment(x: torch.Tensor, policy: Sequence[str], rng: torch.Generator) -> torch.Tensor:
    """x [B, C, H, W] with the policy's transforms applied, each sample with its own random parameters."""
    for name in policy:
        x = TRANSFORMS[name](x, rng)
    return x
