"""DDPM: the published U-Net layout, the noise schedule and DDIM sampler in closed form, training,
deterministic sampling, save/load and exact resume; v-prediction, min-SNR weighting, warm-up,
trailing timesteps and the optional clamp."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.models.unets.unet_2d import UNet2DOutput
from diffusers.models.unets.unet_2d_blocks import AttnDownBlock2D, AttnUpBlock2D

from synthaug.errors import ConfigError
from synthaug.generators.ddpm import DDPM
from synthaug.generators.layers import pad_to_multiple

SHAPE = (1, 16, 12)  # frames not a multiple of 16: exercises pad and crop
TINY = {
    "steps": 3,
    "batch_size": 8,
    "lr": 1e-3,
    "base_channels": 8,
    "channel_mults": [1, 1, 1, 1, 1],
    "layers_per_block": 1,
    "attention_head_dim": 4,
    "norm_num_groups": 4,
    "sampling_steps": 4,
}


def tiny(**overrides) -> DDPM:
    return DDPM({**TINY, **overrides}, input_shape=SHAPE, seed=0, device="cpu")


def spectrograms(n: int = 16) -> np.ndarray:
    """Smooth, learnable structure: a ramp over mels times a random per-sample gain, plus noise."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(-1.5, 1.5, SHAPE[1])[None, None, :, None]
    x = ramp * rng.uniform(0.5, 1.5, (n, 1, 1, 1)) + 0.1 * rng.normal(size=(n, *SHAPE))
    return x.astype(np.float32)


def test_unet_has_five_down_five_up_blocks_and_attention_only_at_the_bottleneck():
    unet = DDPM({}, input_shape=(1, 128, 94), device="cpu").unet
    assert len(unet.down_blocks) == 5 and len(unet.up_blocks) == 5
    assert [isinstance(b, AttnDownBlock2D) for b in unet.down_blocks] == [False] * 4 + [True]
    assert [isinstance(b, AttnUpBlock2D) for b in unet.up_blocks] == [True] + [False] * 4
    assert unet.mid_block.attentions[0] is not None
    # Four halvings: the lowest-resolution (attention) block sees 128x96 / 16 = 8x6.
    assert sum(b.downsamplers is not None for b in unet.down_blocks) == 4
    assert list(unet.config.block_out_channels) == [32, 64, 64, 128, 128]


def test_noise_schedule_is_linear_betas_with_closed_form_alphas_cumprod():
    scheduler = tiny().noise_scheduler
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(scheduler.betas.numpy(), betas, rtol=1e-5)
    np.testing.assert_allclose(scheduler.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-4)
    x0, eps, t = torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5), torch.tensor([499])
    a = np.prod(1 - betas[:500])
    expected = np.sqrt(a) * 1.0 + np.sqrt(1 - a) * 0.5
    np.testing.assert_allclose(scheduler.add_noise(x0, eps, t).numpy(), expected, rtol=1e-4)


