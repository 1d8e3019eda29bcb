"""ui: serve the MLflow UI on the project's tracking store, opened on the latest pipeline execution.

Reads the tracking store (mlflow.db in the project, or MLFLOW_TRACKING_URI) and params.yaml (the
data set's experiment). Writes nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default: 5000)")


def run(args: argparse.Namespace) -> None:
    from synthaug import tracking

    uri = tracking.tracking_uri(Path.cwd())
    if uri.startswith(("http://", "https://")):
        print(f"runs go to the MLflow server {uri}: its UI is at that address")
        return
    mlflow_bin = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    experiment_id = project_experiment_id(uri)
    latest = latest_pipeline_run(uri, experiment_id)
    url = tracking.ui_url(f"http://{args.host}:{args.port}", experiment_id, latest)
    print(
        f"MLflow UI for {uri}\n  open {url} in a browser (Ctrl+C stops it)\n"
        + (
            f"  it lists the runs of the latest pipeline execution ({latest}); clear the search box for all, or "
            f"group by the tag {tracking.PIPELINE_RUN_TAG} (Group by, in the run list)\n"
            if latest
            else ""
        )
        + '  MLflow 3 shows its GenAI pages unless the switch at its top left says "Model training"; this link sets it',
        flush=True,
    )
    os.execv(mlflow_bin, [mlflow_bin, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)])


def latest_pipeline_run(uri: str, experiment_id: str | None) -> str | None:
    """The pipeline execution tag of the experiment's newest run, if any (the UI opens filtered to it)."""
    from synthaug import tracking

    if experiment_id is None:
        return None
    try:
        from mlflow import MlflowClient

        return tracking.latest_pipeline_run(MlflowClient(uri), experiment_id)
    except Exception:  # noqa: BLE001 - only the link depends on it: the UI starts anyway, unfiltered
        return None


def project_experiment_id(uri: str) -> str | None:
    """The id of the experiment of params.yaml's data set in the store at `uri`, if there is one yet."""
    from synthaug import tracking

    try:
        from mlflow import MlflowClient

        from synthaug.config import load_params

        experiment = MlflowClient(uri).get_experiment_by_name(
            tracking.experiment_name(load_params(Path("params.yaml")).dataset.name)
        )
    except Exception:  # noqa: BLE001 - only the link depends on it: the UI starts anyway, on the experiment list
        return None
    return experiment.experiment_id if experiment is not None else None
