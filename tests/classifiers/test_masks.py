"""TimeMask and FrequencyMask: the drawn bands, and only those, are set to 0 (the normalized mean)."""

from __future__ import annotations

import torch

from synthaug.augment_configs import MaskConfig
from synthaug.classifiers import FrequencyMask, TimeMask


def test_time_mask_zeroes_exactly_the_drawn_frames():
    mask = TimeMask(settings=MaskConfig(n_masks=1, max_width=5))
    x = torch.ones(16, 1, 6, 20)
    params = mask.draw(x.shape, torch.Generator().manual_seed(0))
    out, _ = mask.apply(x, torch.zeros(16, 2), params)
    for i in range(16):
        start, width = int(params["start"][i, 0]), int(params["width"][i, 0])
        zero_frames = (out[i, 0] == 0).all(dim=0).nonzero().flatten().tolist()
        assert zero_frames == list(range(start, start + width))
        assert (out[i, 0] != 0).sum() == 6 * (20 - width)
    assert params["width"].max() <= 5 and params["width"].unique().numel() > 1


def test_frequency_mask_zeroes_the_union_of_its_bands():
    mask = FrequencyMask(settings=MaskConfig(n_masks=3, max_width=4))
    x = torch.randn(8, 1, 24, 7) + 10  # no accidental zeros
    params = mask.draw(x.shape, torch.Generator().manual_seed(1))
    out, _ = mask.apply(x, torch.zeros(8, 2), params)
    for i in range(8):
        expected = set()
        for start, width in zip(params["start"][i].tolist(), params["width"][i].tolist()):
            expected |= set(range(start, start + width))
        assert set((out[i, 0] == 0).all(dim=1).nonzero().flatten().tolist()) == expected
        assert expected == set((out[i, 0] == 0).any(dim=1).nonzero().flatten().tolist())


def test_masks_fit_inside_small_inputs_and_p_zero_masks_nothing():
    x = torch.ones(4, 1, 3, 3)
    out, _ = TimeMask(settings=MaskConfig(n_masks=2, max_width=10))(x, torch.zeros(4, 2), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    unchanged, _ = TimeMask(settings=MaskConfig(n_masks=2, max_width=2, p=0.0))(
        x, torch.zeros(4, 2), torch.Generator().manual_seed(0)
    )
    assert torch.equal(unchanged, x)
