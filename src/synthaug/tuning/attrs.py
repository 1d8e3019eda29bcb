"""Names and constants a study, its trials and its workers agree on (Optuna attrs, defaults)."""

from __future__ import annotations

from optuna.trial import TrialState

from synthaug.config import CLASSIFIER_PREFIX, CURATION_PREFIX, RATIO, TUNABLE_CLASSIFIER_KEYS  # tune.space's own keys

__all__ = ["CLASSIFIER_PREFIX", "CURATION_PREFIX", "RATIO", "TUNABLE_CLASSIFIER_KEYS"]
OPTUNA_DB = "optuna.db"
HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 60  # a RUNNING trial whose heartbeat is older than this is taken for dead and retried

# Study user attrs: a study holds its own definition, so every worker searches the same space.
N_TRIALS_ATTR = "n_trials"
GENERATOR_ATTR = "generator"
SPACE_ATTR = "space"
PRUNER_ATTR = "pruner"
SAMPLER_SEED_ATTR = "sampler_seed"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
# Trial attrs.
SLOT_ATTR = "synthaug:slot"  # system attr: which of the n_trials slots a trial fills
HEARTBEAT_ATTR = "synthaug:heartbeat"  # system attr (journal storage only): time.time() of the last beat
ERROR_ATTR = "error"  # user attr of a trial whose objective raised
DISCARDED_ATTR = "discarded"  # user attr of a duplicate trial, failed unrun
MLFLOW_RUN_ATTR = "mlflow_run_id"
COUNTS_ATTR = "synthetic_per_class"  # user attr: synthetic spectrograms drawn per class
CURATION_ATTR = "curation"  # user attr: {bound: value or None} the trial curated with; None: it did not curate
CURATION_DROPPED_ATTR = "curation_dropped"  # user attr: synthetic spectrograms curation dropped
WORKER_ATTR = "worker"  # user attr: host:pid of the worker that ran the trial

PRUNERS = ("median", "successive_halving", "none")
FINISHED_OK = (TrialState.COMPLETE, TrialState.PRUNED)
