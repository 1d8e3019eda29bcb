"""Augmenter: off by default, composed from params in a fixed order, seeded, with config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synthaug.classifiers import Augmenter, FrequencyMask, Mixup, RandomGain, TimeMask, TimeShift
from synthaug.errors import ConfigError

PARAMS = {
    "mixup": {"alpha": 0.3},
    "time_mask": {"n_masks": 1, "max_width": 3},
    "gain": {"max_db": 4.0},
    "frequency_mask": {"n_masks": 2, "max_width": 2},
    "time_shift": {"max_fraction": 0.2, "circular": False},
}


def batch():
    return torch.randn(8, 1, 12, 16, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3


@pytest.mark.parametrize("params", [None, {}, {"mixup": None, "time_mask": False}])
def test_off_by_default_returns_inputs_and_one_hot_targets(params):
    augmenter = Augmenter.from_params(params)
    assert not augmenter
    x, y = batch()
    out_x, targets = augmenter(x, y, 3, torch.Generator().manual_seed(0))
    assert torch.equal(out_x, x)
    assert torch.equal(targets, F.one_hot(y, 3).float())


def test_enabled_transforms_run_in_the_fixed_order():
    augmenter = Augmenter.from_params(PARAMS, channel_std=[1.0] * 12)
    assert [type(t) for t in augmenter.transforms] == [RandomGain, TimeShift, FrequencyMask, TimeMask, Mixup]
    assert augmenter.transforms[0].channel_std == [1.0] * 12
    assert Augmenter.from_params({"mixup": True}).transforms == [Mixup()]


def test_same_seed_same_batch_different_seed_different_batch():
    augmenter = Augmenter.from_params(PARAMS)
    x, y = batch()
    first = augmenter(x, y, 3, torch.Generator().manual_seed(7))
    again = augmenter(x, y, 3, torch.Generator().manual_seed(7))
    other = augmenter(x, y, 3, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_unknown_augmentation_or_option_names_the_key():
    with pytest.raises(ConfigError, match=r"train_classifier\.augment\.cutout.*valid: gain"):
        Augmenter.from_params({"cutout": {}})
    with pytest.raises(ConfigError, match=r"train_classifier\.augment\.mixup\.beta.*valid: alpha, p"):
        Augmenter.from_params({"mixup": {"beta": 1.0}})
