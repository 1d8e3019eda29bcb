"""RandomGain (a dB gain in the z-scored domain) and TimeShift (circular or zero-filled)."""

from __future__ import annotations

import torch

from synthaug.augment_configs import GainConfig, TimeShiftConfig
from synthaug.classifiers import RandomGain, TimeShift

TARGETS = torch.zeros(6, 2)


def test_gain_shifts_each_channel_by_gain_over_its_std():
    std = [1.0, 2.0, 4.0]
    gain = RandomGain(settings=GainConfig(max_db=6.0), channel_std=std)
    x = torch.randn(6, 1, 3, 5)
    params = gain.draw(x.shape, torch.Generator().manual_seed(0))
    out, _ = gain.apply(x, TARGETS, params)
    g = params["gain_db"].view(-1, 1, 1)
    expected = x + g.unsqueeze(1) / torch.tensor(std).view(1, 1, 3, 1)
    torch.testing.assert_close(out, expected)
    assert params["gain_db"].abs().max() <= 6.0


def test_gain_without_std_adds_the_gain_in_db_everywhere():
    gain = RandomGain(settings=GainConfig(max_db=3.0))
    x = torch.zeros(6, 1, 3, 5)
    params = gain.draw(x.shape, torch.Generator().manual_seed(0))
    out, _ = gain.apply(x, TARGETS, params)
    torch.testing.assert_close(out, params["gain_db"].view(-1, 1, 1, 1).expand_as(x))


def test_circular_shift_is_a_roll_per_sample():
    shift = TimeShift(settings=TimeShiftConfig(max_fraction=0.5, circular=True))
    x = torch.randn(6, 1, 3, 10)
    params = shift.draw(x.shape, torch.Generator().manual_seed(2))
    out, _ = shift.apply(x, TARGETS, params)
    for i, s in enumerate(params["shift"].tolist()):
        assert torch.equal(out[i], torch.roll(x[i], s, dims=-1))
    assert params["shift"].abs().max() <= 5 and params["shift"].unique().numel() > 1


def test_zero_filled_shift_fills_the_uncovered_frames_with_zero():
    shift = TimeShift(settings=TimeShiftConfig(max_fraction=0.5, circular=False))
    x = torch.randn(6, 1, 3, 10) + 10
    params = {"shift": torch.tensor([0, 2, -3, 5, -5, 1])}
    out, _ = shift.apply(x, TARGETS, params)
    for i, s in enumerate(params["shift"].tolist()):
        rolled = torch.roll(x[i], s, dims=-1)
        uncovered = list(range(s)) if s >= 0 else list(range(10 + s, 10))
        assert (out[i][..., uncovered] == 0).all()
        kept = [f for f in range(10) if f not in uncovered]
        assert torch.equal(out[i][..., kept], rolled[..., kept])
