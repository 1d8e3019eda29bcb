"""Mixup mixes inputs and one-hot targets with the same per-sample lambda and partner."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from synthaug.augment_configs import MixupConfig
from synthaug.classifiers import Mixup


def test_targets_are_mixed_with_exactly_the_lambdas_of_the_inputs():
    # Each input is constant and equal to its label (0 or 1): after mixing, every value of input i
    # must equal the class-1 weight of its soft target.
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])
    x = y.float().view(-1, 1, 1, 1).expand(-1, 1, 4, 5).clone()
    mixup = Mixup(settings=MixupConfig(alpha=0.4))
    params = mixup.draw(x.shape, torch.Generator().manual_seed(0))
    mixed_x, mixed_t = mixup.apply(x, F.one_hot(y, 2).float(), params)
    assert torch.equal(mixed_x.amin(dim=(1, 2, 3)), mixed_x.amax(dim=(1, 2, 3)))
    torch.testing.assert_close(mixed_x[:, 0, 0, 0], mixed_t[:, 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(mixed_t.sum(dim=1), torch.ones(10))
    lam, partner = params["lam"], params["partner"]
    torch.testing.assert_close(mixed_t[:, 1], lam * y + (1 - lam) * y[partner], rtol=0, atol=1e-6)
    assert ((lam > 0) & (lam < 1)).any()


def test_mixup_is_seeded():
    x, t = torch.randn(8, 1, 4, 4), F.one_hot(torch.arange(8) % 3, 3).float()
    run = lambda seed: Mixup(settings=MixupConfig(alpha=0.2))(x, t, torch.Generator().manual_seed(seed))  # noqa: E731
    assert all(torch.equal(a, b) for a, b in zip(run(5), run(5)))
    assert not torch.equal(run(5)[0], run(6)[0])


def test_p_zero_leaves_the_batch_unmixed():
    x, t = torch.randn(8, 1, 4, 4), F.one_hot(torch.arange(8) % 2, 2).float()
    out_x, out_t = Mixup(settings=MixupConfig(alpha=0.2, p=0.0))(x, t, torch.Generator().manual_seed(0))
    assert torch.equal(out_x, x) and torch.equal(out_t, t)
