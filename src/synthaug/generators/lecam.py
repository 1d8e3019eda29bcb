"""LeCam regularisation of a GAN's discriminator (Tseng et al. 2021, "Regularizing Generative Adversarial
Networks under Limited Data").

The discriminator's scores of real and generated batches are pulled towards moving averages of each
other: R = E[(D(real) - anchor_fake)^2] + E[(D(fake) - anchor_real)^2], where anchor_real and anchor_fake
are exponential moving averages of the batch-mean scores. It bounds how far apart the two score
distributions can drift on a small training set, where a discriminator otherwise memorises the real
images and its gradients stop guiding the generator. No library ships it for PyTorch, hence this
module; the anchors are buffers, so they travel in checkpoints and saved models.
"""

from __future__ import annotations

import torch
from torch import nn


class LeCamAnchors(nn.Module):
    """Moving averages of the discriminator's mean score on real and on generated batches."""

    real: torch.Tensor
    fake: torch.Tensor
    updates: torch.Tensor

    def __init__(self, decay: float = 0.99) -> None:
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"the LeCam anchors' decay must be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.register_buffer("real", torch.zeros(()))
        self.register_buffer("fake", torch.zeros(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, real_score: torch.Tensor, fake_score: torch.Tensor) -> None:
        """Fold this batch's mean scores into the anchors (the first batch sets them)."""
        weight = 1.0 if int(self.updates) == 0 else 1.0 - self.decay
        self.real.mul_(1 - weight).add_(weight * real_score.detach().mean())
        self.fake.mul_(1 - weight).add_(weight * fake_score.detach().mean())
        self.updates += 1

    def penalty(self, real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
        """R = mean((real_score - anchor_fake)^2) + mean((fake_score - anchor_real)^2)."""
        return (real_score - self.fake).pow(2).mean() + (fake_score - self.real).pow(2).mean()
