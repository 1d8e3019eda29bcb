"""The tuning workers' Optuna internals (synthaug.tuning.optuna_internals): this test fails loudly on an Optuna
upgrade, so that the worker loop is re-verified (the tuning tests) before the new version is listed as tested."""

from __future__ import annotations

import optuna
import pytest

from synthaug.errors import SynthaugError
from synthaug.tuning import optuna_internals
from synthaug.tuning.optuna_internals import check_optuna, missing_internals, storage_of, trial_handle, trial_id


def test_the_installed_optuna_is_a_version_the_worker_loop_was_tested_against():
    assert optuna.__version__ in optuna_internals.TESTED_OPTUNA, (
        f"Optuna {optuna.__version__} is installed, but the tuning workers use private Optuna API tested only with "
        f"{', '.join(optuna_internals.TESTED_OPTUNA)}: run tests/test_tuning.py and tests/test_tuning_workers.py, "
        "fix synthaug/tuning/optuna_internals.py where they fail, then add the version to TESTED_OPTUNA"
    )


def test_every_private_name_the_workers_use_exists_and_behaves():
    assert missing_internals() == []
    check_optuna()  # no error
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING))
    frozen = study.get_trials(deepcopy=False)[0]
    storage = storage_of(study)
    assert storage.get_trial(trial_id(frozen)).number == frozen.number
    # A handle on the existing trial suggests and is told like an asked one.
    handle = trial_handle(study, frozen)
    assert storage.set_trial_state_values(trial_id(handle), optuna.trial.TrialState.RUNNING)
    handle.suggest_float("x", 0.0, 1.0)
    study.tell(handle, 0.5)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE and "x" in study.trials[0].params


def test_a_missing_internal_stops_the_worker_with_the_fix(monkeypatch):
    monkeypatch.setattr(optuna_internals, "HEARTBEAT_METHODS", frozenset({"record_heartbeat", "renamed_in_a_new_optuna"}))
    with pytest.raises(SynthaugError, match=r"rely on Optuna internals.*BaseHeartbeat.*requirements.lock"):
        check_optuna()
