"""Several `synthaug tune` workers on one study, as separate processes, on a real PostgreSQL server
(a throwaway cluster started here on loopback) and on a journal file.

What a user relies on: however many workers run, and when one is killed -9 mid-trial and another
takes over, the study ends with exactly n_trials finished trials, one per slot, none run twice and
none lost. Two `synthaug tune --worker` processes with the real objective run on PostgreSQL; the
race and kill tests, on PostgreSQL, a journal file and SQLite, use a fast objective whose timing the
test controls through marker files, so that both workers provably run trials at the same time and
the kill provably lands mid-trial.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from synthaug import tuning
from synthaug.config import SearchDimension
from tests.test_tuning import make_tiny_project

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter per worker, as `synthaug tune --worker` is
WAIT_S = 120  # generous ceilings on a busy two-core machine; a passing run takes seconds
STUDY = "workers"
pytestmark = pytest.mark.slow  # worker processes, each paying the imports


# ---- a throwaway PostgreSQL cluster ------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 (trust auth, user synthaug) for this module, the team stack's own
    throwaway cluster; yields a factory of fresh databases (their SQLAlchemy URLs). Deleted at teardown."""
    from synthaug.errors import SynthaugError
    from synthaug.team import stack

    try:
        stack.postgres_bin()
    except SynthaugError as exc:
        pytest.skip(str(exc))
    import psycopg

    base = Path(tempfile.mkdtemp(prefix="synthaug-pg-"))  # in the temp dir: the postgres account can enter it
    port = stack.free_port()
    try:
        stack.start_postgres(base, port)
        counter = iter(range(1000))

        def new_database() -> str:
            name = f"optuna_{next(counter)}"
            with psycopg.connect(f"postgresql://{stack.USER}@127.0.0.1:{port}/postgres", autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {name}")
            return f"postgresql://{stack.USER}@127.0.0.1:{port}/{name}"

        yield new_database
    finally:
        stack.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.services), "journal", "sqlite"])
