"""Optuna tuning of the synthetic share and a generator's hyperparameters: spaces, storage, workers.

One study per generator. A trial suggests the synthetic share `ratio` and the generator's
hyperparameters, trains the generator on the real training spectrograms (not at all when the
trial asks for no synthetic data: that trial is the baseline), draws round(ratio x class size)
synthetic spectrograms of each class the generator serves, trains the classifier on real +
synthetic data once per seed and returns the mean validation macro F1 at file level. Only
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

Curation bounds (`curation.*` keys) are not tunable here: their scores come from the audit, whose
copy threshold is calibrated on the real *test* split and whose confidence needs the baseline
classifiers, neither of which a trial may use. `search_space` rejects such keys with that reason.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import socket
import sys
import threading
import time
import traceback
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import yaml
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # the interface Optuna's own heartbeat machinery checks for
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from synthaug import tracking as tracking_conventions
from synthaug.config import SearchDimension, TuneParams
from synthaug.errors import ConfigError, DataError, SynthaugError
from synthaug.io import write_text_atomic

if TYPE_CHECKING:
    from synthaug.config import Params, TrainClassifierParams
    from synthaug.spectrograms import SpectrogramSet

RATIO = "ratio"  # the synthetic share: synthetic spectrograms per real training spectrogram of a served class
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
WORKER_ATTR = "worker"  # user attr: host:pid of the worker that ran the trial

PRUNERS = ("median", "successive_halving", "none")
FINISHED_OK = (TrialState.COMPLETE, TrialState.PRUNED)


# ---- search spaces ----------------------------------------------------------------------------------


def search_space(tune: TuneParams, generator: str, generator_keys: Sequence[str]) -> dict[str, SearchDimension]:
    """tune.space.shared merged with tune.space.<generator> (the generator's ranges win), validated.

    `generator_keys` are the hyperparameters the generator accepts. Raises ConfigError naming the
    key for anything a trial could not use.
    """
    merged: dict[str, SearchDimension] = {}
    for section in ("shared", generator):
        for key, dimension in tune.space.get(section, {}).items():
            where = f"tune.space.{section}.{key}"
            if key.startswith("curation."):
                raise ConfigError(
                    f"{where}: curation bounds cannot be tuned: curation scores come from the audit, which is "
                    "calibrated on the test split and needs the baseline classifiers; a trial may use neither. Remove the key."
                )
            if key != RATIO and key not in generator_keys:
                raise ConfigError(f"{where}: not a hyperparameter of generator {generator}; valid: "
                                  f"{RATIO}, {', '.join(sorted(generator_keys))}")
            if dimension.log and dimension.step is not None:
                raise ConfigError(f"{where}: a range cannot have both log and step (Optuna samples one or the other)")
            if key == RATIO and dimension.choices is None and dimension.low < 0:
                raise ConfigError(f"{where}: the synthetic share cannot be negative, got low={dimension.low}")
            merged[key] = dimension
    return merged


def suggest(trial: optuna.trial.BaseTrial, space: Mapping[str, SearchDimension]) -> dict[str, Any]:
    """One value per dimension, under the dimension's own name.

    {choices} -> suggest_categorical; int low and high (and int or no step) -> suggest_int;
    otherwise suggest_float (with log or step).
    """
    values: dict[str, Any] = {}
    for name, dim in space.items():
        if dim.choices is not None:
            values[name] = trial.suggest_categorical(name, list(dim.choices))
        elif _is_int(dim.low) and _is_int(dim.high) and (dim.step is None or _is_int(dim.step)):
            values[name] = trial.suggest_int(name, dim.low, dim.high, step=dim.step or 1, log=dim.log)
        else:
            step = None if dim.step is None else float(dim.step)
            values[name] = trial.suggest_float(name, float(dim.low), float(dim.high), step=step, log=dim.log)
    return values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def space_to_json(space: Mapping[str, SearchDimension]) -> dict[str, dict[str, Any]]:
    return {name: dim.model_dump(exclude_none=True) for name, dim in space.items()}


def space_from_json(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, SearchDimension]:
    return {name: SearchDimension.model_validate(dict(dim)) for name, dim in raw.items()}


# ---- storage, sampler, pruner -----------------------------------------------------------------------


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A JournalStorage with Optuna's heartbeat interface, which Optuna 5 gives only to RDBStorage.

    The heartbeat is the trial system attr HEARTBEAT_ATTR (time.time()); a RUNNING trial whose last
    beat is older than `grace_period` seconds is stale. With it, optuna.storages.fail_stale_trials
    (and Study.optimize) fail and retry a dead worker's trial exactly as they do on an RDB.
    """

    def __init__(self, backend: JournalFileBackend, *, heartbeat_interval: int, grace_period: int,
                 stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None) -> None:
        super().__init__(backend)
        self._heartbeat_interval = int(heartbeat_interval)
        self._grace_period = int(grace_period)
        self._stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running
                if HEARTBEAT_ATTR in t.system_attrs and now - float(t.system_attrs[HEARTBEAT_ATTR]) > self._grace_period]

    def get_heartbeat_interval(self) -> int:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_trial_callback


