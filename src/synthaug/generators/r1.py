"""R1 regularisation of a GAN's discriminator (Mescheder et al. 2018, "Which Training Methods for GANs do
actually Converge?").

R1 = E[||grad_x D(x)||^2] over real inputs x, added to the discriminator's loss with weight gamma / 2. It
penalises the discriminator for changing its score near the real data, which keeps it from carving a
sharp boundary around a few dozen memorised training images; StyleGAN2-ADA relies on it for small sets.
It differs from the WGAN-GP's gradient penalty, which pulls the gradient norm towards 1 on interpolates
of real and generated inputs. PyTorch ships neither, and this is two autograd calls, hence this module.
"""

from __future__ import annotations

import torch


def r1_penalty(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E[||d scores / d inputs||^2] per sample, with the graph kept so the penalty trains the discriminator.

    `inputs` must require grad and `scores` be computed from them (one score per row). A score that does
    not depend on its input gives 0.
    """
    if not scores.requires_grad:
        return torch.zeros((), device=scores.device)
    (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True, allow_unused=True)
    if grad is None:
        return torch.zeros((), device=scores.device)
    return grad.flatten(1).pow(2).sum(dim=1).mean()
