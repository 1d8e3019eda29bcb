"""The VAE generator: learns, samples deterministically, saves, resumes exactly, guards divergence,
KL warm-up, free bits, the reconstruction reduction, the sigma-VAE likelihood and the latent mixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from synthaug.errors import ConfigError
from synthaug.generators.base import CHECKPOINT_NAME, TrainingDiverged
from synthaug.generators.latent_mixture import LatentMixture
from synthaug.generators.vae import VAE, optimal_gaussian_nll

SHAPE = (1, 32, 24)  # 24 frames is not a multiple of 16: exercises pad and crop
TINY = {"steps": 6, "batch_size": 8, "width": 0.125, "latent_dim": 8, "lr": 1e-3}


class Stop(Exception):
    """Stands in for a killed process."""


def spectrograms(n: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth random patterns (learnable structure, unlike white noise), z-scored-ish."""
    rng = np.random.default_rng(seed)
    mels, frames = np.meshgrid(np.linspace(0, 1, SHAPE[1]), np.linspace(0, 1, SHAPE[2]), indexing="ij")
    freq = rng.uniform(1, 4, size=(n, 1, 1))
    x = np.sin(2 * np.pi * freq * mels + rng.uniform(0, 6, size=(n, 1, 1))) * np.cos(3 * frames)
    return x[:, None].astype(np.float32)


def weights(generator: VAE) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value for name in ("encoder", "decoder") for key, value in generator.modules()[name].state_dict().items()
    }


def test_fits_a_tiny_set_and_samples_the_input_shape():
    vae = VAE({**TINY, "steps": 16}, input_shape=SHAPE, seed=0, device="cpu")
    history = vae.fit(spectrograms(), log_every=2)
    assert [h["step"] for h in history] == list(range(2, 17, 2))  # mean losses every log_every steps
    losses = [h["loss"] for h in history]
    assert set(history[0]) >= {"loss", "reconstruction", "kl", "beta", "seconds_per_step"}
    assert losses[-1] < 0.7 * losses[0]
    assert history[-1]["loss"] == pytest.approx(history[-1]["reconstruction"] + 0.1 * history[-1]["kl"], rel=1e-5)
    samples = vae.sample(5, seed=3)
    assert samples.shape == (5, *SHAPE) and samples.dtype == np.float32 and np.isfinite(samples).all()


def test_sampling_is_deterministic_per_seed_and_survives_save_load(tmp_path):
    vae = VAE(TINY, input_shape=SHAPE, seed=1, device="cpu")
    vae.fit(spectrograms())
    first = vae.sample(4, seed=7)
    np.testing.assert_array_equal(first, vae.sample(4, seed=7))
    assert not np.array_equal(first, vae.sample(4, seed=8))
    vae.save(tmp_path / "vae.pt")
    loaded = VAE.load(tmp_path / "vae.pt", device="cpu")
    np.testing.assert_array_equal(first, loaded.sample(4, seed=7))
    assert loaded.steps_done == TINY["steps"] and loaded.config == vae.config


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    x = spectrograms(12)  # 12 spectrograms in batches of 8: batches straddle passes over the data
    config = {**TINY, "ema_decay": 0.5}
    straight = VAE(config, input_shape=SHAPE, seed=2, device="cpu")
    straight.fit(x, log_every=1)

    def kill_at_step_three(step, record):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        VAE(config, input_shape=SHAPE, seed=2, device="cpu").fit(
            x, checkpoint_dir=tmp_path, checkpoint_every=2, log_every=1, on_log=kill_at_step_three
        )
    resumed = VAE(config, input_shape=SHAPE, seed=2, device="cpu")
    ran: list[int] = []
    history = resumed.fit(
        x, checkpoint_dir=tmp_path, checkpoint_every=2, log_every=1, on_log=lambda step, record: ran.append(step)
    )
    assert ran == [3, 4, 5, 6]  # continued from the step-2 checkpoint rather than starting over
    assert len(history) == TINY["steps"] and resumed.steps_done == TINY["steps"]
    np.testing.assert_array_equal(resumed.sample(3, seed=1), straight.sample(3, seed=1))  # the EMA too
    expected, actual = weights(straight), weights(resumed)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert [h["loss"] for h in history] == [h["loss"] for h in straight.history]