def _retry_callback() -> RetryHeartbeatStaleTrialCallback:
    # Optuna 5's name for RetryFailedTrialCallback (deprecated since 4.9). No retry limit: a trial
    # goes stale only when its worker dies, which says nothing about its parameters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=None)


def make_storage(storage: str | None, project_root: Path, *, heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
                 grace_period: int = GRACE_PERIOD_S) -> optuna.storages.BaseStorage:
    """The Optuna storage for a `tune.storage` string, with heartbeats and stale-trial retry.

    None: SQLite file optuna.db in the project (one machine); `journal:PATH`: a journal file (PATH
    relative to the project unless absolute; several processes on one machine or a shared file
    system); anything else: an SQLAlchemy URL (e.g. postgresql://user@host/db: many machines).
    """
    if storage is None:
        # An absolute SQLite URI has four slashes; three would make it relative to the current folder.
        storage = f"sqlite:///{(Path(project_root) / OPTUNA_DB).resolve().as_posix()}"
    if storage.startswith("journal:"):
        path = Path(storage.removeprefix("journal:"))
        if not str(path):
            raise ConfigError("tune.storage: journal: needs a file path, e.g. journal:optuna.journal")
        path = path if path.is_absolute() else Path(project_root) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return HeartbeatJournalStorage(JournalFileBackend(str(path)), heartbeat_interval=heartbeat_interval,
                                       grace_period=grace_period, stale_trial_callback=_retry_callback())
    try:
        with warnings.catch_warnings():  # heartbeats have been "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = RDBStorage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                             heartbeat_stale_trial_callback=_retry_callback())
    except Exception as exc:  # SQLAlchemy's errors vary by driver; all mean the storage is unusable
        raise SynthaugError(f"tune.storage: cannot open {redacted(storage)}: {type(exc).__name__}: {exc}. "
                            "Check the URL, that the server is running and that the database exists.") from exc
    if rdb.engine.dialect.name == "sqlite":
        _serialize_sqlite_transactions(rdb.engine)
    return rdb


def _serialize_sqlite_transactions(engine) -> None:
    """Make every transaction on `engine` BEGIN IMMEDIATE, so that a claim's read and write are atomic.

    SQLite ignores SELECT ... FOR UPDATE, and Python's sqlite3 opens a transaction only at the first
    write: two workers could both read a trial as WAITING and both set it RUNNING. Holding SQLite's
    write lock from the start of each transaction (SQLAlchemy's documented pysqlite recipe) makes
    the claim a compare-and-set, as a row lock does on PostgreSQL; waiting uses sqlite3's busy timeout.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, connection_record) -> None:
        dbapi_connection.isolation_level = None  # sqlite3 leaves BEGIN to the "begin" event below

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna created the schema lack the hooks


def redacted(storage: str | None) -> str:
    """The storage string with any password hidden."""
    if storage is None or storage.startswith("journal:"):
        return str(storage)
    from sqlalchemy.engine import make_url

    try:
        return make_url(storage).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable storage URL>"


def storage_kind(storage: str | None) -> str:
    """sqlite, journal, postgresql, mysql...: what the MLflow parent run records (never credentials)."""
    if storage is None:
        return "sqlite"
    if storage.startswith("journal:"):
        return "journal"
    from sqlalchemy.engine import make_url

    try:
        return make_url(storage).get_backend_name()
    except Exception:
        return storage.split(":", 1)[0].split("+", 1)[0]


def make_pruner(name: str, *, n_startup_trials: int = 3, n_warmup_steps: int = 3) -> optuna.pruners.BasePruner:
    """median: stop a trial whose best intermediate value is below the median of earlier trials at
    the same step, once `n_startup_trials` finished and after `n_warmup_steps` epochs;
    successive_halving: Optuna's asynchronous successive halving; none: never stop a trial."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"tune.pruner: {name!r} is not one of {', '.join(PRUNERS)}")


