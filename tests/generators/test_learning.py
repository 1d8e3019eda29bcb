"""Every generator learns: a short seeded training on spectrogram-like data brings its samples close to
held-out real ones, measured with the audit's own two-sample test and KID.

The data set is learnable in seconds yet not trivial: a noise floor with one or two bursts per
image (a band of energy over a few frames, at a random time, in a random frequency range, decaying
towards high bins), so a generator must place and shape events rather than reproduce a mean. Samples
and held-out images are compared on 4 x 4 average-pooled images (the placement and shape of the
bursts; per-pixel noise averages out), by the strongest of the audit's kNN and quadratic two-sample
tests. An untrained generator scores about 1.0; a generator that stops learning, or a broken loss,
does not get below the bound. These tests train for about 10-40 s each on one quiet core, so they are `slow`.
Within those budgets every generator cuts KID several times over; only the diffusion model also gets
below the two-sample bound, and only it and the VAE that samples a mixture fitted to its training
latents get beyond the mean (benchmarks/README.md has the longer picture).

Cutting KID is not learning the data: a generator collapsed to the training mean cuts it a hundred
times. So the tests also bound KID between fresh real data's and a mean-collapsed control's, with a
floor on coverage of the held-out images, and a fast test shows the collapsed control fails them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthaug.evaluation.distances import kernel_inception_distance, precision_recall_density_coverage
from synthaug.evaluation.fidelity import two_sample_auroc
from synthaug.generator_configs import DDPM_ONLY
from synthaug.generators import generator_class

SIZE = 32
LEARNED_AUROC = 0.8  # bound after training; real against real scores about 0.5
# Beyond the mean: KID at most half-way from fresh real data's to the mean-collapsed control's, and
# coverage of the held-out images at least this (measured: fresh real data 0.97, the collapse 0.04).
KID_SHARE_BOUND = 0.5
COVERAGE_FLOOR = 0.5
# Training cuts KID at least this many times. The progressive GAN spends most of a 30 s budget on its
# low-resolution stages (measured: KID 3.24 -> 1.87), the others cut it 7 to 400 times.
KID_FACTOR = {"vae": 5.0, "vae+mixture": 5.0, "wgan_gp": 5.0, "ddpm": 5.0, "ddpm+edm": 5.0, "cgan": 1.5}

# Small networks at short budgets: what makes each learn this data in well under 30 s on one core.
RECIPES = {
    "vae": {"steps": 300, "batch_size": 32, "width": 0.125, "latent_dim": 16, "lr": 2e-3, "kl_warmup_steps": 50},
    # The same VAE sampling from a Gaussian mixture fitted to its training latents instead of N(0, I).
    "vae+mixture": {
        "steps": 300,
        "batch_size": 32,
        "width": 0.125,
        "latent_dim": 16,
        "lr": 2e-3,
        "kl_warmup_steps": 50,
        "latent_density": "mixture",
    },
    "wgan_gp": {
        "steps": 300,
        "batch_size": 32,
        "n_critic": 1,
        "width": 0.125,
        "optimizer": "adam",
        "lr": 2e-4,
        "diffaugment": ["time_shift", "cutout"],
        "ema_decay": 0.99,
    },
    "ddpm": {
        "steps": 400,
        "batch_size": 32,
        "base_channels": 16,
        "channel_mults": [1, 2],
        "layers_per_block": 1,
        "patch_size": 2,
        "lr": 2e-3,
        "lr_warmup_steps": 20,
        "prediction_type": "v_prediction",
        "snr_gamma": 5.0,
        "ema_decay": 0.98,
        "sampling_steps": 20,
        "timestep_spacing": "trailing",
    },
    "cgan": {
        "batch_size": 32,
        "base_channels": 16,
        "max_channels": 32,
        "images_per_stage": 1500,
        "diffaugment": ["time_shift", "cutout"],
        "ema_decay": 0.99,
    },
}


# The same U-Net trained and sampled the EDM way (preconditioning, log-normal noise levels, Heun),
# without the DDPM-only keys.
RECIPES["ddpm+edm"] = {
    **{key: value for key, value in RECIPES["ddpm"].items() if key not in DDPM_ONLY},
    "formulation": "edm",
    "sampling_steps": 10,
}


def bursts(n: int, seed: int) -> np.ndarray:
    """[n, 1, SIZE, SIZE] float32 spectrogram-like images (see the module docstring)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(-1.0, 0.15, size=(n, 1, SIZE, SIZE))
    rows, cols = np.arange(SIZE)[:, None], np.arange(SIZE)[None, :]
    for image in x:
        for _ in range(rng.integers(1, 3)):
            start, width = rng.integers(0, SIZE - 8), rng.integers(4, 9)
            low, high = rng.integers(0, 8), rng.integers(16, SIZE)
            envelope = np.exp(-(((cols - start - width / 2) / (width / 2)) ** 2))
            spectrum = np.exp(-1.5 * (rows - low) / (high - low)) * ((rows >= low) & (rows <= high))
            image[0] += 2.5 * spectrum * envelope
    return x.astype(np.float32)


