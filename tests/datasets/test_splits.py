"""Grouped, stratified splits and nested scarcity subsets."""

from __future__ import annotations

import pandas as pd
import pytest

from synthaug.datasets import fsdd
from synthaug.datasets.splits import assign_splits, scarcity_held_back, scarcity_subsets
from synthaug.errors import ConfigError, DataError
from tests.datasets.helpers import synthetic_manifest

IMBALANCED = {"negative": 0.68, "positive": 0.32}


def assert_no_group_leak(df: pd.DataFrame) -> None:
    assert (df.groupby("group")["split"].nunique() == 1).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_three_way_split_is_grouped_stratified_and_70_15_15(seed):
    manifest = synthetic_manifest(400, IMBALANCED, seed=seed)
    split = assign_splits(manifest, seed=seed)
    assert_no_group_leak(split)
    assert set(split["split"]) == {"train", "val", "test"}
    share = split["split"].value_counts(normalize=True)
    for name, fraction in {"train": 0.70, "val": 0.15, "test": 0.15}.items():
        assert share[name] == pytest.approx(fraction, abs=0.03)
    overall = split["label"].value_counts(normalize=True)
    per_split = pd.crosstab(split["split"], split["label"], normalize="index")
    assert ((per_split - overall).abs() < 0.05).all().all()


def test_other_fractions_and_multiclass():
    manifest = synthetic_manifest(300, {"a": 1, "b": 1, "c": 2}, seed=7)
    split = assign_splits(manifest, train=0.6, val=0.2, test=0.2, seed=3)
    assert_no_group_leak(split)
    share = split.groupby("split")["group"].nunique() / manifest["group"].nunique()
    assert share.to_dict() == pytest.approx({"train": 0.6, "val": 0.2, "test": 0.2}, abs=0.03)


def test_deterministic_per_seed_and_seed_matters():
    manifest = synthetic_manifest(200, IMBALANCED, seed=1)
    first = assign_splits(manifest, seed=11)
    assert first.equals(assign_splits(manifest, seed=11))
    assert not first["split"].equals(assign_splits(manifest, seed=12)["split"])
    # The input keeps its own (empty) splits: assign_splits works on a copy.
    assert (manifest["split"] == "").all()


def test_predefined_splits_are_kept():
    manifest = synthetic_manifest(90, IMBALANCED, seed=2)
    manifest["split"] = manifest["group"].map(lambda g: ("train", "val", "test")[int(g[1:]) % 3])
    assert assign_splits(manifest, seed=5)["split"].equals(manifest["split"])


def test_val_is_carved_from_train_when_only_train_and_test_exist():
    manifest = synthetic_manifest(300, IMBALANCED, seed=3)
    is_test = manifest["group"].map(lambda g: int(g[1:]) % 5 == 0)
    manifest["split"] = is_test.map({True: "test", False: "train"})
    split = assign_splits(manifest, seed=0)
    assert split.loc[is_test, "split"].eq("test").all()
    assert set(split.loc[~is_test, "split"]) == {"train", "val"}
    assert_no_group_leak(split)
    carved = split[~is_test]
    val_share = carved.groupby("split")["group"].nunique()["val"] / carved["group"].nunique()
    assert val_share == pytest.approx(0.15 / 0.85, abs=0.03)
    assert set(carved.loc[carved["split"] == "val", "label"]) == set(IMBALANCED)


def test_val_carved_from_a_small_predefined_train_split():
    """Industrial data: a few files per class, each its own group, train and test predefined."""
    rows = [
        {
            "path": f"{c}/{i}.wav",
            "label": c,
            "group": f"{c}/{i}",
            "split": "train" if i < 8 else "test",
            "source": "t",
            "duration_s": 1.0,
            "sample_rate": 16000,
        }
        for c in "abcd"
        for i in range(12)
    ]
    split = assign_splits(pd.DataFrame(rows), seed=0)
    counts = split.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["test"] == 4).all()
    assert (counts.loc["val"] >= 1).all() and (counts.loc["train"] + counts.loc["val"] == 8).all()


def test_partial_or_incomplete_predefined_splits_are_rejected():
    manifest = synthetic_manifest(60, IMBALANCED, seed=4)
    mixed = manifest.assign(split=["train"] * 10 + [""] * (len(manifest) - 10))
    mixed.loc[mixed["group"].isin(mixed.loc[:9, "group"]), "split"] = "train"
    with pytest.raises(DataError, match="give every row a split or none"):
        assign_splits(mixed)
    with pytest.raises(DataError, match="predefines only"):
        assign_splits(manifest.assign(split="train"))


