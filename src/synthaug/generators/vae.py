"""A convolutional VAE of spectrograms at the medical study's published architecture.

Encoder: four blocks of two 3x3 convolutions (64/128/256/512 filters times `width`), each followed
by batch norm and LeakyReLU; the second convolution of a block has stride 2, so downsampling is
learned rather than pooled and each block halves both axes. Then global average pooling, a dense
layer and two dense heads for the 128-d posterior mean and log-variance. The decoder mirrors it: a
dense projection to the smallest feature map, four blocks of a stride-2 transposed convolution
(upsampling) and a 3x3 transposed convolution, each with batch norm and LeakyReLU, and a linear 3x3
output (z-scored data is unbounded, so no squashing). Inputs are padded to a multiple of 16 and
outputs cropped back, so any [1, mels, frames] works.

Loss per spectrogram, averaged over the batch: reconstruction + beta * KL(q(z|x) || N(0, I)) summed
over latent dimensions (the beta-VAE form of the ELBO; the paper names MSE + KL with beta 0.1 and no
further scaling). `reconstruction: sum` (the default) sums the squared error over the spectrogram,
`mean` averages it per element, which weighs the KL term mels x frames times more heavily.

Options for scarce data (off by default, the published recipe has neither): `kl_warmup_steps`
ramps beta linearly from beta / kl_warmup_steps to beta over that many steps, so the decoder learns
to use z before the prior pulls the posterior onto it (Bowman et al. 2016); `free_bits` (nats per
latent dimension) leaves a dimension's batch-mean KL unpenalised below that floor (Kingma et al.
2016), so the posterior cannot collapse onto the prior. The logged `kl` is always the plain KL.

`reconstruction: gaussian` is the sigma-VAE of Rybkin et al. 2021: the reconstruction term is the
Gaussian negative log-likelihood of the spectrogram with one variance sigma^2 set to its optimum, the
batch's mean squared error (`optimal_gaussian_nll`), so the balance between reconstruction and KL is
learned instead of fixed by beta and the loss's scale (with `sum`, beta 0.1 on 3,008 log-mel cells
leaves the KL term so weak that z ~ N(0, I) decodes to regions no training spectrogram encodes to).
With it, `beta: 1` is the plain ELBO.

`latent_density: mixture` samples z from a Gaussian mixture (`mixture_components`, diagonal
covariances, scikit-learn) fitted at the end of training to draws from the encoder's posteriors of
the training spectrograms (their aggregate posterior), not from N(0, I): the decoder then sees the
latents it was trained on (Ghosh et al. 2020 fit such an ex-post density to deterministic codes).
Conditional VAEs fit one mixture per class. `prior` (the published recipe) samples N(0, I), as does
a mixture VAE before its first `fit` (nothing to fit a density to yet).

`decoder_noise: true` (off in the published recipe, which samples the decoder's mean) samples the
likelihood the squared-error loss stands for, x ~ N(decoder(z), sigma^2), rather than its mean: sigma^2
per mel band is a running mean of the training reconstructions' squared error. A decoded mean is smooth
and low in variance, so two-sample tests tell it from real spectrograms by spread alone; the noise puts
back the fine structure the decoder cannot place (Kingma & Welling 2014 define samples this way).

`class_conditional: true` makes one VAE learn every class, the conditional VAE of Sohn et al. 2015:
a learned class embedding is added to the encoder's pooled features (q(z | x, y)) and concatenated
with z at the decoder's input (p(x | z, y)); `sample` decodes z ~ N(0, I) with the requested label.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from synthaug.generator_configs import VAEConfig
from synthaug.generators.base import Generator
from synthaug.generators.latent_mixture import LatentMixture
from synthaug.generators.layers import crop_to, pad_to_multiple, scaled, standing_statistics

FILTERS = (64, 128, 256, 512)
DOWNSAMPLING = 2 ** len(FILTERS)
SLOPE = 0.2
# exp(logvar) beyond these bounds only appears when training is already diverging; clamping keeps
# one bad batch from turning into inf before the divergence guard sees a finite, large loss.
LOGVAR_RANGE = (-30.0, 20.0)


def _conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(SLOPE)]


def _upconv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    # Kernel 4 with stride 2 (divisible) avoids the checkerboard pattern of uneven kernel overlap.
    kernel, padding = (4, 1) if stride == 2 else (3, 1)
    layer = nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=padding)
    return [layer, nn.BatchNorm2d(c_out), nn.LeakyReLU(SLOPE)]


# Width of the decoder's class embedding (conditional VAE): a handful of numbers names a class.
LABEL_DIM = 16


class Encoder(nn.Module):
    """[B, 1, mels, frames] (and labels [B] when conditional) -> (mu, logvar), each [B, latent_dim]."""

    def __init__(self, filters: list[int], latent_dim: int, n_labels: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in filters:
            layers += _conv(c_in, c, 1) + _conv(c, c, 2)
            c_in = c
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.label = nn.Embedding(n_labels, c_in) if n_labels else None
        self.hidden = nn.Sequential(nn.Linear(c_in, c_in), nn.LeakyReLU(SLOPE))
        self.mu = nn.Linear(c_in, latent_dim)
        self.logvar = nn.Linear(c_in, latent_dim)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(self.blocks(pad_to_multiple(x, DOWNSAMPLING))).flatten(1)
        if self.label is not None:
            pooled = pooled + self.label(labels)
        h = self.hidden(pooled)
        return self.mu(h), self.logvar(h).clamp(*LOGVAR_RANGE)


class Decoder(nn.Module):
    """[B, latent_dim] (and labels [B] when conditional) -> [B, 1, mels, frames] (the exact input shape)."""

    def __init__(self, filters: list[int], latent_dim: int, input_shape: tuple[int, int, int], n_labels: int = 0) -> None:
        super().__init__()
        self.out_hw = input_shape[1:]
        self.start_hw = tuple(-(-d // DOWNSAMPLING) for d in self.out_hw)
        self.start_c = filters[-1]
        self.label = nn.Embedding(n_labels, LABEL_DIM) if n_labels else None
        width_in = latent_dim + (LABEL_DIM if n_labels else 0)
        self.project = nn.Sequential(nn.Linear(width_in, self.start_c * self.start_hw[0] * self.start_hw[1]), nn.LeakyReLU(SLOPE))
        widths = filters[::-1] + [filters[0]]  # 512, 256, 128, 64, 64: each block undoes one encoder block
        layers: list[nn.Module] = []
        for c, c_next in zip(widths[:-1], widths[1:]):
            layers += _upconv(c, c, 2) + _upconv(c, c_next, 1)
        self.blocks = nn.Sequential(*layers)
        self.output = nn.Conv2d(widths[-1], 1, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label is not None:
            z = torch.cat([z, self.label(labels)], dim=1)
        h = self.project(z).view(-1, self.start_c, *self.start_hw)
        return crop_to(self.output(self.blocks(h)), *self.out_hw)


class ResidualVariance(nn.Module):
    """A running mean of the reconstructions' squared error per mel band (a buffer, so it is saved)."""

    MOMENTUM = 0.02  # about the last 50 steps
    variance: torch.Tensor  # buffers
    updates: torch.Tensor

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("variance", torch.zeros(n_mels))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, squared_error: torch.Tensor) -> None:
        """squared_error [B, C, mels, frames]: fold its per-band mean into the running mean."""
        batch = squared_error.mean(dim=(0, 1, 3))
        weight = max(self.MOMENTUM, 1.0 / float(self.updates + 1))  # a plain mean over the first steps
        self.variance.mul_(1 - weight).add_(weight * batch)
        self.updates += 1


