"""The medical scarcity sweep: minority subsets by group, a ceiling drawn only from held-back training
groups, and the statistics that read a gain as a share of the ceiling's."""

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
from synthaug.datasets.splits import held_back_files, minority_subsets
from synthaug.errors import DataError
from synthaug.evaluation.formatting import share_text, verdict, verdict_sentence
from synthaug.evaluation.statistics import share_of_gain
from synthaug.features import fit_normalizer
from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set
from synthaug.stages import minority_scarcity

CLASSES = ["negative", "positive"]
N_MELS, FRAMES = 4, 3


def manifest_frame() -> pd.DataFrame:
    """Participants with two recordings each: 12 negative and 10 positive groups in train, 3 + 3 in val and test."""
    rows = []
    for split, n_neg, n_pos in (("train", 12, 10), ("val", 3, 3), ("test", 3, 3)):
        for label, n in (("negative", n_neg), ("positive", n_pos)):
            for g in range(n):
                group = f"{split}-{label}-p{g}"
                rows += [
                    {
                        "path": f"{group}-r{r}.wav",
                        "label": label,
                        "group": group,
                        "split": split,
                        "source": "s",
                        "duration_s": 1.0,
                        "sample_rate": 16000,
                    }
                    for r in range(2)
                ]
    return pd.DataFrame(rows)


def test_minority_subsets_keep_whole_groups_nested_with_the_majority_whole():
    manifest = manifest_frame()
    subsets = minority_subsets(manifest, ["positive"], [0.1, 0.5, 1.0], seed=3)
    train = manifest[manifest["split"] == "train"].set_index("path")
    negatives = set(train.index[train["label"] == "negative"])
    for fraction, paths in subsets.items():
        chosen = train.loc[paths]
        assert negatives <= set(paths)  # the majority stays whole
        positive_groups = chosen.loc[chosen["label"] == "positive", "group"].unique()
        assert len(positive_groups) == max(1, round(fraction * 10))
        # Whole participants: every recording of a kept group is kept.
        assert set(train.index[train["group"].isin(positive_groups)]) <= set(paths)
    assert set(subsets[0.1]) <= set(subsets[0.5]) <= set(subsets[1.0])
    assert minority_subsets(manifest.sample(frac=1, random_state=0), ["positive"], [0.5], seed=3)[0.5] == subsets[0.5]
    assert minority_subsets(manifest, ["positive"], [0.5], seed=4)[0.5] != subsets[0.5]


def test_the_ceiling_draws_only_held_back_training_groups_never_validation_or_test():
    manifest = manifest_frame()
    subsets = minority_subsets(manifest, ["positive"], [0.3, 0.5], seed=1)
    held = held_back_files(manifest, subsets[0.3], ["positive"], seed=1)["positive"]
    rows = manifest.set_index("path").loc[held]
    assert (rows["split"] == "train").all() and (rows["label"] == "positive").all()
    assert not set(held) & set(subsets[0.3])
    assert len(held) == 2 * 7  # the 7 positive training groups left out, both recordings each
    # Held-back files come in the order a larger share would add them: the front of the list is what 0.5 adds.
    added = sorted(set(subsets[0.5]) - set(subsets[0.3]))
    assert sorted(held[: len(added)]) == added
    with pytest.raises(DataError, match="partly in the subset"):
        held_back_files(manifest, subsets[0.3] + [held[0]], ["positive"], seed=1)


def test_held_back_rows_give_exact_counts_in_order_and_refuse_a_short_supply():
    ids = np.array(["a", "a", "b", "c", "c"])
    train = SpectrogramSet(np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1), np.ones(5, np.int64), ids, CLASSES)
    x, y, used = sweep.held_back_rows(train, {"positive": ["c", "a"]}, {"positive": 3})
    assert x.ravel().tolist() == [3.0, 4.0, 0.0] and used == ["a", "c"]
    assert sweep.held_back_rows(train, {"positive": ["b"]}, {"positive": 2}) is None
    # at_most (the industrial ceiling): all of a short supply, None only when there is none.
    x, _, used = sweep.held_back_rows(train, {"positive": ["b"]}, {"positive": 2}, at_most=True)
    assert x.ravel().tolist() == [2.0] and used == ["b"]
    assert sweep.held_back_rows(train, {"positive": []}, {"positive": 2}, at_most=True) is None