def test_ddim_50_steps_match_the_closed_form_with_eta_zero():
    model = tiny(sampling_steps=50, clip_sample_range=None)  # the plain DDIM recursion, unclamped
    sampler = model.sampler()
    assert sampler.timesteps.tolist() == list(range(980, -1, -20))
    alphas = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))

    def ddim_step(x, eps, t, t_prev):
        a_t, a_prev = alphas[t], (alphas[t_prev] if t_prev >= 0 else 1.0)
        x0 = (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
        return np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps

    # One step with an arbitrary noise estimate, through diffusers' scheduler.
    rng = np.random.default_rng(1)
    x, eps = rng.normal(size=(2, 1, 4, 4)), rng.normal(size=(2, 1, 4, 4))
    got = sampler.step(torch.tensor(eps, dtype=torch.float32), 980, torch.tensor(x, dtype=torch.float32)).prev_sample
    np.testing.assert_allclose(got.numpy(), ddim_step(x, eps, 980, 960), rtol=1e-4, atol=1e-5)

    # The whole sampler with a network whose noise estimate is 0.3 * x_t, against the same recursion.
    class LinearEps(torch.nn.Module):
        def forward(self, sample, t):
            return UNet2DOutput(sample=0.3 * sample)

    model.unet = LinearEps()
    noise = rng.normal(size=(2, 1, 16, 16))
    expected = noise
    for t in range(980, -1, -20):
        expected = ddim_step(expected, 0.3 * expected, t, t - 20)
    got = model.denoise(torch.tensor(noise, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-3, atol=1e-4)


def test_fit_lowers_the_noise_prediction_loss_and_samples_the_input_shape():
    model = tiny(steps=32)
    history = model.fit(spectrograms(32), log_every=4)
    losses = [h["loss"] for h in history]
    assert np.mean(losses[-2:]) < 0.8 * losses[0], losses
    out = model.sample(3, seed=7)
    assert out.shape == (3, *SHAPE) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, model.sample(3, seed=7))
    assert not np.array_equal(out, model.sample(3, seed=8))


def test_save_and_load_give_identical_samples(tmp_path):
    model = tiny(steps=2, ema_decay=0.9)
    model.fit(spectrograms(8))
    model.save(tmp_path / "ddpm.pt")
    loaded = DDPM.load(tmp_path / "ddpm.pt", device="cpu")
    assert loaded.config == model.config and loaded.steps_done == 2
    for key, value in model.ema.state_dict().items():
        torch.testing.assert_close(loaded.ema.state_dict()[key], value, rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.sample(2, seed=3), model.sample(2, seed=3))


@pytest.mark.slow  # trains, is killed and resumes
def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path):
    x = spectrograms(12)
    config = {"steps": 5, "lr_warmup_steps": 3, "ema_decay": 0.8, "ema_start": 1}
    straight = tiny(**config)
    straight.fit(x, log_every=1)

    def killed_at_step_four(step, record):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiny(**config).fit(x, checkpoint_dir=tmp_path, checkpoint_every=3, log_every=1, on_log=killed_at_step_four)
    resumed = tiny(**config)
    resumed.fit(x, checkpoint_dir=tmp_path, checkpoint_every=3, log_every=1)
    assert resumed.steps_done == 5
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in straight.history]  # the warm-up schedule resumed
    for key, value in straight.unet.state_dict().items():
        torch.testing.assert_close(resumed.unet.state_dict()[key], value, rtol=0, atol=0)
    for key, value in straight.ema.state_dict().items():
        torch.testing.assert_close(resumed.ema.state_dict()[key], value, rtol=0, atol=0)


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown parameter.*width"):
        DDPM({"width": 2}, input_shape=SHAPE, device="cpu")
    with pytest.raises(ConfigError, match="norm_num_groups"):
        tiny(norm_num_groups=3)
    with pytest.raises(ConfigError, match="channel_mults"):
        tiny(channel_mults=[])
    with pytest.raises(ConfigError, match="ddpm.prediction_type"):
        tiny(prediction_type="sample")
    with pytest.raises(ConfigError, match="ddpm.timestep_spacing"):
        tiny(timestep_spacing="random")
    with pytest.raises(ConfigError, match=r"ddpm.sampling_eta: Input should be less than or equal to 1"):
        tiny(sampling_eta=1.5)


def test_sampling_eta_adds_seeded_noise_at_each_ddim_step():
    deterministic, stochastic = tiny(), tiny(sampling_eta=1.0)
    x = spectrograms()
    deterministic.fit(x, progress=False)
    stochastic.fit(x, progress=False)  # same seed, same data: the same weights
    noise_free = deterministic.sample(4, seed=3)
    first, again = stochastic.sample(4, seed=3), stochastic.sample(4, seed=3)
    np.testing.assert_array_equal(first, again)  # still a function of the seed
    assert not np.allclose(first, noise_free)  # the per-step noise changed the trajectory
    assert not np.allclose(first, stochastic.sample(4, seed=4))


def test_clamped_sampling_keeps_an_untrained_model_in_range_and_reports_how_often_it_bit():
    # The predicted x0 is clamped to +-clip_sample_range at every step, so even an untrained
    # network's samples stay within the range of z-scored spectrograms.
    model = tiny(sampling_steps=10, clip_sample_range=2.0)
    samples = model.sample(3, seed=0)
    assert np.isfinite(samples).all() and np.abs(samples).max() <= 2.0 + 1e-4
    assert 0 < model.last_clamped_share <= 1
    unclamped = tiny(sampling_steps=10)
    assert unclamped.config["clip_sample_range"] is None  # off unless asked for
    unclamped.sample(2, seed=0)
    assert unclamped.last_clamped_share is None


def test_trailing_timesteps_start_ddim_from_the_last_training_timestep():
    assert tiny(sampling_steps=50, timestep_spacing="trailing").sampler().timesteps.tolist() == list(range(999, 0, -20))
    assert tiny(sampling_steps=50).sampler().timesteps[0] == 980  # diffusers' default, leading


