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

Options (defaults are the published recipe): `prediction_type: v_prediction` (the network predicts
v = sqrt(a) eps - sqrt(1 - a) x0, Salimans & Ho 2022); `snr_gamma` (min-SNR loss weighting, Hang et
al. 2023, with diffusers' compute_snr); `lr_warmup_steps` (linear warm-up, diffusers' constant
schedule with warm-up); `timestep_spacing: trailing` for DDIM (its timesteps end at T - 1, so the
first step starts from pure noise; diffusers' default `leading` starts at 980 of 1000, Lin et al.
2024); `sampling_eta` (DDIM's eta, Song et al. 2021: 0 deterministic, 1 a fresh noise draw at each
step like the DDPM sampler; on an under-trained model the fresh noise widens the samples' spread);
`clip_sample_range` clamps the predicted x0 at each DDIM step (null: off); the share of clamped
values of the last `sample` call is in `last_clamped_share`; `ema_decay` samples from an exponential
moving average of the U-Net; `patch_size: p` (1 = published) lets the U-Net work on
p x p patches folded into channels (pixel unshuffle, Shi et al. 2016; the patchify of latent and
pixel diffusion transformers): the same data and noise, a 1/p^2 cheaper network per step, which is
what lets a diffusion model train thousands of steps on two CPU cores. Padding is to a multiple of
p times the U-Net's downsampling.

`class_conditional: true` makes one U-Net learn every class: diffusers' class embedding
(`num_class_embeds`) is added to the timestep embedding, so each residual block sees the label, and
`sample` denoises with the requested label (Dhariwal & Nichol 2021 condition the same way).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from diffusers.optimization import get_constant_schedule_with_warmup
from diffusers.training_utils import compute_snr

from synthaug.errors import ConfigError
from synthaug.generators.base import Generator
from synthaug.generators.layers import crop_to, pad_to_multiple, padded_size
from synthaug.generators.options import key_name


class DDPM(Generator):
    """Diffusion model of one class (or of every class, `class_conditional`); `sample` runs DDIM from pure noise."""

    name = "ddpm"
    conditional_option = True
    # steps: the published 400 epochs of 16 on Coswara's 781 training positives are 400 x 49 = 19,600 steps.
    defaults: ClassVar[dict[str, Any]] = {
        "steps": 19600,
        "batch_size": 16,
        "lr": 1e-4,
        "weight_decay": 0.01,
        "lr_warmup_steps": 0,
        "num_train_timesteps": 1000,
        "beta_start": 1e-4,
        "beta_end": 0.02,
        "prediction_type": "epsilon",
        "snr_gamma": None,
        "sampling_steps": 50,
        "sampling_eta": 0.0,
        "timestep_spacing": "leading",
        "clip_sample_range": None,
        "base_channels": 32,
        "channel_mults": [1, 2, 2, 4, 4],
        "layers_per_block": 2,
        "attention_head_dim": 8,
        "norm_num_groups": 8,
        "patch_size": 1,
        "class_conditional": False,
        "max_minutes": None,
        "ema_decay": None,
        "ema_start": 0,
    }

    def build(self) -> None:
        widths = self._widths()
        self.patch = int(self.config["patch_size"])
        # Each encoder block but the last halves both axes, after the patches fold p x p pixels into one.
        self.multiple = 2 ** (len(widths) - 1) * self.patch
        self.padded_hw = tuple(padded_size(d, self.multiple) for d in self.input_shape[1:])
        self.unet = UNet2DModel(
            sample_size=tuple(d // self.patch for d in self.padded_hw),
            in_channels=self.input_shape[0] * self.patch**2,
            out_channels=self.input_shape[0] * self.patch**2,
            block_out_channels=widths,
            down_block_types=("DownBlock2D",) * (len(widths) - 1) + ("AttnDownBlock2D",),
            up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (len(widths) - 1),
            layers_per_block=int(self.config["layers_per_block"]),
            attention_head_dim=int(self.config["attention_head_dim"]),
            norm_num_groups=int(self.config["norm_num_groups"]),
            num_class_embeds=self.n_classes if self.class_conditional else None,
        ).to(self.device)
        self.noise_scheduler = DDPMScheduler(
            num_train_timesteps=int(self.config["num_train_timesteps"]),
            beta_start=float(self.config["beta_start"]),
            beta_end=float(self.config["beta_end"]),
            beta_schedule="linear",
            prediction_type=str(self.config["prediction_type"]),
            # diffusers clips to [-1, 1] by default (images); z-scored spectrograms are unbounded.
            clip_sample=False,
        )
        self.optimizer = torch.optim.AdamW(
            self.unet.parameters(), lr=float(self.config["lr"]), weight_decay=float(self.config["weight_decay"])
        )
        self.lr_schedule = get_constant_schedule_with_warmup(self.optimizer, int(self.config["lr_warmup_steps"]))
        self.last_clamped_share: float | None = None
        self._clamped: list[float] = []

    def _widths(self) -> tuple[int, ...]:
        c = self.config
        if isinstance(c["patch_size"], bool) or not isinstance(c["patch_size"], int) or c["patch_size"] < 1:
            raise ConfigError(
                f"{key_name(self.name, 'patch_size')} must be a whole number >= 1 (1: no patches), got {c['patch_size']!r}"
            )
        for key in (
            "lr",
            "num_train_timesteps",
            "sampling_steps",
            "base_channels",
            "layers_per_block",
            "attention_head_dim",
            "norm_num_groups",
        ):
            if not float(c[key]) > 0:
                raise ConfigError(f"{key_name(self.name, key)} must be > 0, got {c[key]!r}")
        for key in ("weight_decay", "lr_warmup_steps"):
            if float(c[key]) < 0:
                raise ConfigError(f"{key_name(self.name, key)} must be >= 0, got {c[key]!r}")
        if not 0 < float(c["beta_start"]) < float(c["beta_end"]) < 1:
            raise ConfigError(f"{key_name(self.name, 'beta_start')}/beta_end: need 0 < beta_start < beta_end < 1")
        if int(c["sampling_steps"]) > int(c["num_train_timesteps"]):
            raise ConfigError(f"{key_name(self.name, 'sampling_steps')} must be <= num_train_timesteps")
        if c["prediction_type"] not in ("epsilon", "v_prediction"):
            raise ConfigError(
                f"{key_name(self.name, 'prediction_type')} must be epsilon (published) or v_prediction, "
                f"got {c['prediction_type']!r}"
            )
        if c["timestep_spacing"] not in ("leading", "trailing", "linspace"):
            raise ConfigError(
                f"{key_name(self.name, 'timestep_spacing')} must be leading (diffusers' default), "
                f"trailing or linspace, got {c['timestep_spacing']!r}"
            )
        if isinstance(c["sampling_eta"], bool) or not 0 <= float(c["sampling_eta"]) <= 1:
            raise ConfigError(
                f"{key_name(self.name, 'sampling_eta')} must be in [0, 1] (0: deterministic DDIM, published; "
                f"1: a fresh noise draw at every step, like the DDPM sampler), got {c['sampling_eta']!r}"
            )
        for key in ("snr_gamma", "clip_sample_range"):
            if c[key] is not None and not float(c[key]) > 0:
                raise ConfigError(f"{key_name(self.name, key)} must be null (off) or > 0, got {c[key]!r}")
        mults = c["channel_mults"]
        if not isinstance(mults, (list, tuple)) or len(mults) < 2 or not all(int(m) > 0 for m in mults):
            raise ConfigError(
                f"{key_name(self.name, 'channel_mults')} must be a list of >= 2 positive "
                f"integers (five for the published U-Net), got {mults!r}"
            )
        widths = tuple(int(c["base_channels"]) * int(m) for m in mults)
        groups = int(c["norm_num_groups"])
        if any(w % groups for w in widths):
            raise ConfigError(
                f"{key_name(self.name, 'norm_num_groups')}={groups} must divide every block width "
                f"{list(widths)} (base_channels x channel_mults)"
            )
        return widths

    def modules(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        return {"unet": self.unet, "optimizer": self.optimizer, "lr_schedule": self.lr_schedule}

    def ema_target(self) -> torch.nn.Module:
        return self.unet

    def train_step(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """'loss': the mean squared error of the network's prediction (noise, or v), min-SNR weighted if set."""
        self.unet.train()
        # The padded band is part of the data the network sees, so it is noised and denoised too.
        clean = pad_to_multiple(x, self.multiple)
        # Noise and timesteps from `rng` (on CPU) keep a resumed run bit-identical.
        noise = torch.randn(clean.shape, generator=rng).to(self.device)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(x),), generator=rng).to(self.device)
        noisy = self.noise_scheduler.add_noise(clean, noise, t)
        velocity = self.config["prediction_type"] == "v_prediction"
        target = self.noise_scheduler.get_velocity(clean, noise, t) if velocity else noise
        labels = y if self.class_conditional else None
        errors = (self.predict(self.unet, noisy, t, labels) - target).pow(2).flatten(1).mean(dim=1)
        gamma = self.config["snr_gamma"]
        if gamma is None:
            loss = errors.mean()
        else:
            snr = compute_snr(self.noise_scheduler, t)
            # min(SNR, gamma) / SNR weighs an epsilon loss like an x0 loss clipped at gamma; v's loss
            # already carries a factor SNR + 1 (Hang et al. 2023, section 3.4).
            weights = torch.clamp(snr, max=float(gamma)) / (snr + 1 if velocity else snr)
            loss = (weights * errors).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        self.lr_schedule.step()
        return {"loss": loss.item(), "lr": lr}

    def predict(
        self, unet: torch.nn.Module, noisy: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network's prediction (noise or v) for noisy [B, C, H, W] at timesteps t (and class labels
        [B] when conditional), in pixel layout."""
        conditioning = {} if labels is None else {"class_labels": labels}
        if self.patch == 1:
            return unet(noisy, t, **conditioning).sample
        return F.pixel_shuffle(unet(F.pixel_unshuffle(noisy, self.patch), t, **conditioning).sample, self.patch)

    def sampler(self) -> DDIMScheduler:
        """A DDIM scheduler on the training noise schedule, set to `sampling_steps` timesteps."""
        clip = self.config["clip_sample_range"]
        # Clamping the predicted x0 keeps an under-trained model's samples in a range (z-scored
        # spectrograms rarely exceed |x| = 4) instead of exploding over the steps, but a trained model
        # should not need it, and a clamp that bites distorts the samples: off by default.
        scheduler = DDIMScheduler.from_config(
            self.noise_scheduler.config,
            clip_sample=clip is not None,
            clip_sample_range=float(clip or 1.0),
            timestep_spacing=str(self.config["timestep_spacing"]),
        )
        scheduler.set_timesteps(int(self.config["sampling_steps"]))
        return scheduler

    @torch.no_grad()
    def denoise(
        self, noise: torch.Tensor, labels: torch.Tensor | None = None, rng: torch.Generator | None = None
    ) -> torch.Tensor:
        """Run DDIM from x_T = `noise` [B, C, H, W] (H, W multiples of self.multiple) to x_0, with the EMA
        U-Net if any, for class `labels` [B] when conditional; with `sampling_eta` > 0 each step adds
        fresh noise drawn from `rng` (a CPU generator)."""
        unet = self.sampling_network()
        unet.eval()
        scheduler = self.sampler()
        clip = self.config["clip_sample_range"]
        sample = noise.to(self.device)
        clamped = torch.zeros((), device=self.device)
        eta = float(self.config["sampling_eta"])
        for t in scheduler.timesteps:
            prediction = self.predict(unet, sample, t.to(self.device), labels)
            # The step's fresh noise is drawn here, on the CPU generator, so a seed gives the same samples on any device.
            variance_noise = torch.randn(sample.shape, generator=rng).to(self.device) if eta > 0 else None
            step = scheduler.step(prediction, t, sample, eta=eta, variance_noise=variance_noise)
            sample = step.prev_sample
            if clip is not None:
                # A clamped value sits exactly on the bound; an unclamped one does so with probability 0.
                clamped += (step.pred_original_sample.abs() >= float(clip)).float().mean()
        self._clamped.append(float(clamped) / max(len(scheduler.timesteps), 1))
        return sample

    @torch.no_grad()
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms [n, *input_shape] (of class `label` when conditional); the same seed gives the same spectrograms."""
        labels = self.labels_for(n, label)
        rng = torch.Generator(device="cpu").manual_seed(int(seed))
        channels, height, width = self.input_shape
        # All starting noise is drawn up front, so chunking for memory does not change the result (with
        # sampling_eta > 0 the per-step noise follows the chunks of batch_size, fixed for a model).
        noise = torch.randn((int(n), channels, *self.padded_hw), generator=rng)
        size = int(self.config["batch_size"])
        self._clamped = []
        parts = [
            crop_to(self.denoise(part, None if labels is None else labels[: len(part)], rng), height, width).cpu()
            for part in noise.split(size)
        ]
        if self.config["clip_sample_range"] is not None and self._clamped:
            self.last_clamped_share = float(np.mean(self._clamped))
        if not parts:
            return np.zeros((0, *self.input_shape), dtype=np.float32)
        return torch.cat(parts).numpy().astype(np.float32)