def test_share_of_the_ceiling_is_one_for_the_ceiling_itself_and_zero_for_the_baseline():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    groups = np.arange(80) // 2

    def proba(signal: float) -> np.ndarray:
        p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=(3, 80)))))
        return np.stack([1 - p, p], axis=-1)

    base, ceiling = proba(0.3), proba(2.0)
    same = share_of_gain(y, base, ceiling, ceiling, "auroc", groups=groups, n_resamples=200)
    assert same["share"] == pytest.approx(1.0) and same["ci_low"] == pytest.approx(1.0) and same["ci_high"] == pytest.approx(1.0)
    assert same["ceiling_ci_low"] > 0  # a strong ceiling's gain is resolved
    none = share_of_gain(y, base, base, ceiling, "auroc", groups=groups, n_resamples=200)
    assert none["share"] == pytest.approx(0.0)
    half = share_of_gain(y, base, proba(0.9), ceiling, "auroc", groups=groups, n_resamples=200)
    assert 0 < half["share"] < 1 and half["ci_low"] < half["share"] < half["ci_high"]


def test_verdicts_read_the_holm_p_value_and_refuse_a_share_of_an_unresolved_ceiling():
    helps = {"difference": 0.05, "ci_low": 0.01, "ci_high": 0.09, "p_value": 0.001, "p_holm": 0.004}
    hurts = {**helps, "difference": -0.05, "ci_low": -0.09, "ci_high": -0.01}
    raw_only = {**helps, "p_holm": 0.2}  # significant before Holm, not after
    assert (verdict(helps), verdict(hurts), verdict(raw_only)) == ("helps", "hurts", "no detectable effect")
    sentence = verdict_sentence("+ ddpm", {"auroc": helps, "macro_f1": hurts}, {"auroc": "AUROC"}, {"auroc": 0.03})
    assert sentence.startswith("**+ ddpm**: mixed") and "resolution ±0.030" in sentence
    assert "no detectable effect at this resolution" in verdict_sentence("+ vae", {"auroc": raw_only}, {})
    resolved = {"share": 0.4, "ci_low": 0.1, "ci_high": 0.7, "ceiling_gain": 0.05, "ceiling_ci_low": 0.01}
    assert share_text(resolved) == "captures 40% [10%, 70%] of the ceiling's gain"
    assert share_text({**resolved, "ceiling_ci_low": -0.01}).startswith("no share of the ceiling")


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> dict:
    manifest = manifest_frame()
    rng = np.random.default_rng(0)
    features = tmp_path / "features"
    raw = {}
    for split in ("train", "val", "test"):
        rows = manifest[manifest["split"] == split]
        y = (rows["label"] == "positive").to_numpy().astype(np.int64)
        x = (rng.normal(size=(len(rows), 1, N_MELS, FRAMES)) - 40 + 5 * y[:, None, None, None]).astype(np.float32)
        raw[split] = SpectrogramSet(x, y, rows["path"].to_numpy(), CLASSES)
    stored = fit_normalizer(raw["train"].x)
    for split, s in raw.items():
        save_spectrogram_set(features / f"{split}.npz", SpectrogramSet(stored.apply(s.x), s.y, s.file_id, CLASSES))
    (features / "normalizer.json").write_text(json.dumps(stored.to_dict()))
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    params = {
        "dataset": {"name": "toy", "protocol": "medical", "adapter": "folder", "root": "data"},
        "train_generator": {"classes": "minority", "models": {"ddpm": {}}},
        "synthesize": {"minority_ratio": 0.5},
        "train_classifier": {"model": {"architecture": "three_layer_cnn"}, "epochs": 3, "patience": 2},
        "minority_scarcity": {"fractions": [0.3, 1.0], "trials": [0], "generators": ["ddpm"]},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)  # checkpoints/ goes here
    return {"root": tmp_path, "manifest": tmp_path / "manifest.csv", "features": features}


