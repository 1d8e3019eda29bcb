"""Workers: each of the study's n_trials slots ends with exactly one finished trial (see synthaug.tuning)."""

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from synthaug.tuning.attrs import (
    DISCARDED_ATTR,
    ERROR_ATTR,
    FINISHED_OK,
    N_TRIALS_ATTR,
    SAMPLER_SEED_ATTR,
    SLOT_ATTR,
    WORKER_ATTR,
)
from synthaug.tuning.optuna_internals import check_optuna, has_heartbeat, storage_of, trial_handle, trial_id
from synthaug.tuning.results import best_trial
from synthaug.tuning.storage import make_sampler, retry_callback

# ---- slots: which trial stands for each of the n_trials ------------------------------------------------


def _parent(trial: FrozenTrial) -> int | None:
    """The number of the trial `trial` retries (None: it is no retry)."""
    # Optuna marks this static method experimental and warns on every call (twice per trial here), which
    # buries the progress lines; the API is what the retry chain rests on, so the warning says nothing new.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


@dataclass
class Slots:
    """Each slot's head (its current trial; None before it has one) and the canonical trial numbers."""

    heads: dict[int, FrozenTrial | None]
    canonical: set[int]

    def done(self, slot: int) -> bool:
        head = self.heads[slot]
        return head is not None and (
            head.state in FINISHED_OK or (head.state == TrialState.FAIL and ERROR_ATTR in head.user_attrs)
        )

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
    retry = retry_callback()
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
        self.interval = storage.get_heartbeat_interval() if has_heartbeat(storage) else None
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
    storage = storage_of(study)  # the study's own (possibly caching) storage, so its view stays consistent
    trials = study.get_trials(deepcopy=False)
    state = slots(trials, n_trials)
    for trial in trials:
        if trial.state != TrialState.WAITING:
            continue
        try:
            # Beat first: from the moment the claim commits, the trial has a heartbeat to go stale.
            _Heartbeat(storage, trial_id(trial)).beat()
            if not storage.set_trial_state_values(trial_id(trial), TrialState.RUNNING):
                continue  # another worker claimed it first
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        if trial.number in state.canonical:
            return trial
        # `trials` includes every trial numbered below this one, so it is a duplicate for good.
        storage.set_trial_user_attr(trial_id(trial), DISCARDED_ATTR, True)
        storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)
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
    check_optuna()
    report = WorkerReport()
    storage = storage_of(study)
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
        trial = trial_handle(study, claimed)
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
    return f"tune: trial {number} {final[0]}{value}; {done}/{n_trials} finished{best_text}" + (
        f"; about {left / 60:.1f} min left" if done < n_trials else ""
    )


def _run_trial(study: optuna.Study, trial: optuna.Trial, objective, storage) -> tuple[str, float | None] | None:
    """Run and tell one claimed trial; return (final state name, value), or None if another worker failed it."""
    value: float | None = None
    state = TrialState.COMPLETE
    try:
        with _Heartbeat(storage, trial_id(trial)):
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
