"""DiffAugment for GAN critics: each transform's effect, gradients to the input, seeded determinism."""

from __future__ import annotations

import pytest
import torch

from synthaug.generators.diffaugment import TRANSFORMS, _shift, check_policy, diff_augment

POLICY = ["time_shift", "freq_shift", "cutout"]


def batch(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 1, 32, 40, generator=torch.Generator().manual_seed(0)) + 3.0  # no zeros of its own


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_gradients_reach_the_input(name):
    x = batch().requires_grad_(True)
    diff_augment(x, [name], torch.Generator().manual_seed(1)).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_a_fixed_rng_gives_the_same_transform_and_another_seed_a_different_one(name):
    x = batch(16)
    first = diff_augment(x, [name], torch.Generator().manual_seed(2))
    torch.testing.assert_close(first, diff_augment(x, [name], torch.Generator().manual_seed(2)), rtol=0, atol=0)
    assert not torch.equal(first, diff_augment(x, [name], torch.Generator().manual_seed(3)))


def test_the_same_function_serves_real_and_generated_batches_with_per_sample_parameters():
    x = batch(2)
    twins = torch.cat([x[:1], x[:1]])  # two copies of one spectrogram get independent shifts and rectangles
    out = diff_augment(twins, POLICY, torch.Generator().manual_seed(4))
    assert out.shape == twins.shape and not torch.equal(out[0], out[1])


def test_shift_moves_content_and_fills_with_zeros_without_wrapping():
    x = torch.arange(1, 6, dtype=torch.float32).view(1, 1, 1, 5).repeat(2, 1, 1, 1)
    out = _shift(x, torch.tensor([2, -1]), -1)
    assert out[0, 0, 0].tolist() == [0, 0, 1, 2, 3]
    assert out[1, 0, 0].tolist() == [2, 3, 4, 5, 0]


def test_time_shift_stays_within_an_eighth_of_the_frames():
    x = batch(64)
    out = TRANSFORMS["time_shift"](x, torch.Generator().manual_seed(5))
    zero_columns = (out == 0).all(dim=2).squeeze(1).sum(dim=1)  # frames filled with zeros per sample
    assert zero_columns.max() <= 5 and zero_columns.max() > 0  # 40 frames / 8


def test_cutout_zeros_one_rectangle_of_up_to_half_of_each_axis():
    x = batch(32)
    out = TRANSFORMS["cutout"](x, torch.Generator().manual_seed(6))
    zeros = out == 0
    assert zeros.flatten(1).any(dim=1).all()
    assert zeros.flatten(1).sum(dim=1).max() <= 16 * 20  # the full rectangle, when not clipped by an edge
    torch.testing.assert_close(out[~zeros], x[~zeros])  # everything else untouched


def test_empty_policy_is_the_identity_and_unknown_names_are_refused():
    x = batch()
    assert diff_augment(x, [], torch.Generator()) is x
    with pytest.raises(ValueError, match="models.cgan.diffaugment: unknown transform.*flip"):
        check_policy(["cutout", "flip"], "train_generator.models.cgan.diffaugment")
    with pytest.raises(ValueError, match="must be a list"):
        check_policy("cutout", "train_generator.models.cgan.diffaugment")
