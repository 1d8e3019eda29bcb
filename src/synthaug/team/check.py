"""Which of the configured team services answer: one line each, with what to fix when one does not."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    service: str
    target: str
    ok: bool | None  # None: not configured (the embedded default is used)
    detail: str


def check_mlflow() -> Check:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        return Check(
            "MLflow tracking", uri or "mlflow.db in the project", None, "embedded store; set MLFLOW_TRACKING_URI for a server"
        )
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
            if response.status != 200:
                return Check("MLflow tracking", uri, False, f"/health answered {response.status}")
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # URLError, timeouts, MlflowException: all mean "not usable", with the reason
        return Check("MLflow tracking", uri, False, f"{type(exc).__name__}: {exc}; is the server running (make team-up)?")
    return Check("MLflow tracking", uri, True, "server answers and lists experiments")


def check_s3() -> Check:
    from synthaug.team.s3 import client, parse_s3_url

    remote = os.environ.get("SYNTHAUG_DVC_REMOTE", "")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or "AWS S3"
    if not remote.startswith("s3://"):
        return Check("S3", endpoint, None, "no SYNTHAUG_DVC_REMOTE=s3://BUCKET/PATH set")
    bucket, _ = parse_s3_url(remote)
    try:
        client(max_attempts=2).head_bucket(Bucket=bucket)
    except Exception as exc:  # botocore's errors: unreachable endpoint, bad credentials, missing bucket
        return Check(
            "S3",
            f"{endpoint}, bucket {bucket}",
            False,
            f"{type(exc).__name__}: {exc}; check AWS_ENDPOINT_URL_S3 and the AWS_* credentials",
        )
    return Check("S3", f"{endpoint}, bucket {bucket}", True, "bucket reachable with these credentials")


def check_dvc_remote(project_root: Path) -> Check:
    from synthaug.team.remote import dvc_executable

    dvc = dvc_executable()
    result = subprocess.run([dvc, "remote", "default"], cwd=project_root, capture_output=True, text=True)
    name = result.stdout.strip()
    if result.returncode != 0 or not name:
        return Check("DVC remote", "none", None, "no default remote; `synthaug team remote` adds SYNTHAUG_DVC_REMOTE")
    status = subprocess.run([dvc, "status", "--cloud", "--quiet"], cwd=project_root, capture_output=True, text=True)
    if status.returncode not in (0, 1):  # 1: reachable, with differences to push or pull
        lines = (status.stderr or status.stdout).strip().splitlines()
        return Check("DVC remote", name, False, lines[-1] if lines else f"dvc status --cloud failed ({status.returncode})")
    return Check(
        "DVC remote", name, True, "reachable" + ("; out of sync (dvc push / dvc pull)" if status.returncode else "; in sync")
    )


def check_tune_storage(project_root: Path) -> Check:
    from synthaug.config import load_params

    storage = None
    params_file = Path(project_root) / "params.yaml"
    if params_file.is_file():
        storage = load_params(params_file).tune.storage
    storage = storage or os.environ.get("SYNTHAUG_TUNE_STORAGE")
    if not storage or storage.startswith("journal:"):
        return Check(
            "Tuning storage",
            storage or "optuna.db in the project",
            None,
            "one machine; set SYNTHAUG_TUNE_STORAGE for workers on many",
        )
    from sqlalchemy import create_engine, text

    from synthaug.tuning import redacted

    try:
        engine = create_engine(storage, connect_args={"connect_timeout": 5} if storage.startswith("postgresql") else {})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # SQLAlchemy's errors vary by driver
        return Check("Tuning storage", redacted(storage), False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    return Check("Tuning storage", redacted(storage), True, "database answers")


def run_checks(project_root: Path) -> list[Check]:
    return [check_mlflow(), check_s3(), check_dvc_remote(project_root), check_tune_storage(project_root)]


def render(checks: list[Check]) -> str:
    marks = {True: "ok  ", False: "FAIL", None: "--  "}
    return "\n".join(f"{marks[c.ok]} {c.service:<16} {c.target}: {c.detail}" for c in checks)