def run_point(project: dict, monkeypatch, fraction: float) -> tuple[dict, list[dict], Path]:
    """minority_scarcity.main with the generator, the classifier runs and MLflow replaced by recorders."""
    seen: dict = {}
    calls: list[dict] = []

    def fit_models(name, config, x, y, class_names, *, mode, **kwargs):
        seen["generator_y"], seen["mode"] = y, mode
        return [(types.SimpleNamespace(key="class-positive"), types.SimpleNamespace(history=[{"loss": 0.0}]))]

    def sample_classes(models, counts, class_names, *, seed, batch_size):
        n = counts["positive"]
        return np.full((n, 1, N_MELS, FRAMES), 99.0, np.float32), np.ones(n, np.int64)

    def run_classifier(name, seed, data, settings, out_dir, checkpoints, context, *, augment=None):
        calls.append({"arm": name, "data": data, "augment": augment, "patience": settings.patience})
        Path(out_dir).mkdir(parents=True)
        return {"test": {"file": {"auroc": 0.5, "macro_f1": 0.5}}}

    @contextlib.contextmanager
    def stage_run(**kwargs):
        yield types.SimpleNamespace(info=types.SimpleNamespace(run_id="generator-run"))

    monkeypatch.setattr(sweep, "fit_models", fit_models)
    monkeypatch.setattr(sweep, "sample_classes", sample_classes)
    monkeypatch.setattr(sweep, "by_class", lambda trained, class_names: {})
    monkeypatch.setattr(sweep, "run_classifier", run_classifier)
    monkeypatch.setattr(sweep.tracking, "stage_run", stage_run)
    monkeypatch.setattr(sweep.tracking, "log_counts", lambda *a, **k: None)
    monkeypatch.setattr(sweep.tracking, "log_figure", lambda *a, **k: None)
    out = project["root"] / f"out-{fraction}"
    minority_scarcity.main(
        fraction, 0, project["root"] / "params.yaml", project["manifest"], project["features"], out, project["root"] / "m.json"
    )
    return seen, calls, out


def test_a_point_trains_every_arm_on_its_subset_and_the_ceiling_on_held_back_positives(project, monkeypatch):
    seen, calls, out = run_point(project, monkeypatch, 0.3)
    assert [c["arm"] for c in calls] == ["baseline", "classic_augmentation", "ddpm", "real_ceiling"]
    subset = (out / "subset.txt").read_text().split()
    ceiling = (out / "ceiling.txt").read_text().split()
    manifest = pd.read_csv(project["manifest"]).set_index("path")
    assert seen["mode"] == ["positive"] and (seen["generator_y"] == 1).sum() == 6  # 3 of 10 groups x 2 recordings
    assert not set(ceiling) & set(subset)
    assert set(manifest.loc[ceiling, "split"]) == {"train"} and set(manifest.loc[ceiling, "label"]) == {"positive"}
    baseline, classic, generated, top = (c["data"] for c in calls)
    n_real = len(baseline.train_y)
    # The generator and the ceiling add the same count, round(0.5 x 6) = 3, as extra (class-weight neutral) rows.
    assert generated.n_synthetic == top.n_synthetic == 3 and len(top.train_y) == len(generated.train_y) == n_real + 3
    assert (generated.train_x[n_real:] == 99.0).all() and not (top.train_x[n_real:] == 99.0).any()
    assert classic.n_synthetic == 0 and calls[1]["augment"] and not calls[0]["augment"]
    assert {c["patience"] for c in calls} == {None}  # fixed epochs: no validation-based choice
    point = json.loads((out / "point.json").read_text())
    assert point["ceiling"] == "added" and point["n_extra"] == {"positive": 3}


def test_the_whole_minority_leaves_no_ceiling(project, monkeypatch):
    _, calls, out = run_point(project, monkeypatch, 1.0)
    assert "real_ceiling" not in [c["arm"] for c in calls]
    assert json.loads((out / "point.json").read_text())["ceiling"] == "too few held-back recordings"