def make_sampler(seed: int, trial_number: int = 0) -> optuna.samplers.TPESampler:
    """TPE seeded from the study's seed and the trial number.

    Seeding per trial rather than per worker keeps one worker's search reproducible while two
    workers (each with its own sampler) never draw the same random start-up parameters.
    """
    return optuna.samplers.TPESampler(seed=(int(seed) * 1_000_003 + int(trial_number)) % 2**32)


# ---- MLflow --------------------------------------------------------------------------------------


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
        return {
            f"{prefix}protocol": self.protocol,
            f"{prefix}dataset": self.dataset_name,
            f"{prefix}data_version": tracking_conventions.data_version(self.project_root),
            "mlflow.source.git.commit": tracking_conventions.git_commit(self.project_root),
        }


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def _log_params(client, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    flat = tracking_conventions.flatten(params)
    entries = [Param(k, str(v)[:6000]) for k, v in flat.items()]
    for start in range(0, len(entries), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=entries[start:start + 100])


def _log_metrics(client, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    entries = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if v is not None and math.isfinite(float(v))]
    if entries:
        client.log_batch(run_id, metrics=entries)


# ---- the study ------------------------------------------------------------------------------------


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
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                sampler=make_sampler(sampler_seed), pruner=make_pruner(pruner), load_if_exists=True)
    attrs = study.user_attrs
    recorded = attrs.get(N_TRIALS_ATTR)
    if GENERATOR_ATTR in attrs and attrs[GENERATOR_ATTR] != generator:
        raise ConfigError(f"study {study_name!r} tunes generator {attrs[GENERATOR_ATTR]}, not {generator}; "
                          "pass another --study-name")
    if recorded is not None and n_trials < recorded:
        raise ConfigError(f"study {study_name!r} already asks for {recorded} trials; n_trials can grow, not shrink "
                          f"(got {n_trials}). Use a new study name to start over.")
    if recorded is None:
        # Definition first, n_trials last: a study with n_trials recorded is fully defined.
        study.set_user_attr(GENERATOR_ATTR, generator)
        study.set_user_attr(SPACE_ATTR, space_to_json(space))
        study.set_user_attr(PRUNER_ATTR, pruner)
        study.set_user_attr(SAMPLER_SEED_ATTR, int(sampler_seed))
    if recorded is None or n_trials > recorded:
        study.set_user_attr(N_TRIALS_ATTR, int(n_trials))
    if tracking is not None and PARENT_RUN_ATTR not in study.user_attrs:
        client = _client()
        prefix = tracking_conventions.TAG_PREFIX
        run = client.create_run(
            tracking.experiment_id(), run_name=f"tune-{generator}",
            tags={**tracking.tags(), f"{prefix}stage": "tune", f"{prefix}generator": generator,
                  f"{prefix}study": study_name, f"{prefix}storage": storage_kind(storage_name)},
        )
        _log_params(client, run.info.run_id, {"study": study_name, "generator": generator, "n_trials": n_trials,
                                              "pruner": pruner, "sampler_seed": sampler_seed,
                                              "space": space_to_json(space), **(run_params or {})})
        study.set_user_attr(PARENT_RUN_ATTR, run.info.run_id)
    reconcile(study)
    return study


def load_study(study_name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Join a study made by `create_study`, with the pruner and sampler seed it recorded."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ConfigError(f"study {study_name!r} not found in the storage; create it first "
                          "(synthaug tune --create-only), then start the workers") from None
    attrs = study.user_attrs
    if N_TRIALS_ATTR not in attrs:
        raise ConfigError(f"study {study_name!r} was not made by synthaug tune (no {N_TRIALS_ATTR} recorded)")
    study.pruner = make_pruner(attrs.get(PRUNER_ATTR, "median"))
    study.sampler = make_sampler(attrs.get(SAMPLER_SEED_ATTR, 0))
    return study


def study_space(study: optuna.Study) -> dict[str, SearchDimension]:
    return space_from_json(study.user_attrs.get(SPACE_ATTR, {}))


# ---- slots: which trial stands for each of the n_trials ------------------------------------------------


def _parent(trial: FrozenTrial) -> int | None:
    history = trial.system_attrs.get("retry_history") or []
    return int(history[-1]) if history else None


