"""Selection of synthetic samples by utility: keep those whose gradient would help on validation.

A sample's utility under a trained classifier (the baseline) is the cosine between its loss gradient
and the mean validation loss gradient, both with respect to the last linear layer (weights and
bias): a gradient step on the sample lowers the validation loss to first order when they align, so
a high score marks a sample that pulls the classifier the way validation wants. The cosine, not the
dot product: the dot product also grows with the gradient's size, which rewards samples the
classifier fits badly for any reason (noise with a random label scored above duplicated validation
samples at one model seed of four on the toy set of tests/classifiers/test_synthetic_use.py; the
cosine ranks the duplicates first at all four, AUROC 0.72-0.84). For the cross-entropy of a
linear layer the gradient is closed-form, (softmax - onehot) outer features, so no backward pass is
needed. Written by hand: no maintained library scores data by gradient alignment on a given model.
"""

from __future__ import annotations

import numpy as np
import torch

from synthaug.classifiers.models import SpectrogramClassifier


@torch.inference_mode()
def _last_layer_gradients(model: SpectrogramClassifier, x: np.ndarray, y: np.ndarray, batch_size: int) -> torch.Tensor:
    """[N, n_classes * (embed_dim + 1)]: each sample's cross-entropy gradient for the head's weights and bias."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(x), batch_size):
        batch = torch.as_tensor(x[start : start + batch_size], dtype=torch.float32, device=device)
        labels = torch.as_tensor(y[start : start + batch_size], dtype=torch.long, device=device)
        features = model.embed(batch)
        error = torch.softmax(model.head(features), dim=1)
        error[torch.arange(len(labels)), labels] -= 1.0
        weights = error[:, :, None] * features[:, None, :]
        out.append(torch.cat([weights.flatten(1), error], dim=1).float().cpu())
    return torch.cat(out)


def utility_scores(
    model: SpectrogramClassifier,
    candidates: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    batch_size: int = 256,
) -> np.ndarray:
    """Each candidate's utility [N] in [-1, 1]: the cosine of its last-layer gradient with the mean validation gradient."""
    target = _last_layer_gradients(model, *validation, batch_size).mean(dim=0)
    gradients = _last_layer_gradients(model, *candidates, batch_size)
    return torch.nn.functional.cosine_similarity(gradients, target[None, :], dim=1).numpy()


def keep_most_useful(scores: np.ndarray, labels: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask keeping round(share x n) of each class's candidates, the highest scores (ties by index)."""
    keep = np.zeros(len(scores), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = max(1, int(np.floor(share * len(members) + 0.5)))
        ranked = members[np.argsort(-scores[members], kind="stable")]
        keep[ranked[:n]] = True
    return keep
