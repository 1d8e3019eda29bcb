"""One classifier run: its folder and MLflow run, and a finished run is never trained twice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthaug.classifier_runs import ClassifierData, RunContext, run_classifier
from synthaug.config import TrainClassifierParams
from synthaug.evaluation.run_folder import completed, file_level
from synthaug.spectrograms import SpectrogramSet

pytestmark = pytest.mark.slow  # each test trains and logs a classifier to MLflow


def spectrograms(n: int, seed: int, prefix: str) -> SpectrogramSet:
    rng = np.random.default_rng(seed)
    y = (np.arange(n) // 2) % 2  # two clips per file, files alternate between the classes
    x = rng.normal(size=(n, 1, 16, 12)).astype(np.float32) + y[:, None, None, None].astype(np.float32)
    return SpectrogramSet(x=x, y=y, file_id=np.array([f"{prefix}{i // 2}" for i in range(n)]), class_names=["a", "b"])


@pytest.fixture
def context(tmp_path: Path, monkeypatch) -> RunContext:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    torch.set_num_threads(1)
    return RunContext(tmp_path, "unit", "medical", "train_classifier", tags={"synthaug.synthetic_set": "none"}, log_model=False)


def test_run_writes_its_folder_and_is_not_repeated(tmp_path: Path, context: RunContext):
    import mlflow

    train = spectrograms(32, 0, "t")
    data = ClassifierData(train.x, train.y, spectrograms(12, 1, "v"), spectrograms(12, 2, "s"), channel_std=np.ones(16))
    settings = TrainClassifierParams(model={"architecture": "three_layer_cnn", "width": 4}, epochs=2, patience=2)
    out = tmp_path / "run"
    summary = run_classifier("baseline", 3, data, settings, out, tmp_path / "epochs", context)
    assert completed(out) == json.loads(json.dumps(summary))
    assert {p.name for p in out.iterdir()} >= {
        "model.pt",
        "predictions_val.csv",
        "predictions_test.csv",
        "evaluation.json",
        "learning_curve.csv",
        "roc.png",
        "run.json",
    }
    proba, y, ids = file_level(out, "test", ["a", "b"])
    assert proba.shape == (6, 2) and list(ids) == sorted(ids)  # two clips per file, averaged
    run = mlflow.get_run(summary["mlflow_run_id"])
    assert run.data.tags["synthaug.seed"] == "3" and run.info.status == "FINISHED"

    again = run_classifier("baseline", 3, data, settings, out, tmp_path / "epochs", context)
    assert again == completed(out)
    assert len(mlflow.search_runs(experiment_names=["synthaug-unit"], output_format="list")) == 1


def test_logged_model_input_example_holds_no_recording(tmp_path: Path, context: RunContext):
    """The MLflow model's input example has the input's shape and dtype but no row of any split (test
    data above all: logged models are shared more widely than the data they were measured on)."""
    import mlflow
    from mlflow.models import Model

    train = spectrograms(16, 0, "t")
    data = ClassifierData(train.x, train.y, spectrograms(8, 1, "v"), spectrograms(8, 2, "s"), channel_std=np.ones(16))
    settings = TrainClassifierParams(model={"architecture": "three_layer_cnn", "width": 4}, epochs=1, patience=1)
    context.log_model = True
    summary = run_classifier("baseline", 0, data, settings, tmp_path / "run", tmp_path / "epochs", context)

    run = mlflow.get_run(summary["mlflow_run_id"])
    logged = [
        m
        for m in mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
        if m.source_run_id == run.info.run_id
    ]
    local = mlflow.artifacts.download_artifacts(logged[0].model_uri, dst_path=str(tmp_path / "model"))
    example = np.asarray(Model.load(local).load_input_example(local))
    assert example.shape == (2, *train.x.shape[1:]) and example.dtype == np.float32
    for split in (data.test.x, data.val.x, data.train_x):
        assert not any(np.allclose(row, recording) for row in example for recording in split)


def test_clip_runs_write_file_level_predictions_beside_the_clip_level_ones(tmp_path: Path, context: RunContext):
    """A user computing file-level numbers reads predictions_<split>_files.csv: the report's own averages."""
    import pandas as pd

    from synthaug.evaluation.run_folder import FILE_PREDICTIONS

    train = spectrograms(16, 0, "t")
    data = ClassifierData(train.x, train.y, spectrograms(8, 1, "v"), spectrograms(12, 2, "s"), channel_std=np.ones(16))
    settings = TrainClassifierParams(model={"architecture": "three_layer_cnn", "width": 4}, epochs=1, patience=1)
    out = tmp_path / "run"
    run_classifier("baseline", 0, data, settings, out, tmp_path / "epochs", context)
    for split, n_files in (("val", 4), ("test", 6)):
        files = pd.read_csv(out / FILE_PREDICTIONS.format(split=split), dtype={"file_id": str})
        clips = pd.read_csv(out / f"predictions_{split}.csv", dtype={"file_id": str})
        assert len(files) == n_files and list(files["clips"]) == [2] * n_files
        proba, y, ids = file_level(out, split, ["a", "b"])
        assert list(files["file_id"]) == list(ids) and list(files["label"]) == list(np.array(["a", "b"])[y])
        np.testing.assert_allclose(files[["p_a", "p_b"]].to_numpy(), proba)
        first = clips[clips["file_id"] == ids[0]][["p_a", "p_b"]].mean().to_numpy()
        np.testing.assert_allclose(files.loc[0, ["p_a", "p_b"]].to_numpy(float), first)

    # One spectrogram per file (crop mode): the clip-level file is already file level, no second one.
    one_each = SpectrogramSet(x=data.test.x[::2], y=data.test.y[::2], file_id=data.test.file_id[::2], class_names=["a", "b"])
    crop = ClassifierData(train.x, train.y, one_each, one_each, channel_std=np.ones(16))
    run_classifier("baseline", 0, crop, settings, tmp_path / "crop", tmp_path / "epochs-crop", context)
    assert not list((tmp_path / "crop").glob("predictions_*_files.csv"))
