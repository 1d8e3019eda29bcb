"""Register the pipeline's evaluated classifiers and ensembles as versions of one registered model.

Each classifier run folder (outputs/classifiers/<method>/seed<S>/) and each ensemble run folder
(outputs/ensemble/<variant>/seed<S>/) becomes one version. Its AudioClassifier bundle (the run's
network, or the ensemble's members with their weights, plus the featurize preprocessing) is logged
as a pyfunc model into the run that produced it, so the version's source run is the classifier's
or ensemble's own MLflow run, with its metrics and figures. The validation and test metrics (file
and clip level) are logged as metrics of that logged model, each with the data set it was measured
on (the featurize split), which is what promotion reads; version tags carry the lineage: data
version, git commit, method, seed, synthetic set and generator run, ensemble members. A run already registered is left alone, so
registering again after `dvc repro` adds only the new runs.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from synthaug import tracking
from synthaug.errors import DataError, SynthaugError
from synthaug.evaluation.run_folder import EVALUATED_SPLITS, HEADLINE, completed
from synthaug.registry.audio_model import AudioClassifier
from synthaug.registry.packaging import log_audio_model
from synthaug.spectrograms import load_spectrogram_set

PREFIX = tracking.TAG_PREFIX
# Run tags copied onto the version: lineage the model page shows without opening the run.
LINEAGE_TAGS = (
    "synthaug.method",
    "synthaug.seed",
    "synthaug.protocol",
    "synthaug.dataset",
    "synthaug.data_version",
    "synthaug.synthetic_set",
    "synthaug.generator_run_id",
    "synthaug.curated",
    "synthaug.members",
    tracking.GIT_COMMIT_TAG,
    tracking.GIT_DIRTY_TAG,
)


def model_name(configured: str | None, dataset_name: str) -> str:
    return configured or f"synthaug-{dataset_name}"


@dataclass(frozen=True)
class Candidate:
    """One evaluated run folder: its run.json, and the trained networks with their weights."""

    run_dir: Path
    summary: dict
    member_paths: tuple[Path, ...]
    weights: tuple[float, ...]
    kind: str  # classifier | ensemble

    @property
    def run_id(self) -> str:
        return self.summary["mlflow_run_id"]


def find_candidates(classifiers_dir: Path, ensemble_dir: Path | None) -> list[Candidate]:
    """Every finished run folder of the classifiers and the ensembles, in a stable order."""
    candidates = []
    for run_dir in sorted(Path(classifiers_dir).glob("*/seed*")):
        summary = completed(run_dir)
        if summary is not None and (run_dir / "model.pt").is_file():
            candidates.append(Candidate(run_dir, summary, (run_dir / "model.pt",), (1.0,), "classifier"))
    for run_dir in sorted(Path(ensemble_dir).glob("*/seed*")) if ensemble_dir else []:
        summary = completed(run_dir)
        if summary is None:
            continue
        members = tuple(Path(classifiers_dir) / m / f"seed{summary['seed']}" / "model.pt" for m in summary["members"])
        missing = [str(p) for p in members if not p.is_file()]
        if missing:
            raise DataError(
                f"{run_dir}: the ensemble's member model(s) {', '.join(missing)} are missing; re-run the pipeline (dvc repro)"
            )
        candidates.append(Candidate(run_dir, summary, members, tuple(summary["weights"]), "ensemble"))
    if not candidates:
        raise DataError(f"{classifiers_dir}: no finished classifier runs to register; run the pipeline first (dvc repro)")
    return candidates


def headline_metrics(summary: dict) -> dict[str, dict[str, float]]:
    """{split: {val_file_macro_f1, val_clip_auroc, ...}}: a run.json's headline metrics, NaNs left out."""
    metrics: dict[str, dict[str, float]] = {}
    for split in EVALUATED_SPLITS:
        metrics[split] = {}
        for level, values in summary.get(split, {}).items():
            for metric in HEADLINE:
                if values.get(metric) is not None and values[metric] == values[metric]:
                    metrics[split][f"{split}_{level}_{metric}"] = float(values[metric])
    return metrics


