"""MLflow for tuning: where the study's parent run and its trials' nested runs go, and batched logging."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthaug import tracking as tracking_conventions


@dataclass(frozen=True)
class Tracking:
    """Where tuning runs are logged: the project's MLflow store, the data set's experiment."""

    project_root: Path
    dataset_name: str
    protocol: str

    def experiment_id(self) -> str:
        return tracking_conventions.use_project_store(self.project_root, self.dataset_name)

    def tags(self) -> dict[str, str]:
        prefix = tracking_conventions.TAG_PREFIX
        launcher = tracking_conventions.launcher_run_id()  # under `mlflow run`: the study is a child of its run
        return {
            f"{prefix}protocol": self.protocol,
            f"{prefix}dataset": self.dataset_name,
            f"{prefix}data_version": tracking_conventions.data_version(self.project_root),
            **tracking_conventions.git_tags(self.project_root),
            **({"mlflow.parentRunId": launcher} if launcher else {}),
        }


def mlflow_client():
    from mlflow import MlflowClient

    return MlflowClient()


def log_params(client, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    flat = tracking_conventions.flatten(params)
    entries = [Param(k, str(v)[:6000]) for k, v in flat.items()]
    for start in range(0, len(entries), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=entries[start : start + 100])


def log_metrics(client, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    entries = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if v is not None and math.isfinite(float(v))]
    if entries:
        client.log_batch(run_id, metrics=entries)
