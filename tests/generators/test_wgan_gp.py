"""WGAN-GP: the penalty's formula, a critic that learns, determinism, save/load, exact resume, guards,
DiffAugment, EMA, LeCam and the optimizer options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from synthaug.errors import ConfigError
from synthaug.generators.base import CHECKPOINT_NAME, TrainingDiverged
from synthaug.generators.lecam import LeCamAnchors
from synthaug.generators.r1 import r1_penalty
from synthaug.generators.wgan_gp import WGANGP, gradient_penalty

SHAPE = (1, 32, 24)  # 24 frames is not a multiple of 16: exercises pad and crop
TINY = {"steps": 3, "batch_size": 8, "width": 0.125, "noise_dim": 8, "n_critic": 2, "lr": 1e-3}


class Stop(Exception):
    """Stands in for a killed process."""


def spectrograms(n: int = 16, seed: int = 0) -> np.ndarray:
    """Bright horizontal bands on a dark floor: far from what an untrained generator emits."""
    rng = np.random.default_rng(seed)
    x = np.full((n, *SHAPE), -1.0, dtype=np.float32)
    for i, band in enumerate(rng.integers(4, SHAPE[1] - 4, size=n)):
        x[i, 0, band - 2 : band + 2] = 2.0
    return x


def weights(gan: WGANGP) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value for name in ("generator", "critic") for key, value in gan.modules()[name].state_dict().items()}


def test_gradient_penalty_of_a_linear_critic_matches_the_formula():
    w = torch.tensor([0.5, -2.0, 1.0, 3.0]).reshape(1, 1, 2, 2)
    critic = lambda x: (x * w).flatten(1).sum(dim=1)  # noqa: E731 - gradient w everywhere
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0), gp_lambda=10.0)
    assert penalty.item() == pytest.approx(10.0 * (w.norm().item() - 1.0) ** 2, rel=1e-5)


@pytest.mark.parametrize(
    "critic",
    [
        lambda x: torch.zeros(len(x)),  # no graph at all
        nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=True)).requires_grad_(True),  # zeroed weights below
    ],
)
def test_gradient_penalty_is_safe_for_a_critic_with_zero_gradient(critic):
    if isinstance(critic, nn.Module):
        nn.init.zeros_(critic[1].weight)
    real = torch.randn(3, 1, 2, 2)
    penalty = gradient_penalty(critic, real, real + 1, torch.Generator().manual_seed(0), gp_lambda=10.0)
    assert penalty.item() == pytest.approx(10.0 * (1e-6 - 1.0) ** 2, rel=1e-6)  # sqrt(0 + 1e-12) = 1e-6
    if penalty.requires_grad:
        penalty.backward()
        assert torch.isfinite(critic[1].weight.grad).all()  # sqrt without eps would give NaN here


def test_both_networks_learn_and_samples_have_the_input_shape():
    gan = WGANGP({**TINY, "steps": 8, "lr": 1e-4}, input_shape=SHAPE, seed=0, device="cpu")
    initial = {key: value.clone() for key, value in weights(gan).items()}
    history = gan.fit(spectrograms(), log_every=1)
    assert set(history[0]) >= {"critic_loss", "generator_loss", "gradient_penalty", "wasserstein"}
    assert all(math.isfinite(v) for h in history for v in h.values())
    # A fresh critic has near-zero input gradients (penalty ~ lambda); learning to be 1-Lipschitz
    # while separating real from fake drives its loss down. The Wasserstein estimate itself swings
    # too much on 16 spectrograms to be a stable criterion.
    critic_losses = [h["critic_loss"] for h in history]
    assert critic_losses[-1] < 0.8 * critic_losses[0]
    changed = {key.split(".")[0] for key, value in weights(gan).items() if not torch.equal(value, initial[key])}
    assert changed == {"generator", "critic"}
    samples = gan.sample(5, seed=3)
    assert samples.shape == (5, *SHAPE) and samples.dtype == np.float32 and np.isfinite(samples).all()


def test_sampling_is_deterministic_per_seed_and_survives_save_load(tmp_path):
    gan = WGANGP(TINY, input_shape=SHAPE, seed=1, device="cpu")
    gan.fit(spectrograms())
    first = gan.sample(4, seed=7)
    np.testing.assert_array_equal(first, gan.sample(4, seed=7))
    assert not np.array_equal(first, gan.sample(4, seed=8))
    gan.save(tmp_path / "gan.pt")
    loaded = WGANGP.load(tmp_path / "gan.pt", device="cpu")
    np.testing.assert_array_equal(first, loaded.sample(4, seed=7))


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    x = spectrograms()
    # 3 critic batches of 8 per step on 16 spectrograms: steps straddle passes over the data.
    config = {**TINY, "steps": 4, "n_critic": 3, "diffaugment": ["time_shift", "cutout"], "ema_decay": 0.9}
    straight = WGANGP(config, input_shape=SHAPE, seed=2, device="cpu")
    straight.fit(x, log_every=1)

    def kill_at_step_three(step, record):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        killed = WGANGP(config, input_shape=SHAPE, seed=2, device="cpu")
        killed.fit(x, checkpoint_dir=tmp_path, checkpoint_every=2, log_every=1, on_log=kill_at_step_three)
    resumed = WGANGP(config, input_shape=SHAPE, seed=2, device="cpu")
    ran: list[int] = []
    history = resumed.fit(
        x, checkpoint_dir=tmp_path, checkpoint_every=2, log_every=1, on_log=lambda step, record: ran.append(step)
    )
    assert ran == [3, 4]  # continued from the step-2 checkpoint rather than starting over
    np.testing.assert_array_equal(resumed.sample(3, seed=5), straight.sample(3, seed=5))  # EMA generator
    expected, actual = weights(straight), weights(resumed)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert [h["critic_loss"] for h in history] == [h["critic_loss"] for h in straight.history]


def test_nan_in_the_data_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    x = spectrograms()
    WGANGP({**TINY, "steps": 1}, input_shape=SHAPE, device="cpu").fit(x, checkpoint_dir=tmp_path)
    good = (tmp_path / CHECKPOINT_NAME).read_bytes()
    bad = x.copy()
    bad[:, 0, 5, 5] = np.nan
    with pytest.raises(TrainingDiverged, match="step 2"):
        WGANGP({**TINY, "steps": 2}, input_shape=SHAPE, device="cpu").fit(bad, checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == good


def test_published_setup_at_width_one():
    gan = WGANGP({}, input_shape=(1, 128, 94), device="cpu")
    assert gan.config == {
        "teacher_classes": "learned",
        "fine_tune_steps": 0,
        "ema_candidates": [],
        "steps": 1500,
        "batch_size": 32,
        "optimizer": "rmsprop",
        "lr": 5e-5,
        "lr_critic": None,
        "lr_generator": None,
        "n_critic": 5,
        "gp_lambda": 10.0,
        "noise_dim": 128,
        "width": 1.0,
        "spectral_norm": True,
        "diffaugment": [],
        "lecam_lambda": 0.0,
        "lecam_decay": 0.99,
        "r1_gamma": 0.0,
        "class_conditional": False,
        "max_minutes": None,
        "ema_decay": None,
        "ema_start": 0,
    }
    convs = [m for m in gan.critic.modules() if isinstance(m, nn.Conv2d)]
    assert sorted({c.out_channels for c in convs}) == [64, 128, 256, 512]
    assert sum(c.stride == (2, 2) for c in convs) == 4
    parametrized = [m for m in gan.critic.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(m.parametrizations.weight[0].__class__.__name__ == "_SpectralNorm" for m in parametrized)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gan.critic.modules())
    upsampling = [m for m in gan.generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(upsampling) == 4 and all(m.stride == (2, 2) for m in upsampling)
    assert gan.generator.dense[0].in_features == 128
    assert isinstance(gan.critic_optimizer, torch.optim.RMSprop) and gan.critic_optimizer.defaults["lr"] == 5e-5
    assert gan.sample(2, seed=0).shape == (2, 1, 128, 94)


def test_unknown_or_invalid_config_is_a_config_error():
    with pytest.raises(ConfigError, match="critic_steps"):
        WGANGP({"critic_steps": 5}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="n_critic"):
        WGANGP({"n_critic": 0}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="wgan_gp.optimizer"):
        WGANGP({"optimizer": "sgd"}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="wgan_gp.diffaugment: unknown transform.*mixup"):
        WGANGP({"diffaugment": ["time_shift", "mixup"]}, input_shape=SHAPE, device="cpu")


def test_adam_with_separate_learning_rates_and_an_unnormalised_critic():
    gan = WGANGP(
        {**TINY, "optimizer": "adam", "lr": 1e-4, "lr_critic": 4e-4, "spectral_norm": False}, input_shape=SHAPE, device="cpu"
    )
    assert isinstance(gan.critic_optimizer, torch.optim.Adam) and gan.critic_optimizer.defaults["betas"] == (0.0, 0.9)
    assert gan.critic_optimizer.defaults["lr"] == 4e-4 and gan.generator_optimizer.defaults["lr"] == 1e-4
    assert not any(hasattr(m, "parametrizations") for m in gan.critic.modules())


def test_steps_count_generator_steps_each_after_n_critic_critic_batches(monkeypatch):
    gan = WGANGP({**TINY, "steps": 2, "n_critic": 3}, input_shape=SHAPE, device="cpu")
    critic_steps = []
    original = gan.critic_optimizer.step
    monkeypatch.setattr(gan.critic_optimizer, "step", lambda *a, **k: (critic_steps.append(1), original(*a, **k))[1])
    gan.fit(spectrograms())
    assert gan.steps_done == 2 and len(critic_steps) == 6


def test_diffaugment_reaches_the_critic_and_the_generator_still_learns_through_it(monkeypatch):
    gan = WGANGP({**TINY, "steps": 1, "n_critic": 1, "diffaugment": ["cutout"]}, input_shape=SHAPE, device="cpu")
    seen = []
    forward = gan.critic.forward
    monkeypatch.setattr(gan.critic, "forward", lambda x, labels=None: (seen.append(x.detach().clone()), forward(x, labels))[1])
    before = {k: v.clone() for k, v in gan.generator.state_dict().items()}
    gan.fit(spectrograms())
    # The real batch (values -1 and 2 only) reaches the critic with a zeroed rectangle in every sample.
    real_seen = seen[0][: TINY["batch_size"]]
    assert ((real_seen == 0).flatten(1).sum(1) > 0).all()
    # The generator's own weights moved: its gradient flowed back through the augmentation.
    assert any(not torch.equal(before[k], v) for k, v in gan.generator.state_dict().items() if "running" not in k)


def test_ema_samples_use_batch_norm_statistics_of_the_averaged_generator():
    generator = WGANGP({**TINY, "steps": 4, "ema_decay": 0.5}, input_shape=SHAPE, seed=0)
    generator.fit(spectrograms(), progress=False)
    live = {name: b.clone() for name, b in generator.generator.named_buffers()}
    first = generator.sample(4, seed=2)
    # The live generator keeps its own statistics; the averaged copy gets statistics measured on itself.
    for name, buffer in generator.generator.named_buffers():
        torch.testing.assert_close(buffer, live[name])
    averaged = dict(generator.sampling_network().named_buffers())
    assert not torch.allclose(averaged["blocks.1.running_mean"], live["blocks.1.running_mean"])
    np.testing.assert_array_equal(generator.sample(4, seed=2), first)


def test_lecam_anchors_start_at_the_first_batch_then_average_and_the_penalty_pulls_scores_together():
    anchors = LeCamAnchors(decay=0.9)
    anchors.update(torch.tensor([2.0, 4.0]), torch.tensor([-1.0, -3.0]))  # the first batch sets them
    assert float(anchors.real) == pytest.approx(3.0) and float(anchors.fake) == pytest.approx(-2.0)
    anchors.update(torch.tensor([13.0]), torch.tensor([8.0]))
    assert float(anchors.real) == pytest.approx(0.9 * 3.0 + 0.1 * 13.0)
    assert float(anchors.fake) == pytest.approx(0.9 * -2.0 + 0.1 * 8.0)
    assert int(anchors.updates) == 2
    # Scores that sit on the other side's anchor cost nothing; apart, the squared distances.
    real, fake = anchors.fake.expand(3), anchors.real.expand(3)
    assert float(anchors.penalty(real, fake)) == pytest.approx(0.0, abs=1e-6)
    assert float(anchors.penalty(real + 1.0, fake - 2.0)) == pytest.approx(1.0 + 4.0)


def test_lecam_enters_the_critic_loss_and_its_anchors_travel_in_the_saved_model(tmp_path):
    x = spectrograms()
    plain = WGANGP({**TINY, "steps": 1, "n_critic": 1}, input_shape=SHAPE, seed=0, device="cpu")
    lecam = WGANGP({**TINY, "steps": 1, "n_critic": 1, "lecam_lambda": 0.5}, input_shape=SHAPE, seed=0, device="cpu")
    (p,) = plain.fit(x, log_every=1)
    (r,) = lecam.fit(x, log_every=1)
    # Same seed and first batch: the critic loss differs by lambda times the LeCam term alone.
    assert r["critic_loss"] == pytest.approx(p["critic_loss"] + 0.5 * r["lecam"], rel=1e-5)
    assert "lecam" not in p and int(lecam.lecam.updates) == 1
    lecam.update_settings(steps=3)
    lecam.fit(x)
    assert int(lecam.lecam.updates) == 3  # one update per critic step
    lecam.save(tmp_path / "wgan.pt")
    loaded = WGANGP.load(tmp_path / "wgan.pt", device="cpu")
    assert torch.equal(loaded.lecam.real, lecam.lecam.real) and torch.equal(loaded.lecam.fake, lecam.lecam.fake)
    with pytest.raises(ConfigError, match="wgan_gp.lecam_lambda"):
        WGANGP({**TINY, "lecam_lambda": -1}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="wgan_gp.lecam_decay"):
        WGANGP({**TINY, "lecam_decay": 1.0}, input_shape=SHAPE, device="cpu")


def test_r1_is_the_mean_squared_input_gradient_on_real_data():
    # A linear critic's gradient is its weight vector everywhere: R1 = ||w||^2; a constant critic gives 0.
    w = torch.tensor([1.0, -2.0, 3.0, 0.5])
    x = torch.randn(5, 1, 2, 2, requires_grad=True)
    assert float(r1_penalty(x.flatten(1) @ w, x)) == pytest.approx(float(w.pow(2).sum()))
    # Quadratic critic 0.5 * ||x||^2: the gradient is x itself, so R1 is the mean squared norm, and it trains.
    weight = torch.tensor(1.0, requires_grad=True)
    penalty = r1_penalty(0.5 * weight * x.flatten(1).pow(2).sum(1), x)
    assert penalty.item() == pytest.approx(x.detach().flatten(1).pow(2).sum(1).mean().item(), rel=1e-5)
    (grad,) = torch.autograd.grad(penalty, weight)
    assert float(grad) > 0  # a sharper critic costs more: the penalty pushes the weight down
    assert float(r1_penalty(torch.zeros(5), x)) == 0.0


def test_r1_enters_the_critic_loss_only_when_on():
    x = spectrograms()
    plain = WGANGP({**TINY, "steps": 1, "n_critic": 1}, input_shape=SHAPE, seed=0, device="cpu")
    r1 = WGANGP({**TINY, "steps": 1, "n_critic": 1, "r1_gamma": 4.0}, input_shape=SHAPE, seed=0, device="cpu")
    (p,) = plain.fit(x, log_every=1)
    (r,) = r1.fit(x, log_every=1)
    # Same seed and first batch: the critic loss differs by gamma / 2 times the R1 term alone.
    assert r["r1"] > 0 and "r1" not in p
    assert r["critic_loss"] == pytest.approx(p["critic_loss"] + 2.0 * r["r1"], rel=1e-5)
    with pytest.raises(ConfigError, match="wgan_gp.r1_gamma"):
        WGANGP({**TINY, "r1_gamma": -1}, input_shape=SHAPE, device="cpu")
