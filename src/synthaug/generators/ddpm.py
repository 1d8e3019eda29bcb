"""A denoising diffusion model of spectrograms (DDPM training, DDIM sampling), the medical study's setup.

Network: diffusers' UNet2DModel with five encoder and five decoder blocks joined by skip
connections (two ResNet layers per block), four 2x downsamplings, and multi-head self-attention at
the bottleneck: the lowest-resolution encoder block, the middle block and the first decoder block.
Block widths are `base_channels` times `channel_mults`. The paper gives no widths; the default
32 x (1, 2, 2, 4, 4) = 32/64/64/128/128 channels is the smallest U-Net of diffusers' own DDPM
examples scaled down for two CPU cores (7.0 M parameters on [1, 128, 94]). Inputs are padded to a multiple
of 16 and outputs cropped back, so any [1, mels, frames] works.

Training (published): T = 1000 steps, linear betas 1e-4..0.02, the network predicts the added
noise with the simple L2 loss, AdamW lr 1e-4, weight decay 0.01. Sampling (published): DDIM with
50 steps and eta = 0 (deterministic given the starting noise).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

from synthaug.errors import ConfigError
from synthaug.generators.base import Generator, batches
from synthaug.generators.layers import crop_to, pad_to_multiple, padded_size


class DDPM(Generator):
    """Unconditional diffusion model; `fit` it on one class, `sample` runs DDIM from pure noise."""

    name = "ddpm"
    conditional = False
    defaults: ClassVar[dict[str, Any]] = {
        "epochs": 400, "batch_size": 16, "lr": 1e-4, "weight_decay": 0.01,
        "num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "sampling_steps": 50, "clip_sample_range": 6.0,
        "base_channels": 32, "channel_mults": [1, 2, 2, 4, 4], "layers_per_block": 2,
        "attention_head_dim": 8, "norm_num_groups": 8,
    }

    def build(self) -> None:
        widths = self._widths()
        # Each encoder block but the last halves both axes.
        self.multiple = 2 ** (len(widths) - 1)
        self.padded_hw = tuple(padded_size(d, self.multiple) for d in self.input_shape[1:])
        self.unet = UNet2DModel(
            sample_size=self.padded_hw,
            in_channels=self.input_shape[0],
            out_channels=self.input_shape[0],
            block_out_channels=widths,
            down_block_types=("DownBlock2D",) * (len(widths) - 1) + ("AttnDownBlock2D",),
            up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (len(widths) - 1),
            layers_per_block=int(self.config["layers_per_block"]),
            attention_head_dim=int(self.config["attention_head_dim"]),
            norm_num_groups=int(self.config["norm_num_groups"]),
        ).to(self.device)
        self.noise_scheduler = DDPMScheduler(
            num_train_timesteps=int(self.config["num_train_timesteps"]),
            beta_start=float(self.config["beta_start"]),
            beta_end=float(self.config["beta_end"]),
            beta_schedule="linear",
            prediction_type="epsilon",
            # diffusers clips to [-1, 1] by default (images); z-scored spectrograms are unbounded.
            clip_sample=False,
        )
        self.optimizer = torch.optim.AdamW(
            self.unet.parameters(), lr=float(self.config["lr"]), weight_decay=float(self.config["weight_decay"])
        )

    def _widths(self) -> tuple[int, ...]:
        for key in ("epochs", "batch_size", "lr", "num_train_timesteps", "sampling_steps", "base_channels",
                    "layers_per_block", "attention_head_dim", "norm_num_groups"):
            if not float(self.config[key]) > 0:
                raise ConfigError(f"generators.{self.name}.{key} must be > 0, got {self.config[key]!r}")
        if not 0 < float(self.config["beta_start"]) < float(self.config["beta_end"]) < 1:
            raise ConfigError(f"generators.{self.name}: need 0 < beta_start < beta_end < 1")
        if int(self.config["sampling_steps"]) > int(self.config["num_train_timesteps"]):
            raise ConfigError(f"generators.{self.name}.sampling_steps must be <= num_train_timesteps")
        mults = self.config["channel_mults"]
        if not isinstance(mults, (list, tuple)) or len(mults) < 2 or not all(int(m) > 0 for m in mults):
            raise ConfigError(f"generators.{self.name}.channel_mults must be a list of >= 2 positive "
                              f"integers (five for the published U-Net), got {mults!r}")
        widths = tuple(int(self.config["base_channels"]) * int(m) for m in mults)
        groups = int(self.config["norm_num_groups"])
        if any(w % groups for w in widths):
            raise ConfigError(f"generators.{self.name}.norm_num_groups={groups} must divide every block width "
                              f"{list(widths)} (base_channels x channel_mults)")
        return widths

    def modules(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        return {"unet": self.unet, "optimizer": self.optimizer}

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """Mean 'loss' = ||eps - eps_theta(x_t, t)||^2 per element over the epoch's batches."""
        self.unet.train()
        total = torch.zeros((), device=self.device)
        steps = self.noise_scheduler.config.num_train_timesteps
        for idx in batches(len(x), int(self.config["batch_size"]), rng, self.device):
            # The padded band is part of the data the network sees, so it is noised and denoised too.
            clean = pad_to_multiple(x[idx], self.multiple)
            # Noise and timesteps from `rng` (on CPU) keep a resumed run bit-identical.
            noise = torch.randn(clean.shape, generator=rng).to(self.device)
            t = torch.randint(0, steps, (len(idx),), generator=rng).to(self.device)
            noisy = self.noise_scheduler.add_noise(clean, noise, t)
            loss = F.mse_loss(self.unet(noisy, t).sample, noise)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += len(idx) * loss.detach()
        return {"loss": (total / len(x)).item()}

    def sampler(self) -> DDIMScheduler:
        """A DDIM scheduler on the training noise schedule, set to `sampling_steps` timesteps."""
        clip = self.config["clip_sample_range"]
        # Clamping the predicted x0 keeps an under-trained model's samples in the range of z-scored
        # spectrograms (|x| rarely exceeds 4) instead of exploding over the 50 steps; null disables.
        scheduler = DDIMScheduler.from_config(
            self.noise_scheduler.config, clip_sample=clip is not None, clip_sample_range=float(clip or 1.0)
        )
        scheduler.set_timesteps(int(self.config["sampling_steps"]))
        return scheduler

    @torch.no_grad()
    def denoise(self, noise: torch.Tensor) -> torch.Tensor:
        """Run DDIM (eta = 0) from x_T = `noise` [B, C, H, W] (H, W multiples of 16) to x_0."""
        self.unet.eval()
        scheduler = self.sampler()
        sample = noise.to(self.device)
        for t in scheduler.timesteps:
            eps = self.unet(sample, t.to(self.device)).sample
            sample = scheduler.step(eps, t, sample, eta=0.0).prev_sample
        return sample

    @torch.no_grad()
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms [n, *input_shape]; the same seed gives the same spectrograms."""
        rng = torch.Generator(device="cpu").manual_seed(int(seed))
        channels, height, width = self.input_shape
        # All starting noise is drawn up front, so chunking for memory does not change the result.
        noise = torch.randn((int(n), channels, *self.padded_hw), generator=rng)
        chunks = noise.split(int(self.config["batch_size"]))
        parts = [crop_to(self.denoise(part), height, width).cpu() for part in chunks]
        if not parts:
            return np.zeros((0, *self.input_shape), dtype=np.float32)
        return torch.cat(parts).numpy().astype(np.float32)
