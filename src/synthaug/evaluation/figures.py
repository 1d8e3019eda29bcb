"""Figures shared by stages and reports; each function returns a matplotlib Figure, the caller saves it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files and MLflow artifacts; never open a window

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def spectrogram_examples(
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    per_class: int = 4,
    seed: int = 0,
    title: str = "",
) -> Figure:
    """A grid of log-mel spectrograms: one row per class, `per_class` random examples each.

    `x` is [N, 1, mels, frames]; examples are drawn with a fixed seed so reruns show the same ones.
    """
    rng = np.random.default_rng(seed)
    n_rows = len(class_names)
    figure = Figure(figsize=(2.6 * per_class, 2.0 * n_rows + 0.6), layout="constrained")
    axes = figure.subplots(n_rows, per_class, squeeze=False)
    low, high = np.percentile(x, [1, 99]) if len(x) else (0.0, 1.0)
    for row, name in enumerate(class_names):
        members = np.flatnonzero(y == row)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for col in range(per_class):
            axis = axes[row, col]
            axis.set_xticks([])
            axis.set_yticks([])
            if col < len(chosen):
                axis.imshow(x[chosen[col], 0], origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
            if col == 0:
                axis.set_ylabel(f"{name}\n(mel bin)")
    if title:
        figure.suptitle(title)
    return figure


def counts_by_split(counts: pd.DataFrame, *, title: str, ylabel: str) -> Figure:
    """Grouped bar chart of a label x split count table (rows: labels, columns: splits)."""
    figure = Figure(figsize=(max(4.0, 1.2 * len(counts) + 2), 3.2), layout="constrained")
    axis = figure.subplots()
    width = 0.8 / max(1, counts.shape[1])
    positions = np.arange(len(counts))
    for i, split in enumerate(counts.columns):
        bars = axis.bar(positions + i * width, counts[split].to_numpy(), width, label=str(split))
        axis.bar_label(bars, fontsize=7)
    axis.set_xticks(positions + width * (counts.shape[1] - 1) / 2, [str(label) for label in counts.index])
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(title="split")
    return figure