# The sigma-VAE's log sigma is kept above this, so a batch reconstructed perfectly (an overfit toy
# set) gives a large finite loss rather than -inf (Rybkin et al. clip log sigma at -6 likewise).
MIN_LOG_SIGMA = -6.0


def optimal_gaussian_nll(squared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sigma-VAE's reconstruction term from squared errors [B, D]: the Gaussian negative
    log-likelihood per spectrogram, averaged over the batch, with one variance for every cell set to
    the value that minimises it, the batch's mean squared error. Returns (nll, sigma^2).

    NLL = D/2 log(2 pi sigma^2) + SSE / (2 sigma^2) per spectrogram; its minimum over sigma^2 is at
    the mean of SSE / D, so the optimum needs no learned parameter."""
    log_sigma = (0.5 * squared.mean().log()).clamp(min=MIN_LOG_SIGMA)
    variance = (2 * log_sigma).exp()
    d = squared.shape[1]
    nll = 0.5 * d * (math.log(2 * math.pi) + 2 * log_sigma) + squared.sum(dim=1) / (2 * variance)
    return nll.mean(), variance.detach()


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent dimensions: [B]."""
    return kl_per_dimension(mu, logvar).sum(dim=1)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per sample and latent dimension: [B, latent_dim]."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def beta_at(step: int, beta: float, warmup_steps: int) -> float:
    """beta for the (0-based) step: linear from beta / warmup_steps up to beta, then constant."""
    return beta if warmup_steps <= 0 else beta * min(1.0, (step + 1) / warmup_steps)


# Posterior draws per training spectrogram that the latent mixture is fitted to.
LATENT_DRAWS = 4


class VAE(Generator):
    """VAE of one class (or of every class, `class_conditional`); `sample` decodes z ~ N(0, I), or z from
    the latent mixture."""

    name = "vae"
    settings: VAEConfig

    def build(self) -> None:
        c = self.settings
        components = c.mixture_components
        filters = [scaled(f, c.width) for f in FILTERS]
        latent_dim = int(c.latent_dim)
        n_labels = self.n_classes if self.class_conditional else 0
        self.encoder = Encoder(filters, latent_dim, n_labels).to(self.device)
        self.decoder = Decoder(filters, latent_dim, self.input_shape, n_labels).to(self.device)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.optimizer = torch.optim.Adam(params, lr=float(c.lr))
        self.residual = ResidualVariance(self.input_shape[1]).to(self.device) if c.decoder_noise else None
        self.mixture = (
            LatentMixture(self.n_classes if self.class_conditional else 1, int(components), latent_dim).to(self.device)
            if c.latent_density == "mixture"
            else None
        )

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        modules: dict[str, nn.Module | torch.optim.Optimizer] = {
            "encoder": self.encoder,
            "decoder": self.decoder,
            "optimizer": self.optimizer,
        }
        if self.residual is not None:
            modules["residual_variance"] = self.residual
        if self.mixture is not None:
            modules["latent_mixture"] = self.mixture
        return modules

    def ema_target(self) -> nn.Module:
        return self.decoder

    def train_step(self, x: torch.Tensor, y: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """'loss' = 'reconstruction' + 'beta' * KL (with free bits, if set); 'kl' is the plain KL."""
        self.encoder.train()
        self.decoder.train()
        beta = beta_at(self.steps_done, float(self.settings.beta), int(self.settings.kl_warmup_steps))
        labels = y if self.class_conditional else None
        mu, logvar = self.encoder(x, labels)
        # Reparameterisation noise from `rng` (on CPU) keeps a resumed run bit-identical.
        eps = torch.randn(mu.shape, generator=rng).to(self.device)
        recon = self.decoder(mu + eps * (0.5 * logvar).exp(), labels)
        squared_map = (recon - x).pow(2)
        if self.residual is not None:
            self.residual.update(squared_map.detach())
        squared = squared_map.flatten(1)
        mode = self.settings.reconstruction
        extra = {}
        if mode == "gaussian":
            reconstruction, variance = optimal_gaussian_nll(squared)
            extra["sigma"] = float(variance.sqrt())
        else:
            reconstruction = (squared.sum(dim=1) if mode == "sum" else squared.mean(dim=1)).mean()
        kl_dims = kl_per_dimension(mu, logvar)
        kl = kl_dims.sum(dim=1).mean()
        free_bits = float(self.settings.free_bits)
        penalised = kl_dims.mean(dim=0).clamp(min=free_bits).sum() if free_bits > 0 else kl
        loss = reconstruction + beta * penalised
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        loss, reconstruction, kl = torch.stack([loss, reconstruction, kl]).detach().tolist()
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "beta": beta, **extra}

    @torch.no_grad()
    def finish_training(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Fit the latent mixture (if any) to the encoder's posteriors of the training spectrograms."""
        if self.mixture is None:
            return
        self.encoder.eval()
        labels = y if self.class_conditional else None
        # Its own generator, seeded by the step: drawing from the training process's would change
        # the batches of a training that continues after this fit.
        rng = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + self.steps_done)
        chunk = int(self.settings.batch_size) * 8
        draws = []
        for _ in range(LATENT_DRAWS):
            parts = []
            for start in range(0, len(x), chunk):
                mu, logvar = self.encoder(x[start : start + chunk], None if labels is None else labels[start : start + chunk])
                eps = torch.randn(mu.shape, generator=rng).to(self.device)
                parts.append((mu + eps * (0.5 * logvar).exp()).cpu())
            draws.append(torch.cat(parts))
        latents = torch.cat(draws).numpy()
        classes = np.tile(y.cpu().numpy(), LATENT_DRAWS) if self.class_conditional else np.zeros(len(latents), dtype=np.int64)
        self.mixture.fit(latents, classes, seed=self.seed)

    @torch.no_grad()
    def sample(self, n: int, label: int | None = None, *, seed: int = 0) -> np.ndarray:
        """n spectrograms decoded from z ~ N(0, I) or the latent mixture (by the EMA decoder, if any; of
        class `label` when conditional); the same seed gives the same spectrograms."""
        labels = self.labels_for(n, label)
        if n <= 0:
            return np.zeros((0, *self.input_shape), dtype=np.float32)
        decoder = self.sampling_network()
        if decoder is not self.decoder:  # the EMA decoder: batch-norm statistics of the averaged weights
            size = int(self.settings.batch_size)
            classes = torch.arange(size, device=self.device) % self.n_classes if self.class_conditional else None
            latent = int(self.settings.latent_dim)
            standing_statistics(decoder, lambda g: decoder(torch.randn(size, latent, generator=g).to(self.device), classes))
        decoder.eval()
        rng = torch.Generator(device="cpu").manual_seed(int(seed))
        mixture_class = 0 if label is None or not self.class_conditional else int(label)
        if self.mixture is not None and bool(self.mixture.fitted[mixture_class]):
            z = self.mixture.sample(int(n), mixture_class, rng)
        else:
            z = torch.randn(int(n), int(self.settings.latent_dim), generator=rng)
        # Drawn up front, like z, so chunking does not change the result.
        residual = self.residual
        noise = torch.randn((int(n), *self.input_shape), generator=rng) if residual is not None else None
        chunk = int(self.settings.batch_size) * 8  # bounds memory for large n
        parts = [decoder(part.to(self.device), None if labels is None else labels[: len(part)]).cpu() for part in z.split(chunk)]
        mean = torch.cat(parts)
        if residual is not None and noise is not None:
            mean = mean + noise * residual.variance.cpu().sqrt()[None, None, :, None]
        return mean.numpy().astype(np.float32)
