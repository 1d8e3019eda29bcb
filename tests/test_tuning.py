"""synthaug.tuning and `synthaug tune`: search spaces, storages, pruning, failures, slot bookkeeping,
the best-params profile, and a tiny study end to end on the demo data (test split deleted first).

Multi-process behaviour (PostgreSQL, journal, killed workers) is in test_tuning_workers.py.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import types
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import yaml
from optuna.trial import TrialState
from pydantic import ValidationError

from synthaug import tuning
from synthaug.config import SearchDimension, TuneParams, deep_merge, load_params, read_yaml
from synthaug.errors import ConfigError, SynthaugError
from synthaug.stages.tune import trial_setup
from synthaug.tuning.optuna_internals import trial_handle, trial_id

torch.set_num_threads(1)  # the machine's other core belongs to someone else's measurement
optuna.logging.set_verbosity(optuna.logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_TUNE = {
    "n_trials": 3,
    "seeds": [0],
    "space": {
        "shared": {"ratio": {"low": 0.0, "high": 1.0}},
        "vae": {
            "lr": {"low": 1.0e-4, "high": 1.0e-3, "log": True},
            "latent_dim": {"choices": [16, 32]},
            "beta": {"low": 0.01, "high": 1.0, "log": True},
            "steps": {"low": 1, "high": 2},
        },
    },
}


def make_tiny_project(root: Path, tune: dict | None = None) -> Path:
    """A project folder holding the tiny demo cough set, featurized, with test.npz deleted.

    params.yaml is the repository's with the tiny profile, a 2-epoch single-seed classifier and a
    small `tune` section. Deleting the test split proves tuning never needs it: any read would fail.
    """
    from synthaug.datasets.demo import write_demo
    from synthaug.stages import featurize, prepare

    root.mkdir(parents=True, exist_ok=True)
    params = deep_merge(read_yaml(REPO_ROOT / "params.yaml"), read_yaml(REPO_ROOT / "profiles" / "tiny.yaml"))
    params = deep_merge(
        params,
        {
            "featurize": {"workers": 1},
            "train_classifier": {"epochs": 2, "patience": 2, "seeds": [0]},
            "tune": deep_merge(TINY_TUNE, tune or {}),
        },
    )
    params["tune"]["space"] = deep_merge(TINY_TUNE["space"], (tune or {}).get("space", {}))  # this space only
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(REPO_ROOT / "profiles", root / "profiles")
    with pytest.MonkeyPatch.context() as patch, contextlib.chdir(root):
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        write_demo("cough", root / "data/demo/cough", seed=0, **params["demo"]["cough"])
        prepare.main(Path("params.yaml"), Path("outputs/prepare"), Path("metrics/prepare.json"), project_root=root)
        featurize.main(
            Path("params.yaml"),
            Path("outputs/prepare/manifest.csv"),
            Path("outputs/features"),
            Path("metrics/featurize.json"),
            project_root=root,
        )
    (root / "outputs/features/test.npz").unlink()
    return root


def journal(tmp_path: Path, grace_period: int = 5):
    return tuning.make_storage(f"journal:{tmp_path / 'study.journal'}", tmp_path, heartbeat_interval=1, grace_period=grace_period)


def new_study(storage, n_trials: int, pruner: str = "none", space: dict | None = None) -> optuna.Study:
    space = space or {"x": SearchDimension(low=0.0, high=1.0)}
    return tuning.create_study("s", storage, n_trials=n_trials, generator="vae", space=space, pruner=pruner)


def quiet_worker(study, objective):
    return tuning.run_worker(study, objective, poll_interval=0.01, log=lambda message: None)


def slot_of(trial) -> int:
    return trial.system_attrs[tuning.SLOT_ATTR]


# ---- search spaces ----------------------------------------------------------------------------------


def test_suggest_gives_each_kind_of_dimension_its_type_and_range():
    space = {
        "steps": SearchDimension(low=20, high=160),
        "images": SearchDimension(low=100, high=400, step=50),
        "lr": SearchDimension(low=1e-5, high=1e-3, log=True),
        "ratio": SearchDimension(low=0.0, high=2.0, step=0.25),
        "latent_dim": SearchDimension(choices=[32, 64, 128]),
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = tuning.suggest(study.ask(), space)
        assert set(values) == set(space)
        assert isinstance(values["steps"], int) and 20 <= values["steps"] <= 160
        assert isinstance(values["images"], int) and values["images"] % 50 == 0
        assert isinstance(values["lr"], float) and 1e-5 <= values["lr"] <= 1e-3
        assert values["ratio"] in {0.25 * k for k in range(9)}
        assert values["latent_dim"] in (32, 64, 128)


def test_search_space_merges_shared_and_generator_ranges_and_names_bad_keys():
    keys = ["lr", "steps", "beta"]
    tune = TuneParams(
        space={
            "shared": {"ratio": {"low": 0.0, "high": 1.0}, "lr": {"low": 1e-5, "high": 1e-4}},
            "vae": {"lr": {"low": 1e-3, "high": 1e-2}},
        }
    )
    space = tuning.search_space(tune, "vae", keys)
    assert set(space) == {"ratio", "lr"} and space["lr"].low == 1e-3  # the generator's range wins
    with pytest.raises(ConfigError, match=r"tune.space.vae.width: not a hyperparameter"):
        tuning.search_space(TuneParams(space={"vae": {"width": {"low": 0.1, "high": 1.0}}}), "vae", keys)
    curated = tuning.search_space(
        TuneParams(space={"shared": {"curation.min_confidence": {"low": 0.1, "high": 0.9}}}), "vae", keys
    )
    assert set(curated) == {"curation.min_confidence"}
    # Keys no generator, curation bound or classifier key has are refused when params are loaded.
    with pytest.raises(ValidationError, match=r"tune.space.shared.curation.min_quality: not a curation bound"):
        TuneParams(space={"shared": {"curation.min_quality": {"low": 0.1, "high": 0.9}}})
    with pytest.raises(ValidationError, match=r"tune.space.vae.n_critic: not a hyperparameter of generator vae"):
        TuneParams(space={"vae": {"n_critic": {"low": 1, "high": 5}}})
    with pytest.raises(ConfigError, match="cannot be negative"):
        tuning.search_space(TuneParams(space={"shared": {"ratio": {"low": -1.0, "high": 1.0}}}), "vae", keys)
    classifier = {"train_classifier.fine_tune_epochs": {"low": 0, "high": 4}}
    assert set(tuning.search_space(TuneParams(space={"shared": classifier}), "vae", keys)) == set(classifier)
    with pytest.raises(ValidationError, match=r"tune.space.shared.train_classifier.utility_keep_share: not a tunable"):
        TuneParams(space={"shared": {"train_classifier.utility_keep_share": {"low": 0.2, "high": 1.0}}})


# ---- storages, pruners ----------------------------------------------------------------------------


def test_make_storage_for_each_storage_string(tmp_path):
    default = tuning.make_storage(None, tmp_path, heartbeat_interval=5, grace_period=20)
    assert isinstance(default, optuna.storages.RDBStorage)
    assert default.url == f"sqlite:////{(tmp_path / 'optuna.db').resolve().as_posix().lstrip('/')}"  # four slashes
    assert default.get_heartbeat_interval() == 5 and default.grace_period == 20
    assert default.get_heartbeat_stale_trial_callback() is not None

    (tmp_path / "sub").mkdir()
    relative = tuning.make_storage("journal:runs/study.journal", tmp_path / "sub")
    assert (
        isinstance(relative, tuning.HeartbeatJournalStorage) and relative.get_heartbeat_interval() == tuning.HEARTBEAT_INTERVAL_S
    )
    assert (tmp_path / "sub/runs/study.journal").exists()

    url = tuning.make_storage(f"sqlite:///{tmp_path / 'other.db'}", tmp_path, heartbeat_interval=3)
    assert isinstance(url, optuna.storages.RDBStorage) and url.get_heartbeat_interval() == 3
    with pytest.raises(SynthaugError, match="cannot open"):
        tuning.make_storage("postgresql://user:secret@127.0.0.1:1/none", tmp_path)
    assert tuning.storage_kind("postgresql://user:secret@db.example/optuna") == "postgresql"
    assert "secret" not in tuning.redacted("postgresql://user:secret@db.example/optuna")
    assert tuning.storage_kind(None) == "sqlite" and tuning.storage_kind("journal:x") == "journal"


def test_pruner_factory():
    assert isinstance(tuning.make_pruner("median"), optuna.pruners.MedianPruner)
    assert isinstance(tuning.make_pruner("successive_halving"), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(tuning.make_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(ConfigError):
        tuning.make_pruner("hyperband")


def test_median_pruner_stops_a_lagging_trial(tmp_path):
    study = new_study(journal(tmp_path), n_trials=5, pruner="median")
    curves = {0: 0.9, 1: 0.85, 2: 0.88, 3: 0.1, 4: 0.95}  # trial 3 lags the three before it at every epoch

    def objective(trial):
        for epoch in range(1, 11):
            trial.report(curves[trial.number], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return curves[trial.number]

    quiet_worker(study, objective)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED, TrialState.COMPLETE]
    assert len(trials[3].intermediate_values) < 10  # stopped early, right after the warm-up epochs


# ---- the worker's bookkeeping ----------------------------------------------------------------------


def test_a_failing_trial_is_recorded_with_its_error_and_the_study_goes_on(tmp_path, capsys):
    study = new_study(journal(tmp_path), n_trials=3)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 1:
            raise RuntimeError("generator diverged")
        return x

    report = quiet_worker(study, objective)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAIL, 2: TrialState.COMPLETE}
    assert study.trials[1].user_attrs[tuning.ERROR_ATTR] == "RuntimeError: generator diverged"
    assert report.finished == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE"}
    assert "generator diverged" in capsys.readouterr().err


def test_a_stale_trial_is_failed_and_retried_with_its_parameters(tmp_path):
    storage = journal(tmp_path, grace_period=30)
    study = new_study(storage, n_trials=3)
    # A worker claimed trial 0, suggested x, and died: its last heartbeat is long past the grace period.
    claimed = trial_id(study.trials[0])
    assert storage.set_trial_state_values(claimed, TrialState.RUNNING)
    trial_handle(study, study.trials[0]).suggest_float("x", 0.0, 1.0)
    storage.set_trial_system_attr(claimed, tuning.HEARTBEAT_ATTR, time.time() - 3600)

    ran = []
    quiet_worker(study, lambda trial: ran.append(trial.number) or trial.suggest_float("x", 0.0, 1.0))
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and tuning.ERROR_ATTR not in trials[0].user_attrs
    retry = [t for t in trials if t.system_attrs.get("retry_history") == [0]]
    assert len(retry) == 1 and slot_of(retry[0]) == 0 and retry[0].params == trials[0].params
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(slot_of(t) for t in complete) == [0, 1, 2] and len(ran) == 3


def test_a_retry_lost_with_its_failing_worker_is_restored(tmp_path):
    storage = journal(tmp_path)
    study = new_study(storage, n_trials=2)
    # The worker that failed trial 0 as stale was killed before it enqueued the retry.
    assert storage.set_trial_state_values(trial_id(study.trials[0]), TrialState.RUNNING)
    storage.set_trial_state_values(trial_id(study.trials[0]), TrialState.FAIL)

    quiet_worker(study, lambda trial: 1.0)
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert sorted(slot_of(t) for t in complete) == [0, 1]


def test_duplicate_trials_of_a_slot_are_discarded_unrun_and_missing_slots_added(tmp_path):
    storage = journal(tmp_path)
    study = new_study(storage, n_trials=2)
    # Two workers reconciled at once and both enqueued slot 0 again; then n_trials grew to 3.
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={tuning.SLOT_ATTR: 0}))
    study = tuning.create_study("s", storage, n_trials=3, generator="vae", space={"x": SearchDimension(low=0.0, high=1.0)})

    ran = []
    report = quiet_worker(study, lambda trial: ran.append(trial.number) or 0.5)
    assert report.discarded == [2]
    discarded = study.trials[2]
    assert discarded.state == TrialState.FAIL and discarded.user_attrs[tuning.DISCARDED_ATTR] is True
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert sorted(slot_of(t) for t in complete) == [0, 1, 2] and sorted(ran) == [t.number for t in complete]
    with pytest.raises(ConfigError, match="can grow, not shrink"):
        tuning.create_study("s", storage, n_trials=2, generator="vae", space={})


# ---- the best-params profile ---------------------------------------------------------------------


def finished_study(params: dict, counts: dict[str, int], value: float = 0.7) -> optuna.Study:
    distributions = {
        "ratio": optuna.distributions.FloatDistribution(0.0, 2.0),
        "lr": optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True),
        "latent_dim": optuna.distributions.CategoricalDistribution([32, 64]),
        "curation.min_confidence": optuna.distributions.FloatDistribution(0.0, 1.0),
    }
    distributions = {name: d for name, d in distributions.items() if name in params}
    study = optuna.create_study(study_name="best", direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            value=value - 0.1,
            params={**params, "ratio": 1.0},
            distributions=distributions,
            user_attrs={tuning.COUNTS_ATTR: {"x": 1}},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            value=value, params=params, distributions=distributions, user_attrs={tuning.COUNTS_ATTR: counts}
        )
    )
    return study


def test_best_params_profile_applies_and_reads_back_floats(tmp_path):
    from synthaug.profiles import apply_profile

    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    params = load_params(tmp_path / "params.yaml")
    study = finished_study({"ratio": 0.75, "lr": 5e-05, "latent_dim": 64}, {"positive": 8})
    path = tmp_path / "profiles" / "tuned-vae.yaml"
    overlay = tuning.write_best_params(study, trial_setup(params, "vae"), path)
    assert overlay == {
        "train_generator": {"models": {"vae": {"lr": 5e-05, "latent_dim": 64}}},
        "synthesize": {"minority_ratio": 0.75},
    }
    assert yaml.safe_load(path.read_text()) == overlay  # 5e-05 written so that PyYAML reads a float
    assert "synthaug profile tuned-vae && dvc repro" in path.read_text()

    apply_profile("tuned-vae", tmp_path / "params.yaml", tmp_path)
    tuned = load_params(tmp_path / "params.yaml")
    assert tuned.train_generator.models["vae"]["lr"] == 5e-05 and tuned.synthesize.minority_ratio == 0.75
    assert tuned.train_generator.models["vae"]["steps"] == params.train_generator.models["vae"]["steps"]


def test_tuned_curation_bounds_switch_curation_on_in_the_profile_with_every_bound(tmp_path):
    """The profile states the whole rule the trial scored: bounds it did not apply are null, not
    params.yaml's (with curation off in params, a trial applies its tuned bounds only)."""
    params = load_params(REPO_ROOT / "params.yaml")
    assert not params.curation.enabled and params.curation.max_manifold_distance is not None
    study = finished_study({"ratio": 0.5, "curation.min_confidence": 0.3, "lr": 1e-4}, {"positive": 5})
    overlay = tuning.write_best_params(study, trial_setup(params, "vae"), tmp_path / "curated.yaml")
    assert overlay["curation"] == {"enabled": True, "max_manifold_distance": None, "min_copy_ratio": None, "min_confidence": 0.3}
    assert overlay["train_generator"] == {"models": {"vae": {"lr": 1e-4}}}

    # With curation on in params, the trial applied params' other bounds, so the profile writes them out.
    enabled = params.curation.model_copy(update={"enabled": True, "max_manifold_distance": 2.0, "min_copy_ratio": None})
    overlay = tuning.best_overlay(tuning.best_trial(study), trial_setup(params.model_copy(update={"curation": enabled}), "vae"))
    assert overlay["curation"] == {"enabled": True, "max_manifold_distance": 2.0, "min_copy_ratio": None, "min_confidence": 0.3}
    # A trial that did not curate leaves curation as params.yaml has it.
    plain = finished_study({"ratio": 0.5, "lr": 1e-4}, {"positive": 5})
    assert "curation" not in tuning.best_overlay(tuning.best_trial(plain), trial_setup(params, "vae"))


