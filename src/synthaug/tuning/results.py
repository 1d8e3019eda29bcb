"""The study's result: the best trial tagged in MLflow and written as a profile overlay."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from synthaug import tracking as tracking_conventions
from synthaug.class_plan import configured_ratio, round_half_up
from synthaug.curation import CURATION_BOUNDS
from synthaug.errors import SynthaugError
from synthaug.io import write_text_atomic
from synthaug.tuning.attrs import (
    CLASSIFIER_PREFIX,
    COUNTS_ATTR,
    CURATION_ATTR,
    CURATION_PREFIX,
    ERROR_ATTR,
    FINISHED_OK,
    MLFLOW_RUN_ATTR,
    N_TRIALS_ATTR,
    PARENT_RUN_ATTR,
    RATIO,
    SLOT_ATTR,
)
from synthaug.tuning.mlflow_runs import Tracking, log_metrics, mlflow_client

if TYPE_CHECKING:
    from synthaug.tuning.objective import TrialSetup


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best COMPLETE trial, or None when no trial completed."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(completed, key=lambda t: (t.value, -t.number)) if completed else None


def finish_study(study: optuna.Study, tracking: Tracking | None = None) -> FrozenTrial | None:
    """Tag the best trial's MLflow run (synthaug.best_trial=true, others false), log the best value
    and parameters to the parent run and end it; end the runs of trials failed as stale (KILLED).
    Safe to call from every worker: the result is the same. Returns the best trial (None if none completed)."""
    best = best_trial(study)
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if tracking is None or parent is None:
        return best
    tracking.experiment_id()  # points the client at the project's store
    client = mlflow_client()
    key = f"{tracking_conventions.TAG_PREFIX}best_trial"
    for trial in study.get_trials(deepcopy=False):
        run_id = trial.user_attrs.get(MLFLOW_RUN_ATTR)
        if run_id is None or trial.system_attrs.get(SLOT_ATTR) is None:
            continue
        if trial.state in FINISHED_OK:
            client.set_tag(run_id, key, str(best is not None and trial.number == best.number).lower())
        elif trial.state == TrialState.FAIL and ERROR_ATTR not in trial.user_attrs:
            run = client.get_run(run_id)
            if run.info.status == "RUNNING":  # its worker died mid-trial
                client.set_tag(run_id, f"{tracking_conventions.TAG_PREFIX}trial_state", "STALE")
                client.set_terminated(run_id, "KILLED")
    states = [t.state for t in study.get_trials(deepcopy=False)]
    log_metrics(
        client, parent, {"trials_complete": states.count(TrialState.COMPLETE), "trials_pruned": states.count(TrialState.PRUNED)}
    )
    if best is not None:
        numeric = {f"best.{k}": v for k, v in best.params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        log_metrics(client, parent, {"best_value": float("nan") if best.value is None else best.value, **numeric})
        client.set_tag(parent, f"{tracking_conventions.TAG_PREFIX}best_trial_number", str(best.number))
        for name, value in best.params.items():
            client.set_tag(parent, f"{tracking_conventions.TAG_PREFIX}best.{name}", str(value))
        if MLFLOW_RUN_ATTR in best.user_attrs:
            client.set_tag(parent, f"{tracking_conventions.TAG_PREFIX}best_run_id", best.user_attrs[MLFLOW_RUN_ATTR])
    client.set_terminated(parent, "FINISHED")
    return best


def best_overlay(best: FrozenTrial, setup: TrialSetup) -> dict[str, Any]:
    """The best trial's values in params.yaml's shape (a profile overlay).

    Generator values go to train_generator.models.<setup.generator>; the ratio to synthesize.minority_ratio
    (minority mode or listed classes) or to synthesize.n_per_class = the mean of the trial's per-class counts (all mode,
    where params.yaml holds one count for every class). When the best trial drew no synthetic data
    (the baseline won) synthesize is left out: params.yaml cannot ask a generator for nothing.
    Tuned `train_classifier.*` keys go to train_classifier. When the trial curated (tuned `curation.*` bounds, or curation enabled in params), `curation` is
    switched on with every bound written out as the trial applied it, null for one it did not apply:
    a bound left out would take params.yaml's value, which the trial may never have scored.
    """
    values = dict(best.params)
    ratio = values.pop(RATIO, None)
    for key in [k for k in values if k.startswith(CURATION_PREFIX)]:
        del values[key]
    classifier = {
        k.removeprefix(CLASSIFIER_PREFIX): _plain(values.pop(k)) for k in list(values) if k.startswith(CLASSIFIER_PREFIX)
    }
    curation = trial_curation(best, setup)
    overlay: dict[str, Any] = {"train_classifier": classifier} if classifier else {}
    if curation is not None:
        overlay["curation"] = {"enabled": True, **curation}
    if values:
        overlay["train_generator"] = {"models": {setup.generator: {k: _plain(v) for k, v in values.items()}}}
    counts = best.user_attrs.get(COUNTS_ATTR)
    if ratio is not None and (counts is None or sum(counts.values()) > 0):
        if configured_ratio(setup.classes, 1.0) is not None:  # minority or listed classes
            overlay["synthesize"] = {"minority_ratio": float(ratio)}
        elif counts:
            # The rounding of synthaug.class_plan (half up), not round()'s half to even.
            overlay["synthesize"] = {"n_per_class": round_half_up(float(np.mean(list(counts.values()))))}
    return overlay


def trial_curation(trial: FrozenTrial, setup: TrialSetup) -> dict[str, float | None] | None:
    """{bound: value, None where not applied} that `trial` curated its synthetic samples with; None when it
    did not curate. As the trial recorded it, else (trials of earlier versions) as `curation_bounds` derives
    it from the trial's values and the setup's `curation`."""
    from synthaug.tuning.objective import curation_bounds  # objective imports study, which imports this module

    if CURATION_ATTR in trial.user_attrs:
        recorded = trial.user_attrs[CURATION_ATTR]
        return None if recorded is None else {b: _plain(recorded.get(b)) for b in CURATION_BOUNDS}
    bounds = curation_bounds(trial.params, setup.fixed_curation)
    return None if bounds is None else {b: _plain(bounds[b]) for b in CURATION_BOUNDS}


def _plain(value: Any) -> Any:
    # numpy scalars would be dumped as Python objects; YAML wants plain numbers.
    return value.item() if hasattr(value, "item") else value


def write_best_params(study: optuna.Study, setup: TrialSetup, path: Path) -> dict[str, Any]:
    """Write the best trial's values as a profile overlay YAML at `path` (atomically); return the overlay.

    `synthaug profile <name> && dvc repro` then re-runs the pipeline with them. Floats are written
    by yaml.safe_dump, which keeps a dot in the mantissa (5.0e-05), so YAML 1.1 readers such as
    PyYAML and DVC read them back as floats. Raises SynthaugError when no trial completed.
    """
    best = best_trial(study)
    if best is None:
        raise SynthaugError(
            f"study {study.study_name!r}: no trial completed, so there are no best parameters to write; "
            "see the trials' `error` attributes (optuna-dashboard or the MLflow runs)"
        )
    overlay = best_overlay(best, setup)
    ratio = best.params.get(RATIO)
    n_trials = study.user_attrs.get(N_TRIALS_ATTR, len(study.trials))
    lines = [
        f"# Tuned by `synthaug tune`: study {study.study_name}, best of {n_trials} trials is trial {best.number}",
        f"# (validation {setup.objective} {best.value:.4f}, file level, mean over tune.seeds). Apply with:",
        f"#   synthaug profile {Path(path).stem} && dvc repro",
        "# synthesize.* applies to every generator the pipeline trains.",
    ]
    if ratio is not None and "synthesize" not in overlay:
        lines.append(f"# The best trial used no synthetic data (ratio {ratio:g}): the baseline beat every trial")
        lines.append(f"# with {setup.generator} data, so the synthetic share is left as it is.")
    text = "\n".join(lines) + "\n" + (yaml.safe_dump(overlay, sort_keys=False) if overlay else "{}\n")
    write_text_atomic(Path(path), text)
    return overlay