def test_small_data_uses_coarser_folds_and_keeps_every_class_in_every_split():
    manifest = synthetic_manifest(10, {"a": 1, "b": 1}, seed=0)
    manifest["label"] = manifest["group"].map(lambda g: "ab"[int(g[1:]) % 2])  # 5 groups per class
    split = assign_splits(manifest, seed=0)
    assert_no_group_leak(split)
    assert (split.groupby("split")["label"].nunique() == 2).all()


def test_class_with_too_few_groups_is_a_clear_error():
    manifest = synthetic_manifest(40, {"common": 1}, seed=0)
    rare = manifest.iloc[:2].assign(label="rare", group=["r1", "r2"], path=["r1.wav", "r2.wav"])
    with pytest.raises(DataError, match="class 'rare' has 2 groups"):
        assign_splits(pd.concat([manifest, rare], ignore_index=True))


@pytest.mark.parametrize(
    "fractions, key",
    [
        ({"train": 0.8, "val": 0.15, "test": 0.15}, "sum to 1"),
        ({"train": 0.85, "val": 0.0, "test": 0.15}, "prepare.split.val"),
        ({"train": 1.2, "val": -0.1, "test": -0.1}, "prepare.split.train"),
    ],
)
def test_fractions_are_validated(fractions, key):
    with pytest.raises(ConfigError, match=key):
        assign_splits(synthetic_manifest(30, IMBALANCED), **fractions)


def test_fsdd_split_keeps_each_speaker_in_one_split(fsdd_root):
    manifest = fsdd.load(fsdd_root).manifest
    for seed in range(3):
        split = assign_splits(manifest, seed=seed)
        assert_no_group_leak(split)
        assert split.groupby("split")["group"].nunique().to_dict() == {"train": 4, "val": 1, "test": 1}
        assert (split.groupby("split")["label"].nunique() == 10).all()


def test_scarcity_subsets_are_nested_exact_and_seeded():
    manifest = assign_splits(synthetic_manifest(300, {"a": 1, "b": 1, "c": 1}, seed=5), seed=0)
    sizes = [4, 8, 16, 32]
    subsets = scarcity_subsets(manifest, sizes, seed=0)
    assert list(subsets) == sizes
    labels = manifest.set_index("path")["label"]
    for small, large in zip(sizes, sizes[1:]):
        assert set(subsets[small]) < set(subsets[large])
    for n, paths in subsets.items():
        assert paths == sorted(paths)
        assert labels[paths].value_counts().to_dict() == {"a": n, "b": n, "c": n}
        assert set(manifest.set_index("path").loc[paths, "split"]) == {"train"}
    assert scarcity_subsets(manifest.sample(frac=1, random_state=1), sizes, seed=0) == subsets
    assert scarcity_subsets(manifest, sizes, seed=1)[8] != subsets[8]


def test_scarcity_held_back_files_are_the_ones_larger_subsets_add_next_and_only_training_files():
    manifest = assign_splits(synthetic_manifest(300, {"a": 1, "b": 1, "c": 1}, seed=5), seed=0)
    subsets = scarcity_subsets(manifest, [4, 8], seed=0)
    held_back = scarcity_held_back(manifest, 4, seed=0)
    split = manifest.set_index("path")["split"]
    labels = manifest.set_index("path")["label"]
    train_counts = manifest[manifest["split"] == "train"]["label"].value_counts()
    for label, files in held_back.items():
        assert set(split[files]) == {"train"} and set(labels[files]) == {label}
        assert not set(files) & set(subsets[4]) and len(files) == train_counts[label] - 4
        # The first four are those the 8-file subset adds to the 4-file one.
        assert set(files[:4]) == {f for f in set(subsets[8]) - set(subsets[4]) if labels[f] == label}
    assert scarcity_held_back(manifest.sample(frac=1, random_state=2), 4, seed=0) == held_back


def test_scarcity_subset_larger_than_a_class_is_an_error():
    manifest = assign_splits(synthetic_manifest(60, {"a": 1, "b": 1}, seed=5), seed=0)
    smallest = manifest[manifest["split"] == "train"]["label"].value_counts()
    n = int(smallest.min()) + 1
    with pytest.raises(DataError, match=f"n={n} .*class '{smallest.idxmin()}' has only {smallest.min()}"):
        scarcity_subsets(manifest, [4, n], seed=0)
    with pytest.raises(ConfigError, match="n_per_class"):
        scarcity_subsets(manifest, [0, 4], seed=0)
