"""MLflow conventions in one place: where runs go, how they are named and tagged, lineage, figures.

By default runs go to an embedded SQLite store and a local artifact folder inside the project, so
no server is needed. The usual environment variables (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME,
...) point everything at a team server instead; SYNTHAUG_ARTIFACT_ROOT sets where new experiments
keep their artifacts (e.g. an S3 URI).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import mlflow
    from matplotlib.figure import Figure

TRACKING_DB = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
TAG_PREFIX = "synthaug."
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own: the clean commit, as `mlflow run` writes it
GIT_DIRTY_TAG = f"{TAG_PREFIX}git_dirty"  # "true" when tracked files differed from that commit
# MLflow 3's UI opens an experiment without this tag (or with "genai_development") on the GenAI
# Overview/Traces pages; "custom_model_development" opens it on the training runs.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_TAGS = {EXPERIMENT_KIND_TAG: "custom_model_development"}
# MLflow 3.17's UI chooses between its GenAI pages and its model-training pages with a switch at the
# top left, kept in the browser (default: GenAI), whatever the experiment's kind tag says; a link
# carrying this query opens the training runs. Clicking "Model training" once keeps that choice.
UI_MODEL_TRAINING_QUERY = "workflowType=machine_learning"
# Set by `mlflow run` for the command it starts: the run it opened, in its experiment and store.
LAUNCHER_RUN_ENV = "MLFLOW_RUN_ID"


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


def git_tags(project_root: Path) -> dict[str, str]:
    """The commit the code ran from in MLflow's own tag, and whether tracked files differed from it.

    MLflow links `mlflow.source.git.commit` to the commit, so it holds the bare hash; the dirty
    state goes to a tag of its own. Outside a git checkout both are left out.
    """

    def git(*args: str) -> str:
        try:
            result = subprocess.run(["git", *args], cwd=project_root, capture_output=True, text=True, check=False)
        except OSError:  # no git on this machine
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {GIT_COMMIT_TAG: commit, GIT_DIRTY_TAG: str(dirty).lower()}


PIPELINE_RUN_TAG = f"{TAG_PREFIX}pipeline_run"  # one value per `dvc repro`: group the runs it made by it


def pipeline_run_tags(ancestors: Sequence[Any] | None = None) -> dict[str, str]:
    """{PIPELINE_RUN_TAG: "dvc repro <start time> (pid N)"} for a stage that a `dvc repro` (or `dvc exp
    run`) started, so the UI can group the runs of one reproduction; {} for a stage run by hand.

    DVC gives its stages no run identifier, so the one reproduction is recognised by the process that
    runs it: the nearest ancestor process whose command is DVC's repro or exp run, named by its start
    time and process id (unique together). `ancestors` are psutil processes, nearest first (default:
    this process's parents).
    """
    import datetime

    import psutil  # DVC's own dependency

    try:
        chain = psutil.Process().parents() if ancestors is None else ancestors
        for process in chain:
            words = [Path(word).name for word in process.cmdline()[:4]]
            if any(word.startswith("dvc") for word in words) and ("repro" in words or "exp" in words):
                started = datetime.datetime.fromtimestamp(process.create_time()).strftime("%Y-%m-%d %H:%M:%S")
                return {PIPELINE_RUN_TAG: f"dvc repro {started} (pid {process.pid})"}
    except (psutil.Error, OSError):  # a process that ended or cannot be read: no grouping, no failure
        return {}
    return {}


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


def ui_url(base_url: str, experiment_id: str | None = None, pipeline_run: str | None = None) -> str:
    """The MLflow UI address of an experiment's training runs (of the experiment list without one).

    With `pipeline_run` (a PIPELINE_RUN_TAG value) the run list opens filtered to that execution's runs:
    the runs page reads its search box from the `searchFilter` query parameter. The page is the
    experiment's /runs tab itself: the experiment's own address redirects there and drops the query
    (seen in MLflow 3.17's UI in headless Chromium: 100 runs listed instead of the execution's 3).
    """
    page = f"#/experiments/{experiment_id}/runs" if experiment_id else "#/experiments"
    query = UI_MODEL_TRAINING_QUERY
    if experiment_id and pipeline_run:
        query += "&searchFilter=" + urllib.parse.quote(f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run}'", safe="")
    return f"{base_url.rstrip('/')}/{page}?{query}"


def latest_pipeline_run(client: Any, experiment_id: str) -> str | None:
    """The PIPELINE_RUN_TAG value of the experiment's most recently started run that carries one."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{PIPELINE_RUN_TAG}` != ''", order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0].data.tags.get(PIPELINE_RUN_TAG) if runs else None


def launcher_run_id() -> str | None:
    """The run `mlflow run` opened for this process (MLFLOW_RUN_ID), or None outside `mlflow run`."""
    return os.environ.get(LAUNCHER_RUN_ENV) or None


def use_project_store(project_root: Path, dataset_name: str) -> str:
    """Point MLflow at the project's store and experiment (creating it once); return its id.

    Under `mlflow run`, the store and experiment are those of the run it opened: the tracking URI
    comes from the environment `mlflow run` sets, and the opened run's experiment is made active,
    since MLflow refuses to resume that run while another experiment is active.
    """
    import mlflow

    _mlflow_quiet()
    mlflow.set_tracking_uri(tracking_uri(project_root))
    launcher = launcher_run_id()
    if launcher is not None:
        launched = mlflow.get_experiment(mlflow.MlflowClient().get_run(launcher).info.experiment_id)
        _tag_experiment(launched)
        mlflow.set_experiment(experiment_id=launched.experiment_id)
        return launched.experiment_id
    name = experiment_name(dataset_name)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = mlflow.create_experiment(name, artifact_location=artifact_root(project_root), tags=EXPERIMENT_TAGS)
    else:
        experiment_id = experiment.experiment_id
        _tag_experiment(experiment)  # stores made before the tag existed
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _tag_experiment(experiment) -> None:
    """Set EXPERIMENT_TAGS the experiment lacks; a kind someone chose in the UI is left alone."""
    import mlflow

    for key, value in EXPERIMENT_TAGS.items():
        if key not in experiment.tags:
            mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)


