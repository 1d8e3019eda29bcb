"""Shape helpers shared by the generators: spectrogram sizes are not powers of two.

A network that halves the resolution k times needs mels and frames divisible by 2**k. Rather than
resizing (which would change what is learned), the encoder side pads the input at the bottom/right
with zeros (the per-channel mean of z-scored data) and the decoder side crops its output back to
the exact input shape, so the padded band never reaches a loss or a caller.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def padded_size(size: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= size."""
    return -(-int(size) // int(multiple)) * int(multiple)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims of x at the end so both are multiples of `multiple`."""
    height, width = x.shape[-2:]
    extra_h = padded_size(height, multiple) - height
    extra_w = padded_size(width, multiple) - width
    if extra_h == 0 and extra_w == 0:
        return x
    return F.pad(x, (0, extra_w, 0, extra_h))


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left [height, width] of the last two dims of x (the inverse of pad_to_multiple)."""
    return x[..., :height, :width]


def scaled(filters: int, width: float) -> int:
    """A filter count times the width multiplier, at least 1 (width 1.0 is the published size)."""
    return max(1, round(filters * float(width)))


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Zero-pad the last two dims of x at the end to exactly [height, width] (each >= x's size)."""
    extra_h, extra_w = int(height) - x.shape[-2], int(width) - x.shape[-1]
    if extra_h < 0 or extra_w < 0:
        raise ValueError(f"cannot pad {tuple(x.shape[-2:])} to the smaller ({height}, {width})")
    return F.pad(x, (0, extra_w, 0, extra_h)) if extra_h or extra_w else x


@torch.no_grad()
def standing_statistics(network: torch.nn.Module, forward: Callable[[torch.Generator], object], batches: int = 16) -> None:
    """Re-measure `network`'s batch-norm statistics on its own outputs ("standing statistics", Brock et
    al. 2019, appendix C), for an EMA copy of a network.

    An exponential moving average of the weights keeps the live network's running statistics, and
    those normalize the averaged weights' activations wrongly: measured on a short WGAN-GP run,
    samples with them sat several times further from real data (KID) than with statistics of the
    averaged network. `forward(rng)` runs one batch of sampling inputs through `network` (noise from
    `rng`); statistics are cumulative averages over `batches` batches with a fixed seed, so sampling
    stays deterministic.
    """
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    network.train()
    rng = torch.Generator().manual_seed(0)
    for _ in range(int(batches)):
        forward(rng)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