@dataclass
class Slots:
    """Each slot's head (its current trial; None before it has one) and the canonical trial numbers."""

    heads: dict[int, FrozenTrial | None]
    canonical: set[int]

    def done(self, slot: int) -> bool:
        head = self.heads[slot]
        return head is not None and (head.state in FINISHED_OK or (head.state == TrialState.FAIL and ERROR_ATTR in head.user_attrs))

    def needs_trial(self, slot: int) -> bool:
        """True when the slot has no trial or its head failed without an error (a dead worker's)."""
        head = self.heads[slot]
        return head is None or (head.state == TrialState.FAIL and ERROR_ATTR not in head.user_attrs)

    @property
    def all_done(self) -> bool:
        return all(self.done(slot) for slot in self.heads)


def slots(trials: Sequence[FrozenTrial], n_trials: int) -> Slots:
    """Walk each slot's chain: its lowest-numbered trial, then the lowest-numbered retry of that, ...

    Every other trial of a slot is a duplicate made by two workers reconciling at once.
    """
    children: dict[tuple[int, int | None], list[FrozenTrial]] = defaultdict(list)
    for trial in trials:
        if SLOT_ATTR in trial.system_attrs:
            children[(int(trial.system_attrs[SLOT_ATTR]), _parent(trial))].append(trial)
    heads: dict[int, FrozenTrial | None] = {}
    canonical: set[int] = set()
    for slot in range(n_trials):
        head, group = None, children.get((slot, None))
        while group:
            head = min(group, key=lambda t: t.number)
            canonical.add(head.number)
            group = children.get((slot, head.number))
        heads[slot] = head
    return Slots(heads, canonical)


def reconcile(study: optuna.Study) -> int:
    """Give every slot that needs one a WAITING trial; return how many were added.

    A missing slot gets a fresh trial; a slot whose head failed stale gets a retry with the head's
    parameters. Safe to run concurrently: duplicates lose to the lower number (see `slots`).
    """
    n_trials = int(study.user_attrs[N_TRIALS_ATTR])
    state = slots(study.get_trials(deepcopy=False), n_trials)
    added = 0
    retry = _retry_callback()
    for slot, head in state.heads.items():
        if head is None:
            study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={SLOT_ATTR: slot}))
            added += 1
        elif state.needs_trial(slot):
            # A copy: the callback extends the trial's retry_history list in place, and `head` may be
            # the storage's own cached object.
            retry(study, copy.deepcopy(head))  # copies params and system attrs (the slot), extends retry_history
            added += 1
    return added


# ---- the worker ---------------------------------------------------------------------------------------


@dataclass
class WorkerReport:
    """What one worker did: trial numbers it finished, by final state, and duplicates it discarded."""

    finished: dict[int, str] = field(default_factory=dict)
    discarded: list[int] = field(default_factory=list)
    taken_over: list[int] = field(default_factory=list)  # trials another worker failed as stale while this one ran them