def test_best_params_in_all_mode_and_when_the_baseline_wins(tmp_path):
    params = load_params(REPO_ROOT / "params.yaml")
    all_mode = params.model_copy(update={"train_generator": params.train_generator.model_copy(update={"classes": "all"})})
    study = finished_study({"ratio": 0.5, "lr": 1e-4, "latent_dim": 32}, {"a": 10, "b": 13})
    overlay = tuning.write_best_params(study, trial_setup(all_mode, "vae"), tmp_path / "all.yaml")
    assert overlay["synthesize"] == {"n_per_class": 12}  # the mean of the per-class counts, rounded
    # A mean of 12.5 rounds half up, as synthaug.class_plan rounds every synthetic count (round() gives 12).
    half = tuning.write_best_params(
        finished_study({"ratio": 0.5, "lr": 1e-4, "latent_dim": 32}, {"a": 10, "b": 15}),
        trial_setup(all_mode, "vae"),
        tmp_path / "half.yaml",
    )
    assert half["synthesize"] == {"n_per_class": 13}

    baseline = finished_study({"ratio": 0.0, "lr": 1e-4, "latent_dim": 32}, {})
    overlay = tuning.write_best_params(baseline, trial_setup(params, "vae"), tmp_path / "baseline.yaml")
    assert "synthesize" not in overlay and "baseline beat" in (tmp_path / "baseline.yaml").read_text()
    with pytest.raises(SynthaugError, match="no trial completed"):
        tuning.write_best_params(optuna.create_study(), trial_setup(params, "vae"), tmp_path / "none.yaml")


