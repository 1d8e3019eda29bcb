"""Optuna tuning of the synthetic share and a generator's hyperparameters: spaces, storage, workers.

One study per generator. A trial suggests the synthetic share `ratio` and the generator's
hyperparameters, trains the generator on the real training spectrograms (not at all when the
trial asks for no synthetic data: that trial is the baseline), draws round(ratio x class size)
synthetic spectrograms of each class the generator serves, trains the classifier on real +
synthetic data once per seed and returns the mean over seeds of the first of `report.primary_endpoints`
(AUROC by default) on the validation files. Only
train.npz, val.npz and normalizer.json are read (`load_tune_data`): the test split is never seen.

Counting, by construction. `create_study` records n_trials in the study and enqueues n_trials
WAITING trials, one per *slot* 0..n-1 (a system attr). Workers never ask Optuna for a new trial;
they claim WAITING ones with `storage.set_trial_state_values(trial_id, RUNNING)`, which succeeds
for exactly one claimant (a row lock on PostgreSQL or MySQL, a write lock taken at BEGIN on SQLite,
log order in a journal). A slot ends with one
COMPLETE, PRUNED or FAIL trial (FAIL = the objective raised; its error is the user attr `error`).
A worker killed mid-trial leaves a RUNNING trial whose heartbeat stops; any worker fails it once
it is stale and re-enqueues its parameters as a WAITING retry in the same slot (Optuna's
RetryHeartbeatStaleTrialCallback, which records the chain in `retry_history`). Every worker
reconciles before it claims: a slot with no trial, or whose last trial failed stale with no retry
(its failer was killed between the two writes), gets one. Two workers reconciling at once may
both add a trial for the same slot; the one with the lower number is canonical and the other is
discarded (failed, user attr `discarded`) by whoever claims it, before anything runs. Trial
numbers are handed out in creation order and every storage shows trials as a prefix of that
order (an RDB creates a study's trials one at a time under a lock on the study's row; a journal is
one ordered log), so whoever sees a trial also sees every lower-numbered one: canonicity is
decided from one read and never changes. Hence the study ends with exactly n_trials finished trials, one per
slot, however many workers run, die or restart.

Heartbeats: RDBStorage has them built in (`heartbeat_interval`, `grace_period`); Optuna 5 gives
JournalStorage none, so `HeartbeatJournalStorage` adds the same interface with the heartbeat kept
as a trial system attr (wall-clock time; workers sharing a journal over a network need synced
clocks). A worker records the heartbeat *before* it claims a trial, so no RUNNING trial is ever
without one.

MLflow (synthaug.tracking conventions): `create_study` opens the parent run (tag
synthaug.stage=tune); every trial is a nested run `trial-<number>` with its parameters,
per-epoch values, result and state; `finish_study` tags the best trial's run and logs the best
value and parameters to the parent.

Curation bounds (`curation.<bound>` keys in the space) are tunable: a trial scores its synthetic
samples as the audit stage does (manifold distance and copy ratio in the embedding of a classifier
trained on the real data, and that classifier's confidence in each sample's label), with the copy
threshold calibrated on the validation split as the audit's is. The trial records the rule it applied
(user attr `curation`), and the tuned profile writes every bound of it, null where none was applied.

The package, by concern:
  attrs.py        names of the study's and trials' attributes, and defaults
  space.py        search spaces: validated per generator, suggested per trial
  storage.py      SQLite / journal / SQLAlchemy storage with heartbeats; sampler and pruner
  mlflow_runs.py  where the parent and trial runs go, batched logging
  study.py        create_study (once, before workers) and load_study
  workers.py      slots, reconciliation, claiming and running trials
  objective.py    one trial: generator, synthetic data, classifier, validation macro F1
  results.py      the best trial: MLflow tags and the profile overlay
"""

from __future__ import annotations

from synthaug.tuning.attrs import (
    COUNTS_ATTR,
    DISCARDED_ATTR,
    ERROR_ATTR,
    FINISHED_OK,
    GENERATOR_ATTR,
    GRACE_PERIOD_S,
    HEARTBEAT_ATTR,
    HEARTBEAT_INTERVAL_S,
    MLFLOW_RUN_ATTR,
    N_TRIALS_ATTR,
    OPTUNA_DB,
    PARENT_RUN_ATTR,
    PRUNER_ATTR,
    PRUNERS,
    RATIO,
    SAMPLER_SEED_ATTR,
    SLOT_ATTR,
    SPACE_ATTR,
    WORKER_ATTR,
)
from synthaug.tuning.mlflow_runs import Tracking
from synthaug.tuning.objective import (
    TrialSetup,
    TuneData,
    curation_bounds,
    curation_keep_mask,
    evaluate_trial,
    load_tune_data,
    make_objective,
    pipeline_curation,
)
from synthaug.tuning.optuna_internals import HeartbeatJournalStorage
from synthaug.tuning.results import best_overlay, best_trial, finish_study, write_best_params
from synthaug.tuning.space import search_space, space_from_json, space_to_json, study_space, suggest
from synthaug.tuning.storage import make_pruner, make_sampler, make_storage, redacted, storage_kind
from synthaug.tuning.study import create_study, load_study
from synthaug.tuning.workers import Slots, WorkerReport, reconcile, run_worker, slots

__all__ = [
    "COUNTS_ATTR",
    "DISCARDED_ATTR",
    "ERROR_ATTR",
    "FINISHED_OK",
    "GENERATOR_ATTR",
    "GRACE_PERIOD_S",
    "HEARTBEAT_ATTR",
    "HEARTBEAT_INTERVAL_S",
    "HeartbeatJournalStorage",
    "MLFLOW_RUN_ATTR",
    "N_TRIALS_ATTR",
    "OPTUNA_DB",
    "PARENT_RUN_ATTR",
    "PRUNERS",
    "PRUNER_ATTR",
    "RATIO",
    "SAMPLER_SEED_ATTR",
    "SLOT_ATTR",
    "SPACE_ATTR",
    "Slots",
    "Tracking",
    "TrialSetup",
    "TuneData",
    "WORKER_ATTR",
    "WorkerReport",
    "best_overlay",
    "curation_bounds",
    "curation_keep_mask",
    "pipeline_curation",
    "best_trial",
    "create_study",
    "evaluate_trial",
    "finish_study",
    "load_study",
    "load_tune_data",
    "make_objective",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "reconcile",
    "redacted",
    "run_worker",
    "search_space",
    "slots",
    "space_from_json",
    "space_to_json",
    "storage_kind",
    "study_space",
    "suggest",
    "write_best_params",
]
