"""The scarcity sweep keeps each point inside its data budget: normalization and model selection."""

from __future__ import annotations

import contextlib
import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synthaug import sweep
from synthaug.datasets.splits import scarcity_held_back, scarcity_subsets
from synthaug.errors import DataError
from synthaug.features import fit_normalizer
from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set
from synthaug.stages import scarcity
from synthaug.sweep import subset_normalization

CLASSES = ["a", "b"]
N_MELS, FRAMES = 6, 5


def spectrograms(files: list[str], labels: list[int], rng: np.random.Generator, clips_per_file: int = 2) -> SpectrogramSet:
    """Log-mels in dB whose level and spread differ per file, so subsets have statistics of their own."""
    x, y, ids = [], [], []
    for index, (name, label) in enumerate(zip(files, labels)):
        level = -60.0 + 7.0 * index + 3.0 * np.arange(N_MELS)[:, None]
        for _ in range(clips_per_file):
            x.append(level + (1.0 + index) * rng.normal(size=(N_MELS, FRAMES)))
            y.append(label)
            ids.append(name)
    return SpectrogramSet(
        x=np.asarray(x, np.float32)[:, None],
        y=np.asarray(y, np.int64),
        file_id=np.asarray(ids),
        class_names=CLASSES,
        feature_params={},
        metadata={},
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> dict:
    """A manifest, featurize's outputs (normalized with the whole training split) and a params file."""
    rng = np.random.default_rng(0)
    rows, raw = [], {}
    for split, per_class in (("train", 4), ("val", 3), ("test", 2)):
        files = [f"{split}/{c}{i}.wav" for c in CLASSES for i in range(per_class)]
        labels = [c for c in range(len(CLASSES)) for _ in range(per_class)]
        raw[split] = spectrograms(files, labels, rng)
        rows += [
            {"path": f, "label": CLASSES[y], "group": f, "split": split, "source": "s", "duration_s": 1.0, "sample_rate": 16000}
            for f, y in zip(files, labels)
        ]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    features = tmp_path / "features"
    stored = fit_normalizer(raw["train"].x)
    for split, s in raw.items():
        save_spectrogram_set(features / f"{split}.npz", SpectrogramSet(stored.apply(s.x), s.y, s.file_id, CLASSES))
    (features / "normalizer.json").write_text(json.dumps(stored.to_dict()))
    monkeypatch.chdir(tmp_path)  # checkpoints/ goes here
    return {"root": tmp_path, "manifest": manifest, "features": features, "raw": raw, "stored": stored}


def params_file(root: Path, early_stopping: bool) -> Path:
    params = {
        "dataset": {"name": "toy", "protocol": "industrial", "adapter": "folder", "root": "data"},
        "train_generator": {"classes": "all", "models": {"cgan": {}}},
        "synthesize": {"n_per_class": 3},
        "train_classifier": {"model": {"architecture": "three_layer_cnn"}, "epochs": 7, "patience": 2},
        "scarcity": {"files_per_class": [1, 2], "trials": [0], "early_stopping": early_stopping},
    }
    path = root / f"params-{early_stopping}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


class FakeGenerator:
    history = [{"loss": 0.0}]


def run_point(project: dict, monkeypatch, early_stopping: bool, files_per_class: int = 2) -> tuple[dict, list[dict]]:
    """scarcity.main with the GAN, the classifier runs and MLflow replaced by recorders of what they were given."""
    seen: dict = {}
    calls: list[dict] = []

    def fit_models(name, config, x, y, class_names, **kwargs):
        seen["gan_x"] = x
        return [(types.SimpleNamespace(key="all"), FakeGenerator())]

    def sample_classes(models, counts, class_names, *, seed, batch_size):
        n = sum(counts.values())
        return np.zeros((n, 1, N_MELS, FRAMES), np.float32), np.repeat(np.arange(len(class_names)), n // len(class_names))

    def run_classifier(name, seed, data, settings, out_dir, checkpoints, context, *, augment=None):
        calls.append({"variant": name, "data": data, "patience": settings.patience, "epochs": settings.epochs})
        Path(out_dir).mkdir(parents=True)
        return {"test": {"file": {"accuracy": 0.5, "macro_f1": 0.5, "auroc": 0.5}}}

    @contextlib.contextmanager
    def stage_run(**kwargs):
        yield types.SimpleNamespace(info=types.SimpleNamespace(run_id="gan-run"))

    # The point's chain lives in synthaug.sweep; the stage composes it.
    monkeypatch.setattr(sweep, "fit_models", fit_models)
    monkeypatch.setattr(sweep, "sample_classes", sample_classes)
    monkeypatch.setattr(sweep, "by_class", lambda trained, class_names: {})
    monkeypatch.setattr(sweep, "run_classifier", run_classifier)
    monkeypatch.setattr(
        sweep, "real_vs_synthetic", lambda *a: types.SimpleNamespace(savefig=lambda path, dpi: Path(path).touch())
    )
    monkeypatch.setattr(scarcity.tracking, "stage_run", stage_run)
    monkeypatch.setattr(scarcity.tracking, "log_counts", lambda *a, **k: None)
    monkeypatch.setattr(scarcity.tracking, "log_figure", lambda *a, **k: None)
    out = project["root"] / f"out-{early_stopping}"
    scarcity.main(
        files_per_class,
        0,
        params_file(project["root"], early_stopping),
        project["manifest"],
        project["features"],
        out,
        project["root"] / f"metrics-{early_stopping}.json",
        project_root=project["root"],
    )
    seen["out"] = out
    return seen, calls


def test_normalizer_is_fitted_on_the_subset_alone(project):
    raw, stored = project["raw"], project["stored"]
    train = SpectrogramSet(stored.apply(raw["train"].x), raw["train"].y, raw["train"].file_id, CLASSES)
    chosen = np.isin(train.file_id, ["train/a0.wav", "train/b1.wav"])
    others = {s: SpectrogramSet(stored.apply(raw[s].x), raw[s].y, raw[s].file_id, CLASSES) for s in ("val", "test")}
    normalizer, subset, renormalized = subset_normalization(train, chosen, stored, others)

    subset_db = raw["train"].x[chosen].astype(np.float64)
    np.testing.assert_allclose(normalizer.mean, subset_db.mean(axis=(0, 1, 3)), rtol=0, atol=1e-3)
    np.testing.assert_allclose(normalizer.std, subset_db.std(axis=(0, 1, 3)), rtol=1e-4)
    whole = fit_normalizer(raw["train"].x)
    assert np.abs(normalizer.mean - whole.mean).max() > 1.0  # the subset's statistics, not the split's
    # The subset is z-scored with its own statistics; val and test with the same ones.
    np.testing.assert_allclose(subset.x.mean(axis=(0, 1, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(subset.x.std(axis=(0, 1, 3)), 1, atol=1e-4)
    expected_val = (raw["val"].x - normalizer.mean[None, None, :, None]) / normalizer.std[None, None, :, None]
    np.testing.assert_allclose(renormalized["val"].x, expected_val, atol=1e-4)
    assert list(subset.file_id) == list(train.file_id[chosen]) and len(renormalized["test"]) == len(raw["test"])


def test_fixed_epochs_keep_the_last_epoch_and_read_no_validation_subset(project, monkeypatch):
    seen, calls = run_point(project, monkeypatch, early_stopping=False)
    assert [c["variant"] for c in calls] == [*scarcity.VARIANTS, "real_ceiling"]
    assert all(c["patience"] is None and c["epochs"] == 7 for c in calls)  # no early stopping: the last epoch
    saved = json.loads((seen["out"] / "normalizer.json").read_text())
    subset = [line for line in (seen["out"] / "subset.txt").read_text().split() if line]
    subset_db = project["raw"]["train"].x[np.isin(project["raw"]["train"].file_id, subset)]
    np.testing.assert_allclose(saved["mean"], subset_db.mean(axis=(0, 1, 3), dtype=np.float64), atol=1e-3)
    # The GAN and the classifiers train on the subset's z-scores.
    np.testing.assert_allclose(seen["gan_x"].mean(axis=(0, 1, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(calls[0]["data"].channel_std, saved["std"], rtol=1e-6)
    point = json.loads((seen["out"] / "point.json").read_text())
    assert point["selection"] == {"early_stopping": False, "epochs": 7, "kept": "last epoch"}
    assert not (seen["out"] / "val_subset.txt").exists()


def test_the_ceiling_adds_clips_of_the_files_larger_subsets_add_next_and_never_validation_or_test(project, monkeypatch):
    seen, calls = run_point(project, monkeypatch, early_stopping=False, files_per_class=1)
    manifest = pd.read_csv(project["manifest"])
    subset = (seen["out"] / "subset.txt").read_text().split()
    added = (seen["out"] / "ceiling.txt").read_text().split()
    # n_per_class 3 at 2 clips per file: two held-back files per class, the first a 2-file subset adds.
    two_files = set(scarcity_subsets(manifest, [2], seed=0)[2])
    assert len(added) == 4 and not set(added) & set(subset)
    assert set(manifest.set_index("path").loc[added, "split"]) == {"train"}
    assert two_files - set(subset) <= set(added)
    ceiling = next(c for c in calls if c["variant"] == "real_ceiling")
    assert ceiling["data"].n_synthetic == 6 and np.bincount(ceiling["data"].train_y[-6:]).tolist() == [3, 3]
    # The extra rows are those files' clips, z-scored with the subset's statistics like everything else.
    saved = json.loads((seen["out"] / "normalizer.json").read_text())
    raw = project["raw"]["train"]
    extra_raw = raw.x[np.isin(raw.file_id, added)]
    mean, std = np.asarray(saved["mean"])[None, None, :, None], np.asarray(saved["std"])[None, None, :, None]
    candidates = (extra_raw - mean) / std
    for row in ceiling["data"].train_x[-6:]:
        assert np.abs(candidates - row).reshape(len(candidates), -1).max(axis=1).min() < 1e-3
    point = json.loads((seen["out"] / "point.json").read_text())
    assert point["ceiling"] == {"files": 4, "clips_per_class": {"a": 3, "b": 3}}


def test_the_largest_subset_of_a_data_set_has_no_ceiling(project, monkeypatch):
    held_back = scarcity_held_back(pd.read_csv(project["manifest"]), 4, seed=0)
    assert held_back == {"a": [], "b": []}
    rows = sweep.held_back_rows(project["raw"]["train"], held_back, {"a": 3, "b": 3}, at_most=True)
    assert rows is None


def test_early_stopping_reads_a_validation_subset_of_the_same_budget(project, monkeypatch):
    seen, calls = run_point(project, monkeypatch, early_stopping=True)
    val_files = (seen["out"] / "val_subset.txt").read_text().split()
    manifest = pd.read_csv(project["manifest"]).set_index("path")
    assert all(manifest.loc[f, "split"] == "val" for f in val_files)
    assert sorted(manifest.loc[val_files, "label"].value_counts().tolist()) == [2, 2]  # 2 files per class
    for call in calls:
        assert call["patience"] == 2
        assert sorted(set(call["data"].val.file_id)) == val_files  # early stopping sees only the budget
        assert len(call["data"].test) == len(project["raw"]["test"])  # tested on the whole test split
    # Nested: the 1-file budget lies inside the 2-file one.
    manifest_frame = pd.read_csv(project["manifest"])
    assert set(scarcity.validation_budget(manifest_frame, 1, 0)) <= set(val_files)


def test_a_validation_budget_larger_than_the_validation_split_names_the_key(project):
    with pytest.raises(DataError, match="scarcity.early_stopping: true.*4 validation files per class.*early_stopping: false"):
        scarcity.validation_budget(pd.read_csv(project["manifest"]), 4, 0)
