"""A class-conditional progressive GAN of spectrograms in the style of GANSynth (the industrial study).

Generator: noise concatenated with the one-hot class label, a dense projection to the start
resolution, then one stage per resolution of two 3x3 convolutions, each followed by LeakyReLU and
pixel norm, with 2x nearest upsampling between stages and a 1x1 to-image convolution per
resolution. The discriminator mirrors it (1x1 from-image per resolution, two 3x3 convolutions, 2x
average pooling) and ends with minibatch standard deviation, a 3x3 convolution, a dense layer and
two heads: a real/fake score and an auxiliary classifier over the classes (AC-GAN). Weights use
Progressive GAN's equalized learning rate. Channels halve towards the output as in GANSynth:
stage s has min(max_channels, base_channels * 2**(n_stages - 1 - s)).

Losses: WGAN-GP (with Progressive GAN's small drift term on real scores) plus the auxiliary
cross-entropy weighted by `ac_weight` (GANSynth's 10), on real and fake for the discriminator and on
fake for the generator. One discriminator and one generator Adam step (betas 0, 0.99) per training
step. `diffaugment` (a list of transforms from synthaug.generators.diffaugment, [] = off) shows the
discriminator only augmented inputs, real and generated alike, at the stage's resolution, with the
gradient penalty on interpolates of the augmented batches; `ema_decay` samples from an exponential
moving average of the generator (Progressive GAN used 0.999); `r1_gamma` adds R1 regularisation
(`synthaug.generators.r1`: gamma / 2 * E[||grad score(real)||^2] on the real batch as the discriminator
sees it; 0 = off) beside the gradient penalty.

Schedule, in images shown: training grows through n_stages resolutions, `images_per_stage` images
per stage (the last stage runs on for as long as training does). A new stage fades in linearly:
alpha goes from 0 to 1 over its first `fade_in_fraction`, blending the upsampled previous output
(and the downsampled previous input of the discriminator; the real images are blended alike).
The count of images shown is a buffer of the generator network, so checkpoints and saved models
carry it. `steps` null (the default) trains for exactly the steps that show images_per_stage images
in every stage (`steps_for`), whatever the data size; a number overrides it.

Layout: with start_resolution null, n_stages = floor(log2(min(mels, frames) / 2)) + 1 and the start
is ceil(size / 2**(n_stages - 1)) per axis: the paper's layouts ((32, 1024) from (2, 64) in 5
stages; (512, 1024) from (2, 4) in 9) and (4, 3) -> (128, 96) in 6 stages for [1, 128, 94]. A given
start_resolution takes the fewest stages that reach the input size. Inputs are zero-padded to
start * 2**(n_stages - 1) and outputs cropped back exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from synthaug.generator_configs import CGANConfig
from synthaug.generators.base import Generator
from synthaug.generators.diffaugment import diff_augment
from synthaug.generators.layers import crop_to, pad_to
from synthaug.generators.r1 import r1_penalty

SLOPE = 0.2


def progressive_layout(
    size: tuple[int, int], start_resolution: list[int] | tuple[int, int] | None = None
) -> tuple[int, tuple[int, int], tuple[int, int]]:
    """(n_stages, start (h, w), padded final (h, w)) for a final [h, w] (see the module docstring)."""
    if start_resolution is None:
        n_stages = int(math.floor(math.log2(max(min(size) / 2, 1)))) + 1
        start = tuple(-(-d // 2 ** (n_stages - 1)) for d in size)
    else:
        start = tuple(int(s) for s in start_resolution)
        n_stages = max(max(math.ceil(math.log2(d / s)), 0) for d, s in zip(size, start)) + 1
    return n_stages, start, tuple(s * 2 ** (n_stages - 1) for s in start)


def steps_for(images_per_stage: int, n_stages: int, batch_size: int) -> int:
    """Training steps of batch_size images that show images_per_stage images in every stage."""
    return max(1, math.ceil(int(images_per_stage) * int(n_stages) / max(int(batch_size), 1)))


def stage_and_alpha(images_shown: int, images_per_stage: int, n_stages: int, fade_in_fraction: float) -> tuple[int, float]:
    """The resolution stage (0-based) and fade-in alpha in [0, 1] after `images_shown` images."""
    stage = min(int(images_shown) // int(images_per_stage), n_stages - 1)
    if stage == 0 or fade_in_fraction <= 0:
        return stage, 1.0
    into = (int(images_shown) - stage * int(images_per_stage)) / (fade_in_fraction * int(images_per_stage))
    return stage, min(1.0, into)


class _Scale(nn.Module):
    def __init__(self, gain: float) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, weight: torch.Tensor) -> torch.Tensor:  # a parametrization: the weight as used
        return weight * self.gain


def equalized(layer: nn.Conv2d | nn.Linear, gain: float = math.sqrt(2)) -> nn.Module:
    """Progressive GAN's equalized learning rate: N(0, 1) weights scaled by He's constant at run time,
    so Adam's per-parameter step sizes treat every layer alike."""
    nn.init.normal_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    parametrize.register_parametrization(layer, "weight", _Scale(gain / math.sqrt(layer.weight[0].numel())))
    return layer


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit mean square (not a torch layer; 3 lines)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def _conv(c_in: int, c_out: int, pixel_norm: bool) -> list[nn.Module]:
    layers = [equalized(nn.Conv2d(c_in, c_out, 3, padding=1)), nn.LeakyReLU(SLOPE)]
    return layers + [PixelNorm()] if pixel_norm else layers


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class ProgressiveGenerator(nn.Module):
    """(noise [B, noise_dim], one-hot [B, n_classes], stage, alpha) -> [B, C, h, w] at that stage."""

    images_shown: torch.Tensor  # a buffer

    def __init__(self, in_dim: int, channels: list[int], start: tuple[int, int], out_channels: int) -> None:
        super().__init__()
        self.start, self.c0 = start, channels[0]
        self.project = nn.Sequential(
            equalized(nn.Linear(in_dim, channels[0] * start[0] * start[1]), gain=math.sqrt(2) / 4),
            nn.LeakyReLU(SLOPE),
        )
        self.stages = nn.ModuleList([nn.Sequential(PixelNorm(), *_conv(channels[0], channels[0], True))])
        self.stages.extend(nn.Sequential(*_conv(c_in, c, True), *_conv(c, c, True)) for c_in, c in zip(channels, channels[1:]))
        self.to_image = nn.ModuleList(equalized(nn.Conv2d(c, out_channels, 1), gain=1.0) for c in channels)
        # How far training has grown the network (images shown), so checkpoints and saved models carry it.
        self.register_buffer("images_shown", torch.zeros((), dtype=torch.long))

    def forward(self, noise: torch.Tensor, onehot: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        latent = torch.cat([PixelNorm()(noise), onehot], 1)  # unit-scale noise, as Progressive GAN
        h = self.stages[0](self.project(latent).view(-1, self.c0, *self.start))
        previous = h
        for s in range(1, stage + 1):
            previous, h = h, self.stages[s](_up(h))
        out = self.to_image[stage](h)
        if stage > 0 and alpha < 1:
            out = torch.lerp(_up(self.to_image[stage - 1](previous)), out, alpha)
        return out


class ProgressiveDiscriminator(nn.Module):
    """([B, C, h, w] at a stage, stage, alpha) -> (real/fake score [B], class logits [B, n_classes])."""

    def __init__(self, channels: list[int], start: tuple[int, int], in_channels: int, n_classes: int) -> None:
        super().__init__()
        self.from_image = nn.ModuleList(
            nn.Sequential(equalized(nn.Conv2d(in_channels, c, 1)), nn.LeakyReLU(SLOPE)) for c in channels
        )
        # stages[s] for s >= 1 maps stage s's features to stage s-1's (mirror of the generator).
        self.stages = nn.ModuleList([nn.Identity()])
        self.stages.extend(nn.Sequential(*_conv(c, c, False), *_conv(c, c_in, False)) for c_in, c in zip(channels, channels[1:]))
        c0 = channels[0]
        self.final = nn.Sequential(
            *_conv(c0 + 1, c0, False),
            nn.Flatten(),
            equalized(nn.Linear(c0 * start[0] * start[1], c0)),
            nn.LeakyReLU(SLOPE),
        )
        self.score = equalized(nn.Linear(c0, 1), gain=1.0)
        self.classifier = equalized(nn.Linear(c0, n_classes), gain=1.0)

    def forward(self, x: torch.Tensor, stage: int, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.from_image[stage](x)
        for s in range(stage, 0, -1):
            h = _down(self.stages[s](h))
            if s == stage and alpha < 1:
                h = torch.lerp(self.from_image[stage - 1](_down(x)), h, alpha)
        # Minibatch standard deviation: one feature map telling the critic how varied the batch is.
        spread = h.std(dim=0, unbiased=False).mean() if len(h) > 1 else h.new_zeros(())
        h = self.final(torch.cat([h, spread.expand(len(h), 1, *h.shape[2:])], 1))
        return self.score(h).squeeze(1), self.classifier(h)


class ConditionalProgressiveGAN(Generator):
    """Class-conditional progressive GAN (GANSynth style); one model for all classes."""

    name = "cgan"
    settings: CGANConfig

    def build(self) -> None:
        c = self.settings
        self.policy = list(c.diffaugment)
        start = c.start_resolution
        self.n_stages, self.start, self.padded_hw = progressive_layout(self.input_shape[1:3], start)
        channels = [min(int(c.max_channels), int(c.base_channels) * 2 ** (self.n_stages - 1 - s)) for s in range(self.n_stages)]
        in_channels, latent_dim = self.input_shape[0], int(c.noise_dim) + self.n_classes
        self.generator = ProgressiveGenerator(latent_dim, channels, self.start, in_channels).to(self.device)
        self.discriminator = ProgressiveDiscriminator(channels, self.start, in_channels, self.n_classes).to(self.device)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=float(c.lr), betas=(0.0, 0.99))
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=float(c.lr), betas=(0.0, 0.99))

    def main_steps(self, n_train: int) -> int:
        if self.settings.steps is not None:
            return int(self.settings.steps)
        return steps_for(int(self.settings.images_per_stage), self.n_stages, self.batch_size_for(n_train))

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        return {
            "generator": self.generator,
            "discriminator": self.discriminator,
            "g_optimizer": self.g_optimizer,
            "d_optimizer": self.d_optimizer,
        }

    def ema_target(self) -> nn.Module:
        return self.generator

    def stage_and_alpha(self) -> tuple[int, float]:
        """The stage and fade-in alpha the next training batch uses."""
        return stage_and_alpha(
            int(self.generator.images_shown),
            int(self.settings.images_per_stage),
            self.n_stages,
            float(self.settings.fade_in_fraction),
        )

    def _real_at(self, x: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """Padded real spectrograms at the stage's resolution, faded like the generator's output."""
        x = F.avg_pool2d(x, 2 ** (self.n_stages - 1 - stage))
        return torch.lerp(_up(_down(x)), x, alpha) if stage > 0 and alpha < 1 else x

    def train_step(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One discriminator and one generator step; losses, real-data classifier accuracy, stage and alpha."""
        if int(y.min()) < 0 or int(y.max()) >= self.n_classes:
            raise ValueError(f"labels must be in [0, {self.n_classes}), got {int(y.min())}..{int(y.max())}")
        self.generator.train()
        self.discriminator.train()
        gp_lambda, drift, ac_weight = self.settings.gp_lambda, self.settings.drift_weight, self.settings.ac_weight
        stage, alpha = self.stage_and_alpha()
        real = self._real_at(pad_to(x, *self.padded_hw), stage, alpha)
        # Noise, interpolation weights and augmentation from `rng` (on CPU) keep a resumed run bit-identical.
        noise = torch.randn(len(x), int(self.settings.noise_dim), generator=rng).to(self.device)
        mix = torch.rand(len(x), 1, 1, 1, generator=rng).to(self.device)
        onehot = F.one_hot(y, self.n_classes).float()
        fake = self.generator(noise, onehot, stage, alpha)
        real_seen, fake_seen = self._augment(real, rng), self._augment(fake.detach(), rng)
        r1_gamma = float(self.settings.r1_gamma)
        if r1_gamma > 0:
            real_seen = real_seen.detach().requires_grad_(True)
        score_real, logits_real = self.discriminator(real_seen, stage, alpha)
        score_fake, logits_fake = self.discriminator(fake_seen, stage, alpha)
        mixed = torch.lerp(real_seen, fake_seen, mix).requires_grad_(True)
        score_mixed, _ = self.discriminator(mixed, stage, alpha)
        (grad,) = torch.autograd.grad(score_mixed.sum(), mixed, create_graph=True)
        penalty = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
        ac_real = F.cross_entropy(logits_real, y)
        d_loss = (
            score_fake.mean()
            - score_real.mean()
            + gp_lambda * penalty
            + drift * score_real.pow(2).mean()
            + ac_weight * (ac_real + F.cross_entropy(logits_fake, y))
        )
        r1 = r1_penalty(score_real, real_seen) if r1_gamma > 0 else None
        if r1 is not None:
            d_loss = d_loss + r1_gamma / 2 * r1
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        self.discriminator.requires_grad_(False)  # the generator step needs no critic gradients
        try:
            score_fake, logits_fake = self.discriminator(self._augment(fake, rng), stage, alpha)
            g_loss = -score_fake.mean() + ac_weight * F.cross_entropy(logits_fake, y)
            self.g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_optimizer.step()
        finally:
            self.discriminator.requires_grad_(True)
        self.generator.images_shown += len(x)
        accuracy = (logits_real.argmax(1) == y).float().mean()
        d_loss, g_loss, penalty, ac_real, accuracy = torch.stack([d_loss, g_loss, penalty, ac_real, accuracy]).detach().tolist()
        record = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "gradient_penalty": penalty,
            "ac_loss_real": ac_real,
            "ac_accuracy_real": accuracy,
            "stage": float(stage),
            "alpha": float(alpha),
        }
        if r1 is not None:
            record["r1"] = r1.item()
        return record

    def _augment(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return diff_augment(x, self.policy, rng)

    @torch.no_grad()
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms [n, *input_shape] of class `label`; the same seed gives the same spectrograms.

        Uses the stage and alpha training has reached (the final resolution with alpha 1 once every
        stage was trained), upsampled to the final resolution if training stopped earlier.
        """
        if label is None or not 0 <= int(label) < self.n_classes:
            raise ValueError(f"{self.name} is conditional: label must be in [0, {self.n_classes}), got {label!r}")
        generator = self.sampling_network()
        generator.eval()
        stage, alpha = self.stage_and_alpha()
        rng = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(int(n), int(self.settings.noise_dim), generator=rng)
        onehot = F.one_hot(torch.full((int(n),), int(label)), self.n_classes).float()
        chunk = int(self.settings.batch_size) * 8  # bounds memory for large n
        parts = []
        for z, c in zip(noise.split(chunk), onehot.split(chunk)):
            out = generator(z.to(self.device), c.to(self.device), stage, alpha)
            out = F.interpolate(out, size=self.padded_hw, mode="nearest")
            parts.append(crop_to(out, *self.input_shape[1:]).cpu())
        if not parts:
            return np.zeros((0, *self.input_shape), dtype=np.float32)
        return torch.cat(parts).numpy().astype(np.float32)
