"""Where a study lives (SQLite, journal file, any SQLAlchemy URL), with heartbeats; the sampler and pruner."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from synthaug.errors import ConfigError, SynthaugError
from synthaug.tuning.attrs import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    OPTUNA_DB,
    PRUNERS,
)
from synthaug.tuning.optuna_internals import HeartbeatJournalStorage


def retry_callback() -> RetryHeartbeatStaleTrialCallback:
    # Optuna 5's name for RetryFailedTrialCallback (deprecated since 4.9). No retry limit: a trial
    # goes stale only when its worker dies, which says nothing about its parameters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=None)


def make_storage(
    storage: str | None, project_root: Path, *, heartbeat_interval: int = HEARTBEAT_INTERVAL_S, grace_period: int = GRACE_PERIOD_S
) -> optuna.storages.BaseStorage:
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
        return HeartbeatJournalStorage(
            JournalFileBackend(str(path)),
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            stale_trial_callback=retry_callback(),
        )
    try:
        with warnings.catch_warnings():  # heartbeats have been "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = RDBStorage(
                storage,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=retry_callback(),
            )
    except Exception as exc:  # SQLAlchemy's errors vary by driver; all mean the storage is unusable
        raise SynthaugError(
            f"tune.storage: cannot open {redacted(storage)}: {type(exc).__name__}: {exc}. "
            "Check the URL, that the server is running and that the database exists."
        ) from exc
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
