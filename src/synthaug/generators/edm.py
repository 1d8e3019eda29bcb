"""The EDM formulation of diffusion (Karras et al. 2022), for the DDPM generator's `formulation: edm`.

What EDM changes against the published DDPM recipe, each for small data sets:
- preconditioning: the network F sees c_in(sigma) x and c_noise(sigma) and the denoiser is
  D(x; sigma) = c_skip(sigma) x + c_out(sigma) F, so the network's input and target have unit variance
  at every noise level and D(x; sigma -> 0) returns x (diffusers' EDMEulerScheduler supplies
  c_in, c_noise, c_skip, c_out and the Karras noise levels; `Preconditioning` wraps it);
- training noise levels: ln(sigma) ~ N(P_mean, P_std^2), which puts the training where the loss can
  still be reduced, weighted by lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2;
- a deterministic second-order Heun sampler on Karras's noise levels (N steps = 2N - 1 network
  evaluations; 18 suffice for 32x32 images);
- non-leaking augmentation (`augment`): a share of the training batch is flipped in time, shifted
  in time or changed in level, and the network is told which (augmentation labels), so it learns the
  augmented distribution as a separate condition and samples with the labels at zero (no
  augmentation) never show the augmentations.

Written here rather than taken from diffusers: its EDM schedulers take first-order (Euler) or
multistep DPM-Solver steps, not EDM's Heun step, and it has no EDM training loss or augmentation pipe.
All random draws come from a CPU torch.Generator, so a resumed training continues bit-identically.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import EDMEulerScheduler, UNet2DModel

# Augmentation labels, in this order: time flip (0/1), time shift (a share of the largest shift), level change.
AUGMENT_LABELS = ("time_flip", "time_shift", "level")
# Largest time shift: an eighth of the frames (DiffAugment's translation ratio); wrapped, since the
# network is told the shift and the wrapped frames then carry no leak.
TIME_SHIFT_FRACTION = 0.125
# Standard deviation of the level change, in units of the z-scored data (a few dB).
LEVEL_STD = 0.5


class Preconditioning:
    """EDM's c_in, c_noise, c_skip, c_out and Karras noise levels for data of standard deviation sigma_data."""

    def __init__(self, sigma_data: float, sigma_min: float, sigma_max: float, rho: float) -> None:
        self.scheduler = EDMEulerScheduler(
            sigma_min=float(sigma_min),
            sigma_max=float(sigma_max),
            sigma_data=float(sigma_data),
            sigma_schedule="karras",
            rho=float(rho),
            prediction_type="epsilon",  # diffusers' name for EDM's F-parametrisation (c_out > 0)
        )
        self.sigma_data = float(sigma_data)

    def network_input(self, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.scheduler.precondition_inputs(noisy, _per_sample(sigma, noisy))

    def noise_input(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.scheduler.precondition_noise(sigma)

    def denoised(self, noisy: torch.Tensor, network_output: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """D(x; sigma) = c_skip x + c_out F."""
        return self.scheduler.precondition_outputs(noisy, network_output, _per_sample(sigma, noisy))

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """lambda(sigma) = 1 / c_out^2: the effective target of F has unit weight at every level."""
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2

    def sampling_sigmas(self, steps: int) -> torch.Tensor:
        """`steps` Karras noise levels from sigma_max down to sigma_min, then 0: [steps + 1]."""
        self.scheduler.set_timesteps(int(steps))
        return self.scheduler.sigmas.clone()


def _per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sigma [B] or scalar, shaped to broadcast over x [B, C, H, W]."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return sigma.reshape(-1, *([1] * (x.ndim - 1))) if sigma.ndim else sigma


def training_sigmas(n: int, rng: torch.Generator, p_mean: float, p_std: float) -> torch.Tensor:
    """n noise levels with ln(sigma) ~ N(p_mean, p_std^2), drawn from `rng` (CPU)."""
    return (torch.randn(int(n), generator=rng) * float(p_std) + float(p_mean)).exp()


@torch.no_grad()
def heun_sample(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor, sigmas: torch.Tensor
) -> torch.Tensor:
    """EDM's deterministic sampler (Algorithm 1): from x = sigmas[0] * noise along the probability-flow
    ODE dx/dsigma = (x - D(x; sigma)) / sigma, Euler steps with Heun's correction except into sigma = 0."""
    x = noise * sigmas[0]
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        slope = (x - denoise(x, sigma)) / sigma
        x_next = x + (sigma_next - sigma) * slope
        if sigma_next > 0:
            slope_next = (x_next - denoise(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma) * (slope + slope_next) / 2
        x = x_next
    return x


def augment(x: torch.Tensor, rng: torch.Generator, probability: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, C, H, W] with each transform applied to each sample with `probability`, and the augmentation
    labels [B, len(AUGMENT_LABELS)] that tell the network what was done (all zero: untouched)."""
    batch, frames = len(x), x.shape[-1]
    applied = torch.rand(batch, len(AUGMENT_LABELS), generator=rng) < float(probability)
    largest_shift = max(int(frames * TIME_SHIFT_FRACTION), 1)
    shifts = torch.randint(-largest_shift, largest_shift + 1, (batch,), generator=rng) * applied[:, 1]
    levels = torch.randn(batch, generator=rng) * LEVEL_STD * applied[:, 2]
    flip = applied[:, 0].to(x.device).reshape(-1, 1, 1, 1)
    out = torch.where(flip, x.flip(-1), x)
    # A per-sample roll along frames: output frame j takes input frame (j - shift) mod frames.
    index = (torch.arange(frames).unsqueeze(0) - shifts.unsqueeze(1)) % frames
    out = out.gather(-1, index.to(x.device).reshape(batch, 1, 1, frames).expand_as(out))
    out = out + levels.to(x.device, x.dtype).reshape(-1, 1, 1, 1)
    labels = torch.stack([applied[:, 0].float(), shifts.float() / largest_shift, levels], dim=1)
    return out, labels.to(x.device, x.dtype)


class ConditionedUNet(torch.nn.Module):
    """A diffusers UNet2DModel whose timestep embedding also receives a class embedding and/or the
    augmentation labels' projection, through its `class_embed_type="identity"` input."""

    def __init__(self, unet: UNet2DModel, n_classes: int | None, augmenting: bool) -> None:
        super().__init__()
        self.unet = unet
        # UNet2DModel's time embedding width: the conditioning is added to it.
        self.width = int(unet.config["block_out_channels"][0]) * 4
        self.class_embedding = torch.nn.Embedding(n_classes, self.width) if n_classes else None
        self.augment_embedding = torch.nn.Linear(len(AUGMENT_LABELS), self.width, bias=False) if augmenting else None
        if self.augment_embedding is not None:
            # Zero at start: an untrained model ignores the labels rather than reading noise into them.
            torch.nn.init.zeros_(self.augment_embedding.weight)

    @property
    def conditioned(self) -> bool:
        return self.class_embedding is not None or self.augment_embedding is not None

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        augment_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not self.conditioned:
            return self.unet(sample, timestep).sample
        extra = torch.zeros(len(sample), self.width, device=sample.device)
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("this diffusion model is class-conditional: class labels are needed")
            extra = extra + self.class_embedding(class_labels)
        if self.augment_embedding is not None and augment_labels is not None:
            extra = extra + self.augment_embedding(augment_labels)
        return self.unet(sample, timestep, class_labels=extra).sample