def pooled(x: np.ndarray) -> np.ndarray:
    return torch.nn.functional.avg_pool2d(torch.as_tensor(x), 4).flatten(1).double().numpy()


def fidelity(samples: np.ndarray, held_out: np.ndarray) -> tuple[float, float]:
    """(strongest two-sample AUROC, KID) of samples against held-out real images."""
    a, b = pooled(held_out), pooled(samples)
    auroc = max(two_sample_auroc(a, b, test=test, seed=0) for test in ("knn", "quadratic"))
    return auroc, kernel_inception_distance(a, b)


def mean_collapsed(train: np.ndarray, n: int) -> np.ndarray:
    """The control: what a generator collapsed to its training data's mean emits (plus faint noise)."""
    noise = 0.02 * np.random.default_rng(5).normal(size=(n, *train.shape[1:]))
    return (train.mean(axis=0, keepdims=True) + noise).astype(np.float32)


def beyond_the_mean(samples: np.ndarray, train: np.ndarray, held_out: np.ndarray, fresh: np.ndarray) -> dict[str, float]:
    """What separates learning the data from learning its mean: KID against held-out images measured
    between fresh real images (about 0) and the mean-collapsed control, and coverage of the held-out
    images (the share of their k-NN balls holding a sample: about 1 for fresh real data, near 0 for
    the collapse, which a KID or loss decrease alone never sees)."""
    a = pooled(held_out)
    kid = {name: kernel_inception_distance(a, pooled(x)) for name, x in (("samples", samples), ("fresh", fresh))}
    kid["mean"] = kernel_inception_distance(a, pooled(mean_collapsed(train, len(samples))))
    coverage = precision_recall_density_coverage(a, pooled(samples), k=5)["coverage"]
    # 0 at fresh real data's KID, 1 at the mean-collapsed control's
    kid_share = (kid["samples"] - kid["fresh"]) / (kid["mean"] - kid["fresh"])
    return {"kid_share": kid_share, "coverage": coverage, **{f"kid_{k}": v for k, v in kid.items()}}


def learned_beyond_the_mean(result: dict[str, float]) -> bool:
    return result["kid_share"] <= KID_SHARE_BOUND and result["coverage"] >= COVERAGE_FLOOR


def test_the_measure_tells_real_from_noise_and_not_real_from_real():
    held_out = bursts(200, 1)
    assert fidelity(bursts(200, 2), held_out)[0] < 0.65
    noise = np.random.default_rng(3).normal(size=held_out.shape).astype(np.float32)
    assert fidelity(noise, held_out)[0] > 0.95


NOT_YET = pytest.mark.xfail(strict=True, reason="does not reach the bound within a 30 s budget (benchmarks/README.md)")


@pytest.fixture(scope="module")
def trained() -> dict[str, dict[str, float]]:
    """Each generator's fidelity before and after its short training (trained once, read by both tests)."""
    return {}


def fidelity_of(name: str, cache: dict) -> dict[str, float]:
    if name not in cache:
        torch.manual_seed(0)
        torch.set_num_threads(1)
        train, held_out = bursts(400, 0), bursts(200, 1)
        # A recipe's key names its generator before any '+' (vae+mixture is a VAE).
        generator = generator_class(name.split("+")[0])(RECIPES[name], input_shape=(1, SIZE, SIZE), seed=0)
        before_auroc, before_kid = fidelity(generator.sample(200, 0, seed=1), held_out)
        generator.fit(train, np.zeros(len(train), dtype=np.int64), progress=False)
        samples = generator.sample(200, 0, seed=1)
        after_auroc, after_kid = fidelity(samples, held_out)
        cache[name] = {
            "before_auroc": before_auroc,
            "before_kid": before_kid,
            "auroc": after_auroc,
            "kid": after_kid,
            **beyond_the_mean(samples, train, held_out, bursts(200, 2)),
        }
    return cache[name]


def test_the_bounds_fail_a_mean_collapsed_generator_and_pass_fresh_real_data():
    """The control the learning tests exist for: a generator that learned only the mean must fail them."""
    train, held_out, fresh = bursts(400, 0), bursts(200, 1), bursts(200, 2)
    collapsed = beyond_the_mean(mean_collapsed(train, 200), train, held_out, fresh)
    assert not learned_beyond_the_mean(collapsed), collapsed
    assert collapsed["coverage"] < 0.1 and collapsed["kid_share"] == pytest.approx(1.0, abs=0.05)
    real = beyond_the_mean(bursts(200, 3), train, held_out, fresh)
    assert learned_beyond_the_mean(real), real


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_short_training_cuts_the_distance_to_held_out_data(name, trained):
    result = fidelity_of(name, trained)
    assert result["before_auroc"] > 0.95, f"{name} untrained already scores {result['before_auroc']:.3f}: the test cannot tell"
    assert result["kid"] * KID_FACTOR[name] <= result["before_kid"], (
        f"{name}: KID {result['before_kid']:.3g} -> {result['kid']:.3g}"
    )