def test_zero_terminal_snr_leaves_no_trace_of_the_data_at_the_last_step_and_samples_from_it():
    model = tiny(steps=6, prediction_type="v_prediction", snr_gamma=5.0, zero_terminal_snr=True, timestep_spacing="trailing")
    x0 = torch.as_tensor(spectrograms(4))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    last = torch.full((4,), 999)
    # The last training step's input is the noise itself, so sampling from pure noise is what training saw.
    torch.testing.assert_close(model.noise_scheduler.add_noise(x0, noise, last), noise)
    published = tiny().noise_scheduler
    assert float(published.alphas_cumprod[-1].sqrt()) == pytest.approx(0.0064, abs=1e-4)  # what it removes
    sampler = model.sampler()
    assert sampler.config.rescale_betas_zero_snr and sampler.timesteps[0] == 999
    history = model.fit(spectrograms(16), log_every=3)
    assert all(np.isfinite(h["loss"]) for h in history)  # min-SNR weights stay finite at SNR 0
    assert np.isfinite(model.sample(2, seed=1)).all()
    with pytest.raises(ConfigError, match="ddpm.zero_terminal_snr: true needs prediction_type: v_prediction"):
        tiny(zero_terminal_snr=True)
    with pytest.raises(ConfigError, match="ddpm.zero_terminal_snr: Input should be a valid boolean"):
        tiny(zero_terminal_snr="yes")


def test_warmup_raises_the_learning_rate_linearly():
    history = tiny(steps=6, lr_warmup_steps=4).fit(spectrograms(8), log_every=1)
    assert [h["lr"] for h in history] == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])


def test_v_prediction_and_min_snr_weighting_train_and_sample():
    model = tiny(steps=12, prediction_type="v_prediction", snr_gamma=5.0)
    assert model.sampler().config.prediction_type == "v_prediction"
    history = model.fit(spectrograms(16), log_every=3)
    assert np.mean([h["loss"] for h in history[-2:]]) < history[0]["loss"]
    assert np.isfinite(model.sample(2, seed=1)).all()


def test_min_snr_weights_are_min_snr_gamma_over_snr(monkeypatch):
    # With a network that predicts zeros, each sample's error is its mean squared target: the weighted
    # loss is checked against weights computed from the closed-form SNR alpha_bar / (1 - alpha_bar).
    model = tiny(steps=1, snr_gamma=2.0)
    model.unet.forward = lambda sample, t: UNet2DOutput(sample=(sample * 0).requires_grad_(True))
    seen = {}
    add_noise = model.noise_scheduler.add_noise

    def spy(clean, noise, t):
        seen.update(noise=noise, t=t)
        return add_noise(clean, noise, t)

    monkeypatch.setattr(model.noise_scheduler, "add_noise", spy)
    (record,) = model.fit(spectrograms(8))
    alpha_bar = model.noise_scheduler.alphas_cumprod[seen["t"]]
    snr = alpha_bar / (1 - alpha_bar)
    expected = (torch.clamp(snr, max=2.0) / snr * seen["noise"].pow(2).flatten(1).mean(1)).mean()
    assert record["loss"] == pytest.approx(float(expected), rel=1e-5)


def test_patches_fold_pixels_into_channels_and_cut_the_networks_resolution():
    patched = tiny(patch_size=2)
    assert patched.multiple == 2 * tiny().multiple  # padded for the patches, then for the U-Net's halvings
    assert patched.unet.config.in_channels == 4 and patched.unet.config.out_channels == 4
    x = spectrograms()
    noisy = pad_to_multiple(torch.as_tensor(x), patched.multiple)
    prediction = patched.predict(patched.unet, noisy, torch.zeros(len(x), dtype=torch.long))
    assert prediction.shape == noisy.shape  # back in pixel layout
    patched.fit(x, progress=False)
    assert patched.sample(3, seed=0).shape == (3, *SHAPE)


def test_patch_size_must_be_a_whole_number():
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="train_generator.models.ddpm.patch_size"):
            tiny(patch_size=bad)


# ---- formulation: edm -------------------------------------------------------------------------------
def edm(**overrides) -> DDPM:
    return tiny(formulation="edm", **overrides)


@pytest.mark.parametrize("patch_size", [1, 2])
def test_edm_preconditioning_returns_the_input_as_sigma_goes_to_zero(patch_size):
    """D(x; sigma) = c_skip x + c_out F: c_skip -> 1 and c_out -> 0, whatever the network says."""
    model = edm(patch_size=patch_size)
    noisy = torch.randn(3, 1, *model.padded_hw)
    for sigma, tolerance in ((1e-6, 1e-5), (1e-3, 1e-2)):
        denoised = model.edm_denoise(model.unet, noisy, torch.tensor(sigma))
        assert torch.allclose(denoised, noisy, atol=tolerance)
    # At a large sigma the network's output dominates: D is far from the input.
    assert not torch.allclose(model.edm_denoise(model.unet, noisy, torch.tensor(80.0)), noisy, atol=0.5)


def test_edm_training_noise_levels_are_log_normal_with_the_configured_mean_and_spread():
    from synthaug.generators.edm import training_sigmas

    sigma = training_sigmas(20000, torch.Generator().manual_seed(0), -1.2, 1.2)
    assert abs(sigma.log().mean().item() + 1.2) < 0.03 and abs(sigma.log().std().item() - 1.2) < 0.03