# ---- the objective and the stage, end to end on the tiny demo data ---------------------------------------


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    return make_tiny_project(tmp_path_factory.mktemp("tune") / "project")


@pytest.mark.slow  # the featurized tiny demo project
def test_a_baseline_trial_trains_no_generator(tiny_project, monkeypatch):
    import synthaug.generators.per_class as per_class
    from synthaug.class_plan import synthetic_counts

    data = tuning.load_tune_data(tiny_project / "outputs/features")
    setup = trial_setup(load_params(tiny_project / "params.yaml"), "vae", num_threads=1)
    names = data.train.class_names
    assert synthetic_counts(data.train.y, names, "minority", ratio=0.5, n_per_class=0) == {"positive": 5}
    assert synthetic_counts(data.train.y, names, "all", ratio=0.5, n_per_class=0) == {"negative": 23, "positive": 5}

    def no_generator(*args, **kwargs):
        raise AssertionError("a trial with ratio 0 must not train a generator")

    monkeypatch.setattr(per_class, "fit_models", no_generator)
    steps = []
    result = tuning.evaluate_trial(
        {"ratio": 0.0, "lr": 1e-3}, data, setup, on_epoch=lambda step, seed, record: steps.append(step)
    )
    assert result["counts"] == {} and 0.0 <= result["value"] <= 1.0 and steps == [1, 2]