def test_nan_in_the_data_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    x = spectrograms()
    VAE({**TINY, "steps": 1}, input_shape=SHAPE, device="cpu").fit(x, checkpoint_dir=tmp_path)
    good = (tmp_path / CHECKPOINT_NAME).read_bytes()
    bad = x.copy()
    bad[:, 0, 5, 5] = np.nan
    with pytest.raises(TrainingDiverged, match="step 2.*step 1"):
        VAE({**TINY, "steps": 3}, input_shape=SHAPE, device="cpu").fit(bad, checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == good


def test_published_architecture_at_width_one():
    vae = VAE({}, input_shape=(1, 128, 94), device="cpu")
    assert vae.config == {
        "teacher_classes": "learned",
        "fine_tune_steps": 0,
        "ema_candidates": [],
        "steps": 5000,
        "batch_size": 32,
        "lr": 1e-4,
        "beta": 0.1,
        "latent_dim": 128,
        "width": 1.0,
        "reconstruction": "sum",
        "kl_warmup_steps": 0,
        "free_bits": 0.0,
        "decoder_noise": False,
        "latent_density": "prior",
        "mixture_components": 10,
        "class_conditional": False,
        "max_minutes": None,
        "ema_decay": None,
        "ema_start": 0,
    }
    assert vae.ema is None
    convs = [m for m in vae.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [c.stride for c in convs][1::2] == [(2, 2)] * 4  # one downsampling per block
    assert sum(isinstance(m, nn.BatchNorm2d) for m in vae.encoder.modules()) == 8
    assert vae.encoder.mu.out_features == 128 and vae.encoder.logvar.out_features == 128
    assert isinstance(vae.optimizer, torch.optim.Adam) and vae.optimizer.defaults["lr"] == 1e-4
    assert any(isinstance(m, nn.ConvTranspose2d) for m in vae.decoder.modules())
    assert vae.sample(2, seed=0).shape == (2, 1, 128, 94)


def test_unknown_or_invalid_config_is_a_config_error():
    with pytest.raises(ConfigError, match="latent_size"):
        VAE({"latent_size": 4}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="width"):
        VAE({"width": 0}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="train_generator.models.vae.reconstruction"):
        VAE({"reconstruction": "max"}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="vae.epochs: .*steps"):
        VAE({"epochs": 10}, input_shape=SHAPE, device="cpu")


def test_kl_warmup_ramps_beta_linearly_then_holds_it():
    vae = VAE({**TINY, "steps": 6, "beta": 0.2, "kl_warmup_steps": 4}, input_shape=SHAPE, device="cpu")
    history = vae.fit(spectrograms(), log_every=1)
    assert [h["beta"] for h in history] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2, 0.2])
    for h in history:
        assert h["loss"] == pytest.approx(h["reconstruction"] + h["beta"] * h["kl"], rel=1e-5)


def test_free_bits_leave_a_small_kl_unpenalised():
    # A huge floor: every dimension's KL is below it, so the loss is reconstruction + beta * floor * dims.
    vae = VAE({**TINY, "steps": 1, "free_bits": 100.0}, input_shape=SHAPE, device="cpu")
    (record,) = vae.fit(spectrograms())
    assert record["loss"] == pytest.approx(record["reconstruction"] + 0.1 * 100.0 * TINY["latent_dim"], rel=1e-5)
    assert record["kl"] < 100.0 * TINY["latent_dim"]


def test_mean_reconstruction_is_the_sum_over_the_number_of_elements():
    x = spectrograms()
    records = {
        mode: VAE({**TINY, "steps": 1, "reconstruction": mode}, input_shape=SHAPE, seed=4, device="cpu").fit(x)[0]
        for mode in ("sum", "mean")
    }
    # Same seed, same first batch and noise: the first step's error differs only by the reduction.
    assert records["mean"]["reconstruction"] == pytest.approx(records["sum"]["reconstruction"] / (SHAPE[1] * SHAPE[2]), rel=1e-5)


def test_decoder_noise_samples_the_likelihood_with_the_reconstruction_error_per_band(tmp_path):
    x = spectrograms(32)
    plain = VAE(TINY, input_shape=SHAPE, seed=0)
    noisy = VAE({**TINY, "decoder_noise": True}, input_shape=SHAPE, seed=0)
    plain.fit(x, progress=False)
    noisy.fit(x, progress=False)
    variance = noisy.residual.variance
    assert variance.shape == (SHAPE[1],) and bool((variance > 0).all())
    # The same training (the running error is a side record), so the means agree and only the noise differs.
    mean, sampled = plain.sample(64, seed=3), noisy.sample(64, seed=3)
    spread = (sampled - mean).std(axis=(0, 1, 3))
    np.testing.assert_allclose(spread, variance.sqrt().numpy(), rtol=0.2)
    noisy.save(tmp_path / "vae.pt")
    np.testing.assert_array_equal(VAE.load(tmp_path / "vae.pt").sample(4, seed=5), noisy.sample(4, seed=5))
    with pytest.raises(ConfigError, match="decoder_noise"):
        VAE({**TINY, "decoder_noise": "yes"}, input_shape=SHAPE)


