"""Every use of Optuna's private API, in one place.

The exact-N worker loop (synthaug.tuning.workers) claims WAITING trials itself, so that each of the
study's n_trials slots ends with exactly one finished trial even when workers die and retry; Optuna's
`study.optimize` with MaxTrialsCallback stops at n finished trials but neither claims a retry's
WAITING trial in a fixed order nor discards duplicates made by two workers at once. That needs a
few things Optuna does not make public, all of them here:

- a study's storage object (`Study._storage`), so the claim reads and writes through the same
  (possibly caching) storage the study uses;
- a trial's storage id (`FrozenTrial._trial_id`), which the storage API takes;
- an `optuna.Trial` for a trial that already exists (the claimed one), as `Study.ask` builds it;
- the heartbeat interface `optuna.storages._heartbeat.BaseHeartbeat`, which Optuna 5 gives only to
  RDBStorage: HeartbeatJournalStorage implements it for journal files, including its private
  `_get_stale_trial_ids`, which `optuna.storages.fail_stale_trials` calls.

`check_optuna()` verifies at start-up that each of these still exists and fails with one clear
message otherwise; tests/test_optuna_internals.py fails on any Optuna version other than
TESTED_OPTUNA, so an upgrade is a deliberate step: re-run the tuning tests, then add the version.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

import optuna
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from synthaug.errors import SynthaugError
from synthaug.tuning.attrs import HEARTBEAT_ATTR

TESTED_OPTUNA = ("5.0.0",)  # versions whose internals the worker loop was tested against
# The abstract methods of BaseHeartbeat that HeartbeatJournalStorage implements.
HEARTBEAT_METHODS = frozenset(
    {"record_heartbeat", "_get_stale_trial_ids", "get_heartbeat_interval", "get_heartbeat_stale_trial_callback"}
)


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object `study` reads and writes through."""
    return study._storage


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    """The storage's id of `trial` (not its number within the study)."""
    return trial._trial_id


def trial_handle(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """An `optuna.Trial` for an existing trial of `study`, to suggest, report and tell with."""
    return optuna.Trial(study, frozen._trial_id)


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    return isinstance(storage, BaseHeartbeat)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A JournalStorage with Optuna's heartbeat interface, which Optuna 5 gives only to RDBStorage.

    The heartbeat is the trial system attr HEARTBEAT_ATTR (time.time()); a RUNNING trial whose last
    beat is older than `grace_period` seconds is stale. With it, optuna.storages.fail_stale_trials
    (and Study.optimize) fail and retry a dead worker's trial exactly as they do on an RDB.
    """

    def __init__(
        self,
        backend: JournalFileBackend,
        *,
        heartbeat_interval: int,
        grace_period: int,
        stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None,
    ) -> None:
        super().__init__(backend)
        self._heartbeat_interval = int(heartbeat_interval)
        self._grace_period = int(grace_period)
        self._stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [
            t._trial_id
            for t in running
            if HEARTBEAT_ATTR in t.system_attrs and now - float(t.system_attrs[HEARTBEAT_ATTR]) > self._grace_period
        ]

    def get_heartbeat_interval(self) -> int:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_trial_callback


def missing_internals() -> list[str]:
    """The private Optuna names this module relies on that the installed Optuna lacks (empty: all there)."""
    missing = []
    if set(getattr(BaseHeartbeat, "__abstractmethods__", ())) != HEARTBEAT_METHODS:
        missing.append(f"BaseHeartbeat's abstract methods {sorted(HEARTBEAT_METHODS)}")
    if "_get_stale_trial_ids" not in inspect.getsource(optuna.storages.fail_stale_trials):
        missing.append("fail_stale_trials calling storage._get_stale_trial_ids")
    if list(inspect.signature(optuna.Trial.__init__).parameters) != ["self", "study", "trial_id"]:
        missing.append("optuna.Trial(study, trial_id)")
    if "self._trial_id = trial_id" not in inspect.getsource(FrozenTrial.__init__):
        missing.append("FrozenTrial._trial_id")
    if "self._storage" not in inspect.getsource(optuna.Study.__init__):
        missing.append("Study._storage")
    return missing


def check_optuna() -> None:
    """Raise SynthaugError naming what is missing when the installed Optuna lacks an internal used here."""
    missing = missing_internals()
    if missing:
        raise SynthaugError(
            f"synthaug's tuning workers rely on Optuna internals that Optuna {optuna.__version__} does not have: "
            f"{'; '.join(missing)}. Install the pinned version (pip install -r requirements.lock; tested: "
            f"{', '.join(TESTED_OPTUNA)}) or update synthaug/tuning/optuna_internals.py."
        )