@pytest.mark.slow  # the featurized tiny demo project
def test_a_trial_draws_what_the_synthesize_stage_would_draw(tiny_project, monkeypatch):
    """Tuning and the pipeline share one rule for the synthetic counts (synthaug.class_plan)."""
    import synthaug.generators.per_class as per_class
    from synthaug.stages.synthesize import counts_per_class

    params = load_params(tiny_project / "params.yaml")
    data = tuning.load_tune_data(tiny_project / "outputs/features")
    names = data.train.class_names
    drawn = {}

    def sample_classes(models, counts, class_names, **kwargs):
        drawn.update(counts)
        n = sum(counts.values())
        return np.zeros((n, *data.train.x.shape[1:]), np.float32), np.repeat(
            [names.index(c) for c in counts], list(counts.values())
        )

    monkeypatch.setattr(per_class, "fit_models", lambda *args, **kwargs: [])
    monkeypatch.setattr(per_class, "sample_classes", sample_classes)
    for classes in ("minority", ["negative"]):
        drawn.clear()
        update = {"train_generator": params.train_generator.model_copy(update={"classes": classes})}
        setup = trial_setup(params.model_copy(update=update), "vae", num_threads=1)
        result = tuning.evaluate_trial({"lr": 1e-3}, data, setup)  # no searched ratio: synthesize.minority_ratio
        expected = counts_per_class(
            data.train.y,
            names,
            names,
            classes,
            params.synthesize.minority_ratio,
            params.synthesize.n_per_class,
            params.train_generator.minority_tolerance,
        )
        assert result["counts"] == drawn == expected


