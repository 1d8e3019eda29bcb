"""Figures shared by stages and reports; each function returns a matplotlib Figure, the caller saves it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files and MLflow artifacts; never open a window

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch


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
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else np.array([], int)
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


def learning_curves(history: Sequence[dict], *, best_epoch: int, title: str) -> Figure:
    """Training and validation loss, and validation macro F1, per epoch; the restored epoch marked."""
    epochs = [h["epoch"] for h in history]
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    loss_axis, f1_axis = figure.subplots(1, 2)
    loss_axis.plot(epochs, [h["train_loss"] for h in history], label="train")
    loss_axis.plot(epochs, [h["val_loss"] for h in history], label="validation")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("cross-entropy")
    loss_axis.legend()
    f1_axis.plot(epochs, [h["val_macro_f1"] for h in history], color="tab:green")
    f1_axis.set_xlabel("epoch")
    f1_axis.set_ylabel("validation macro F1")
    for axis in (loss_axis, f1_axis):
        axis.axvline(best_epoch, color="grey", linestyle=":", label="best epoch")
    figure.suptitle(title)
    return figure


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], *, title: str) -> Figure:
    """Counts with true classes as rows and predicted classes as columns."""
    counts = np.asarray(matrix)
    size = 1.0 + 0.7 * len(class_names)
    figure = Figure(figsize=(size + 1.2, size), layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(counts, cmap="Blues")
    for (row, col), value in np.ndenumerate(counts):
        color = "white" if value > counts.max() / 2 else "black"
        axis.text(col, row, str(value), ha="center", va="center", color=color)
    axis.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, shrink=0.8)
    return figure


def roc_figure(y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str], *, title: str) -> Figure:
    """ROC curves: the positive class for two classes, one-vs-rest per class otherwise."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    axis = figure.subplots()
    classes = [1] if len(class_names) == 2 else range(len(class_names))
    for c in classes:
        positive = (np.asarray(y_true) == c).astype(int)
        if positive.min() == positive.max():
            continue  # a class absent from (or alone in) the split has no ROC curve
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        axis.plot(fpr, tpr, label=f"{class_names[c]} (AUROC {roc_auc_score(positive, proba[:, c]):.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize=8)
    return figure


def real_vs_synthetic(real, synthetic, name: str, per_class: int = 4) -> Figure:
    """Rows: for each synthesized class, real examples then synthetic ones (two SpectrogramSets)."""
    classes = sorted(set(synthetic.y.tolist()))
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    names: list[str] = []
    for c in classes:
        for source, label in ((real, "real"), (synthetic, name)):
            members = np.flatnonzero(source.y == c)[:per_class]
            xs.append(source.x[members])
            ys.append(np.full(len(members), len(names)))
            names.append(f"{real.class_names[c]}: {label}")
    return spectrogram_examples(np.concatenate(xs), np.concatenate(ys), names, per_class=per_class, title=f"real vs {name}")


def method_bars(summary: pd.DataFrame, metrics: Sequence[str], *, title: str) -> Figure:
    """Grouped bars of each method's mean metric with standard-deviation error bars.

    `summary` has one row per method (index: method name) and `<metric>_mean`, `<metric>_std` columns.
    """
    figure = Figure(figsize=(max(5.0, 1.1 * len(summary) + 2), 3.6), layout="constrained")
    axis = figure.subplots()
    width = 0.8 / len(metrics)
    positions = np.arange(len(summary))
    for i, metric in enumerate(metrics):
        means, stds = summary[f"{metric}_mean"].to_numpy(float), summary[f"{metric}_std"].to_numpy(float)
        bars = axis.bar(positions + i * width, means, width, yerr=stds, capsize=3, label=metric.replace("_", " "))
        axis.bar_label(bars, labels=[f"{m:.3f}" for m in means], fontsize=7, padding=2)
    axis.set_xticks(positions + width * (len(metrics) - 1) / 2, list(summary.index), rotation=20, ha="right")
    axis.set_ylim(0, 1.2)  # headroom for the legend above bars that reach 1
    axis.set_ylabel("test score (mean ± std over seeds)")
    axis.set_title(title)
    axis.legend(loc="upper center", ncol=len(metrics))
    return figure


def scarcity_curves(table: pd.DataFrame, metric: str, *, title: str) -> Figure:
    """Mean metric against real files per class, one line per variant, standard deviation as error bars.

    `table` has columns files_per_class, variant, `<metric>_mean`, `<metric>_std`.
    """
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    axis = figure.subplots()
    for variant, rows in table.groupby("variant", sort=False):
        rows = rows.sort_values("files_per_class")
        axis.errorbar(
            rows["files_per_class"], rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"], marker="o", capsize=3, label=str(variant)
        )
    sizes = sorted(table["files_per_class"].unique())
    axis.set_xscale("log", base=2)
    axis.set_xticks(sizes, [str(n) for n in sizes])
    axis.set_xlabel("real files per class")
    axis.set_ylabel(f"test {metric.replace('_', ' ')} (mean ± std over trials)")
    axis.set_title(title)
    axis.legend()
    return figure


def gain_curves(table: pd.DataFrame, *, baseline: str, ceiling: str, metric: str, title: str) -> Figure:
    """Each arm's paired difference to the baseline against the minority share, with its interval; the ceiling dashed.

    `table` has columns fraction, arm, difference, ci_low, ci_high (one row per share and arm).
    """
    figure = Figure(figsize=(6.5, 4.0), layout="constrained")
    axis = figure.subplots()
    axis.axhline(0.0, color="grey", linewidth=0.8)
    for arm, rows in table[table["arm"] != baseline].groupby("arm", sort=False):
        rows = rows.sort_values("fraction")
        errors = [rows["difference"] - rows["ci_low"], rows["ci_high"] - rows["difference"]]
        dashed = arm == ceiling
        axis.errorbar(
            rows["fraction"],
            rows["difference"],
            yerr=errors,
            marker="o",
            capsize=3,
            label=str(arm),
            linestyle="--" if dashed else "-",
            color="black" if dashed else None,
        )
    fractions = sorted(table["fraction"].unique())
    axis.set_xscale("log")
    axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
    axis.minorticks_off()  # the log axis would label its minor ticks (2 x 10^-1) beside the shares
    axis.set_xlabel("share of the minority class's training groups")
    axis.set_ylabel(f"test {metric} − baseline (paired, 95 % CI)")
    axis.set_title(title)
    axis.legend(fontsize="small")
    return figure


def nearest_neighbours(
    synthetic_x: np.ndarray,
    train_x: np.ndarray,
    nearest_train: np.ndarray,
    distances: np.ndarray,
    *,
    n: int = 6,
    title: str = "",
    score_name: str = "distance",
) -> Figure:
    """The most copy-like synthetic spectrograms (top row) above their nearest training spectrograms (bottom row).

    `synthetic_x` and `train_x` are [N, 1, mels, frames]; `nearest_train` is, per synthetic sample, the index
    of its nearest training sample (as returned by `fidelity.memorization`) and `distances` a score where
    smaller means more copy-like: the embedding distance to that sample, or the audit's copy ratio (then
    pass score_name="copy ratio"; the titles name it). The `n` synthetic samples with the smallest score are
    shown, smallest first; fewer columns when there are fewer synthetic samples. Both rows share one colour
    scale.
    """
    distances = np.asarray(distances)
    chosen = np.argsort(distances, kind="stable")[: max(0, n)]  # stable: ties keep a reproducible order
    columns = max(1, len(chosen))
    figure = Figure(figsize=(2.6 * columns, 2.0 * 2 + 0.6), layout="constrained")
    axes = figure.subplots(2, columns, squeeze=False)
    shown = [synthetic_x[i, 0] for i in chosen] + [train_x[nearest_train[i], 0] for i in chosen]
    low, high = np.percentile(np.stack(shown), [1, 99]) if shown else (0.0, 1.0)
    for col in range(columns):
        for row in range(2):
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        if col < len(chosen):
            i = chosen[col]
            j = nearest_train[i]
            axes[0, col].imshow(synthetic_x[i, 0], origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
            axes[0, col].set_title(f"synthetic {i}\n{score_name} {distances[i]:.3g}", fontsize=9)
            axes[1, col].imshow(train_x[j, 0], origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
            axes[1, col].set_title(f"train {j}", fontsize=9)
    axes[0, 0].set_ylabel("synthetic\n(mel bin)")
    axes[1, 0].set_ylabel("nearest train\n(mel bin)")
    if title:
        figure.suptitle(title)
    return figure


AUDIT_PANELS_PER_ROW = 5  # classes per row of the audit figure
AUDIT_BAR_SCORES = {  # column of the audit table -> legend label; all in [0, 1]
    "two_sample_auroc_val": "two-sample AUROC (val)",
    "precision": "precision",
    "recall": "recall",
    "coverage": "coverage",
    "memorization_rate": "copies",
}


def audit_bars(table: pd.DataFrame, *, reference: str, title: str) -> Figure:
    """Grouped bars of the audit: one panel per view (rows) and class (columns, wrapping onto further
    rows after AUDIT_PANELS_PER_ROW classes), one bar group per set.

    `table` is long: one row per view x class x set, with columns view, class, set and the scores of
    AUDIT_BAR_SCORES (NaN draws no bar). The set named `reference` (real validation data scored as a
    synthetic set is, what a perfect generator would get) comes first in every panel and is shaded, so each
    generator's bars stand beside it. The dotted line at 0.5 is the AUROC of indistinguishable sets.
    """
    views = list(dict.fromkeys(table["view"]))
    classes = list(dict.fromkeys(table["class"]))
    # At most AUDIT_PANELS_PER_ROW classes side by side; more wrap onto further rows of the same view,
    # so ten classes make a page-wide figure rather than a strip forty inches long.
    per_row = max(1, min(len(classes), AUDIT_PANELS_PER_ROW))
    rows_per_view = -(-max(1, len(classes)) // per_row)
    n_rows = max(1, len(views)) * rows_per_view
    figure = Figure(figsize=(max(6.0, 4.2 * per_row), 3.2 * n_rows + 0.8), layout="constrained")
    axes = figure.subplots(n_rows, per_row, squeeze=False)
    for row in range(len(views)):  # the empty panels after a view's last class
        for k in range(len(classes), rows_per_view * per_row):
            axes[row * rows_per_view + k // per_row, k % per_row].set_visible(False)
    width = 0.8 / len(AUDIT_BAR_SCORES)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, view in enumerate(views):
        for k, cls in enumerate(classes):
            col = k % per_row
            axis = axes[row * rows_per_view + k // per_row, col]
            panel = table[(table["view"] == view) & (table["class"] == cls)]
            sets = sorted(panel["set"], key=lambda name: name != reference)  # stable: the reference first
            panel = panel.set_index("set").loc[sets]
            positions = np.arange(len(sets))
            for i, column in enumerate(AUDIT_BAR_SCORES):
                values = panel[column].to_numpy(float) if column in panel else np.full(len(sets), np.nan)
                bars = axis.bar(positions + i * width, values, width, color=colours[i % len(colours)])
                for bar, name in zip(bars, sets):
                    if name == reference:
                        bar.set_hatch("//")
                        bar.set_alpha(0.6)
            axis.axhline(0.5, color="grey", linestyle=":", linewidth=1)
            axis.set_xticks(positions + width * (len(AUDIT_BAR_SCORES) - 1) / 2, sets, rotation=20, ha="right", fontsize=8)
            axis.set_ylim(0, 1.05)
            axis.set_title(f"{cls}, {view.replace('_', '-')} view", fontsize=10)
            if col == 0:
                axis.set_ylabel("score")
    if title:
        figure.suptitle(title)
    # Handles drawn here rather than taken from the bars, whose first one (the reference) is hatched.
    handles = [Patch(color=colours[i % len(colours)], label=label) for i, label in enumerate(AUDIT_BAR_SCORES.values())]
    handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label=f"{reference}: the reference"))
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    return figure
