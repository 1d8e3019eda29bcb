"""Team scale against real processes on loopback: PostgreSQL, an S3 endpoint (moto's server) and an
MLflow server started by `synthaug team up`; a tiny pipeline logs to them, DVC pushes to and pulls from S3."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from synthaug.team.settings import KEYS as TEAM_KEYS
from synthaug.team.settings import TEAM_ENV, read_env_file
from tests.pipeline_projects import BIN, new_project, run
from tests.team.tcp_proxy import RestartableProxy

pytestmark = [pytest.mark.e2e, pytest.mark.services]
MODEL = "synthaug-demo-cough"


def team_env(project: Path) -> dict[str, str]:
    return read_env_file(project / TEAM_ENV)


def command_env(project: Path) -> dict[str, str]:
    """This environment with the project's team settings instead of any of the caller's (as `make` gives them to dvc)."""
    return {
        **{k: v for k, v in os.environ.items() if k not in TEAM_KEYS},
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        **team_env(project),
    }


def team_run(cmd: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=command_env(cwd), capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def s3(project: Path):
    from synthaug.team.s3 import client

    env = team_env(project)
    return client(
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env["AWS_DEFAULT_REGION"],
    )


def keys(project: Path, prefix: str) -> list[str]:
    pages = s3(project).get_paginator("list_objects_v2").paginate(Bucket="synthaug", Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def assert_remote_intact(project: Path, prefix: str) -> int:
    """Every object of a DVC remote is named by the MD5 of its content: a partial upload would show."""
    client = s3(project)
    objects = keys(project, f"{prefix}/files/md5/")
    assert objects, f"nothing pushed under {prefix}"
    for key in objects:
        body = client.get_object(Bucket="synthaug", Key=key)["Body"].read()
        name = "".join(key.split("/")[-2:]).removesuffix(".dir")
        assert hashlib.md5(body).hexdigest() == name, f"{key}: content does not match its hash"
    return len(objects)


@pytest.fixture(scope="module")
def project(tmp_path_factory, request) -> Path:
    """The tiny project with one generator and one seed (what the tests below read), logging to a local team
    stack that `synthaug team up` started."""

    def start_stack(project: Path) -> None:
        path = project / "params.yaml"
        params = yaml.safe_load(path.read_text())
        params["train_generator"]["models"] = {"vae": params["train_generator"]["models"]["vae"]}
        params["ensemble"]["members"] = ["baseline", "vae"]
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        request.addfinalizer(lambda: run(["synthaug", "team", "down"], project))
        run(["synthaug", "team", "up"], project)
        run(["synthaug", "team", "remote"], project)

    return new_project(tmp_path_factory.mktemp("team"), overlay={"train_classifier": {"seeds": [0]}}, before_repro=start_stack)


def test_runs_go_to_the_server_and_artifacts_to_s3(project: Path):
    from mlflow import MlflowClient

    assert not (project / "mlflow.db").exists()  # nothing went to the embedded store
    client = MlflowClient(tracking_uri=team_env(project)["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(MODEL)
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    assert {"prepare", "featurize", "train_generator", "train_classifier", "ensemble", "report"} <= {
        r.data.tags["synthaug.stage"] for r in runs
    }
    assert all(r.info.status == "FINISHED" for r in runs)
    stored = keys(project, "mlartifacts/")
    assert any(k.endswith("/learning_curves.png") for k in stored) and any(k.endswith("/results.md") for k in stored)
    assert check_ok(project)


def check_ok(project: Path) -> bool:
    out = run(["synthaug", "team", "check"], project)
    return all(line.startswith("ok") for line in out.strip().splitlines())


def test_register_promote_and_load_back_by_alias_from_the_server(project: Path):
    import mlflow
    import pandas as pd

    run(["synthaug", "register"], project)
    assert "champion is now version" in run(["synthaug", "promote"], project)
    mlflow.set_tracking_uri(team_env(project)["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    wav = next((project / "data/demo/cough").rglob("*.wav"))
    out = model.predict(pd.DataFrame({"path": [str(wav)]}))
    assert out["label"].iloc[0] in ("negative", "positive") and out["error"].iloc[0] == ""
    stored = keys(project, "mlartifacts/")  # the registered models live in S3: MLmodel and the bundle
    assert any(k.endswith("/MLmodel") for k in stored) and any(k.endswith("/bundle/model.json") for k in stored)


def test_push_then_a_clean_clone_pulls_and_has_nothing_to_reproduce(project: Path, tmp_path: Path):
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "pipeline results"], project)
    team_run(["dvc", "push"], project)
    assert assert_remote_intact(project, "dvc") > 10

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    shutil.copy(project / TEAM_ENV, clone / TEAM_ENV)  # each member writes their own; it is never committed
    run(["synthaug", "team", "remote"], clone)
    team_run(["dvc", "pull"], clone)
    for output in ("outputs/features/train.npz", "outputs/classifiers/baseline/seed0/model.pt", "reports/results.md"):
        assert (clone / output).read_bytes() == (project / output).read_bytes()
    out = team_run(["dvc", "repro"], clone).stdout
    assert "Running stage" not in out
    assert "up to date" in team_run(["dvc", "status"], clone).stdout


def test_s3_endpoint_restarted_during_a_push_never_leaves_a_corrupt_remote(project: Path):
    """DVC talks to S3 through a proxy that drops every connection mid-push and comes back a second later."""
    endpoint_port = int(team_env(project)["AWS_ENDPOINT_URL_S3"].rsplit(":", 1)[1])
    proxy = RestartableProxy(endpoint_port, delay_s=0.01)
    proxy.start()
    try:
        team_run(["dvc", "remote", "add", "--local", "--force", "flaky", "s3://synthaug/dvc-flaky"], project)
        team_run(["dvc", "remote", "modify", "--local", "flaky", "endpointurl", f"http://127.0.0.1:{proxy.port}"], project)
        push = subprocess.Popen(
            [str(BIN / "dvc"), "push", "-r", "flaky"],
            cwd=project,
            env=command_env(project),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while proxy.bytes < 2_000_000 and push.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        interrupted = push.poll() is None
        proxy.stop()
        time.sleep(1.0)
        proxy.start()
        output = push.communicate(timeout=300)[0]
        assert interrupted, "the push finished before the endpoint could be restarted"
        if push.returncode != 0:  # a clear error, not a traceback
            assert "ERROR" in output and "Traceback" not in output, output
        team_run(["dvc", "push", "-r", "flaky"], project)  # the next push completes what is missing
        assert "in sync" in team_run(["dvc", "status", "--cloud", "-r", "flaky"], project).stdout
        assert assert_remote_intact(project, "dvc-flaky") == assert_remote_intact(project, "dvc")
    finally:
        proxy.stop()


def test_no_credential_in_logged_params_tags_or_tracked_files(project: Path):
    from mlflow import MlflowClient

    secret = team_env(project)["AWS_SECRET_ACCESS_KEY"]
    client = MlflowClient(tracking_uri=team_env(project)["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(MODEL)
    for r in client.search_runs([experiment.experiment_id], max_results=1000):
        for value in [*r.data.params.values(), *r.data.tags.values()]:
            assert secret not in value, f"run {r.info.run_id} logs the secret"
    for version in client.search_model_versions(f"name = '{MODEL}'"):
        assert all(secret not in v for v in version.tags.values())
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=project, capture_output=True, text=True, check=True).stdout
    for name in filter(None, tracked.split("\0")):
        path = project / name
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{name} holds the secret"
    assert TEAM_ENV not in tracked and ".dvc/config.local" not in tracked
