"""synthaug.tracking: where runs go and how they look in MLflow 3 (experiment kind, git tags, data
set inputs with their DVC hashes), joining the run `mlflow run` opened, and an MLproject entry point
run the way MLflow users run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import yaml

from synthaug import tracking

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty project folder with its own SQLite store, no MLflow variables from the caller."""
    import mlflow

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(tracking.default_tracking_uri(tmp_path))
    yield tmp_path
    while mlflow.active_run():
        mlflow.end_run()


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True, capture_output=True
    )


def test_git_commit_tag_is_the_bare_commit_and_a_separate_tag_says_dirty(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    git(tmp_path, "add", "params.yaml")
    git(tmp_path, "commit", "-q", "-m", "first")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()

    assert tracking.git_tags(tmp_path) == {"mlflow.source.git.commit": commit, "synthaug.git_dirty": "false"}
    (tmp_path / "untracked.txt").write_text("not part of the code")  # untracked files do not make it dirty
    assert tracking.git_tags(tmp_path)["synthaug.git_dirty"] == "false"
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert tracking.git_tags(tmp_path) == {"mlflow.source.git.commit": commit, "synthaug.git_dirty": "true"}
    outside = tmp_path.parent / f"{tmp_path.name}-not-a-repo"
    outside.mkdir()
    assert tracking.git_tags(outside) == {}  # no commit to name: no tag rather than a made-up one


def test_dvc_md5_is_the_hash_dvc_records(tmp_path):
    from dvc_data.hashfile.hash import file_md5

    path = tmp_path / "train.npz"
    np.savez(path, x=np.arange(1000, dtype=np.float32))
    assert tracking.dvc_md5(path) == file_md5(str(path))
    np.savez(path, x=np.arange(1001, dtype=np.float32))  # a new file at the same path is hashed again
    assert tracking.dvc_md5(path) == file_md5(str(path))


def test_experiments_open_on_training_runs_and_a_chosen_kind_is_kept(store):
    import mlflow

    kind = tracking.EXPERIMENT_KIND_TAG
    new = tracking.use_project_store(store, "demo-cough")
    assert mlflow.get_experiment(new).tags[kind] == "custom_model_development"

    # A store made before the tag existed gets it; a kind someone chose in the UI stays.
    old = mlflow.create_experiment("synthaug-older")
    assert tracking.use_project_store(store, "older") == old
    assert mlflow.get_experiment(old).tags[kind] == "custom_model_development"
    chosen = mlflow.create_experiment("synthaug-chosen", tags={kind: "genai_development"})
    tracking.use_project_store(store, "chosen")
    assert mlflow.get_experiment(chosen).tags[kind] == "genai_development"


def stage(project: Path, name: str, **kwargs):
    return tracking.stage_run(
        project_root=project, dataset_name="demo-cough", stage=name, protocol="medical", params={"stage_param": name}, **kwargs
    )


def test_training_runs_list_their_data_sets_with_the_dvc_hash_as_digest(store):
    import mlflow

    path = store / "train.npz"
    x, y = np.zeros((4, 1, 8, 6), dtype=np.float32), np.array([0, 1, 0, 1])
    np.savez(path, x=x, y=y)
    inputs = [
        tracking.DataInput("demo-cough-features-train", "training", x, y, path),
        tracking.DataInput("demo-cough-synthetic-scarcity", "training", x[:2], y[:2]),
    ]  # in memory
    with stage(store, "train_classifier", inputs=inputs) as run:
        pass
    logged = {d.dataset.name: d for d in mlflow.get_run(run.info.run_id).inputs.dataset_inputs}
    features = logged["demo-cough-features-train"]
    assert features.dataset.digest == tracking.dvc_md5(path) and "train.npz" in features.dataset.source
    assert {t.key: t.value for t in features.tags}["mlflow.data.context"] == "training"
    memory = logged["demo-cough-synthetic-scarcity"]
    assert memory.dataset.source_type == "code" and memory.dataset.digest  # MLflow digests the arrays
    assert '"features_shape": [4, 1, 8, 6]' in features.dataset.profile


def test_under_mlflow_run_the_first_stage_run_joins_the_opened_run_and_later_ones_are_its_children(store, monkeypatch):
    """`mlflow run` opens a run (here in Default) and sets MLFLOW_RUN_ID; the stage must not switch experiments."""
    import mlflow

    tracking.use_project_store(store, "demo-cough")  # the project's own experiment exists and is active
    opened = mlflow.MlflowClient().create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", opened.info.run_id)
    with stage(store, "prepare") as run:
        assert run.info.run_id == opened.info.run_id
    with stage(store, "train_classifier", run_name="seed1") as child:
        pass
    joined = mlflow.get_run(opened.info.run_id)
    assert joined.data.tags["synthaug.stage"] == "prepare" and joined.data.params["stage_param"] == "prepare"
    assert joined.info.status == "FINISHED"
    nested = mlflow.get_run(child.info.run_id)
    assert nested.info.experiment_id == "0" and nested.data.tags["mlflow.parentRunId"] == opened.info.run_id
    assert nested.data.params["stage_param"] == "train_classifier"
    assert mlflow.get_experiment("0").tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"


@pytest.mark.e2e
def test_mlproject_entry_point_runs_with_mlflow_run_and_no_extra_flags(tmp_path):
    """`mlflow run . -e prepare --env-manager local` in a fresh project folder: one run, prepare's own."""
    import mlflow

    from synthaug.config import deep_merge, read_yaml
    from synthaug.datasets.demo import write_demo

    project = tmp_path / "project"
    project.mkdir()
    for name in ("MLproject", "python_env.yaml"):
        shutil.copy(REPO_ROOT / name, project / name)
    params = deep_merge(read_yaml(REPO_ROOT / "params.yaml"), read_yaml(REPO_ROOT / "profiles" / "tiny.yaml"))
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_demo("cough", project / "data/demo/cough", seed=0, **params["demo"]["cough"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # synthaug and mlflow of this env

    result = subprocess.run(
        ["mlflow", "run", ".", "-e", "prepare", "--env-manager", "local"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (project / "outputs/prepare/manifest.csv").is_file()

    # mlflow run's default store is mlflow.db in the project, the project's own store.
    client = mlflow.MlflowClient(tracking.default_tracking_uri(project))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1, [r.data.tags.get("mlflow.runName") for r in runs]  # prepare joined the opened run
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["synthaug.stage"] == "prepare"
    assert run.data.tags["mlflow.project.entryPoint"] == "prepare"
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == [params["dataset"]["name"]]
    assert client.get_experiment(run.info.experiment_id).tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_ui_links_open_the_model_training_pages():
    """MLflow 3.17's UI shows its GenAI pages unless the link (or the browser's saved choice) says otherwise."""
    assert (
        tracking.ui_url("http://127.0.0.1:5000/", "3")
        == "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    )
    assert tracking.ui_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
    filtered = tracking.ui_url("http://h:1", "3", "dvc repro (pid 7)")
    assert filtered.startswith("http://h:1/#/experiments/3/runs?workflowType=machine_learning&searchFilter=")
    assert urllib.parse.unquote(filtered.split("searchFilter=")[1]) == "tags.`synthaug.pipeline_run` = 'dvc repro (pid 7)'"


def test_stages_of_one_dvc_repro_share_a_pipeline_run_tag_and_a_stage_run_by_hand_has_none(tmp_path):
    """Stage processes started by one `dvc repro` carry one group tag; another repro another one. The
    processes are real: a program named dvc, run as `dvc repro`, starts the stages as DVC does (through a
    shell)."""
    probe = f"{sys.executable} -c 'from synthaug.tracking import pipeline_run_tags; print(pipeline_run_tags())'"
    fake_dvc = tmp_path / "dvc"
    fake_dvc.write_text(f'#!/bin/sh\nsh -c "{probe}"\nsh -c "{probe}"\n')
    fake_dvc.chmod(0o755)

    def stages(*args: str) -> list[str]:
        out = subprocess.run([str(fake_dvc), *args], capture_output=True, text=True, check=True).stdout
        return out.strip().splitlines()

    first, second = stages("repro")
    assert first == second and f"'{tracking.PIPELINE_RUN_TAG}': 'dvc repro " in first
    assert stages("repro")[0] != first  # the next reproduction is another group
    assert stages("status") == ["{}", "{}"]  # not a reproduction
    assert tracking.pipeline_run_tags() == {}  # this test process was not started by dvc repro