def _open_run(experiment_id: str, run_name: str, tags: Mapping[str, str], started_at: float | None = None):
    """mlflow.start_run for a stage's run: a new run, or under `mlflow run` the opened run or its child.

    The first stage run of an `mlflow run` joins the run it opened; when that run already holds a
    stage's run (another seed of the same stage, or the next stage of `dvc repro` under the `main`
    entry point), the stage's run becomes its child, so each run keeps params of its own. A new run
    starts at `started_at` (Unix seconds; None: now): work done before the run was opened counts.
    """
    import mlflow

    client = mlflow.MlflowClient()
    start_time = None if started_at is None else int(started_at * 1000)
    launcher = launcher_run_id()
    if launcher is None:
        if start_time is None:
            return mlflow.start_run(run_name=run_name, tags=dict(tags))
        created = client.create_run(experiment_id, start_time=start_time, tags=dict(tags), run_name=run_name)
        return mlflow.start_run(run_id=created.info.run_id)
    opened = client.get_run(launcher)
    if f"{TAG_PREFIX}stage" not in opened.data.tags:
        return mlflow.start_run(run_id=launcher, run_name=run_name, tags=dict(tags))
    child = client.create_run(
        experiment_id, start_time=start_time, run_name=run_name, tags={**tags, "mlflow.parentRunId": launcher}
    )
    return mlflow.start_run(run_id=child.info.run_id)


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
    inputs: Sequence[DataInput] = (),
    started_at: float | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run for one stage execution, with the project's tags, flattened params and the
    data sets it reads (`inputs`, shown in the UI's Datasets column).

    A failure inside the block marks the run FAILED (MLflow does this when the context exits
    with an exception), so an interrupted stage never looks like a finished one in the UI.
    Under `mlflow run` the run is the one it opened, or a child of it (see `_open_run`). `started_at`
    (Unix seconds) back-dates a new run to when its work began elsewhere (a seed trained in a worker).
    """
    import mlflow

    experiment_id = use_project_store(project_root, dataset_name)
    all_tags = {
        f"{TAG_PREFIX}stage": stage,
        f"{TAG_PREFIX}protocol": protocol,
        f"{TAG_PREFIX}dataset": dataset_name,
        f"{TAG_PREFIX}data_version": data_version(project_root),
        **git_tags(project_root),
        **pipeline_run_tags(),
        **(tags or {}),
    }
    launcher = launcher_run_id()
    try:
        with _open_run(experiment_id, run_name or stage, all_tags, started_at) as run:
            mlflow.log_params(flatten(params))
            log_data_inputs(inputs)
            yield run
    finally:
        if launcher is not None:
            # MLflow's end_run clears MLFLOW_RUN_ID, but this process still runs under `mlflow run`:
            # its next stage run (another seed) is a child of the opened run, not a run elsewhere.
            os.environ[LAUNCHER_RUN_ENV] = launcher


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


def dvc_md5(path: Path) -> str:
    """The hash DVC 3 records for a file (dvc.lock, .dvc files): the md5 of its bytes.

    Remembered per (path, size, modification time): every seed's run reads the same feature files.
    """
    stat = Path(path).stat()
    return _md5_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _md5_of(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "md5").hexdigest()


@dataclass(frozen=True)
class DataInput:
    """A spectrogram set a run reads: logged with `mlflow.log_input` as a NumPy data set whose
    digest is the file's DVC hash, so the UI's Datasets column ties the run to a data version.

    `path` None: a set that exists only in memory (the scarcity sweep's synthetic data); MLflow
    then digests the arrays themselves.
    """

    name: str
    context: str  # training | validation | test
    x: Any  # [N, 1, mels, frames]
    y: Any  # [N]
    path: Path | None = None

    @classmethod
    def from_file(cls, path: Path, name: str, context: str, spectrograms=None) -> DataInput:
        """`spectrograms`: the set already loaded from `path` (else it is read here)."""
        if spectrograms is None:
            from synthaug.spectrograms import load_spectrogram_set

            spectrograms = load_spectrogram_set(path)
        return cls(name, context, spectrograms.x, spectrograms.y, Path(path))


def feature_inputs(
    features_dir: Path, dataset_name: str, sets: Mapping[str, Any] | None = None, splits: Sequence[str] = ("train", "val", "test")
) -> list[DataInput]:
    """The featurize outputs a run reads, one data set per split (`sets`: those already loaded)."""
    contexts = {"train": "training", "val": "validation", "test": "test"}
    return [
        DataInput.from_file(
            Path(features_dir) / f"{split}.npz", f"{dataset_name}-features-{split}", contexts[split], (sets or {}).get(split)
        )
        for split in splits
    ]


def log_data_inputs(inputs: Sequence[DataInput]) -> dict[str, Any]:
    """Log `inputs` to the active run; return their mlflow.data datasets by name (for metrics'
    `dataset=`, which ties a metric to the data it was measured on)."""
    import warnings

    import mlflow
    import mlflow.data

    if not inputs:
        return {}
    datasets: list[Any] = []
    contexts: list[str | None] = []
    for item in inputs:
        source: Any  # a path, or MLflow's source for data made in memory
        if item.path is not None:
            digest, source = dvc_md5(item.path), str(item.path)
        else:  # made by the run itself: no file to point at
            from mlflow.data.code_dataset_source import CodeDatasetSource

            digest, source = None, CodeDatasetSource({f"{TAG_PREFIX}made_by": "this run (kept in memory)"})
        with warnings.catch_warnings():
            # A local path could be read as several source types; MLflow warns and picks a local file.
            warnings.simplefilter("ignore", UserWarning)
            datasets.append(
                mlflow.data.from_numpy(  # type: ignore[attr-defined]  # exported lazily
                    item.x, source=source, targets=item.y, name=item.name, digest=digest
                )
            )
        contexts.append(item.context)
    mlflow.log_inputs(datasets=datasets, contexts=contexts, tags_list=[None] * len(datasets))
    return {item.name: dataset for item, dataset in zip(inputs, datasets)}


def log_dataset_input(frame, *, name: str, source: str, digest: str, context: str) -> None:
    """Record the data a run read (the manifest) with its DVC version as the dataset digest."""
    import warnings

    import mlflow
    import mlflow.data

    with warnings.catch_warnings():
        # MLflow warns that a local path could be several source types and that integer columns
        # cannot hold missing values; neither matters for a manifest recorded as lineage.
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]  # exported lazily
            frame, source=source, name=name, digest=digest[:36]
        )
        mlflow.log_input(dataset, context=context)


def log_classifier(model, input_example, class_names):
    """Log a classifier as an MLflow PyTorch model that maps spectrograms to class probabilities;
    return its ModelInfo (`model_id` links metrics to the logged model).

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
    return mlflow.pytorch.log_model(
        probabilities,
        name="model",
        input_example=example,
        signature=infer_signature(example, output),
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"],
        metadata={"class_names": list(class_names)},
    )
