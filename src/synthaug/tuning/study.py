"""Creating a study once (definition, slots, MLflow parent run) and joining it from workers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from synthaug import tracking as tracking_conventions
from synthaug.config import SearchDimension
from synthaug.errors import ConfigError
from synthaug.tuning.attrs import (
    GENERATOR_ATTR,
    N_TRIALS_ATTR,
    PARENT_RUN_ATTR,
    PRUNER_ATTR,
    SAMPLER_SEED_ATTR,
    SPACE_ATTR,
)
from synthaug.tuning.mlflow_runs import Tracking, log_params, mlflow_client
from synthaug.tuning.space import space_to_json
from synthaug.tuning.storage import make_pruner, make_sampler, storage_kind
from synthaug.tuning.workers import reconcile


def create_study(
    study_name: str,
    storage: optuna.storages.BaseStorage,
    *,
    n_trials: int,
    generator: str,
    space: Mapping[str, SearchDimension],
    pruner: str = "median",
    sampler_seed: int = 0,
    tracking: Tracking | None = None,
    storage_name: str | None = None,
    run_params: Mapping[str, Any] | None = None,
) -> optuna.Study:
    """Create the study (or load it), record its definition and enqueue one WAITING trial per slot.

    Run once before starting workers: on an empty database, workers creating the schema at the same
    time race. Loading an existing study keeps its space, pruner and seed; a larger n_trials adds
    slots, a smaller one is an error. With `tracking`, the MLflow parent run is created once (its id
    goes into the study); `storage_name` (the tune.storage string) gives its storage tag and
    `run_params` its params.
    """
    if n_trials < 1:
        raise ConfigError(f"tune.n_trials: must be >= 1, got {n_trials}")
    make_pruner(pruner)  # validate before anything is written
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="maximize",
        sampler=make_sampler(sampler_seed),
        pruner=make_pruner(pruner),
        load_if_exists=True,
    )
    attrs = study.user_attrs
    recorded = attrs.get(N_TRIALS_ATTR)
    if GENERATOR_ATTR in attrs and attrs[GENERATOR_ATTR] != generator:
        raise ConfigError(
            f"study {study_name!r} tunes generator {attrs[GENERATOR_ATTR]}, not {generator}; pass another --study-name"
        )
    if recorded is not None and n_trials < recorded:
        raise ConfigError(
            f"study {study_name!r} already asks for {recorded} trials; n_trials can grow, not shrink "
            f"(got {n_trials}). Use a new study name to start over."
        )
    if recorded is None:
        # Definition first, n_trials last: a study with n_trials recorded is fully defined.
        study.set_user_attr(GENERATOR_ATTR, generator)
        study.set_user_attr(SPACE_ATTR, space_to_json(space))
        study.set_user_attr(PRUNER_ATTR, pruner)
        study.set_user_attr(SAMPLER_SEED_ATTR, int(sampler_seed))
    if recorded is None or n_trials > recorded:
        study.set_user_attr(N_TRIALS_ATTR, int(n_trials))
    if tracking is not None and PARENT_RUN_ATTR not in study.user_attrs:
        client = mlflow_client()
        prefix = tracking_conventions.TAG_PREFIX
        run = client.create_run(
            tracking.experiment_id(),
            run_name=f"tune-{generator}",
            tags={
                **tracking.tags(),
                f"{prefix}stage": "tune",
                f"{prefix}generator": generator,
                f"{prefix}study": study_name,
                f"{prefix}storage": storage_kind(storage_name),
            },
        )
        log_params(
            client,
            run.info.run_id,
            {
                "study": study_name,
                "generator": generator,
                "n_trials": n_trials,
                "pruner": pruner,
                "sampler_seed": sampler_seed,
                "space": space_to_json(space),
                **(run_params or {}),
            },
        )
        study.set_user_attr(PARENT_RUN_ATTR, run.info.run_id)
    reconcile(study)
    return study


def load_study(study_name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Join a study made by `create_study`, with the pruner and sampler seed it recorded."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ConfigError(
            f"study {study_name!r} not found in the storage; create it first "
            "(synthaug tune --create-only), then start the workers"
        ) from None
    attrs = study.user_attrs
    if N_TRIALS_ATTR not in attrs:
        raise ConfigError(f"study {study_name!r} was not made by synthaug tune (no {N_TRIALS_ATTR} recorded)")
    study.pruner = make_pruner(attrs.get(PRUNER_ATTR, "median"))
    study.sampler = make_sampler(attrs.get(SAMPLER_SEED_ATTR, 0))
    return study