def test_edm_loss_weight_makes_the_network_target_unit_weighted():
    """lambda(sigma) c_out(sigma)^2 = 1: every noise level weighs the network's own error equally."""
    pre = edm().preconditioning
    sigma = torch.tensor([0.01, 0.5, 1.0, 5.0, 80.0])
    c_out = sigma * pre.sigma_data / (sigma**2 + pre.sigma_data**2).sqrt()
    torch.testing.assert_close(pre.loss_weight(sigma) * c_out**2, torch.ones(5))


@pytest.mark.parametrize("std", [0.5, 2.0])
def test_heun_sampler_with_the_exact_denoiser_reproduces_gaussian_data(std):
    """For data ~ N(0, s^2) the ideal denoiser is D(x; sigma) = x s^2 / (s^2 + sigma^2); EDM's sampler
    must then carry pure noise at sigma_max to samples of spread s, the closer the more steps (second
    order: measured 5 % off at 18 steps, 0.1 % at 100). A denoiser collapsed to the mean (D = 0) fails."""
    from synthaug.generators.edm import heun_sample

    pre = edm().preconditioning
    sigmas = pre.sampling_sigmas(18)
    assert sigmas[0] == pytest.approx(80.0) and sigmas[-2] == pytest.approx(0.002) and sigmas[-1] == 0
    noise = torch.randn(4000, 1, 2, 2, generator=torch.Generator().manual_seed(0))

    def spread(steps):
        return heun_sample(lambda x, sigma: x * std**2 / (std**2 + sigma**2), noise, pre.sampling_sigmas(steps)).std()

    errors = [abs(spread(steps).item() / std - 1) for steps in (10, 18, 100)]
    assert errors[0] > errors[1] > errors[2] and errors[1] < 0.08 and errors[2] < 0.015
    collapsed = heun_sample(lambda x, sigma: torch.zeros_like(x), noise, sigmas)
    assert collapsed.std().item() < 0.1 * std


def test_non_leaking_augmentation_labels_say_exactly_what_was_done():
    from synthaug.generators.edm import AUGMENT_LABELS, augment

    x = torch.randn(64, 1, 4, 16)
    out, labels = augment(x, torch.Generator().manual_seed(0), 0.5)
    assert labels.shape == (64, len(AUGMENT_LABELS))
    untouched = (labels == 0).all(dim=1)
    assert 0 < untouched.sum() < 64
    torch.testing.assert_close(out[untouched], x[untouched])
    # Undo each sample's level change, shift and flip from its labels alone: the input comes back.
    largest = 2  # an eighth of 16 frames
    for b in range(64):
        flip, shift, level = labels[b].tolist()
        restored = torch.roll(out[b] - level, -round(shift * largest), dims=-1)
        restored = restored.flip(-1) if flip else restored
        torch.testing.assert_close(restored, x[b])
    nothing, none = augment(x, torch.Generator().manual_seed(0), 0.0)
    torch.testing.assert_close(nothing, x) and torch.testing.assert_close(none, torch.zeros_like(none))


def test_edm_trains_samples_deterministically_and_with_augmentation_conditioning():
    model = edm(augment_probability=0.5, dropout=0.1, steps=4)
    history = model.fit(spectrograms(), progress=False)
    assert np.isfinite(history[-1]["loss"])
    assert model.unet.augment_embedding.weight.abs().sum() > 0  # the labels reached the network
    first, again = model.sample(3, seed=2), model.sample(3, seed=2)
    assert first.shape == (3, *SHAPE) and np.array_equal(first, again)


def test_edm_class_conditional_needs_and_uses_the_label():
    model = DDPM({**TINY, "formulation": "edm", "class_conditional": True, "steps": 2}, input_shape=SHAPE, n_classes=3)
    model.fit(spectrograms(), np.arange(16) % 3, progress=False)
    assert not np.array_equal(model.sample(2, 0, seed=1), model.sample(2, 2, seed=1))
    with pytest.raises(ValueError, match="label"):
        model.sample(2, None)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"formulation": "edm", "snr_gamma": 5.0}, "snr_gamma.*belong to the DDPM formulation"),
        ({"formulation": "edm", "prediction_type": "v_prediction"}, "prediction_type"),
        ({"augment_probability": 0.2}, "augment_probability.*formulation: edm"),
        ({"formulation": "karras"}, "formulation: Input should be .ddpm. or .edm."),
        ({"formulation": "edm", "sigma_min": 100.0}, "sigma_min must be below sigma_max"),
        ({"formulation": "edm", "dropout": 1.0}, "dropout: Input should be less than 1"),
        ({"formulation": "edm", "p_std": 0}, "p_std: Input should be greater than 0"),
    ],
)
def test_edm_settings_are_checked_with_the_key_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny(**overrides)