def test_a_trial_trains_its_classifier_with_the_tuned_train_classifier_keys(tiny_project, monkeypatch):
    """`train_classifier.*` values of a trial reach its classifier (and only it); the generator never sees them."""
    import synthaug.generators.per_class as per_class
    import synthaug.tuning.objective as objective

    params = load_params(tiny_project / "params.yaml")
    data = tuning.load_tune_data(tiny_project / "outputs/features")
    seen = {}

    def fit_models(name, config, *args, **kwargs):
        seen["generator"] = dict(config)
        return []

    def sample_classes(models, counts, class_names, **kwargs):
        n = sum(counts.values())
        return np.zeros((n, *data.train.x.shape[1:]), np.float32), np.repeat(
            [class_names.index(c) for c in counts], list(counts.values())
        )

    def train(train_x, train_y, data, setup, seed, on_epoch_end=None):
        seen["classifier"] = setup.classifier
        return types.SimpleNamespace(history=[{"val_auroc": 0.5, "val_macro_f1": 0.5}], best_epoch=1)

    monkeypatch.setattr(per_class, "fit_models", fit_models)
    monkeypatch.setattr(per_class, "sample_classes", sample_classes)
    monkeypatch.setattr(objective, "_train_classifier", train)
    setup = trial_setup(params, "vae", num_threads=1)
    tuning.evaluate_trial({"lr": 1e-3, "train_classifier.fine_tune_epochs": 3}, data, setup)
    assert seen["classifier"].fine_tune_epochs == 3 and params.train_classifier.fine_tune_epochs == 0
    assert not any(k.startswith("train_classifier.") for k in seen["generator"])


