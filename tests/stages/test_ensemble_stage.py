"""The ensemble stage scores the fitted-weight ensemble on validation data its weights never saw."""

from __future__ import annotations

import contextlib
import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synthaug.evaluation.ensemble import fit_weights, split_validation
from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set
from synthaug.stages import ensemble

CLASSES = ["negative", "positive"]
MEMBERS = ["baseline", "vae"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> dict:
    """Two members' predictions (one seed) on 24 validation and 10 test files; 3 files per participant.

    MLflow logging is replaced by no-ops: the test is about what is fitted and scored, not logged.
    """
    import mlflow

    @contextlib.contextmanager
    def stage_run(**kwargs):
        yield types.SimpleNamespace(info=types.SimpleNamespace(run_id="run"))

    monkeypatch.setattr(ensemble.tracking, "stage_run", stage_run)
    monkeypatch.setattr(ensemble.tracking, "log_figure", lambda *a, **k: None)
    monkeypatch.setattr(ensemble.tracking, "log_file", lambda *a, **k: None)
    monkeypatch.setattr(mlflow, "log_metrics", lambda *a, **k: None)
    rng = np.random.default_rng(0)
    rows, frames = [], {}
    for split, n in (("val", 24), ("test", 10)):
        paths = [f"{split}/f{i:02d}.wav" for i in range(n)]
        labels = [CLASSES[(i // 3) % 2] for i in range(n)]
        rows += [
            {
                "path": p,
                "label": y,
                "group": f"{split}-p{i // 3}",
                "split": split,
                "source": "s",
                "duration_s": 1.0,
                "sample_rate": 16000,
            }
            for i, (p, y) in enumerate(zip(paths, labels))
        ]
        frames[split] = (paths, labels)
    for member, skill in zip(MEMBERS, (0.9, 0.6)):
        run = tmp_path / "classifiers" / member / "seed0"
        run.mkdir(parents=True)
        for split, (paths, labels) in frames.items():
            right = rng.random(len(paths)) < skill
            p_positive = np.where(right == (np.asarray(labels) == "positive"), 0.8, 0.3)
            pd.DataFrame({"file_id": paths, "label": labels, "p_negative": 1 - p_positive, "p_positive": p_positive}).to_csv(
                run / f"predictions_{split}.csv", index=False
            )
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    features = tmp_path / "features"
    save_spectrogram_set(
        features / "val.npz", SpectrogramSet(np.zeros((1, 1, 2, 2), np.float32), np.zeros(1, np.int64), np.array(["x"]), CLASSES)
    )
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "dataset": {"name": "toy", "protocol": "medical", "adapter": "folder", "root": "data"},
                "train_classifier": {"seeds": [0]},
                "ensemble": {"members": MEMBERS, "fit_weights": True},
            }
        )
    )
    return {"root": tmp_path, "params": params, "manifest": manifest, "features": features, "val": frames["val"]}


def test_fitted_weights_come_from_one_validation_half_and_scores_from_the_other(project):
    root = project["root"]
    ensemble.main(
        project["params"],
        root / "classifiers",
        project["features"],
        root / "ensemble",
        root / "metrics.json",
        project_root=root,
        manifest_path=project["manifest"],
    )
    paths, labels = project["val"]
    groups = [f"val-p{i // 3}" for i in range(len(paths))]
    y = pd.Categorical(labels, categories=CLASSES).codes
    fit_half = split_validation(np.asarray(paths), y, np.asarray(groups), seed=0)

    fitted = root / "ensemble" / "fitted" / "seed0"
    scored = pd.read_csv(fitted / "predictions_val.csv")["file_id"]
    assert sorted(scored) == sorted(np.asarray(paths)[~fit_half])  # only the held-out half is scored
    run = json.loads((fitted / "run.json").read_text())
    assert run["weights_fitted_on"] == {"split": "val", "half": "fit", "files": 12, "groups": 4}
    assert run["val_scored_on"] == {"split": "val", "half": "held out", "files": 12, "groups": 4}
    probas = np.stack(
        [
            pd.read_csv(root / "classifiers" / m / "seed0" / "predictions_val.csv")[["p_negative", "p_positive"]].to_numpy()
            for m in MEMBERS
        ]
    )
    np.testing.assert_allclose(run["weights"], fit_weights(y[fit_half], probas[:, fit_half]), atol=1e-9)
    # The equal-weight ensemble fits nothing and is scored on the whole validation split; both on the whole test split.
    equal = root / "ensemble" / "equal" / "seed0"
    assert len(pd.read_csv(equal / "predictions_val.csv")) == len(paths)
    assert len(pd.read_csv(fitted / "predictions_test.csv")) == len(pd.read_csv(equal / "predictions_test.csv")) == 10


def test_too_few_validation_groups_per_class_fit_on_all_of_validation_and_say_so(project, capsys):
    root = project["root"]
    manifest = pd.read_csv(project["manifest"])
    # Every validation file in one participant per class: no half can hold both classes.
    is_val = manifest["split"] == "val"
    manifest.loc[is_val, "group"] = "val-" + manifest.loc[is_val, "label"]
    manifest.to_csv(project["manifest"], index=False)
    ensemble.main(
        project["params"],
        root / "classifiers",
        project["features"],
        root / "ensemble",
        root / "metrics.json",
        project_root=root,
        manifest_path=project["manifest"],
    )
    assert "optimistic" in capsys.readouterr().err
    fitted = root / "ensemble" / "fitted" / "seed0"
    run = json.loads((fitted / "run.json").read_text())
    assert run["weights_fitted_on"]["half"] == "all" and run["val_scored_on"]["half"] == "all (optimistic)"
    assert run["validation_split"].startswith("none:")
    assert len(pd.read_csv(fitted / "predictions_val.csv")) == len(project["val"][0])
