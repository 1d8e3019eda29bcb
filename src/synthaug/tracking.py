"""MLflow conventions in one place: where runs go, how they are named and tagged, lineage, figures.

By default runs go to an embedded SQLite store and a local artifact folder inside the project, so
no server is needed. The usual environment variables (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME,
...) point everything at a team server instead; SYNTHAUG_ARTIFACT_ROOT sets where new experiments
keep their artifacts (e.g. an S3 URI).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import mlflow
    from matplotlib.figure import Figure

TRACKING_DB = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
TAG_PREFIX = "synthaug."


def default_tracking_uri(project_root: Path) -> str:
    # An absolute SQLite URI needs four slashes; three would silently start an empty store
    # relative to whatever folder the process happens to run in.
    return f"sqlite:///{(project_root / TRACKING_DB).resolve().as_posix()}"


def tracking_uri(project_root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(project_root)


def artifact_root(project_root: Path) -> str | None:
    """Where a new experiment keeps its artifacts: SYNTHAUG_ARTIFACT_ROOT; else, with a tracking
    server, the server's own default (None: it proxies them to its artifact store); else the
    project's mlartifacts/ folder."""
    if os.environ.get("SYNTHAUG_ARTIFACT_ROOT"):
        return os.environ["SYNTHAUG_ARTIFACT_ROOT"]
    if tracking_uri(project_root).startswith(("http://", "https://")):
        return None
    return (project_root / ARTIFACTS_DIR).resolve().as_uri()


def experiment_name(dataset_name: str) -> str:
    """One experiment per data set, so the UI compares every run made on the same data."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"synthaug-{dataset_name}"


def git_commit(project_root: Path) -> str:
    """The commit the code ran from, with '-dirty' when tracked files differ from it."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=project_root, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def data_version(project_root: Path, dvc_file: str = "data.dvc") -> str:
    """The DVC hash of data/ as recorded in data.dvc ('untracked' before the first `dvc add`)."""
    path = project_root / dvc_file
    if not path.is_file():
        return "untracked"
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "untracked"))


def _mlflow_quiet() -> None:
    # The alembic migration log of a fresh SQLite store is noise on a user's terminal.
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)


def use_project_store(project_root: Path, dataset_name: str) -> str:
    """Point MLflow at the project's store and experiment (creating it once); return its id."""
    import mlflow

    _mlflow_quiet()
    mlflow.set_tracking_uri(tracking_uri(project_root))
    name = experiment_name(dataset_name)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = mlflow.create_experiment(name, artifact_location=artifact_root(project_root))
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextlib.contextmanager
def stage_run(
    *,
    project_root: Path,
    dataset_name: str,
    stage: str,
    protocol: str,
    params: Mapping[str, Any],
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run for one stage execution, with the project's tags and flattened params.

    A failure inside the block marks the run FAILED (MLflow does this when the context exits
    with an exception), so an interrupted stage never looks like a finished one in the UI.
    """
    import mlflow

    use_project_store(project_root, dataset_name)
    all_tags = {
        f"{TAG_PREFIX}stage": stage,
        f"{TAG_PREFIX}protocol": protocol,
        f"{TAG_PREFIX}dataset": dataset_name,
        f"{TAG_PREFIX}data_version": data_version(project_root),
        "mlflow.source.git.commit": git_commit(project_root),
        **(tags or {}),
    }
    with mlflow.start_run(run_name=run_name or stage, tags=all_tags) as run:
        mlflow.log_params(flatten(params))
        yield run


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: MLflow params are flat, params.yaml is nested."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_figure(figure: Figure, artifact_file: str) -> None:
    import mlflow

    mlflow.log_figure(figure, artifact_file)


def log_counts(counts: Mapping[str, Any], prefix: str) -> None:
    """Log a nested mapping of counts as flat metrics, e.g. files.train.positive."""
    import mlflow

    mlflow.log_metrics({f"{prefix}.{k}": float(v) for k, v in flatten(counts).items()})


def log_json(payload: Any, artifact_file: str) -> None:
    import mlflow

    mlflow.log_dict(payload, artifact_file)


def log_file(path: Path, artifact_path: str | None = None) -> None:
    import mlflow

    mlflow.log_artifact(str(path), artifact_path)


def log_dataset_input(frame, *, name: str, source: str, digest: str, context: str) -> None:
    """Record the data a run read (the manifest) with its DVC version as the dataset digest."""
    import warnings

    import mlflow
    import mlflow.data

    with warnings.catch_warnings():
        # MLflow warns that a local path could be several source types and that integer columns
        # cannot hold missing values; neither matters for a manifest recorded as lineage.
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(frame, source=source, name=name, digest=digest[:36])
        mlflow.log_input(dataset, context=context)


def log_classifier(model, input_example, class_names) -> None:
    """Log a classifier as an MLflow PyTorch model that maps spectrograms to class probabilities.

    torch.export (MLflow's default) freezes the batch size unless the example has at least two
    rows; pinned pip requirements skip MLflow's slow environment inference.
    """
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    probabilities = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).cpu().eval()
    example = np.asarray(input_example, dtype=np.float32)
    with torch.no_grad():
        output = probabilities(torch.from_numpy(example)).numpy()
    mlflow.pytorch.log_model(
        probabilities,
        name="model",
        input_example=example,
        signature=infer_signature(example, output),
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"],
        metadata={"class_names": list(class_names)},
    )
