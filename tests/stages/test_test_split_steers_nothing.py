"""The test split steers nothing: the same tiny project run twice, once with its test split perturbed.

Every selection the pipeline and its tools make (each classifier's best epoch, the report's decision
thresholds, the fitted ensemble's weights, the audit's per-sample scores that curation acts on and the
samples it drops, the synthetic sets, a tuning study's trials and tuned profile, the registry's
promotion decision) must be the same; only test metrics may change, and they must (else the
perturbation was not real).

The perturbation is made after featurize: test labels shuffled and test spectrograms replaced by
noise-altered, time-reversed ones in outputs/features/test.npz, recorded with `dvc commit` so that
every later stage runs, for the first time, on the perturbed split. Stages that read the test split
without declaring it would still see it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from synthaug.spectrograms import load_spectrogram_set, save_spectrogram_set
from tests.pipeline_projects import SIDE_BY_SIDE, build_side_by_side, new_project, run

pytestmark = pytest.mark.e2e

# Two generators, one seed, a 2-trial study: the smallest run in which every kind of selection happens.
# Generators and classifiers train a little longer than the tiny profile's 2 steps and 3 epochs, so
# that samples differ from each other (per-sample scores, masks) and early stopping has epochs to pick from.
GENERATORS = ("vae", "wgan_gp")
CLASSIFIERS = ("baseline", *GENERATORS)
OVERLAY = {
    "train_generator": {"models": {"vae": {"steps": 40}, "wgan_gp": {"steps": 20}}},
    "synthesize": {"minority_ratio": 1.0},
    "train_classifier": {"seeds": [0], "epochs": 6, "patience": 3},
    # Bounds between the per-sample scores these generators reach here, so that curation keeps some
    # samples and drops others (the baseline's confidence is flat on this data, so it is not bounded).
    "curation": {"enabled": True, "max_manifold_distance": 0.96, "min_copy_ratio": 2.0, "min_confidence": None},
    "ensemble": {"members": ["baseline", *GENERATORS], "fit_weights": True},
}
TUNE = {
    "generator": "vae",
    "n_trials": 2,
    "seeds": [0],
    "pruner": "none",
    "sampler_seed": 0,
    "space": {
        "shared": {"ratio": {"low": 0.25, "high": 1.0}, "curation.min_confidence": {"low": 0.3, "high": 0.9}},
        "vae": {"steps": {"low": 1, "high": 2}},
    },
}


def shrink(project: Path) -> None:
    """Keep only GENERATORS (params.yaml's other generators removed) and set the small study."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train_generator"]["models"] = {name: params["train_generator"]["models"][name] for name in GENERATORS}
    params["tune"] = {**params["tune"], **TUNE}
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def perturb_test_split(project: Path) -> None:
    """After featurize: shuffle the test labels (so that some change) and alter every test spectrogram."""
    run(["dvc", "repro", "featurize"], project, **SIDE_BY_SIDE)  # as the original's featurize
    path = project / "outputs/features/test.npz"
    test = load_spectrogram_set(path)
    rng = np.random.default_rng(0)
    y = rng.permutation(test.y)
    while np.array_equal(y, test.y):
        y = rng.permutation(test.y)
    x = test.x[..., ::-1] + rng.normal(0.0, 0.5, size=test.x.shape)
    test.x, test.y = np.ascontiguousarray(x, dtype=np.float32), y
    save_spectrogram_set(path, test)
    run(["dvc", "commit", "-f", "featurize"], project)


def complete_project(project: Path, perturb: bool) -> Path:
    """The tiny project through `dvc repro`, then the two commands outside it that select: a 2-trial
    study and `synthaug register` (the test runs `synthaug promote --dry-run`)."""

    def before(project: Path) -> None:
        shrink(project)
        if perturb:
            perturb_test_split(project)

    new_project(project, overlay=OVERLAY, target="featurize", before_repro=before, **SIDE_BY_SIDE)
    run(["dvc", "repro"], project, **SIDE_BY_SIDE)
    run(["synthaug", "tune", "--threads", "1"], project, **SIDE_BY_SIDE)
    run(["synthaug", "register"], project, **SIDE_BY_SIDE)
    return project


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> tuple[Path, Path]:
    """The project and its perturbed twin, built side by side (each gets one core)."""
    original, shuffled = tmp_path_factory.mktemp("original"), tmp_path_factory.mktemp("shuffled")
    built = build_side_by_side(
        lambda: complete_project(original, perturb=False), lambda: complete_project(shuffled, perturb=True)
    )
    return built[0], built[1]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_close(a, b, where: str = "") -> None:
    """Nested JSON-like values equal, floats to a relative 1e-6 (pytest.approx does not nest)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, nan_ok=True), where
    else:
        assert a == b, where


def promotion_choice(project: Path) -> str:
    """The version `synthaug promote --dry-run` would make champion, with the run it comes from."""
    import mlflow

    from synthaug import tracking

    out = run(["synthaug", "promote", "--dry-run"], project)
    assert "(dry run) would promote" in out, out
    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    chosen = re.search(r"version (\d+) has the best", out)
    assert chosen, out
    from synthaug.registry.promotion import logged_metrics

    client = mlflow.MlflowClient()
    version = client.get_model_version("synthaug-demo-cough", chosen.group(1))
    return f"version {version.version}: {version.tags['synthaug.run_dir']} ({logged_metrics(client, version)['val_file_macro_f1']!r})"


def study_trials(project: Path) -> tuple[list[tuple], list[float]]:
    """Each trial's (number, state, suggested values, synthetic counts, curation rule, samples curation
    dropped), and its values."""
    import optuna

    from synthaug.tuning.attrs import COUNTS_ATTR, CURATION_ATTR, CURATION_DROPPED_ATTR

    study = optuna.load_study(study_name="synthaug-demo-cough-vae", storage=f"sqlite:///{project / 'optuna.db'}")
    trials = sorted(study.trials, key=lambda t: t.number)
    return (
        [
            (
                t.number,
                t.state.name,
                t.params,
                t.user_attrs[COUNTS_ATTR],
                t.user_attrs[CURATION_ATTR],
                t.user_attrs[CURATION_DROPPED_ATTR],
            )
            for t in trials
        ],
        [t.value for t in trials],
    )


def test_test_split_changes_test_metrics_and_no_selection(projects):
    original, shuffled = projects
    # The perturbation is real: the test split differs, and so do the test metrics.
    test_a, test_b = (load_spectrogram_set(p / "outputs/features/test.npz") for p in projects)
    assert not np.array_equal(test_a.y, test_b.y) and not np.allclose(test_a.x, test_b.x)
    for path in ("train.npz", "val.npz"):
        a, b = (load_spectrogram_set(p / "outputs/features" / path) for p in projects)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    baseline_a, baseline_b = (read_json(p / "metrics/classifiers/baseline.json")["test"] for p in projects)
    assert baseline_a != baseline_b
    report_a, report_b = (read_json(p / "reports/results.json")["methods"] for p in projects)
    assert report_a["baseline"]["summary"] != report_b["baseline"]["summary"]

    # Synthetic sets: the generators never see the test split.
    for name in GENERATORS:
        a, b = (load_spectrogram_set(p / f"outputs/synthetic/{name}/synthetic.npz") for p in projects)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y), name

    # Curation: the audit's per-sample scores and the samples each augmented classifier drops.
    for name in GENERATORS:
        scores_a, scores_b = (np.load(p / f"outputs/audit/{name}/scores.npz") for p in projects)
        for score in scores_a.files:
            np.testing.assert_allclose(scores_a[score], scores_b[score], rtol=1e-6, err_msg=f"{name} {score}")
        dropped_a, dropped_b = (read_json(p / f"metrics/classifiers/{name}.json")["curation_dropped"] for p in projects)
        assert dropped_a == dropped_b, name
    assert_close(read_json(original / "metrics/audit.json"), read_json(shuffled / "metrics/audit.json"), "audit")

    # Early stopping: every classifier's best epoch, and its validation scores.
    for name in CLASSIFIERS:
        a, b = (read_json(p / f"outputs/classifiers/{name}/seed0/run.json") for p in projects)
        assert (a["best_epoch"], a["epochs_run"]) == (b["best_epoch"], b["epochs_run"]), name
        assert_close(a["val"], b["val"], f"{name} val")
        assert a["test"] != b["test"], name

    # The fitted ensemble's weights (fitted on one validation half).
    fitted_a, fitted_b = (read_json(p / "outputs/ensemble/fitted/seed0/run.json") for p in projects)
    assert fitted_a["members"] == fitted_b["members"]
    assert fitted_a["weights"] == pytest.approx(fitted_b["weights"], rel=1e-6)

    # The report's decision thresholds (chosen on validation), for every method.
    assert set(report_a) == set(report_b)
    for method in report_a:
        assert report_a[method]["thresholds"] == pytest.approx(report_b[method]["thresholds"]), method

    # Tuning: the same trials with the same values, and the same tuned profile.
    (trials_a, values_a), (trials_b, values_b) = study_trials(original), study_trials(shuffled)
    assert len(trials_a) == 2 and trials_a == trials_b
    assert values_a == pytest.approx(values_b)
    assert (original / "profiles/tuned-vae.yaml").read_text() == (shuffled / "profiles/tuned-vae.yaml").read_text()

    # The registry: the same version, of the same run, would become champion.
    assert promotion_choice(original) == promotion_choice(shuffled)
