"""The train_generator stage: MLflow metrics indexed by optimizer step, metrics JSON, the time-cap note,
and the snapshot chosen by fidelity."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set

SHAPE = (1, 16, 12)


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    rng = np.random.default_rng(0)
    y = np.array([0] * 12 + [1] * 6)
    train = SpectrogramSet(
        x=rng.standard_normal((len(y), *SHAPE)).astype(np.float32),
        y=y,
        file_id=np.array([f"f{i}" for i in range(len(y))]),
        class_names=["healthy", "positive"],
    )
    (tmp_path / "features").mkdir()
    save_spectrogram_set(tmp_path / "features" / "train.npz", train)
    with contextlib.chdir(tmp_path):
        yield tmp_path


def save_validation(root: Path, positives: int) -> None:
    """A validation split of 12 negative files and `positives` positive ones, each file its own group."""
    rng = np.random.default_rng(1)
    y = np.array([0] * 12 + [1] * positives)
    val = SpectrogramSet(
        x=rng.standard_normal((len(y), *SHAPE)).astype(np.float32),
        y=y,
        file_id=np.array([f"v{i}" for i in range(len(y))]),
        class_names=["healthy", "positive"],
    )
    save_spectrogram_set(root / "features" / "val.npz", val)


def run_stage(root: Path, vae: dict, **settings) -> dict:
    import mlflow

    from synthaug.stages import train_generator

    params = {
        "dataset": {"name": "stage-test", "adapter": "demo", "root": "data"},
        "train_generator": {
            "log_every": 2,
            "checkpoint_every": 2,
            "grid_every": 4,
            **settings,
            "models": {"vae": {"batch_size": 4, "width": 0.0625, "latent_dim": 4, **vae}},
        },
        "audit": {"repeats": 2},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    train_generator.main("vae", root / "params.yaml", root / "features", root / "out", root / "metrics.json", project_root=root)
    index = json.loads((root / "out" / "generators.json").read_text())
    client = mlflow.MlflowClient()
    run = client.get_run(index["mlflow_run_id"])
    history = client.get_metric_history(run.info.run_id, "class-positive.loss")
    return {
        "metrics": json.loads((root / "metrics.json").read_text()),
        "run": run,
        "loss_steps": [m.step for m in history],
        "artifacts": client.list_artifacts(run.info.run_id, "samples/class-positive"),
        "served": torch.load(root / "out" / "class-positive.pt", weights_only=True),
        "selection_curve": [
            m.step for m in client.get_metric_history(run.info.run_id, "selection.class-positive.two_sample_auroc")
        ],
    }


@pytest.mark.slow  # the stage on a featurized project
def test_losses_are_logged_by_optimizer_step_with_grids_and_final_metrics(project):
    result = run_stage(project, {"steps": 6, "ema_decay": 0.5})
    assert result["loss_steps"] == [2, 4, 6]
    model = result["metrics"]["models"]["class-positive"]
    assert model["steps"] == 6 and model["steps_budget"] == 6 and model["stopped_by"] == "steps" and model["n_train"] == 6
    assert "synthaug.stopped_by" not in result["run"].data.tags
    grids = sorted(Path(a.path).name for a in result["artifacts"])
    assert grids == ["final.png", "step_000004.png"]


@pytest.mark.slow  # the stage on a featurized project
def test_a_time_cap_ends_training_early_and_says_so(project):
    result = run_stage(project, {"steps": 500, "max_minutes": 1e-9})
    model = result["metrics"]["models"]["class-positive"]
    assert model["steps"] == 1 and model["steps_budget"] == 500 and model["stopped_by"] == "max_minutes"
    assert result["run"].data.tags["synthaug.stopped_by"] == "max_minutes"
    assert result["loss_steps"] == [1]


@pytest.mark.slow  # the stage on a featurized project
def test_snapshots_are_scored_on_the_selection_half_and_the_chosen_one_is_served(project):
    save_validation(project, positives=12)
    result = run_stage(project, {"steps": 6}, fidelity_snapshots=3)
    selection = result["metrics"]["models"]["class-positive"]["selection"]
    assert sorted(int(step) for step in selection["curve"]) == [2, 4, 6] and selection["last_step"] == 6
    chosen = selection["chosen_step"]
    assert chosen in (2, 4, 6)
    # The served model is the snapshot itself: its training state stops at the chosen step.
    assert result["served"]["steps_done"] == chosen == result["metrics"]["models"]["class-positive"]["steps"]
    assert result["selection_curve"] == [2, 4, 6]  # the curve in MLflow, by optimizer step
    assert not any(project.joinpath("checkpoints").rglob("step_*.pt"))  # snapshots go with the checkpoints


@pytest.mark.slow  # the stage on a featurized project
def test_choosing_snapshots_without_enough_validation_groups_is_refused_before_training(project):
    from synthaug.errors import ConfigError

    save_validation(project, positives=1)
    with pytest.raises(ConfigError, match=r"train_generator.fidelity_snapshots: class 'positive' has \d group"):
        run_stage(project, {"steps": 6}, fidelity_snapshots=3)
    assert not (project / "out").exists()


@pytest.mark.slow  # the stage on a featurized project
def test_the_averaging_length_is_chosen_at_the_served_step_and_the_served_model_samples_with_it(project):
    from synthaug.errors import ConfigError

    save_validation(project, positives=12)
    result = run_stage(project, {"steps": 6, "ema_decay": 0.5, "ema_candidates": [0.9]}, fidelity_snapshots=3)
    ema = result["metrics"]["models"]["class-positive"]["selection"]["ema"]
    assert sorted(ema["curve"]) == ["0.5", "0.9"] and ema["configured_decay"] == 0.5
    assert ema["chosen_decay"] in (0.5, 0.9)
    served = result["served"]
    assert served["config"]["ema_decay"] == ema["chosen_decay"]  # the served model samples with the chosen length
    assert list(served["ema_alternatives"]) == [repr(0.9 if ema["chosen_decay"] == 0.5 else 0.5)]
    with pytest.raises(ConfigError, match=r"vae.ema_candidates: \[0.9\] are averaging lengths for the snapshot choice"):
        run_stage(project, {"steps": 6, "ema_decay": 0.5, "ema_candidates": [0.9]})