class _Heartbeat:
    """Beats for one trial every interval in a thread while the trial runs (no-op without heartbeats)."""

    def __init__(self, storage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        self.interval = storage.get_heartbeat_interval() if isinstance(storage, BaseHeartbeat) else None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def beat(self) -> None:
        if self.interval is not None:
            self.storage.record_heartbeat(self.trial_id)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.beat()
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # another worker failed the trial as stale; nothing left to keep alive
            except Exception as exc:  # a transient storage error: the next beat may get through
                print(f"tune: heartbeat of trial id {self.trial_id} failed ({exc}); retrying", file=sys.stderr)

    def __enter__(self) -> _Heartbeat:
        if self.interval is not None:
            self.thread = threading.Thread(target=self._loop, name=f"heartbeat-{self.trial_id}", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _claim(study: optuna.Study, n_trials: int, report: WorkerReport) -> FrozenTrial | None:
    """Claim the lowest-numbered canonical WAITING trial; discard any duplicate met on the way."""
    storage = study._storage  # the study's own (possibly caching) storage, so its view stays consistent
    trials = study.get_trials(deepcopy=False)
    state = slots(trials, n_trials)
    for trial in trials:
        if trial.state != TrialState.WAITING:
            continue
        try:
            # Beat first: from the moment the claim commits, the trial has a heartbeat to go stale.
            _Heartbeat(storage, trial._trial_id).beat()
            if not storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                continue  # another worker claimed it first
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if trial.number in state.canonical:
            return trial
        # `trials` includes every trial numbered below this one, so it is a duplicate for good.
        storage.set_trial_user_attr(trial._trial_id, DISCARDED_ATTR, True)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        report.discarded.append(trial.number)
    return None


def run_worker(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    poll_interval: float = 2.0,
    log: Callable[[str], None] = print,
) -> WorkerReport:
    """Run trials of `study` until each of its n_trials slots holds a finished trial; return what this worker did.

    `objective(trial)` returns the value to maximize, raises optuna.TrialPruned to prune, or raises
    anything else to fail the trial (the error goes into the trial's user attr `error`; the worker
    goes on). While no trial is waiting but others run, the worker polls every `poll_interval`
    seconds: if their workers died it fails and retries their trials once their heartbeats are stale.
    """
    report = WorkerReport()
    storage = study._storage
    seed = int(study.user_attrs.get(SAMPLER_SEED_ATTR, 0))
    waiting_for: set[int] = set()
    durations: list[float] = []
    while True:
        n_trials = int(study.user_attrs[N_TRIALS_ATTR])
        _fail_stale(study)
        reconcile(study)
        claimed = _claim(study, n_trials, report)
        if claimed is None:
            state = slots(study.get_trials(deepcopy=False), n_trials)
            if state.all_done:
                return report
            running = {h.number for h in state.heads.values() if h is not None and h.state == TrialState.RUNNING}
            if running - waiting_for:
                log(f"tune: waiting for trial(s) {', '.join(map(str, sorted(running)))} running in other workers")
            waiting_for = running
            time.sleep(poll_interval)
            continue
        study.sampler = make_sampler(seed, claimed.number)
        trial = optuna.Trial(study, claimed._trial_id)
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        started = time.monotonic()
        final = _run_trial(study, trial, objective, storage)
        if final is None:
            report.taken_over.append(claimed.number)
            log(f"tune: trial {claimed.number} was failed as stale by another worker, which retries it")
            continue
        report.finished[claimed.number] = final[0]
        durations.append(time.monotonic() - started)
        log(_progress(study, claimed.number, final, durations))


def _progress(study: optuna.Study, number: int, final: tuple[str, float | None], durations: list[float]) -> str:
    """One line per trial: its result, the study's progress and best value, and a rough time left."""
    n_trials = int(study.user_attrs[N_TRIALS_ATTR])
    trials = study.get_trials(deepcopy=False)
    state = slots(trials, n_trials)
    done = sum(state.done(slot) for slot in state.heads)
    running = max(1, sum(t.state == TrialState.RUNNING for t in trials) + 1)  # workers busy now, this one included
    best = best_trial(study)
    left = (n_trials - done) * float(np.mean(durations)) / running  # at this worker's pace, shared by the busy workers
    value = f" value {final[1]:.4f}" if final[1] is not None else ""
    best_text = f", best {best.value:.4f} (trial {best.number})" if best is not None else ""
    return (f"tune: trial {number} {final[0]}{value}; {done}/{n_trials} finished{best_text}"
            + (f"; about {left / 60:.1f} min left" if done < n_trials else ""))


def _run_trial(study: optuna.Study, trial: optuna.Trial, objective, storage) -> tuple[str, float | None] | None:
    """Run and tell one claimed trial; return (final state name, value), or None if another worker failed it."""
    value: float | None = None
    state = TrialState.COMPLETE
    try:
        with _Heartbeat(storage, trial._trial_id):
            try:
                value = float(objective(trial))
                if not math.isfinite(value):
                    raise ValueError(f"the objective returned {value}")
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except Exception as exc:
                state, value = TrialState.FAIL, None
                message = f"{type(exc).__name__}: {exc}"
                print(f"tune: trial {trial.number} failed: {message}\n{traceback.format_exc()}", file=sys.stderr)
                trial.set_user_attr(ERROR_ATTR, message[:2000])
            except BaseException:
                # Interrupted (Ctrl-C): fail the trial without an error, so that a worker retries it.
                with contextlib.suppress(Exception):
                    study.tell(trial, state=TrialState.FAIL)
                raise
        study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    return state.name, value


# ---- the objective --------------------------------------------------------------------------------


@dataclass
class TuneData:
    """The real spectrograms a trial may use: training and validation only."""

    train: SpectrogramSet
    val: SpectrogramSet
    channel_std: np.ndarray  # per-mel std of the real training data (gain augmentation)


def load_tune_data(features_dir: Path) -> TuneData:
    """Read FEATURES/train.npz, val.npz and normalizer.json; nothing else (never test.npz)."""
    import json

    from synthaug.spectrograms import load_spectrogram_set

    features_dir = Path(features_dir)
    normalizer = features_dir / "normalizer.json"
    if not normalizer.is_file():
        raise DataError(f"{normalizer}: not found; run featurize first (dvc repro featurize)")
    train = load_spectrogram_set(features_dir / "train.npz")
    val = load_spectrogram_set(features_dir / "val.npz")
    if train.class_names != val.class_names:
        raise DataError(f"{features_dir}: train and val have different class names; re-run featurize")
    return TuneData(train, val, np.asarray(json.loads(normalizer.read_text())["std"], dtype=np.float32))


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs besides the suggested values: params.yaml's fixed settings."""

    generator: str
    generator_config: dict[str, Any]  # train_generator.models.<generator>; suggested values override it
    classes: str  # minority | all (train_generator.classes)
    generator_seed: int
    generator_device: str
    synthesize_seed: int
    synthesize_batch_size: int
    default_ratio: float | None  # minority mode without a searched ratio: synthesize.minority_ratio
    default_per_class: int  # all mode without a searched ratio: synthesize.n_per_class
    classifier: TrainClassifierParams
    seeds: tuple[int, ...]  # tune.seeds: one classifier per seed, the objective is their mean
    num_threads: int | None = None

    @classmethod
    def from_params(cls, params: Params, generator: str, num_threads: int | None = None) -> TrialSetup:
        return cls(
            generator=generator, generator_config=dict(params.train_generator.models.get(generator, {})),
            classes=params.train_generator.classes, generator_seed=params.train_generator.seed,
            generator_device=params.train_generator.device, synthesize_seed=params.synthesize.seed,
            synthesize_batch_size=params.synthesize.batch_size, default_ratio=params.synthesize.minority_ratio,
            default_per_class=params.synthesize.n_per_class, classifier=params.train_classifier,
            seeds=tuple(params.tune.seeds), num_threads=num_threads,
        )


def synthetic_counts(train_y: np.ndarray, class_names: list[str], classes: str, ratio: float | None,
                     per_class: int) -> dict[str, int]:
    """Synthetic spectrograms per served class: round(ratio x its training size), or `per_class`
    when no ratio is given (all mode's fixed count); classes that would get none are left out."""
    from synthaug.generators.per_class import target_classes

    served = target_classes(np.asarray(train_y), len(class_names), classes)  # type: ignore[arg-type]
    sizes = np.bincount(train_y, minlength=len(class_names))
    counts = {class_names[c]: (per_class if ratio is None else int(round(ratio * sizes[c]))) for c in served}
    return {name: n for name, n in counts.items() if n > 0}


def evaluate_trial(values: Mapping[str, Any], data: TuneData, setup: TrialSetup,
                   on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
                   on_generator_epoch: Callable[[str, int, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Train the generator (unless no synthetic data is asked for) and the classifiers; return the result.

    `on_epoch(step, seed, record)` runs after each classifier epoch, step counting epochs across
    seeds (seed index x epochs + epoch) so trials are compared at equal training; raising from it
    stops the trial (pruning). Returns {"value": mean best validation macro F1 (file level),
    "per_seed": {seed: value}, "counts": {class: synthetic count}, "seconds": ...}.
    """
    import torch

    from synthaug.classifier_runs import TRAINING_KEYS
    from synthaug.classifiers import Augmenter, build_classifier
    from synthaug.generators.per_class import by_class, fit_models, sample_classes
    from synthaug.training import TrainConfig, train_classifier

    started = time.perf_counter()
    if setup.num_threads:
        torch.set_num_threads(int(setup.num_threads))
    train, val = data.train, data.val
    class_names = list(train.class_names)
    ratio = values.get(RATIO)
    if ratio is None and setup.classes == "minority":
        ratio = setup.default_ratio
    counts = synthetic_counts(train.y, class_names, setup.classes, None if ratio is None else float(ratio),
                              setup.default_per_class)
    train_x, train_y = train.x, train.y
    if counts:
        config = {**setup.generator_config, **{k: v for k, v in values.items() if k != RATIO}}
        callback = None
        if on_generator_epoch is not None:
            callback = lambda slot, generator, epoch, losses: on_generator_epoch(slot.key, epoch, losses)  # noqa: E731
        trained = fit_models(setup.generator, config, train.x, train.y, class_names, mode=setup.classes,  # type: ignore[arg-type]
                             seed=setup.generator_seed, checkpoint_root=None, device=setup.generator_device,
                             on_epoch_end=callback)
        x, y = sample_classes(by_class(trained, class_names), counts, class_names,
                              seed=setup.synthesize_seed, batch_size=setup.synthesize_batch_size)
        if not np.isfinite(x).all():
            raise FloatingPointError(f"generator {setup.generator} produced non-finite spectrograms with {dict(values)}")
        train_x, train_y = np.concatenate([train.x, x]), np.concatenate([train.y, y])

    settings = setup.classifier
    architecture = settings.model["architecture"]
    options = {k: v for k, v in settings.model.items() if k != "architecture"}
    augmenter = Augmenter.from_params(settings.augment, channel_std=data.channel_std)
    per_seed: dict[int, float] = {}
    for index, seed in enumerate(setup.seeds):
        model = build_classifier(architecture, len(class_names), tuple(train_x.shape[1:]), seed=seed, **options)
        config = TrainConfig(seed=seed, num_threads=setup.num_threads, **{k: getattr(settings, k) for k in TRAINING_KEYS})
        offset = index * settings.epochs

        def epoch_end(epoch: int, record: dict[str, float], seed: int = seed, offset: int = offset) -> None:
            if on_epoch is not None:
                on_epoch(offset + epoch, seed, record)

        result = train_classifier(model, (train_x, train_y), (val.x, val.y, val.file_id), config,
                                  augmenter=augmenter or None, on_epoch_end=epoch_end, progress=False)
        per_seed[seed] = float(result.best_val_macro_f1)
    return {"value": float(np.mean(list(per_seed.values()))), "per_seed": per_seed, "counts": counts,
            "seconds": time.perf_counter() - started}


def make_objective(study: optuna.Study, data: TuneData, setup: TrialSetup,
                   tracking: Tracking | None = None) -> Callable[[optuna.Trial], float]:
    """The study's objective: suggest from the study's recorded space, evaluate, report per epoch
    for pruning; with `tracking`, log the trial as a nested MLflow run of the study's parent run."""
    space = study_space(study)
    parent_run = study.user_attrs.get(PARENT_RUN_ATTR)
    experiment_id = tracking.experiment_id() if tracking is not None else None

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, space)
        client, run_id = None, None
        if tracking is not None:
            client = _client()
            prefix = tracking_conventions.TAG_PREFIX
            tags = {**tracking.tags(), f"{prefix}stage": "tune_trial", f"{prefix}trial": str(trial.number),
                    f"{prefix}generator": setup.generator, f"{prefix}study": study.study_name}
            if parent_run:
                tags["mlflow.parentRunId"] = parent_run
            run_id = client.create_run(experiment_id, run_name=f"trial-{trial.number}", tags=tags).info.run_id
            trial.set_user_attr(MLFLOW_RUN_ATTR, run_id)
            _log_params(client, run_id, {**values, "generator": setup.generator, "trial": trial.number,
                                         "seeds": list(setup.seeds), "classes": setup.classes})

        def on_epoch(step: int, seed: int, record: dict[str, float]) -> None:
            value = float(record["val_macro_f1"])
            if client is not None:
                metrics = {f"seed{seed}.{k}": v for k, v in record.items() if k not in ("epoch", "seconds")}
                _log_metrics(client, run_id, {**metrics, "intermediate_val_macro_f1": value}, step=step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation macro F1 {value:.4f} at step {step} lags the other trials")

        def on_generator_epoch(key: str, epoch: int, losses: dict[str, float]) -> None:
            if client is not None:
                _log_metrics(client, run_id, {f"generator.{key}.{k}": v for k, v in losses.items()}, step=epoch)

        status, state = "FAILED", "FAIL"
        try:
            result = evaluate_trial(values, data, setup, on_epoch, on_generator_epoch)
            trial.set_user_attr(COUNTS_ATTR, {k: int(v) for k, v in result["counts"].items()})
            if client is not None:
                _log_metrics(client, run_id, {"val_file_macro_f1": result["value"], "seconds": result["seconds"],
                                              "n_synthetic": sum(result["counts"].values()),
                                              **{f"seed{s}.best_val_macro_f1": v for s, v in result["per_seed"].items()}})
            status, state = "FINISHED", "COMPLETE"
            return result["value"]
        except optuna.TrialPruned:
            status, state = "FINISHED", "PRUNED"
            raise
        except Exception as exc:
            if client is not None:
                client.set_tag(run_id, f"{tracking_conventions.TAG_PREFIX}error", f"{type(exc).__name__}: {exc}"[:5000])
            raise
        finally:
            if client is not None:
                client.set_tag(run_id, f"{tracking_conventions.TAG_PREFIX}trial_state", state)
                client.set_terminated(run_id, status)

    return objective


# ---- the result -----------------------------------------------------------------------------------


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
    client = _client()
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
    _log_metrics(client, parent, {"trials_complete": states.count(TrialState.COMPLETE),
                                  "trials_pruned": states.count(TrialState.PRUNED)})
    if best is not None:
        numeric = {f"best.{k}": v for k, v in best.params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        _log_metrics(client, parent, {"best_value": best.value, **numeric})
        client.set_tag(parent, f"{tracking_conventions.TAG_PREFIX}best_trial_number", str(best.number))
        for name, value in best.params.items():
            client.set_tag(parent, f"{tracking_conventions.TAG_PREFIX}best.{name}", str(value))
        if MLFLOW_RUN_ATTR in best.user_attrs:
            client.set_tag(parent, f"{tracking_conventions.TAG_PREFIX}best_run_id", best.user_attrs[MLFLOW_RUN_ATTR])
    client.set_terminated(parent, "FINISHED")
    return best


def best_overlay(best: FrozenTrial, params: Params, generator: str) -> dict[str, Any]:
    """The best trial's values in params.yaml's shape (a profile overlay).

    Generator values go to train_generator.models.<generator>; the ratio to synthesize.minority_ratio
    (minority mode) or to synthesize.n_per_class = the mean of the trial's per-class counts (all mode,
    where params.yaml holds one count for every class). When the best trial drew no synthetic data
    (the baseline won) synthesize is left out: params.yaml cannot ask a generator for nothing.
    """
    values = dict(best.params)
    ratio = values.pop(RATIO, None)
    overlay: dict[str, Any] = {}
    if values:
        overlay["train_generator"] = {"models": {generator: {k: _plain(v) for k, v in values.items()}}}
    counts = best.user_attrs.get(COUNTS_ATTR)
    if ratio is not None and (counts is None or sum(counts.values()) > 0):
        if params.train_generator.classes == "minority":
            overlay["synthesize"] = {"minority_ratio": float(ratio)}
        elif counts:
            overlay["synthesize"] = {"n_per_class": int(round(float(np.mean(list(counts.values())))))}
    return overlay


def _plain(value: Any) -> Any:
    # numpy scalars would be dumped as Python objects; YAML wants plain numbers.
    return value.item() if hasattr(value, "item") else value


def write_best_params(study: optuna.Study, params: Params, generator: str, path: Path) -> dict[str, Any]:
    """Write the best trial's values as a profile overlay YAML at `path` (atomically); return the overlay.

    `synthaug profile <name> && dvc repro` then re-runs the pipeline with them. Floats are written
    by yaml.safe_dump, which keeps a dot in the mantissa (5.0e-05), so YAML 1.1 readers such as
    PyYAML and DVC read them back as floats. Raises SynthaugError when no trial completed.
    """
    best = best_trial(study)
    if best is None:
        raise SynthaugError(f"study {study.study_name!r}: no trial completed, so there are no best parameters to write; "
                            "see the trials' `error` attributes (optuna-dashboard or the MLflow runs)")
    overlay = best_overlay(best, params, generator)
    ratio = best.params.get(RATIO)
    n_trials = study.user_attrs.get(N_TRIALS_ATTR, len(study.trials))
    lines = [
        f"# Tuned by `synthaug tune`: study {study.study_name}, best of {n_trials} trials is trial {best.number}",
        f"# (validation macro F1 {best.value:.4f}, file level, mean over tune.seeds). Apply with:",
        f"#   synthaug profile {Path(path).stem} && dvc repro",
        "# synthesize.* applies to every generator the pipeline trains.",
    ]
    if ratio is not None and "synthesize" not in overlay:
        lines.append(f"# The best trial used no synthetic data (ratio {ratio:g}): the baseline beat every trial")
        lines.append(f"# with {generator} data, so the synthetic share is left as it is.")
    text = "\n".join(lines) + "\n" + (yaml.safe_dump(overlay, sort_keys=False) if overlay else "{}\n")
    write_text_atomic(Path(path), text)
    return overlay
