"""WGAN-GP of spectrograms at the medical study's published architecture.

Generator: two dense layers expand a 128-d noise vector to the smallest feature map (512 x width
channels at 1/16 of the padded size), then four stride-2 transposed-convolution blocks with batch
norm and LeakyReLU (256/128/64/64 filters times `width`) and a linear 3x3 output, cropped to the
input shape. Critic: four blocks of spectrally normalised convolutions (a 3x3 and a stride-2 4x4,
64/128/256/512 filters times `width`, the SNGAN layout) with LeakyReLU, then a spectrally normalised
linear layer to one score.

Deviation from the paper's text ("both networks used batch normalization"): the critic has no batch
norm, because it mixes samples within a batch, so the critic's gradient with respect to one input
depends on the others and the per-sample gradient penalty no longer constrains a 1-Lipschitz function
(Gulrajani et al. 2017, section 4, recommend exactly this). Spectral normalisation stays
(`spectral_norm: false` removes it).

Budget: `steps` counts generator steps; each one follows `n_critic` critic steps, each on its own
real mini-batch. Published recipe: RMSprop with `lr` 5e-5 for both networks. Options for scarce
data: `optimizer: adam` (betas (0, 0.9), as Gulrajani et al.), `lr_critic` and `lr_generator`
(each null = `lr`, a number replaces it for that network alone),
`diffaugment` (a list of transforms from synthaug.generators.diffaugment, applied alike to real and
generated batches before the critic; the gradient penalty is taken on interpolates of the augmented
batches), `ema_decay` (samples come from an exponential moving average of the generator) and
`lecam_lambda` (LeCam regularisation of the critic, weight lambda; anchors averaged with
`lecam_decay`; 0 = off): the critic's scores of real and generated batches are pulled towards moving
averages of each other (`synthaug.generators.lecam`), beside the gradient penalty, which stays; and
`r1_gamma` (R1 regularisation, `synthaug.generators.r1`: gamma / 2 * E[||grad critic(real)||^2] on the
real batch as the critic sees it; 0 = off), also beside the gradient penalty.

`class_conditional: true` makes one WGAN-GP learn every class: the generator sees a learned class
embedding concatenated with its noise, and the critic is a projection discriminator (Miyato &
Koyama 2018): its score adds the inner product of a (spectrally normalised) class embedding with its
features, so it judges "is this a real spectrogram of class y". Fakes are drawn for the labels of
the real batch they are compared with, and the gradient penalty is taken at those labels.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from synthaug.generator_configs import WGANGPConfig
from synthaug.generators.base import Generator
from synthaug.generators.batches import split_batches
from synthaug.generators.diffaugment import diff_augment
from synthaug.generators.layers import crop_to, pad_to_multiple, scaled, standing_statistics
from synthaug.generators.lecam import LeCamAnchors
from synthaug.generators.r1 import r1_penalty

CRITIC_FILTERS = (64, 128, 256, 512)
GENERATOR_FILTERS = (512, 256, 128, 64, 64)  # the dense projection, then one per upsampling block
DOWNSAMPLING = 2 ** len(CRITIC_FILTERS)
SLOPE = 0.2
ADAM_BETAS = (0.0, 0.9)  # Gulrajani et al. 2017, Algorithm 1


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    rng: torch.Generator,
    *,
    gp_lambda: float = 10.0,
) -> torch.Tensor:
    """lambda * E[(||grad critic(x_hat)||_2 - 1)^2] on x_hat = a * real + (1 - a) * fake, a ~ U(0, 1).

    One `a` per sample, drawn from `rng` (a CPU generator). The graph is kept (create_graph) so the
    penalty trains the critic. A critic whose score does not depend on its input gives gradient 0 and
    so lambda, not NaN: the norm is sqrt(sum g^2 + 1e-12), whose derivative is finite at 0.
    """
    alpha = torch.rand(len(real), *([1] * (real.dim() - 1)), generator=rng).to(real.device, real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    grad = None
    if scores.requires_grad:
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x_hat)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + 1e-12)
    return gp_lambda * (norm - 1.0).pow(2).mean()


# Width of the generator's class embedding (conditional WGAN-GP).
LABEL_DIM = 16


class Critic(nn.Module):
    """[B, 1, mels, frames] (and labels [B] when conditional) -> [B] unbounded scores."""

    def __init__(
        self, filters: list[int], input_shape: tuple[int, int, int], *, normalized: bool = True, n_labels: int = 0
    ) -> None:
        super().__init__()
        norm = spectral_norm if normalized else (lambda layer: layer)
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for c in filters:
            layers += [
                norm(nn.Conv2d(c_in, c, 3, padding=1)),
                nn.LeakyReLU(SLOPE),
                norm(nn.Conv2d(c, c, 4, stride=2, padding=1)),
                nn.LeakyReLU(SLOPE),
            ]
            c_in = c
        self.blocks = nn.Sequential(*layers)
        h, w = (-(-d // DOWNSAMPLING) for d in input_shape[1:])
        self.score = norm(nn.Linear(c_in * h * w, 1))
        self.projection = norm(nn.Embedding(n_labels, c_in * h * w)) if n_labels else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.blocks(pad_to_multiple(x, DOWNSAMPLING)).flatten(1)
        score = self.score(features).squeeze(1)
        if self.projection is not None:
            score = score + (self.projection(labels) * features).sum(dim=1)
        return score


class GeneratorNet(nn.Module):
    """[B, noise_dim] (and labels [B] when conditional) -> [B, 1, mels, frames] (the exact input shape)."""

    def __init__(self, filters: list[int], noise_dim: int, input_shape: tuple[int, int, int], n_labels: int = 0) -> None:
        super().__init__()
        self.out_hw = input_shape[1:]
        self.start_hw = tuple(-(-d // DOWNSAMPLING) for d in self.out_hw)
        self.start_c = filters[0]
        self.label = nn.Embedding(n_labels, LABEL_DIM) if n_labels else None
        self.dense = nn.Sequential(
            nn.Linear(noise_dim + (LABEL_DIM if n_labels else 0), self.start_c),
            nn.LeakyReLU(SLOPE),
            nn.Linear(self.start_c, self.start_c * self.start_hw[0] * self.start_hw[1]),
            nn.LeakyReLU(SLOPE),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip(filters[:-1], filters[1:]):
            # Kernel 4 with stride 2 (divisible) avoids the checkerboard pattern of uneven overlap.
            upsample = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
            layers += [upsample, nn.BatchNorm2d(c_out), nn.LeakyReLU(SLOPE)]
        self.blocks = nn.Sequential(*layers)
        self.output = nn.Conv2d(filters[-1], input_shape[0], 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label is not None:
            z = torch.cat([z, self.label(labels)], dim=1)
        h = self.dense(z).view(-1, self.start_c, *self.start_hw)
        return crop_to(self.output(self.blocks(h)), *self.out_hw)


class WGANGP(Generator):
    """WGAN-GP of one class (or of every class, `class_conditional`); `sample` maps z ~ N(0, I) through the generator."""

    name = "wgan_gp"
    settings: WGANGPConfig

    def build(self) -> None:
        c = self.settings
        self.policy = list(c.diffaugment)
        width = c.width
        n_labels = self.n_classes if self.class_conditional else 0
        self.generator = GeneratorNet(
            [scaled(f, width) for f in GENERATOR_FILTERS], int(c.noise_dim), self.input_shape, n_labels
        ).to(self.device)
        self.critic = Critic(
            [scaled(f, width) for f in CRITIC_FILTERS],
            self.input_shape,
            normalized=bool(c.spectral_norm),
            n_labels=n_labels,
        ).to(self.device)
        self.generator_optimizer = self._optimizer(self.generator, float(c.lr_generator or c.lr))
        self.critic_optimizer = self._optimizer(self.critic, float(c.lr_critic or c.lr))
        self.lecam = LeCamAnchors(float(c.lecam_decay)).to(self.device) if float(c.lecam_lambda) > 0 else None

    def _optimizer(self, network: nn.Module, lr: float) -> torch.optim.Optimizer:
        if self.settings.optimizer == "adam":
            return torch.optim.Adam(network.parameters(), lr=lr, betas=ADAM_BETAS)
        return torch.optim.RMSprop(network.parameters(), lr=lr)

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        modules: dict[str, nn.Module | torch.optim.Optimizer] = {
            "generator": self.generator,
            "critic": self.critic,
            "generator_optimizer": self.generator_optimizer,
            "critic_optimizer": self.critic_optimizer,
        }
        if self.lecam is not None:
            modules["lecam_anchors"] = self.lecam
        return modules

    def ema_target(self) -> nn.Module:
        return self.generator

    def batches_per_step(self) -> int:
        return int(self.settings.n_critic)

    def _noise(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, int(self.settings.noise_dim), generator=rng).to(self.device)

    def _augment(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return diff_augment(x, self.policy, rng)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """n_critic critic steps (one per mini-batch of x), then one generator step.

        Returns the critic steps' means of 'critic_loss' (-wasserstein + penalty [+ lambda * lecam]
        [+ gamma / 2 * r1]), 'lecam' when LeCam is on, 'r1' when R1 is on,
        'gradient_penalty' and 'wasserstein' (E[critic(real)] - E[critic(fake)], on augmented
        inputs when DiffAugment is on) and the generator step's 'generator_loss' (-E[critic(fake)]).
        """
        self.generator.train()
        self.critic.train()
        gp_lambda = float(self.settings.gp_lambda)
        lecam_lambda = float(self.settings.lecam_lambda)
        r1_gamma = float(self.settings.r1_gamma)
        critic_totals = torch.zeros(5, device=self.device)
        mini_batches = split_batches(x, self.batches_per_step())
        label_batches = split_batches(y, self.batches_per_step()) if self.class_conditional else [None] * len(mini_batches)
        for real, labels in zip(mini_batches, label_batches):
            with torch.no_grad():
                fake = self.generator(self._noise(len(real), rng), labels)
            real_seen, fake_seen = self._augment(real, rng), self._augment(fake, rng)
            if r1_gamma > 0:
                real_seen = real_seen.detach().requires_grad_(True)
            # One forward over real and fake together: the critic has no batch statistics to mix.
            both = None if labels is None else torch.cat([labels, labels])
            real_score, fake_score = self.critic(torch.cat([real_seen, fake_seen]), both).split(len(real))
            wasserstein = real_score.mean() - fake_score.mean()
            penalty = gradient_penalty(partial(self.critic, labels=labels), real_seen, fake_seen, rng, gp_lambda=gp_lambda)
            critic_loss = penalty - wasserstein
            lecam = torch.zeros((), device=self.device)
            if self.lecam is not None:
                self.lecam.update(real_score, fake_score)
                lecam = self.lecam.penalty(real_score, fake_score)
                critic_loss = critic_loss + lecam_lambda * lecam
            r1 = torch.zeros((), device=self.device)
            if r1_gamma > 0:
                r1 = r1_penalty(real_score, real_seen)
                critic_loss = critic_loss + r1_gamma / 2 * r1
            self.critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optimizer.step()
            critic_totals += torch.stack([critic_loss, penalty, wasserstein, lecam, r1]).detach()
        generator_loss = self._generator_step(len(mini_batches[0]), label_batches[0], rng)
        critic_loss, penalty, wasserstein, lecam_mean, r1_mean = (critic_totals / len(mini_batches)).tolist()
        record = {
            "critic_loss": critic_loss,
            "generator_loss": generator_loss.item(),
            "gradient_penalty": penalty,
            "wasserstein": wasserstein,
        }
        if self.lecam is not None:
            record["lecam"] = lecam_mean
        if r1_gamma > 0:
            record["r1"] = r1_mean
        return record

    def _generator_step(self, n: int, labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        # Frozen critic: its weight gradients would be discarded anyway (cleared before its next step).
        self.critic.requires_grad_(False)
        try:
            loss = -self.critic(self._augment(self.generator(self._noise(n, rng), labels), rng), labels).mean()
            self.generator_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.generator_optimizer.step()
        finally:
            self.critic.requires_grad_(True)
        return loss.detach()

    def _standing_statistics(self, generator: nn.Module) -> None:
        """Batch-norm statistics of the EMA generator measured on its own outputs (see `standing_statistics`),
        every class in equal shares when conditional, as the statistics must serve each one."""
        size = int(self.settings.batch_size)
        labels = torch.arange(size, device=self.device) % self.n_classes if self.class_conditional else None
        standing_statistics(
            generator,
            lambda rng: generator(torch.randn(size, int(self.settings.noise_dim), generator=rng).to(self.device), labels),
        )

    @torch.no_grad()
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms from z ~ N(0, I) in eval mode (EMA generator, if any; of class `label` when
        conditional); the same seed gives the same spectrograms."""
        labels = self.labels_for(n, label)
        if n <= 0:
            return np.zeros((0, *self.input_shape), dtype=np.float32)
        generator = self.sampling_network()
        if generator is not self.generator:
            self._standing_statistics(generator)
        generator.eval()
        z = torch.randn(int(n), int(self.settings.noise_dim), generator=torch.Generator().manual_seed(int(seed)))
        chunk = int(self.settings.batch_size) * 8  # bounds memory for large n
        parts = [
            generator(part.to(self.device), None if labels is None else labels[: len(part)]).cpu() for part in z.split(chunk)
        ]
        return torch.cat(parts).numpy().astype(np.float32)