@pytest.mark.slow  # the featurized tiny demo project
def test_curation_bounds_of_a_trial_drop_the_samples_outside_them(tiny_project):
    """Scores as the audit's, without the test split: a strict confidence bound drops samples, none drops none."""
    from synthaug.config import CurationParams

    params = load_params(tiny_project / "params.yaml")
    data = tuning.load_tune_data(tiny_project / "outputs/features")
    setup = trial_setup(params, "vae", num_threads=1)
    assert tuning.curation_bounds({"ratio": 0.5}, tuning.pipeline_curation(CurationParams(enabled=False))) is None
    bounds = tuning.curation_bounds({"curation.min_confidence": 0.99}, None)
    assert bounds == {"max_manifold_distance": None, "min_copy_ratio": None, "min_confidence": 0.99}
    fixed = tuning.pipeline_curation(CurationParams(enabled=True, max_manifold_distance=2.0, min_copy_ratio=None))
    assert tuning.curation_bounds({"curation.min_confidence": 0.99}, fixed) == {**bounds, "max_manifold_distance": 2.0}

    positive = data.train.class_names.index("positive")
    x = data.val.x[data.val.y == positive]  # real positive spectrograms standing in for synthetic ones
    y = data.val.y[data.val.y == positive]
    strict = tuning.curation_keep_mask(x, y, bounds, data, setup)
    loose = tuning.curation_keep_mask(x, y, {"min_confidence": 0.0}, data, setup)
    assert loose.all() and not strict.all()  # a 2-epoch classifier is not 99 % sure of every positive

    result = tuning.evaluate_trial({"ratio": 0.5, "steps": 1, "curation.min_confidence": 0.99}, data, setup)
    assert result["counts"] == {"positive": 5} and 0 < result["curation_dropped"] <= 5


