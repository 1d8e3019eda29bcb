"""A tiny featurized project with trained classifiers in run folders, and an MLflow store to register them in."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest

from synthaug import tracking
from synthaug.classifiers import build_classifier
from synthaug.classifiers.saved import save_classifier
from synthaug.config import load_params
from synthaug.spectrograms import load_spectrogram_set
from synthaug.training import TrainConfig, train_classifier
from tests.test_tuning import make_tiny_project


@pytest.fixture(scope="package")
def project(tmp_path_factory) -> Path:
    """Tiny demo cough set, featurized (no test split), and its own MLflow store (mlflow.db)."""
    return make_tiny_project(tmp_path_factory.mktemp("registry") / "project")


def train_tiny(project: Path, seed: int, epochs: int = 1):
    """A classifier trained `epochs` on the project's training split (the params' architecture)."""
    params = load_params(project / "params.yaml")
    train = load_spectrogram_set(project / "outputs/features/train.npz")
    val = load_spectrogram_set(project / "outputs/features/val.npz")
    settings = params.train_classifier
    options = {k: v for k, v in settings.model.items() if k != "architecture"}
    model = build_classifier(
        settings.model["architecture"], len(train.class_names), tuple(train.x.shape[1:]), seed=seed, **options
    )
    config = TrainConfig(seed=seed, epochs=epochs, batch_size=16, lr=1e-3, patience=epochs, device="cpu", num_threads=1)
    result = train_classifier(model, (train.x, train.y), (val.x, val.y, val.file_id), config, progress=False)
    return result.model, settings.model["architecture"], options, train.class_names, tuple(train.x.shape[1:])


def write_run_folder(classifiers_dir: Path, method: str, seed: int, val_macro_f1: float) -> Path:
    """CLASSIFIERS_DIR/METHOD/seedS as the pipeline writes it (model.pt, run.json), with a real MLflow run
    in the store of the project that holds CLASSIFIERS_DIR (its grandparent).

    The validation score is set by the test, so that promotion has known numbers to compare.
    """
    project = classifiers_dir.parents[1]
    model, architecture, options, class_names, input_shape = train_tiny(project, seed)
    run_dir = classifiers_dir / method / f"seed{seed}"
    run_dir.mkdir(parents=True)
    save_classifier(
        run_dir / "model.pt", model, architecture=architecture, options=options, class_names=class_names, input_shape=input_shape
    )
    with (
        contextlib.chdir(project),
        tracking.stage_run(
            project_root=project,
            dataset_name="demo-cough",
            stage="train_classifier",
            protocol="medical",
            params={"seed": seed},
            run_name=f"train_classifier-{method}-seed{seed}",
            tags={"synthaug.method": method, "synthaug.seed": str(seed), "synthaug.synthetic_set": "none"},
        ) as run,
    ):
        pass
    level = {"macro_f1": val_macro_f1, "auroc": 0.5, "accuracy": 0.5, "balanced_accuracy": 0.5}
    summary = {
        "method": method,
        "seed": seed,
        "mlflow_run_id": run.info.run_id,
        "val": {"clip": level, "file": level},
        "test": {"clip": level, "file": level},
    }
    (run_dir / "run.json").write_text(json.dumps(summary))
    return run_dir


@pytest.fixture
def store(project, monkeypatch):
    """MLflow pointed at the project's store, in the project folder."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(project)
    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    return project


def file_level_reference(model, spectrograms) -> dict[str, np.ndarray]:
    """{file id: mean clip probability} of `model` on a featurized split: what the pipeline evaluates."""
    from synthaug.evaluation.metrics import aggregate_by_file
    from synthaug.training import predict_proba

    proba = predict_proba(model, spectrograms.x, device="cpu")
    file_proba, _, file_ids = aggregate_by_file(proba, spectrograms.y, spectrograms.file_id)
    return dict(zip(file_ids, file_proba))
