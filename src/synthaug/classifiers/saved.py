"""A trained classifier on disk: its state dict plus what rebuilds it (architecture, options, classes).

Saved with torch.save of tensors and plain values only, so it loads with weights_only=True.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from synthaug.classifiers.models import SpectrogramClassifier, build_classifier
from synthaug.errors import DataError
from synthaug.io import torch_save_atomic


def save_classifier(
    path: Path,
    model: torch.nn.Module,
    *,
    architecture: str,
    options: dict[str, Any],
    class_names: list[str],
    input_shape: tuple[int, int, int],
) -> None:
    payload = {
        "architecture": architecture,
        "options": dict(options),
        "class_names": list(class_names),
        "input_shape": list(input_shape),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    torch_save_atomic(payload, Path(path))


def load_classifier(path: Path) -> tuple[SpectrogramClassifier, dict[str, Any]]:
    """(model in eval mode on CPU, its description without the weights)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: classifier not found; run the train_classifier stage first (dvc repro)")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = build_classifier(payload["architecture"], len(payload["class_names"]), payload["input_shape"], **payload["options"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, {k: v for k, v in payload.items() if k != "state_dict"}
