"""Augmenter: off by default, composed from params in a fixed order, seeded, with config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synthaug.augment_configs import AUGMENTATION_CONFIGS
from synthaug.classifiers import Augmenter, FrequencyMask, Mixup, RandomGain, TimeMask, TimeShift
from synthaug.classifiers.augment import TRANSFORMS
from synthaug.config import parse_params
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


def test_every_augmentation_has_a_transform_and_a_typo_stops_params_loading():
    assert set(TRANSFORMS) == set(AUGMENTATION_CONFIGS)
    base = {"dataset": {"name": "d", "protocol": "medical", "adapter": "demo", "root": "data"}}
    # Caught when params load, before any stage trains (it used to surface when the Augmenter was built).
    with pytest.raises(
        ConfigError, match=r"train_classifier\.classic_augmentation\.mixup\.apha: unknown option; valid: alpha, p"
    ):
        parse_params({**base, "train_classifier": {"classic_augmentation": {"mixup": {"apha": 0.2}}}})
    with pytest.raises(ConfigError, match=r"scarcity\.augment\.time_mask\.max_width: Input should be greater than or equal to 0"):
        parse_params({**base, "scarcity": {"augment": {"time_mask": {"max_width": -1}}}})
    assert parse_params({**base, "train_classifier": {"augment": {"gain": True}}}).train_classifier.augment == {"gain": True}