def test_the_ema_decoder_samples_with_batch_norm_statistics_of_the_averaged_weights():
    """An EMA copy carries the live decoder's running statistics, which do not fit the averaged weights;
    sampling re-measures them on the averaged decoder."""
    vae = VAE({**TINY, "steps": 12, "ema_decay": 0.5}, input_shape=SHAPE, seed=0, device="cpu")
    vae.fit(spectrograms(16) * 3.0 + 2.0)
    norms = [m for m in vae.ema.module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    live = [m for m in vae.decoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(torch.equal(a.running_mean, b.running_mean) for a, b in zip(norms, live, strict=True))
    first = vae.sample(4, seed=3)
    assert not any(torch.equal(a.running_mean, b.running_mean) for a, b in zip(norms, live, strict=True))
    np.testing.assert_array_equal(vae.sample(4, seed=3), first)  # deterministic: the same statistics again


def test_the_sigma_vae_variance_is_the_optimum_of_the_gaussian_likelihood():
    """The sigma-VAE's sigma^2 is the batch's mean squared error, and no other variance gives a lower NLL."""
    squared = torch.rand(8, 50, generator=torch.Generator().manual_seed(0)) * 2.0
    nll, variance = optimal_gaussian_nll(squared)
    assert float(variance) == pytest.approx(float(squared.mean()), rel=1e-5)

    def gaussian_nll(var: float) -> float:
        d = squared.shape[1]
        return float((0.5 * d * np.log(2 * np.pi * var) + squared.sum(dim=1) / (2 * var)).mean())

    assert float(nll) == pytest.approx(gaussian_nll(float(variance)), rel=1e-5)
    for factor in (0.5, 0.9, 1.1, 2.0):
        assert gaussian_nll(float(variance) * factor) > float(nll)


def test_gaussian_reconstruction_trains_and_logs_its_sigma():
    vae = VAE({**TINY, "steps": 12, "reconstruction": "gaussian", "beta": 1.0}, input_shape=SHAPE, seed=0, device="cpu")
    history = vae.fit(spectrograms(), log_every=4)
    assert history[-1]["sigma"] < history[0]["sigma"]  # the reconstructions improve, so the optimal sigma falls
    assert history[-1]["loss"] == pytest.approx(history[-1]["reconstruction"] + history[-1]["kl"], rel=1e-5)


def test_the_latent_mixture_samples_inside_the_training_latents_support():
    """Two tight clusters of latents far apart: samples land in the clusters, never in the gap between
    them (where N(0, I) or one Gaussian would put many), in proportion to the clusters' sizes."""
    rng = np.random.default_rng(0)
    centres = np.array([[4.0] * 6, [-4.0] * 6])
    latents = np.concatenate([centres[0] + 0.1 * rng.standard_normal((300, 6)), centres[1] + 0.1 * rng.standard_normal((100, 6))])
    mixture = LatentMixture(1, 4, 6)
    mixture.fit(latents, np.zeros(len(latents), dtype=np.int64), seed=0)
    samples = mixture.sample(2000, 0, torch.Generator().manual_seed(1)).numpy()
    distance = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
    assert distance.min(axis=1).max() < 1.5  # every sample within a few cluster radii of a cluster
    assert np.mean(distance[:, 0] < distance[:, 1]) == pytest.approx(0.75, abs=0.04)
    with pytest.raises(RuntimeError, match="never fitted"):
        LatentMixture(1, 2, 6).sample(3, 0, torch.Generator())


def test_mixture_sampling_is_deterministic_survives_save_load_and_is_per_class(tmp_path):
    x = spectrograms(24)
    config = {**TINY, "latent_density": "mixture", "mixture_components": 3}
    vae = VAE(config, input_shape=SHAPE, seed=2, device="cpu")
    prior = VAE({**TINY, "latent_density": "prior"}, input_shape=SHAPE, seed=2, device="cpu")
    np.testing.assert_array_equal(vae.sample(3, seed=1), prior.sample(3, seed=1))  # untrained: the prior
    vae.fit(x)
    assert bool(vae.mixture.fitted.all())
    first = vae.sample(5, seed=4)
    np.testing.assert_array_equal(first, vae.sample(5, seed=4))
    vae.save(tmp_path / "vae.pt")
    np.testing.assert_array_equal(VAE.load(tmp_path / "vae.pt", device="cpu").sample(5, seed=4), first)

    conditional = VAE({**config, "class_conditional": True}, input_shape=SHAPE, n_classes=2, seed=2, device="cpu")
    conditional.fit(x, np.arange(24) % 2)
    assert conditional.mixture.means.shape[0] == 2 and bool(conditional.mixture.fitted.all())
    assert not torch.equal(conditional.mixture.means[0], conditional.mixture.means[1])
    with pytest.raises(ConfigError, match="vae.latent_density"):
        VAE({**TINY, "latent_density": "gmm"}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="vae.mixture_components"):
        VAE({**TINY, "mixture_components": 0}, input_shape=SHAPE, device="cpu")
