"""Team configuration comes from the environment, or from the one file `team.env` in the project.

team.env holds KEY=VALUE lines (# comments, optional `export`), is git-ignored, and is read by the
synthaug CLI and the Makefile; a variable already set in the environment wins over the file.
Credentials live only there, in the environment or in DVC's local config (.dvc/config.local):
never in params.yaml, tracked files or MLflow params and tags.

The keys:
  MLFLOW_TRACKING_URI       the MLflow server (http://host:5000); unset: mlflow.db in the project
  SYNTHAUG_ARTIFACT_ROOT    artifact location of new experiments when the server does not proxy artifacts (s3://bucket/path)
  MLFLOW_S3_ENDPOINT_URL    an S3-compatible endpoint for MLflow's S3 client (MinIO, Ceph, moto)
  AWS_ENDPOINT_URL_S3       the same endpoint for boto3 and DVC's S3 client
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION   S3 credentials
  SYNTHAUG_DVC_REMOTE       the DVC remote's URL (s3://bucket/dvc); `synthaug team remote` adds it
  SYNTHAUG_TUNE_STORAGE     the Optuna storage of tuning studies (postgresql+psycopg://...), when tune.storage is null
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from synthaug.errors import ConfigError

TEAM_ENV = "team.env"
KEYS = (
    "MLFLOW_TRACKING_URI",
    "SYNTHAUG_ARTIFACT_ROOT",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "SYNTHAUG_DVC_REMOTE",
    "SYNTHAUG_TUNE_STORAGE",
)
SECRET_KEYS = ("AWS_SECRET_ACCESS_KEY",)
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE pairs of an env file; ConfigError naming the line for anything else."""
    values: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[match.group(1)] = value
    return values


def load_team_env(project_root: Path = Path(".")) -> dict[str, str]:
    """Put team.env's variables into os.environ where they are not set yet; return what was added."""
    path = Path(project_root) / TEAM_ENV
    if not path.is_file():
        return {}
    added = {k: v for k, v in read_env_file(path).items() if k not in os.environ}
    os.environ.update(added)
    return added


def write_env_file(path: Path, values: dict[str, str], header: str) -> None:
    """Write an env file readable by both `make` (-include) and read_env_file, owner-only (it holds credentials)."""
    from synthaug.io import write_text_atomic

    lines = [f"# {line}" for line in header.splitlines()] + [f"{k}={v}" for k, v in values.items()]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")
    Path(path).chmod(0o600)


def secrets() -> list[str]:
    """The values of the credential variables now set (to check that none leaks anywhere)."""
    return [os.environ[k] for k in SECRET_KEYS if os.environ.get(k)]
