"""End to end: `dvc repro` of prepare + featurize on a tiny demo set in a temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from synthaug.spectrograms import load_spectrogram_set

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def set_params(project: Path, overlay: dict) -> None:
    from synthaug.config import deep_merge

    path = project / "params.yaml"
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(path.read_text()), overlay), sort_keys=False))


def new_project(tmp_path_factory, *profiles: str, target: str | None = None) -> Path:
    """A fresh project with the tiny demo data and the given profiles, after one `dvc repro [target]`."""
    project = tmp_path_factory.mktemp("project")
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO_ROOT / name, project / name)
    for folder in ("src", "profiles"):
        shutil.copytree(REPO_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for profile in ("tiny", *profiles):
        run(["synthaug", "profile", profile], project)
    run(["git", "init", "-q"], project)
    run(["dvc", "init", "-q"], project)
    run(["synthaug", "demo", "data"], project)
    run(["dvc", "add", "data", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "tiny project"], project)
    run(["dvc", "repro", *([target] if target else [])], project)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return new_project(tmp_path_factory)


def test_repro_writes_manifest_features_and_metrics(project: Path):
    manifest = (project / "outputs/prepare/manifest.csv").read_text().splitlines()
    assert manifest[0].startswith("path,label,group,split,source,duration_s,sample_rate")
    assert len(manifest) - 1 == 80  # 40 participants x 2 recordings
    train = load_spectrogram_set(project / "outputs/features/train.npz")
    assert train.x.shape[1:] == (1, 128, 94)
    assert train.class_names == ["negative", "positive"]
    # The normalizer is fitted on train only: train is z-scored per mel channel, the others are not exactly.
    assert np.allclose(train.x.mean(axis=(0, 1, 3)), 0, atol=1e-3)
    assert np.allclose(train.x.std(axis=(0, 1, 3)), 1, atol=1e-2)
    metrics = json.loads((project / "metrics/featurize.json").read_text())
    assert sum(metrics["files"].values()) == 80
    assert json.loads((project / "metrics/prepare.json").read_text())["files"]["total"] == 80


def test_no_group_in_two_splits(project: Path):
    import pandas as pd

    manifest = pd.read_csv(project / "outputs/prepare/manifest.csv")
    assert (manifest.groupby("group")["split"].nunique() == 1).all()


def test_second_repro_changes_nothing(project: Path):
    out = run(["dvc", "repro"], project)
    assert "Running stage" not in out
    assert "up to date" in out


GENERATORS = ("vae", "wgan_gp", "ddpm", "cgan")


def test_baseline_classifier_metrics_predictions_and_curves(project: Path):
    import pandas as pd

    metrics = json.loads((project / "metrics/classifiers/baseline.json").read_text())
    for key in ("macro_f1", "auroc", "accuracy"):
        assert 0.0 <= metrics["test"]["clip"][key] <= 1.0
    shown = run(["dvc", "metrics", "show"], project)
    assert "metrics/classifiers/baseline.json" in shown and "test.clip.macro_f1" in shown
    predictions = pd.read_csv(project / "outputs/classifiers/baseline/predictions_test.csv")
    assert list(predictions.columns) == ["file_id", "label", "p_negative", "p_positive"]
    assert np.allclose(predictions[["p_negative", "p_positive"]].sum(axis=1), 1.0, atol=1e-5)
    test = load_spectrogram_set(project / "outputs/features/test.npz")
    assert len(predictions) == len(test.y)  # the test split holds real data only
    curve = pd.read_csv(project / "plots/classifiers/baseline/learning_curve.csv")
    assert list(curve["epoch"]) == list(range(1, len(curve) + 1))
    for figure in ("learning_curves.png", "confusion_matrix.png", "roc.png"):
        assert (project / "outputs/classifiers/baseline" / figure).is_file()


def test_logged_classifier_loads_back_and_predicts_like_the_pipeline(project: Path):
    import mlflow
    import pandas as pd

    from synthaug import tracking

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    run_ = mlflow.search_runs(
        experiment_names=["synthaug-demo-cough"], filter_string="tags.`synthaug.stage` = 'train_classifier'",
        output_format="list",
    )[0]
    logged = [m for m in mlflow.search_logged_models(experiment_ids=[run_.info.experiment_id], output_format="list")
              if m.source_run_id == run_.info.run_id]
    model = mlflow.pyfunc.load_model(logged[0].model_uri)
    test = load_spectrogram_set(project / "outputs/features/test.npz")
    expected = pd.read_csv(project / "outputs/classifiers/baseline/predictions_test.csv")[["p_negative", "p_positive"]]
    assert np.allclose(np.asarray(model.predict(test.x[:5])), expected.to_numpy()[:5], atol=1e-5)


def test_every_generator_writes_a_labelled_synthetic_minority_set(project: Path):
    train = load_spectrogram_set(project / "outputs/features/train.npz")
    minority = int(np.argmin(np.bincount(train.y)))
    expected = round(0.5 * int((train.y == minority).sum()))
    for name in GENERATORS:
        synthetic = load_spectrogram_set(project / f"outputs/synthetic/{name}/synthetic.npz")
        assert synthetic.x.shape == (expected, *train.x.shape[1:])
        assert (synthetic.y == minority).all() and np.isfinite(synthetic.x).all()
        assert synthetic.metadata["generator"] == name and synthetic.metadata["generator_run_id"]
        assert (project / f"outputs/synthetic/{name}/real_vs_synthetic.png").is_file()
        assert len(list((project / f"outputs/synthetic/{name}/previews").glob("*.wav"))) == 1
    # Training finished, so no checkpoint is left to resume from.
    assert not any((project / "checkpoints").rglob("*.pt"))


def would_run(project: Path) -> set[str]:
    """The stages whose own inputs changed (a dry run executes nothing, so stages further down,
    which run only when these change their outputs, are not listed)."""
    out = run(["dvc", "repro", "--dry"], project)
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def test_generator_param_reruns_only_its_chain(project: Path):
    before = (project / "params.yaml").read_text()
    set_params(project, {"train_generator": {"models": {"vae": {"latent_dim": 64}}}})
    assert would_run(project) == {"train_generator@vae"}  # then synthesize@vae, which reads its output
    (project / "params.yaml").write_text(before)
    assert would_run(project) == set()


def test_featurize_param_reruns_featurize_and_its_dependents_only(project: Path):
    set_params(project, {"featurize": {"n_mels": 64}})
    assert would_run(project) == {"featurize"}
    out = run(["dvc", "repro", "featurize"], project)
    assert "Running stage 'featurize'" in out and "Running stage 'prepare'" not in out
    assert load_spectrogram_set(project / "outputs/features/val.npz").x.shape[2] == 64


def test_mlflow_runs_have_tags_params_and_figures(project: Path):
    import mlflow

    from synthaug import tracking

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    runs = mlflow.search_runs(experiment_names=["synthaug-demo-cough"], output_format="list")
    stages = {run.data.tags["synthaug.stage"] for run in runs}
    assert {"prepare", "featurize", "train_generator", "synthesize", "train_classifier"} <= stages
    by_id = {run.info.run_id: run for run in runs}
    for run in runs:
        if run.data.tags["synthaug.stage"] == "synthesize":  # lineage: synthesis -> generator run
            parent = by_id[run.data.tags["synthaug.generator_run_id"]]
            assert parent.data.tags["synthaug.method"] == run.data.tags["synthaug.method"]
    client = mlflow.MlflowClient()
    for run in runs:
        tags = run.data.tags
        assert tags["synthaug.data_version"] not in ("", "untracked")
        assert tags["mlflow.source.git.commit"] != "unknown"
        assert run.info.status == "FINISHED"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        expected = {"prepare": "examples_per_class.png", "featurize": "examples_per_class.png",
                    "train_generator": "samples", "synthesize": "real_vs_synthetic.png",
                    "train_classifier": "learning_curves.png"}
        assert expected[tags["synthaug.stage"]] in artifacts
    featurize = next(r for r in runs if r.data.tags["synthaug.stage"] == "featurize")
    assert featurize.data.params["featurize.n_fft"] == "2048"
    assert featurize.data.metrics["featurize.files.train"] > 0


def test_machine_profile_cuts_clips_and_keeps_the_predefined_split(tmp_path_factory):
    import pandas as pd

    project = new_project(tmp_path_factory, "machine", target="featurize")
    manifest = pd.read_csv(project / "outputs/prepare/manifest.csv")
    test_files = manifest[manifest["split"] == "test"]["path"]
    assert test_files.str.endswith("_vol100.wav").all() and len(test_files) == 4
    assert set(manifest["split"]) == {"train", "val", "test"}  # val carved out of the predefined train
    test = load_spectrogram_set(project / "outputs/features/test.npz")
    # 6 s recordings, 5 s clips, 50 % overlap: one clip per file; every clip keeps its file id.
    assert test.x.shape[1:] == (1, 128, 157)
    assert sorted(set(test.file_id)) == sorted(test_files)