@pytest.mark.slow  # the featurized tiny demo project
def test_tuned_profile_curates_exactly_the_samples_its_trial_curated(tiny_project, tmp_path, monkeypatch):
    """Round trip: a curating trial, its profile applied to params.yaml, then the pipeline's curation rule
    (synthaug.curation.keep_mask with the params' `curation`) on the scores the trial computed keeps
    exactly the samples the trial kept, and the profile asks for the counts the trial drew."""
    from synthaug.config import CurationParams
    from synthaug.curation import keep_mask
    from synthaug.profiles import apply_profile
    from synthaug.stages.synthesize import counts_per_class
    from synthaug.tuning import objective
    from synthaug.tuning.attrs import CURATION_DROPPED_ATTR

    # Curation off in params.yaml, with bounds the trial must therefore not apply (a manifold bound so
    # strict that it drops every sample, so that applying it would show).
    project = tmp_path / "project"
    (project / "profiles").mkdir(parents=True)
    raw = deep_merge(
        read_yaml(tiny_project / "params.yaml"),
        {"curation": {"enabled": False, "max_manifold_distance": 0.01, "min_copy_ratio": 1.0, "min_confidence": 0.5}},
    )
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(project / "params.yaml")
    scored = []  # (x, y, scores) of each curation the trial ran

    def recording_scores(x, y, data, setup):
        scores = curation_scores(x, y, data, setup)
        scored.append((y, scores))
        return scores

    curation_scores = objective.curation_scores
    monkeypatch.setattr(objective, "curation_scores", recording_scores)
    space = {"ratio": SearchDimension(low=0.5, high=1.0), "curation.min_confidence": SearchDimension(low=0.05, high=0.2)}
    study = tuning.create_study("roundtrip", journal(tmp_path), n_trials=1, generator="vae", space=space, pruner="none")
    data = tuning.load_tune_data(tiny_project / "outputs/features")
    setup = trial_setup(params, "vae", num_threads=1)
    quiet_worker(study, tuning.make_objective(study, data, setup))
    trial = tuning.best_trial(study)
    assert trial is not None and len(scored) == 1
    y, scores = scored[0]

    tuning.write_best_params(study, trial_setup(params, "vae"), project / "profiles" / "tuned-vae.yaml")
    apply_profile("tuned-vae", project / "params.yaml", project)
    tuned = load_params(project / "params.yaml")

    trial_bounds = CurationParams(
        enabled=True, max_manifold_distance=None, min_copy_ratio=None, min_confidence=trial.params["curation.min_confidence"]
    )
    assert tuned.curation == trial_bounds
    kept = keep_mask(scores, tuning.pipeline_curation(tuned.curation))
    assert int((~kept).sum()) == trial.user_attrs[CURATION_DROPPED_ATTR]
    # The untuned bounds of params.yaml would have curated differently: the round trip is not vacuous.
    with_params_bounds = params.curation.model_copy(update={"enabled": True, "min_confidence": trial_bounds.min_confidence})
    assert not np.array_equal(kept, keep_mask(scores, tuning.pipeline_curation(with_params_bounds)))

    # The counts: what the trial drew and scored is what the synthesize stage draws with the tuned params.
    recorded = trial.user_attrs[tuning.COUNTS_ATTR]
    assert recorded == {data.train.class_names[c]: int((y == c).sum()) for c in np.unique(y)}
    tuned_counts = counts_per_class(
        data.train.y,
        data.train.class_names,
        list(recorded),
        tuned.train_generator.classes,
        tuned.synthesize.minority_ratio,
        tuned.synthesize.n_per_class,
        tuned.train_generator.minority_tolerance,
    )
    assert tuned_counts == recorded


