"""Splits: grouped and stratified train/val/test assignment, and nested data-scarcity subsets.

Two scarcity designs: `scarcity_subsets` keeps N train files of every class (the industrial
protocol); `minority_subsets` keeps every file of the other classes and a share of each minority
class's train groups (the medical protocol made scarce), and `held_back_files` lists, in draw order,
the minority train files such a subset left out: the real data a "+ real (ceiling)" arm adds.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from synthaug.datasets.manifest import SPLITS, validate_manifest
from synthaug.errors import ConfigError, DataError

# Whole folds go to each split, so fractions are met in steps of 1/k. k is the smallest count that
# makes every fraction whole (20 for 70/15/15, 10 for 80/10/10); fractions that would need more
# than _MAX_FOLDS folds get 20 (within 2.5 points), since the greedy fold search slows with k.
_MAX_FOLDS = 100
_FALLBACK_FOLDS = 20


def assign_splits(
    manifest: pd.DataFrame, *, train: float = 0.7, val: float = 0.15, test: float = 0.15, seed: int = 0
) -> pd.DataFrame:
    """Return a copy of `manifest` with every row's `split` set; deterministic for a given seed.

    - No row has a split: a three-way split, grouped (no group in two splits) and stratified by
      label, with about the given fractions of files (whole groups move together).
    - Every row has a split: kept as is; when train and test are given but no val, val is carved
      from the train groups (fraction val / (train + val), grouped and stratified).
    - Some rows have a split and others do not, or another partial set of splits: DataError.

    Every class must reach every split; a class with too few groups for that is a DataError.
    """
    fractions = _check_fractions(train=train, val=val, test=test)
    validate_manifest(manifest, where="assign_splits")
    out = manifest.copy()
    given = out["split"] != ""
    if not given.any():
        out["split"] = _grouped_split(out, fractions, seed)
        return out
    if not given.all():
        raise DataError(
            f"assign_splits: {(~given).sum()} rows have no split while {given.sum()} rows do "
            f"(e.g. {out.loc[~given, 'path'].iloc[0]}); give every row a split or none, so that "
            "predefined splits are kept and the rest are drawn in one grouped, stratified step"
        )
    present = set(out["split"])
    if present == set(SPLITS):
        return out
    if present == {"train", "test"}:
        carve = out["split"] == "train"
        inner = {"train": train / (train + val), "val": val / (train + val)}
        out.loc[carve, "split"] = _grouped_split(out[carve], inner, seed)
        return out
    raise DataError(
        f"assign_splits: the manifest predefines only {sorted(present)}; a predefined split "
        "needs train and test (val is then carved from train) or all of train, val and test"
    )


def scarcity_subsets(manifest: pd.DataFrame, n_per_class: list[int], *, seed: int) -> dict[int, list[str]]:
    """Nested subsets of the train split with exactly n files per class, for each n.

    Each class's train files are put in one seeded random order and subset n takes the first n of
    each class, so a smaller subset always lies inside a larger one. Returns {n: sorted paths}.
    """
    sizes = sorted(set(n_per_class)) if not isinstance(n_per_class, (str, bytes)) else []
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ConfigError(f"n_per_class: expected a list of positive integers, got {n_per_class!r}")
    train = manifest[manifest["split"] == "train"]
    if train.empty:
        raise DataError("scarcity_subsets: the manifest has no train rows; assign splits first")
    class_sizes = train["label"].value_counts()
    too_small = [(n, label, int(size)) for n in sizes for label, size in class_sizes.items() if n > size]
    if too_small:
        n, label, size = too_small[0]
        raise DataError(
            f"scarcity_subsets: n={n} files per class, but class {label!r} has only {size} "
            "train files; lower the largest n_per_class"
        )
    shuffled, rank = _scarcity_order(train, seed)
    return {n: sorted(shuffled.loc[rank < n, "path"]) for n in sizes}


def scarcity_held_back(manifest: pd.DataFrame, n: int, *, seed: int) -> dict[str, list[str]]:
    """{class: its train files outside `scarcity_subsets`' subset n, in the order larger subsets add them}.

    With the same seed, the first of these are the files subset n+1, n+2, ... would add: a ceiling arm
    takes files from the front. Only the train split is read, so validation and test files never appear.
    """
    train = manifest[manifest["split"] == "train"]
    shuffled, rank = _scarcity_order(train, seed)
    later = shuffled[rank >= n]
    return {str(label): list(later.loc[later["label"] == label, "path"]) for label in sorted(train["label"].unique())}


def _scarcity_order(train: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """(train rows in one seeded order, each row's rank within its class in that order)."""
    # Sorting first makes the order depend only on the files and the seed, not on the row order.
    shuffled = train.sort_values("path").sample(frac=1.0, random_state=seed)
    return shuffled, shuffled.groupby("label").cumcount()


def _minority_group_order(manifest: pd.DataFrame, classes: list[str], seed: int) -> dict[str, list[str]]:
    """{class: its train groups in one seeded order}; the order depends on the files and the seed only."""
    train = manifest[manifest["split"] == "train"]
    missing = [c for c in classes if c not in set(train["label"])]
    if missing:
        raise DataError(f"minority_subsets: class {', '.join(map(repr, missing))} has no train files; check the split")
    rng = np.random.default_rng(seed)
    # Sorted first, then permuted: the row order of the manifest cannot change the draw.
    return {c: list(rng.permutation(sorted(train.loc[train["label"] == c, "group"].unique()))) for c in sorted(classes)}


def minority_subsets(manifest: pd.DataFrame, classes: list[str], fractions: list[float], *, seed: int) -> dict[float, list[str]]:
    """Nested train subsets: every train file of the other classes, and of each class in `classes` the
    files of the first round(fraction x its train groups) groups (at least one) in one seeded order.

    Whole groups (participants) are kept or left out, so a subset never holds part of a participant.
    A smaller fraction's subset lies inside a larger one's. Returns {fraction: sorted paths}.
    """
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ConfigError(f"fractions: expected shares in (0, 1], got {fractions!r}")
    train = manifest[manifest["split"] == "train"]
    order = _minority_group_order(manifest, classes, seed)
    others = train.loc[~train["label"].isin(classes), "path"].tolist()
    subsets = {}
    for fraction in fractions:
        kept_groups = {c: groups[: max(1, int(math.floor(fraction * len(groups) + 0.5)))] for c, groups in order.items()}
        kept = [
            path
            for c, groups in kept_groups.items()
            for path in train.loc[(train["label"] == c) & train["group"].isin(groups), "path"]
        ]
        subsets[fraction] = sorted(others + kept)
    return subsets


def held_back_files(manifest: pd.DataFrame, kept: list[str], classes: list[str], *, seed: int) -> dict[str, list[str]]:
    """{class: its train files outside `kept`, group after group in the order `minority_subsets` draws}.

    With the same seed these are the groups a larger fraction would have added next: a ceiling arm
    takes files from the front. Only the train split is read, so validation and test files never
    appear; a group partly inside `kept` is refused (subsets keep whole groups).
    """
    train = manifest[manifest["split"] == "train"]
    kept_set = set(kept)
    out = {}
    for c, groups in _minority_group_order(manifest, classes, seed).items():
        rows = train[train["label"] == c]
        files: list[str] = []
        for group in groups:
            paths = sorted(rows.loc[rows["group"] == group, "path"])
            inside = [p in kept_set for p in paths]
            if any(inside) and not all(inside):
                raise DataError(
                    f"held_back_files: group {group!r} of class {c!r} is partly in the subset; subsets keep whole groups"
                )
            if not any(inside):
                files.extend(paths)
        out[c] = files
    return out


def _grouped_split(frame: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Split names for the rows of `frame`: groups are allotted whole, classes kept in proportion.

    StratifiedGroupKFold makes k folds of similar class make-up; whole folds then go to each
    split (round(fraction * k) folds, at least one). The finest k whose folds give every split
    every class wins; small classes force coarser folds.
    """
    groups_per_class = frame.groupby("label")["group"].nunique()
    if groups_per_class.min() < len(fractions):
        label = groups_per_class.idxmin()
        raise DataError(
            f"assign_splits: class {label!r} has {groups_per_class.min()} groups, too few to reach "
            f"each of {list(fractions)}; add data for it or give the manifest predefined splits"
        )
    ideal = _ideal_folds(fractions)
    candidates = [ideal, *range(min(ideal - 1, int(groups_per_class.min())), len(fractions) - 1, -1)]
    # StratifiedGroupKFold needs at least one class with k groups.
    for k in (k for k in candidates if k <= groups_per_class.max()):
        folds = _fold_numbers(frame, k, seed)
        split = folds.map(_allot_folds(fractions, k))
        classes_per_split = frame.groupby(split)["label"].nunique()
        if len(classes_per_split) == len(fractions) and (classes_per_split == len(groups_per_class)).all():
            return split
    raise DataError(
        f"assign_splits: no grouped split gives every class a place in each of {list(fractions)} "
        f"(groups per class: {groups_per_class.to_dict()}); add data or predefine the splits"
    )


def _fold_numbers(frame: pd.DataFrame, k: int, seed: int) -> pd.Series:
    """The StratifiedGroupKFold test fold of every row."""
    folds = np.empty(len(frame), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A class smaller than k is fine here: the caller checks that every split gets every class.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, rows) in enumerate(splitter.split(np.zeros(len(frame)), frame["label"], frame["group"])):
            folds[rows] = fold
    return pd.Series(folds, index=frame.index)


def _allot_folds(fractions: dict[str, float], k: int) -> dict[int, str]:
    """Fold number -> split: non-train splits take round(fraction * k) folds (at least 1) first."""
    counts = {name: max(1, round(f * k)) for name, f in fractions.items() if name != "train"}
    counts["train"] = k - sum(counts.values())
    while counts["train"] < 1:  # rounding up small splits can leave train nothing when k is small
        largest = max((name for name in counts if name != "train"), key=lambda name: counts[name])
        counts[largest] -= 1
        counts["train"] += 1
    names = [name for name, count in counts.items() for _ in range(count)]
    return dict(enumerate(names))


def _ideal_folds(fractions: dict[str, float]) -> int:
    """The smallest k at which every fraction is a whole number of folds, else a fine default."""
    for k in range(len(fractions), _MAX_FOLDS + 1):
        if all(math.isclose(f * k, round(f * k), abs_tol=1e-6) and round(f * k) >= 1 for f in fractions.values()):
            return k
    return _FALLBACK_FOLDS


def _check_fractions(**fractions: float) -> dict[str, float]:
    for name, value in fractions.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < 1:
            raise ConfigError(f"prepare.split.{name}: expected a fraction between 0 and 1 (exclusive), got {value!r}")
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"prepare.split.train, prepare.split.val and prepare.split.test must sum to 1, got {total:g} ({fractions})"
        )
    return {name: float(value) for name, value in fractions.items()}