# Within these budgets only the diffusion models and the VAE sampling its latent mixture get beyond the
# mean (measured: KID share / coverage DDPM 0.03 / 0.93, EDM 0.14 / 0.85, VAE with the mixture 0.42 / 0.93; the VAE
# sampling N(0, I) 3.4 / 0.74, WGAN-GP 20 / 0.01, progressive GAN 67 / 0.00): the others cut KID
# (above) but stay further from held-out data than the training mean itself. Strict xfails, as below.
BEYOND_THE_MEAN = ("ddpm", "ddpm+edm", "vae+mixture")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=() if name in BEYOND_THE_MEAN else NOT_YET) for name in sorted(RECIPES)]
)
def test_samples_are_closer_to_held_out_data_than_the_training_mean_and_cover_it(name, trained):
    result = fidelity_of(name, trained)
    assert learned_beyond_the_mean(result), (
        f"{name}: KID {result['kid_samples']:.3g} (fresh real {result['kid_fresh']:.3g}, mean-collapsed "
        f"{result['kid_mean']:.3g}: share {result['kid_share']:.2f} > {KID_SHARE_BOUND}), coverage "
        f"{result['coverage']:.2f} (floor {COVERAGE_FLOOR})"
    )


# Within these budgets only the diffusion models' samples pass for held-out data (EDM: AUROC 0.73); the GANs and the VAE
# learn (KID falls, above) but a detector still tells them apart. Strict: a recipe that starts to pass
# turns its xfail into a failure, so the bound gets tightened rather than forgotten.


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=() if name.startswith("ddpm") else NOT_YET) for name in sorted(RECIPES)]
)
def test_after_a_short_training_a_detector_barely_tells_samples_from_held_out_data(name, trained):
    result = fidelity_of(name, trained)
    assert result["auroc"] <= LEARNED_AUROC, (
        f"{name} did not learn: two-sample AUROC {result['before_auroc']:.3f} -> {result['auroc']:.3f}"
    )


# ---- class-conditional models: one model, every class ---------------------------------------------
# Steps for each conditional model: the label is learned alongside the images (measured, label
# accuracy: VAE 1.0 at 150 steps; WGAN-GP 0.50 / 0.82 / 0.89 at 100 / 200 / 300; DDPM 0.82 / 0.95 at 100 / 200;
# EDM, whose class embedding enters through ConditionedUNet, passes at 200).
CONDITIONAL_STEPS = {"vae": 150, "wgan_gp": 300, "ddpm": 200, "ddpm+edm": 200}
# Share of a conditional model's samples that a classifier of real images assigns to the requested
# class; a model that ignores its labels scores about 0.5 on these two classes.
LABEL_ACCURACY = 0.8


def two_classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n burst images per class: class 0 as `bursts`, class 1 the same kind flipped in frequency (bursts
    that start at the top bins), so the classes differ in where their energy lies, not in kind."""
    low, high = bursts(n, seed), np.flip(bursts(n, seed + 100), axis=2).copy()
    return np.concatenate([low, high]), np.repeat(np.arange(2, dtype=np.int64), n)


def label_accuracy(generator, per_class: int, seed: int) -> float:
    """How often a classifier trained on real images of both classes names the label each sample was drawn for."""
    from sklearn.linear_model import LogisticRegression

    real, labels = two_classes(200, seed)
    classifier = LogisticRegression(max_iter=2000).fit(pooled(real), labels)
    samples = np.concatenate([generator.sample(per_class, label, seed=label) for label in (0, 1)])
    return float((classifier.predict(pooled(samples)) == np.repeat([0, 1], per_class)).mean())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONDITIONAL_STEPS))
def test_one_class_conditional_model_samples_the_class_it_is_asked_for(name):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = two_classes(200, 0)
    config = {**RECIPES[name], "steps": CONDITIONAL_STEPS[name], "class_conditional": True}
    generator = generator_class(name.split("+")[0])(config, input_shape=(1, SIZE, SIZE), n_classes=2, seed=0)
    assert label_accuracy(generator, 100, seed=1) < 0.75, f"{name}: untrained, samples already follow their labels"
    generator.fit(x, y, progress=False)
    accuracy = label_accuracy(generator, 100, seed=1)
    assert accuracy >= LABEL_ACCURACY, f"{name}: only {accuracy:.2f} of the samples look like the class they were drawn for"