@pytest.mark.slow  # the featurized tiny demo project
def test_tiny_study_end_to_end_writes_profile_and_mlflow_runs(tiny_project, monkeypatch):
    import mlflow

    from synthaug.stages import tune

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tiny_project)
    features = tiny_project / "outputs/features"
    assert not (features / "test.npz").exists()  # any read of the test split would fail the study

    profile = tune.main(Path("params.yaml"), features, threads=1, project_root=tiny_project)
    assert profile == tiny_project / "profiles/tuned-vae.yaml"
    overlay = yaml.safe_load(profile.read_text())
    assert set(overlay["train_generator"]["models"]["vae"]) == {"lr", "latent_dim", "beta", "steps"}

    study = tuning.load_study("synthaug-demo-cough-vae", tuning.make_storage(None, tiny_project))
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state in tuning.FINISHED_OK for t in trials)
    best = tuning.best_trial(study)

    mlflow.set_tracking_uri(f"sqlite:///{(tiny_project / 'mlflow.db').as_posix()}")
    parent_id = study.user_attrs[tuning.PARENT_RUN_ATTR]
    parent = mlflow.get_run(parent_id)
    assert parent.data.tags["synthaug.stage"] == "tune" and parent.data.tags["synthaug.storage"] == "sqlite"
    assert parent.info.status == "FINISHED" and parent.data.metrics["best_value"] == pytest.approx(best.value)
    children = mlflow.search_runs(
        experiment_ids=[parent.info.experiment_id],
        output_format="list",
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
    )
    assert sorted(r.info.run_name for r in children) == ["trial-0", "trial-1", "trial-2"]
    for run in children:
        assert run.data.tags["synthaug.stage"] == "tune_trial" and run.data.tags["synthaug.generator"] == "vae"
        assert {"ratio", "lr", "latent_dim", "beta", "steps"} <= set(run.data.params)
        assert run.data.tags["synthaug.trial_state"] in ("COMPLETE", "PRUNED")
    best_runs = [r for r in children if r.data.tags.get("synthaug.best_trial") == "true"]
    assert [r.info.run_id for r in best_runs] == [best.user_attrs[tuning.MLFLOW_RUN_ATTR]]
    # The pruner reads the objective (the first primary endpoint, AUROC by default) epoch by epoch.
    history = mlflow.MlflowClient().get_metric_history(best_runs[0].info.run_id, "intermediate_val_auroc")
    assert [m.step for m in history] == [1, 2]

    # Run again: the study is finished, so nothing is trained and the same profile comes back.
    assert tune.main(Path("params.yaml"), features, threads=1, project_root=tiny_project) == profile
    assert len(study.get_trials()) == 3


@pytest.mark.slow  # the featurized tiny demo project
def test_minority_without_a_minority_class_stops_before_a_study_is_created(tiny_project, monkeypatch):
    from synthaug.stages import tune

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tiny_project)
    params = read_yaml(tiny_project / "params.yaml")
    params["train_generator"]["minority_tolerance"] = 0.9  # 10 positives are not under 10 % of 46 negatives
    params["tune"]["study_name"] = "no-minority"
    (tiny_project / "params-no-minority.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(ConfigError, match="train_generator.classes: minority.*use `classes: all`"):
        tune.main(Path("params-no-minority.yaml"), tiny_project / "outputs/features", threads=1, project_root=tiny_project)
    assert "no-minority" not in optuna.get_all_study_names(tuning.make_storage(None, tiny_project))


def test_reading_a_trials_retry_chain_prints_no_experimental_warning():
    """The progress lines of `synthaug tune` stay readable: Optuna's experimental-API warning for the retry
    chain (read twice per trial) is not repeated to the user."""
    import warnings

    from synthaug.tuning.workers import _parent

    study = optuna.create_study()
    study.tell(study.ask(), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _parent(study.trials[0]) is None
