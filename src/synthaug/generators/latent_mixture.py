"""A Gaussian mixture over a generator's latent space, fitted after training, sampled with torch.

scikit-learn fits it (`GaussianMixture`, diagonal covariances); its parameters live in buffers of a
torch module so they travel in the generator's saved state and sampling draws from the generator's
own seeded torch stream (chunk-invariant, like every other sample). One mixture per class, so a
class-conditional VAE samples each class from that class's latents.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# A variance floor added to each diagonal entry: keeps a component that sits on a few nearly equal
# latents from collapsing to a point (scikit-learn's reg_covar).
VARIANCE_FLOOR = 1e-4


class LatentMixture(nn.Module):
    """Per class: mixture weights [K], means [K, D] and standard deviations [K, D] as buffers."""

    weights: torch.Tensor
    means: torch.Tensor
    scales: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, n_classes: int, components: int, latent_dim: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.zeros(n_classes, components))
        self.register_buffer("means", torch.zeros(n_classes, components, latent_dim))
        self.register_buffer("scales", torch.ones(n_classes, components, latent_dim))
        self.register_buffer("fitted", torch.zeros(n_classes, dtype=torch.bool))

    def fit(self, latents: np.ndarray, classes: np.ndarray, *, seed: int) -> None:
        """Fit each class's mixture to its rows of latents [N, D]; a class with fewer rows than
        components gets as many components as it has rows (the others keep weight 0)."""
        from sklearn.mixture import GaussianMixture

        n_classes, components, _ = self.means.shape
        for c in range(n_classes):
            rows = np.asarray(latents[classes == c], dtype=np.float64)
            if len(rows) < 2:
                continue
            k = min(components, len(rows) // 2)
            mixture = GaussianMixture(k, covariance_type="diag", reg_covar=VARIANCE_FLOOR, random_state=seed).fit(rows)
            self.weights[c].zero_()
            self.weights[c, :k] = torch.as_tensor(mixture.weights_, dtype=torch.float32)
            self.means[c, :k] = torch.as_tensor(mixture.means_, dtype=torch.float32)
            self.scales[c, :k] = torch.as_tensor(np.sqrt(mixture.covariances_), dtype=torch.float32)
            self.fitted[c] = True

    def sample(self, n: int, label: int, rng: torch.Generator) -> torch.Tensor:
        """n latents [n, D] of class `label`, drawn from `rng` (on CPU)."""
        if not bool(self.fitted[label]):
            raise RuntimeError(f"the latent mixture of class {label} was never fitted: train the generator (fit) before sampling")
        weights, means, scales = (t.cpu() for t in (self.weights[label], self.means[label], self.scales[label]))
        component = torch.multinomial(weights, n, replacement=True, generator=rng)
        noise = torch.randn((n, means.shape[1]), generator=rng)
        return means[component] + scales[component] * noise
