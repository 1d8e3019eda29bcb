"""Conditional progressive GAN: layout and growth schedule, fade-in, conditioning, the auxiliary
classifier, deterministic labelled sampling, save/load and exact resume, a budget in images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthaug.errors import ConfigError
from synthaug.generators.cgan import ConditionalProgressiveGAN, progressive_layout, stage_and_alpha, steps_for

SHAPE = (1, 16, 12)  # auto layout: 3 stages, 4x3 -> 8x6 -> 16x12
TINY = {"base_channels": 8, "max_channels": 16, "noise_dim": 16, "batch_size": 8, "images_per_stage": 16}


def tiny(n_classes: int = 2, **overrides) -> ConditionalProgressiveGAN:
    config = {**TINY, **overrides}
    return ConditionalProgressiveGAN(config, input_shape=SHAPE, n_classes=n_classes, seed=0, device="cpu")


def labelled(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two classes told apart by the sign of a ramp over mels, plus noise."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    ramp = np.linspace(-1, 1, SHAPE[1])[None, None, :, None]
    x = np.where(y[:, None, None, None] == 1, ramp, -ramp) + 0.3 * rng.normal(size=(n, *SHAPE))
    return x.astype(np.float32), y


def test_layout_reproduces_the_published_resolutions_and_pads_minimally():
    assert progressive_layout((32, 1024)) == (5, (2, 64), (32, 1024))  # MB, Table 2
    assert progressive_layout((512, 1024)) == (9, (2, 4), (512, 1024))  # Pucks, Table 2
    assert progressive_layout((128, 94)) == (6, (4, 3), (128, 96))
    assert progressive_layout((16, 12), [2, 4]) == (4, (2, 4), (16, 32))
    assert steps_for(images_per_stage=16, n_stages=3, batch_size=4) == 12
    assert steps_for(images_per_stage=8000, n_stages=6, batch_size=16) == 3000


def test_stage_and_alpha_fade_in_over_the_first_half_of_each_stage():
    assert stage_and_alpha(0, 100, 3, 0.5) == (0, 1.0)
    assert stage_and_alpha(99, 100, 3, 0.5) == (0, 1.0)
    assert stage_and_alpha(100, 100, 3, 0.5) == (1, 0.0)
    assert stage_and_alpha(125, 100, 3, 0.5) == (1, 0.5)
    assert stage_and_alpha(150, 100, 3, 0.5) == (1, 1.0)
    assert stage_and_alpha(10_000, 100, 3, 0.5) == (2, 1.0)  # the last stage runs on


def test_fit_grows_through_every_stage_with_fade_in():
    model = tiny(batch_size=4)
    assert model.n_stages == 3 and model.padded_hw == (16, 12)
    x, y = labelled(8)
    assert model.total_steps(len(x)) == 12  # 16 images per stage, 3 stages, batches of 4: whatever the data size
    history = model.fit(x, y, log_every=1)
    # Each stage spans 4 steps; alpha rises over the first half of a new stage.
    assert [h["stage"] for h in history] == [0] * 4 + [1] * 4 + [2] * 4
    assert [h["alpha"] for h in history] == [1.0] * 4 + [0.0, 0.5, 1.0, 1.0] * 2
    assert int(model.generator.images_shown) == 48
    assert tiny(batch_size=4).total_steps(1000) == 12
    for h in history:
        assert np.isfinite([h["d_loss"], h["g_loss"], h["gradient_penalty"]]).all()


def test_auxiliary_classifier_learns_the_real_classes():
    model = tiny(steps=40, images_per_stage=10_000)
    history = model.fit(*labelled(32), log_every=8)
    ac_losses = [h["ac_loss_real"] for h in history]
    assert ac_losses[-1] < 0.95 * ac_losses[0], ac_losses
    assert history[-1]["ac_accuracy_real"] >= history[0]["ac_accuracy_real"]


def test_generator_output_depends_on_the_label_and_critic_has_a_class_head():
    model = tiny(n_classes=3)
    noise = torch.randn(2, TINY["noise_dim"])
    onehot = [F.one_hot(torch.full((2,), k), 3).float() for k in (0, 1)]
    stage = model.n_stages - 1
    with torch.no_grad():
        a, b = (model.generator(noise, c, stage, 1.0) for c in onehot)
        score, logits = model.discriminator(a, stage, 1.0)
    assert a.shape == (2, 1, 16, 12) and not torch.allclose(a, b)
    assert model.discriminator.classifier.out_features == 3
    assert score.shape == (2,) and logits.shape == (2, 3)


def test_sample_is_labelled_deterministic_and_shaped():
    model = tiny(steps=1)
    model.fit(*labelled(8))
    out = model.sample(3, 1, seed=4)
    assert out.shape == (3, *SHAPE) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, model.sample(3, 1, seed=4))
    assert not np.array_equal(out, model.sample(3, 0, seed=4))
    for bad in (None, -1, 2):
        with pytest.raises(ValueError, match="label"):
            model.sample(1, bad)


def test_save_and_load_give_identical_samples(tmp_path):
    model = tiny(steps=3, ema_decay=0.9)
    model.fit(*labelled(8))
    model.save(tmp_path / "cgan.pt")
    loaded = ConditionalProgressiveGAN.load(tmp_path / "cgan.pt", device="cpu")
    assert loaded.stage_and_alpha() == model.stage_and_alpha() == (1, 1.0)
    assert int(loaded.ema.module.images_shown) == 24  # buffers follow the live network, not averaged
    np.testing.assert_array_equal(loaded.sample(2, 1, seed=3), model.sample(2, 1, seed=3))


def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path):
    x, y = labelled(8)
    config = {"steps": 5, "diffaugment": ["time_shift", "cutout", "freq_shift"], "ema_decay": 0.9}
    straight = tiny(**config)
    straight.fit(x, y, log_every=1)

    def killed_at_step_four(step, record):
        if step == 4:  # after the second stage began: the images-shown count must survive the kill
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiny(**config).fit(x, y, checkpoint_dir=tmp_path, checkpoint_every=3, log_every=1, on_log=killed_at_step_four)
    resumed = tiny(**config)
    resumed.fit(x, y, checkpoint_dir=tmp_path, checkpoint_every=3, log_every=1)
    assert resumed.steps_done == 5 and int(resumed.generator.images_shown) == 40
    assert [h["d_loss"] for h in resumed.history] == [h["d_loss"] for h in straight.history]
    for name in ("generator", "discriminator"):
        expected = getattr(straight, name).state_dict()
        for key, value in getattr(resumed, name).state_dict().items():
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0)


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown parameter.*stages"):
        tiny(stages=3)
    with pytest.raises(ConfigError, match="start_resolution"):
        tiny(start_resolution=[4])
    with pytest.raises(ConfigError, match="fade_in_fraction"):
        tiny(fade_in_fraction=1.5)
    with pytest.raises(ConfigError, match="cgan.steps"):
        tiny(steps=0)


def test_diffaugment_shows_the_discriminator_augmented_real_spectrograms(monkeypatch):
    model = tiny(steps=1, diffaugment=["cutout"], images_per_stage=10_000)
    seen = []
    forward = model.discriminator.forward
    monkeypatch.setattr(
        model.discriminator, "forward", lambda x, stage, alpha: (seen.append(x.detach().clone()), forward(x, stage, alpha))[1]
    )
    model.fit(*labelled(8))
    # The first input is the real batch at the first stage's resolution: each has a zeroed rectangle.
    assert ((seen[0] == 0).flatten(1).sum(1) > 0).all()
    assert ConditionalProgressiveGAN.defaults()["ac_weight"] == 10.0  # GANSynth's auxiliary-classifier weight


def test_r1_enters_the_discriminator_loss_only_when_on():
    plain, r1 = tiny(steps=1), tiny(steps=1, r1_gamma=4.0)
    (p,) = plain.fit(*labelled(8), log_every=1)
    (r,) = r1.fit(*labelled(8), log_every=1)
    # Same seed and batch: the discriminator loss differs by gamma / 2 times the R1 term alone.
    assert r["r1"] > 0 and "r1" not in p
    assert r["d_loss"] == pytest.approx(p["d_loss"] + 2.0 * r["r1"], rel=1e-5)
    with pytest.raises(ConfigError, match="cgan.r1_gamma"):
        tiny(r1_gamma=-1)
