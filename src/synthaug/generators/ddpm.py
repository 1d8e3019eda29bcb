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
2024); `zero_terminal_snr: true` rescales the betas so the last training step holds no signal at all
(Lin et al. 2024, diffusers' rescale_betas_zero_snr; needs v_prediction): with the published linear
betas the last step keeps sqrt(alpha_bar_T) = 0.006 of each spectrogram, enough for the U-Net to read
a clip's overall level from it in training, which sampling from pure noise then cannot supply, so
samples vary too little in level; `sampling_eta` (DDIM's eta, Song et al. 2021: 0 deterministic, 1 a fresh noise draw at each
step like the DDPM sampler; on an under-trained model the fresh noise widens the samples' spread);
`clip_sample_range` clamps the predicted x0 at each DDIM step (null: off); the share of clamped
values of the last `sample` call is in `last_clamped_share`; `ema_decay` samples from an exponential
moving average of the U-Net; `patch_size: p` (1 = published) lets the U-Net work on
p x p patches folded into channels (pixel unshuffle, Shi et al. 2016; the patchify of latent and
pixel diffusion transformers): the same data and noise, a 1/p^2 cheaper network per step, which is
what lets a diffusion model train thousands of steps on two CPU cores. Padding is to a multiple of
p times the U-Net's downsampling.

`formulation: edm` trains and samples the same U-Net the EDM way (Karras et al. 2022; the
mathematics is in generators/edm.py): preconditioned inputs and outputs around data of standard
deviation `sigma_data` (1 for z-scored spectrograms), training noise levels with ln(sigma) ~
N(`p_mean`, `p_std`^2) and EDM's loss weight, and a deterministic Heun sampler over `sampling_steps`
Karras levels from `sigma_max` to `sigma_min` (curvature `rho`). With it, `augment_probability` > 0
adds EDM's non-leaking augmentation (time flip, time shift, level change, each told to the network)
and `dropout` the U-Net's dropout (EDM: 0.1-0.25 on small sets). The DDPM-only keys
(prediction_type, snr_gamma, sampling_eta, clip_sample_range, the beta schedule) do not apply to it
and are refused when changed.

`class_conditional: true` makes one U-Net learn every class: diffusers' class embedding
(`num_class_embeds`) is added to the timestep embedding, so each residual block sees the label, and
`sample` denoises with the requested label (Dhariwal & Nichol 2021 condition the same way).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from diffusers.optimization import get_constant_schedule_with_warmup
from diffusers.training_utils import compute_snr

from synthaug.generator_configs import DDPMConfig
from synthaug.generators.base import Generator
from synthaug.generators.edm import ConditionedUNet, Preconditioning, augment, heun_sample, training_sigmas
from synthaug.generators.layers import crop_to, pad_to_multiple, padded_size


class DDPM(Generator):
    """Diffusion model of one class (or of every class, `class_conditional`); `sample` runs DDIM from pure noise."""

    name = "ddpm"
    settings: DDPMConfig

    def build(self) -> None:
        widths = self.settings.block_widths
        self.patch = int(self.settings.patch_size)
        # Each encoder block but the last halves both axes, after the patches fold p x p pixels into one.
        self.multiple = 2 ** (len(widths) - 1) * self.patch
        self.padded_hw = tuple(padded_size(d, self.multiple) for d in self.input_shape[1:])
        self.edm = self.settings.formulation == "edm"
        augmenting = self.edm and float(self.settings.augment_probability) > 0
        # EDM conditions through ConditionedUNet (class and augmentation labels), the DDPM on diffusers' class embedding.
        conditioned = self.edm and (self.class_conditional or augmenting)
        unet = UNet2DModel(
            sample_size=tuple(d // self.patch for d in self.padded_hw),
            in_channels=self.input_shape[0] * self.patch**2,
            out_channels=self.input_shape[0] * self.patch**2,
            block_out_channels=widths,
            down_block_types=("DownBlock2D",) * (len(widths) - 1) + ("AttnDownBlock2D",),
            up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (len(widths) - 1),
            layers_per_block=int(self.settings.layers_per_block),
            attention_head_dim=int(self.settings.attention_head_dim),
            norm_num_groups=int(self.settings.norm_num_groups),
            num_class_embeds=self.n_classes if self.class_conditional and not self.edm else None,
            class_embed_type="identity" if conditioned else None,
            dropout=float(self.settings.dropout),
        )
        self.unet: torch.nn.Module = (
            ConditionedUNet(unet, self.n_classes if self.class_conditional else None, augmenting) if self.edm else unet
        ).to(self.device)
        self.preconditioning = Preconditioning(
            self.settings.sigma_data, self.settings.sigma_min, self.settings.sigma_max, self.settings.rho
        )
        self.noise_scheduler = DDPMScheduler(
            num_train_timesteps=int(self.settings.num_train_timesteps),
            beta_start=float(self.settings.beta_start),
            beta_end=float(self.settings.beta_end),
            beta_schedule="linear",
            rescale_betas_zero_snr=bool(self.settings.zero_terminal_snr),
            prediction_type=str(self.settings.prediction_type),
            # diffusers clips to [-1, 1] by default (images); z-scored spectrograms are unbounded.
            clip_sample=False,
        )
        self.optimizer = torch.optim.AdamW(
            self.unet.parameters(), lr=float(self.settings.lr), weight_decay=float(self.settings.weight_decay)
        )
        self.lr_schedule = get_constant_schedule_with_warmup(self.optimizer, int(self.settings.lr_warmup_steps))
        self.last_clamped_share: float | None = None
        self._clamped: list[float] = []

    def modules(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        return {"unet": self.unet, "optimizer": self.optimizer, "lr_schedule": self.lr_schedule}

    def ema_target(self) -> torch.nn.Module:
        return self.unet

    def train_step(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """'loss': the mean squared error of the network's prediction (noise, or v), min-SNR weighted if set;
        with formulation edm, EDM's weighted denoising error."""
        self.unet.train()
        if self.edm:
            loss = self._edm_loss(x, y, rng)
            return self._optimizer_step(loss)
        # The padded band is part of the data the network sees, so it is noised and denoised too.
        clean = pad_to_multiple(x, self.multiple)
        # Noise and timesteps from `rng` (on CPU) keep a resumed run bit-identical.
        noise = torch.randn(clean.shape, generator=rng).to(self.device)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(x),), generator=rng).to(self.device)
        noisy = self.noise_scheduler.add_noise(clean, noise, t)
        velocity = self.settings.prediction_type == "v_prediction"
        target = self.noise_scheduler.get_velocity(clean, noise, t) if velocity else noise
        labels = y if self.class_conditional else None
        with self._seeded_dropout(rng):
            errors = (self.predict(self.unet, noisy, t, labels) - target).pow(2).flatten(1).mean(dim=1)
        gamma = self.settings.snr_gamma
        if gamma is None:
            loss = errors.mean()
        else:
            snr = compute_snr(self.noise_scheduler, t)
            # min(SNR, gamma) / SNR weighs an epsilon loss like an x0 loss clipped at gamma; v's loss
            # already carries a factor SNR + 1 (Hang et al. 2023, section 3.4).
            weights = torch.clamp(snr, max=float(gamma)) / (snr + 1 if velocity else snr)
            loss = (weights * errors).mean()
        return self._optimizer_step(loss)

    def _edm_loss(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """lambda(sigma) |D(x + sigma n; sigma) - x|^2 averaged, with ln(sigma) ~ N(p_mean, p_std^2)."""
        probability = float(self.settings.augment_probability)
        augment_labels = None
        if probability > 0:
            # Before padding, so that shifted frames stay inside the spectrogram.
            x, augment_labels = augment(x, rng, probability)
        clean = pad_to_multiple(x, self.multiple)
        sigma = training_sigmas(len(x), rng, self.settings.p_mean, self.settings.p_std).to(self.device)
        noise = torch.randn(clean.shape, generator=rng).to(self.device)
        noisy = clean + sigma.reshape(-1, 1, 1, 1) * noise
        labels = y if self.class_conditional else None
        with self._seeded_dropout(rng):
            denoised = self.edm_denoise(self.unet, noisy, sigma, labels, augment_labels)
        errors = (denoised - clean).pow(2).flatten(1).mean(dim=1)
        return (self.preconditioning.loss_weight(sigma) * errors).mean()

    @contextlib.contextmanager
    def _seeded_dropout(self, rng: torch.Generator) -> Iterator[None]:
        """Dropout draws from torch's global generator: with dropout on, seed it from the training's own
        generator for this step (and restore it after), so a resumed or continued training drops the
        same units. With dropout off nothing is drawn, so the published recipe's stream is unchanged."""
        if not float(self.settings.dropout) > 0:
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=rng)))
            yield

    def _optimizer_step(self, loss: torch.Tensor) -> dict[str, float]:
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

    def edm_denoise(
        self,
        network: torch.nn.Module,
        noisy: torch.Tensor,
        sigma: torch.Tensor,
        labels: torch.Tensor | None = None,
        augment_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """EDM's denoiser D(noisy; sigma) [B, C, H, W] through the preconditioned `network` (a ConditionedUNet);
        sigma is [B] or a scalar; augmentation labels None mean none applied."""
        sigma = torch.as_tensor(sigma, dtype=noisy.dtype, device=noisy.device)
        sigma = sigma.expand(len(noisy)) if sigma.ndim == 0 else sigma
        pre = self.preconditioning
        inputs = pre.network_input(noisy, sigma)
        if self.patch > 1:
            inputs = F.pixel_unshuffle(inputs, self.patch)
        output = network(inputs, pre.noise_input(sigma), labels, augment_labels)
        if self.patch > 1:
            output = F.pixel_shuffle(output, self.patch)
        return pre.denoised(noisy, output, sigma)

    def sampler(self) -> DDIMScheduler:
        """A DDIM scheduler on the training noise schedule, set to `sampling_steps` timesteps."""
        clip = self.settings.clip_sample_range
        # Clamping the predicted x0 keeps an under-trained model's samples in a range (z-scored
        # spectrograms rarely exceed |x| = 4) instead of exploding over the steps, but a trained model
        # should not need it, and a clamp that bites distorts the samples: off by default.
        scheduler = DDIMScheduler.from_config(
            self.noise_scheduler.config,
            clip_sample=clip is not None,
            clip_sample_range=float(clip or 1.0),
            timestep_spacing=str(self.settings.timestep_spacing),
        )
        scheduler.set_timesteps(int(self.settings.sampling_steps))
        return scheduler

    @torch.no_grad()
    def denoise(
        self, noise: torch.Tensor, labels: torch.Tensor | None = None, rng: torch.Generator | None = None
    ) -> torch.Tensor:
        """Run DDIM (EDM: Heun from sigma_max) from `noise` [B, C, H, W] (H, W multiples of self.multiple) to x_0, with the EMA
        U-Net if any, for class `labels` [B] when conditional; with `sampling_eta` > 0 each step adds
        fresh noise drawn from `rng` (a CPU generator)."""
        unet = self.sampling_network()
        unet.eval()
        if self.edm:
            sigmas = self.preconditioning.sampling_sigmas(int(self.settings.sampling_steps)).to(self.device)
            return heun_sample(lambda x, sigma: self.edm_denoise(unet, x, sigma, labels), noise.to(self.device), sigmas)
        scheduler = self.sampler()
        clip = self.settings.clip_sample_range
        sample = noise.to(self.device)
        clamped = torch.zeros((), device=self.device)
        eta = float(self.settings.sampling_eta)
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
        size = int(self.settings.batch_size)
        self._clamped = []
        parts = [
            crop_to(self.denoise(part, None if labels is None else labels[: len(part)], rng), height, width).cpu()
            for part in noise.split(size)
        ]
        if self.settings.clip_sample_range is not None and self._clamped:
            self.last_clamped_share = float(np.mean(self._clamped))
        if not parts:
            return np.zeros((0, *self.input_shape), dtype=np.float32)
        return torch.cat(parts).numpy().astype(np.float32)