def storage_string(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres")()
    if request.param == "sqlite":  # the default storage (one machine)
        return f"sqlite:///{(tmp_path / 'optuna.db').as_posix()}"
    return f"journal:{tmp_path / 'study.journal'}"


def finished_by_slot(study: optuna.Study) -> dict[int, list[int]]:
    """slot -> numbers of its COMPLETE or PRUNED trials (exactly one each when nothing ran twice)."""
    result: dict[int, list[int]] = {}
    for trial in study.get_trials():
        if trial.state in tuning.FINISHED_OK:
            result.setdefault(trial.system_attrs[tuning.SLOT_ATTR], []).append(trial.number)
    return result


def join(processes) -> None:
    for process in processes:
        process.join(WAIT_S)
    for process in processes:
        if process.is_alive():
            process.kill()
            pytest.fail(f"worker {process.pid} did not finish within {WAIT_S} s")
    assert [p.exitcode for p in processes] == [0] * len(processes)


# ---- the stage's own workers on the tiny demo data -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    return make_tiny_project(tmp_path_factory.mktemp("tune-workers") / "project", tune={"n_trials": 4, "pruner": "none"})


def stage_worker(project: Path, storage: str) -> None:
    """One `synthaug tune --worker` process (one torch thread: the two workers share two cores)."""
    import torch

    from synthaug.stages import tune

    torch.set_num_threads(1)
    os.chdir(project)
    tune.main(
        Path("params.yaml"),
        Path("outputs/features"),
        storage=storage,
        study_name=STUDY,
        worker=True,
        threads=1,
        project_root=project,
    )


@pytest.mark.services
def test_two_stage_workers_on_postgresql_finish_exactly_n_trials(tiny_project, postgres, monkeypatch):
    # The stage's real objective, on PostgreSQL only: the journal runs the same worker code, and the
    # racing and kill tests below run on both storages (each stage worker costs ~8 s of imports).
    from synthaug.stages import tune

    storage_string = postgres()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tiny_project)
    assert (
        tune.main(
            Path("params.yaml"),
            Path("outputs/features"),
            storage=storage_string,
            study_name=STUDY,
            create_only=True,
            project_root=tiny_project,
        )
        is None
    )

    workers = [SPAWN.Process(target=stage_worker, args=(tiny_project, storage_string)) for _ in range(2)]
    for worker in workers:
        worker.start()
    join(workers)

    study = tuning.load_study(STUDY, tuning.make_storage(storage_string, tiny_project))
    assert finished_by_slot(study) == {slot: [slot] for slot in range(4)}  # one trial per slot, none run twice
    assert len(study.get_trials()) == 4
    profile = yaml.safe_load((tiny_project / "profiles/tuned-vae.yaml").read_text())
    assert profile["train_generator"]["models"]["vae"]

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(tiny_project / 'mlflow.db').as_posix()}")
    parent = study.user_attrs[tuning.PARENT_RUN_ATTR]
    runs = mlflow.search_runs(
        search_all_experiments=True, output_format="list", filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    assert sorted(r.data.tags["synthaug.trial"] for r in runs) == ["0", "1", "2", "3"]
    assert sum(r.data.tags.get("synthaug.best_trial") == "true" for r in runs) == 1


# ---- a fast objective whose timing the test controls ----------------------------------------------------


def fast_worker(storage: str, root: Path, block_trial: int | None = None, grace_period: int = 10) -> None:
    """A worker process with a 1 s heartbeat and an objective that:
    marks its start in root/started-<trial>-<pid>; waits until trials of two different workers have
    started (at most 60 s), so both workers provably run trials concurrently; and, for `block_trial`,
    blocks until killed. Returns the trial number as the value."""
    storage_object = tuning.make_storage(storage, root, heartbeat_interval=1, grace_period=grace_period)
    study = tuning.load_study(STUDY, storage_object)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        (root / f"started-{trial.number}-{os.getpid()}").touch()
        if trial.number == block_trial:
            while True:  # the test kills this process here
                time.sleep(0.05)
        if block_trial is None:
            deadline = time.monotonic() + 60
            while len({p.name.rsplit("-", 1)[1] for p in root.glob("started-*")}) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        return float(trial.number)

    tuning.run_worker(study, objective, poll_interval=0.2)


def create(storage: str, root: Path, n_trials: int) -> None:
    storage_object = tuning.make_storage(storage, root, heartbeat_interval=1)
    tuning.create_study(
        STUDY, storage_object, n_trials=n_trials, generator="vae", space={"x": SearchDimension(low=0.0, high=1.0)}, pruner="none"
    )


def test_two_racing_workers_claim_every_trial_once(storage_string, tmp_path):
    create(storage_string, tmp_path, n_trials=6)
    workers = [SPAWN.Process(target=fast_worker, args=(storage_string, tmp_path)) for _ in range(2)]
    for worker in workers:
        worker.start()
    join(workers)

    study = tuning.load_study(STUDY, tuning.make_storage(storage_string, tmp_path))
    assert finished_by_slot(study) == {slot: [slot] for slot in range(6)}
    assert len(study.get_trials()) == 6 and all(t.state == TrialState.COMPLETE for t in study.get_trials())
    ran_by = {t.user_attrs[tuning.WORKER_ATTR] for t in study.get_trials()}
    assert len(ran_by) == 2  # both workers ran trials, at the same time (the objective's barrier)
    started = sorted(p.name for p in tmp_path.glob("started-*"))
    assert len(started) == 6  # no trial was started twice


def test_a_killed_workers_trial_is_failed_and_retried_by_the_next_worker(storage_string, tmp_path):
    create(storage_string, tmp_path, n_trials=3)
    doomed = SPAWN.Process(target=fast_worker, args=(storage_string, tmp_path, 0))
    doomed.start()
    deadline = time.monotonic() + WAIT_S
    while not list(tmp_path.glob("started-0-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob("started-0-*")), "the first worker never started trial 0"
    doomed.kill()  # SIGKILL mid-trial: no chance to tell the storage anything
    doomed.join(WAIT_S)
    study = tuning.load_study(STUDY, tuning.make_storage(storage_string, tmp_path))
    assert study.trials[0].state == TrialState.RUNNING

    # A short grace period: the successor takes the dead worker's trial for stale after 2 s without a heartbeat.
    successor = SPAWN.Process(target=fast_worker, args=(storage_string, tmp_path, None, 2))
    successor.start()
    join([successor])

    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and tuning.ERROR_ATTR not in trials[0].user_attrs
    retries = [t for t in trials if t.system_attrs.get("retry_history") == [0]]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[0].params  # the retry re-runs the killed trial's parameters
    by_slot = finished_by_slot(study)
    assert by_slot == {0: [retries[0].number], 1: [1], 2: [2]}  # exactly n_trials finished
