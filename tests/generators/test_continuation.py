"""A training is one continuing process: fit in chunks equals one fit, bit for bit, for every generator.

Budgets driven from outside (benchmarks, a time-boxed search, resumed models) call `fit` repeatedly
with a growing step budget. Each call must continue the random generator and the batch stream where
the last one stopped; a call that re-seeded them would replay the same batches, noise and
augmentations, and a chunked training would see a fraction of its data.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthaug.generator_configs import generator_config
from synthaug.generators import generator_class

SHAPE = (1, 16, 12)
# Small networks; batches of 4 from 10 spectrograms, so a chunk of steps straddles passes over the data.
CONFIGS = {
    "vae": {"batch_size": 4, "width": 0.0625, "latent_dim": 4, "lr": 1e-3, "ema_decay": 0.9},
    # The latent mixture is refitted after every fit: it must not draw from the training's stream.
    "vae+sigma+mixture": {
        "batch_size": 4,
        "width": 0.0625,
        "latent_dim": 4,
        "lr": 1e-3,
        "reconstruction": "gaussian",
        "latent_density": "mixture",
        "mixture_components": 2,
    },
    "wgan_gp": {"batch_size": 4, "width": 0.125, "noise_dim": 8, "n_critic": 2, "lr": 1e-3, "ema_decay": 0.9},
    "wgan_gp+lecam": {"batch_size": 4, "width": 0.125, "noise_dim": 8, "n_critic": 2, "lr": 1e-3, "lecam_lambda": 0.3},
    "ddpm": {
        "batch_size": 4,
        "lr": 1e-3,
        "base_channels": 8,
        "channel_mults": [1, 1, 1, 1, 1],
        "layers_per_block": 1,
        "attention_head_dim": 4,
        "norm_num_groups": 4,
        "sampling_steps": 4,
        "ema_decay": 0.9,
    },
    "cgan": {"base_channels": 8, "max_channels": 16, "noise_dim": 16, "batch_size": 4, "images_per_stage": 8},
    "cgan+r1": {"base_channels": 8, "max_channels": 16, "noise_dim": 16, "batch_size": 4, "images_per_stage": 8, "r1_gamma": 1.0},
}
# EDM draws noise levels, augmentations and dropout from the stream too.
CONFIGS["ddpm+edm"] = {
    **CONFIGS["ddpm"],
    "sampling_steps": 3,
    "formulation": "edm",
    "augment_probability": 0.5,
    "dropout": 0.1,
}
CHUNK, TOTAL = 3, 9


def spectrograms(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *SHAPE)).astype(np.float32), np.arange(n) % 2


def build(key: str):
    """The generator of CONFIGS[key]; a key names its generator before any '+'."""
    cls = generator_class(key.split("+")[0])
    n_classes = 2 if generator_config(cls.name, CONFIGS[key]).conditional else 1
    return cls({**CONFIGS[key], "steps": CHUNK}, input_shape=SHAPE, n_classes=n_classes, seed=3, device="cpu")


def weights(generator) -> dict[str, torch.Tensor]:
    state = {}
    for key, module in generator.modules().items():
        if isinstance(module, torch.nn.Module):
            state |= {f"{key}.{k}": v.detach().clone() for k, v in module.state_dict().items()}
    return state


def fit_to(generator, steps: int, x, y) -> None:
    generator.update_settings(steps=steps)
    generator.fit(x, y, progress=False, log_every=CHUNK)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fit_in_chunks_equals_one_fit_bit_for_bit(name, tmp_path):
    x, y = spectrograms()
    whole = build(name)
    y = y if whole.class_conditional else None
    fit_to(whole, TOTAL, x, y)

    chunked = build(name)
    for steps in range(CHUNK, TOTAL + 1, CHUNK):
        fit_to(chunked, steps, x, y)
    assert chunked.steps_done == whole.steps_done == TOTAL
    expected, got = weights(whole), weights(chunked)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=f"{name}: {key} differs")
    assert [r["step"] for r in chunked.history] == [r["step"] for r in whole.history]
    label = 0 if whole.class_conditional else None
    np.testing.assert_array_equal(chunked.sample(3, label, seed=1), whole.sample(3, label, seed=1))

    # A saved model carries the process too: loaded and trained on, it matches the uninterrupted run.
    partial = build(name)
    fit_to(partial, CHUNK, x, y)
    partial.save(tmp_path / "partial.pt")
    resumed = type(partial).load(tmp_path / "partial.pt", device="cpu")
    fit_to(resumed, TOTAL, x, y)
    for key, value in weights(resumed).items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=f"{name}: {key} differs after load")


def test_a_reseeded_chunk_would_be_caught():
    """The control: restarting the process each chunk (the old behaviour) gives different weights."""
    x, _ = spectrograms()
    whole, chunked = build("vae"), build("vae")
    fit_to(whole, TOTAL, x, None)
    for steps in range(CHUNK, TOTAL + 1, CHUNK):
        chunked._rng = chunked._stream = None  # what a fresh process per call amounts to
        fit_to(chunked, steps, x, None)
    assert any(not torch.equal(a, b) for a, b in zip(weights(whole).values(), weights(chunked).values(), strict=True))


def test_fit_refuses_other_training_data_mid_process():
    x, _ = spectrograms()
    generator = build("vae")
    fit_to(generator, CHUNK, x, None)
    with pytest.raises(ValueError, match="continues on 10 spectrograms, got 8"):
        fit_to(generator, TOTAL, x[:8], None)