def register_all(
    name: str,
    candidates: list[Candidate],
    features_dir: Path,
    *,
    log=print,
) -> list[tuple[str, str, bool]]:
    """Register every candidate not registered yet; return (run folder, version, newly registered) each."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _quiet_mlflow()
    client = MlflowClient()
    reference = load_spectrogram_set(Path(features_dir) / "val.npz")
    normalizer = json.loads((Path(features_dir) / "normalizer.json").read_text())
    _ensure_registered_model(client, name, reference.metadata.get("dataset", ""))
    # The feature files the metrics were measured on, the data set of each logged metric.
    present = [s for s in EVALUATED_SPLITS if (Path(features_dir) / f"{s}.npz").is_file()]
    evaluated_on = dict(
        zip(
            present,
            tracking.feature_inputs(features_dir, reference.metadata.get("dataset", ""), {"val": reference}, splits=present),
        )
    )
    results = []
    for candidate in candidates:
        existing = client.search_model_versions(f"name = '{name}' and run_id = '{candidate.run_id}'")
        if existing:
            results.append((str(candidate.run_dir), existing[0].version, False))
            continue
        try:
            run = client.get_run(candidate.run_id)
        except MlflowException as exc:
            raise SynthaugError(
                f"{candidate.run_dir}: its MLflow run {candidate.run_id} is not in the tracking store "
                f"{mlflow.get_tracking_uri()}; register against the store the pipeline logged to "
                "(MLFLOW_TRACKING_URI, team.env)"
            ) from exc
        description = {
            "kind": candidate.kind,
            "method": candidate.summary["method"],
            "seed": candidate.summary["seed"],
            "run_id": candidate.run_id,
        }
        with tempfile.TemporaryDirectory(prefix="synthaug-bundle-") as tmp:
            bundle = AudioClassifier.write_bundle(
                Path(tmp) / "bundle",
                candidate.member_paths,
                candidate.weights,
                reference.feature_params,
                normalizer,
                reference.class_names,
                description,
            )
            # Logged into the run that trained (or combined) the networks: the version links back to it.
            metrics = headline_metrics(candidate.summary)
            # MLflow resumes a run only while its experiment is the active one (under `mlflow run`,
            # the opened run's experiment is active, and the pipeline's runs may be elsewhere).
            mlflow.set_experiment(experiment_id=run.info.experiment_id)
            with mlflow.start_run(run_id=candidate.run_id):
                info = log_audio_model(bundle, reference.class_names, int(reference.feature_params["sample_rate"]))
                datasets = tracking.log_data_inputs(list(evaluated_on.values()))
                for split in EVALUATED_SPLITS:
                    if metrics[split]:
                        data_input = evaluated_on.get(split)
                        mlflow.log_metrics(
                            metrics[split], model_id=info.model_id, dataset=datasets[data_input.name] if data_input else None
                        )
        tags = {k: v for k, v in run.data.tags.items() if k in LINEAGE_TAGS}
        tags.update(
            {
                f"{PREFIX}kind": candidate.kind,
                f"{PREFIX}source_run_id": candidate.run_id,
                f"{PREFIX}run_dir": str(candidate.run_dir),
            }
        )
        if candidate.kind == "ensemble":
            tags[f"{PREFIX}weights"] = ",".join(f"{w:.4f}" for w in candidate.weights)
        scope = candidate.summary.get("val_scored_on", {}).get("half")
        if scope:  # a validation score on part of the split, or on the data its weights were fitted to
            tags[f"{PREFIX}validation_scope"] = str(scope)
        version = mlflow.register_model(info.model_uri, name, tags=tags)
        log(
            f"register: {name} version {version.version} <- {candidate.run_dir} "
            f"(val file macro F1 {metrics['val'].get('val_file_macro_f1', 'n/a')})"
        )
        results.append((str(candidate.run_dir), version.version, True))
    return results


def _quiet_mlflow() -> None:
    # Per version, MLflow would print an artifact progress bar and three INFO lines; one line of ours says it all.
    import logging
    import os

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _ensure_registered_model(client, name: str, dataset_name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name,
            tags={f"{PREFIX}dataset": dataset_name},
            description=(
                "synthaug audio classifiers: each version takes audio files (column `path`) or waveforms "
                "(`waveform`, `sample_rate`) and returns the label and class probabilities. Versions are "
                "the pipeline's classifiers and ensembles; `synthaug promote` moves the `champion` alias."
            ),
        )
