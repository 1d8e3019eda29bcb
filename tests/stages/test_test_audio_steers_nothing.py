"""The test split steers nothing, down to its audio: twin projects whose test recordings differ.

`test_test_split_steers_nothing.py` perturbs the test spectrograms after featurize, so a normalizer
fitted on test audio would pass it. Here the twin's test *audio* is altered before anything reads it
(time-reversed, with added noise, same length and rate), and the whole pipeline runs on both:

- medical (the tiny cough project, through featurize): the normalizer and the train and validation
  features must be identical, the test features must differ;
- industrial, clips mode (the machine profile with the conditional GAN, the DDPM and one scarcity
  level): also every synthetic set, every classifier's validation scores and best epoch, the scarcity
  point's subset and validation scores, the audit and the report's decision thresholds; only test
  metrics may change, and they must.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from synthaug.spectrograms import load_spectrogram_set
from tests.pipeline_projects import SIDE_BY_SIDE, build_side_by_side, new_project, run
from tests.stages.test_test_split_steers_nothing import assert_close

pytestmark = pytest.mark.e2e

MACHINE_OVERLAY = {
    "demo": {"machine": {"train_files_per_class": 3}},
    "train_generator": {"models": {"ddpm": {"steps": 2, "base_channels": 8, "sampling_steps": 5}}},
    "synthesize": {"n_per_class": 8},
    "ensemble": {"members": ["baseline", "cgan", "ddpm"]},
    "scarcity": {"files_per_class": [1], "trials": [0]},
}


def alter_test_audio(project: Path) -> None:
    """Before featurize ever runs: every test recording time-reversed with added noise, as a new data version."""
    run(["dvc", "repro", "prepare"], project, **SIDE_BY_SIDE)
    params = yaml.safe_load((project / "params.yaml").read_text())
    root = project / params["dataset"]["root"]
    manifest = pd.read_csv(project / "outputs/prepare/manifest.csv")
    rng = np.random.default_rng(0)
    for path in manifest.loc[manifest["split"] == "test", "path"]:
        audio, rate = sf.read(root / path, dtype="float32", always_2d=True)
        altered = audio[::-1] + rng.normal(0.0, 0.05, size=audio.shape).astype(np.float32)
        info = sf.info(root / path)
        sf.write(root / path, altered, rate, subtype=info.subtype, format=info.format)
    run(["dvc", "add", "data", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "altered test audio"], project)


def project(folder: Path, *profiles: str, overlay: dict | None = None, altered: bool, target: str | None = None) -> Path:
    return new_project(
        folder, *profiles, overlay=overlay, target=target, before_repro=alter_test_audio if altered else None, **SIDE_BY_SIDE
    )


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folders = {name: tmp_path_factory.mktemp(name) for name in ("medical", "medical_altered", "machine", "machine_altered")}
    built = build_side_by_side(
        lambda: project(folders["medical"], altered=False, target="featurize"),
        lambda: project(folders["medical_altered"], altered=True, target="featurize"),
        lambda: project(folders["machine"], "machine", overlay=MACHINE_OVERLAY, altered=False),
        lambda: project(folders["machine_altered"], "machine", overlay=MACHINE_OVERLAY, altered=True),
    )
    return {"medical": (built[0], built[1]), "machine": (built[2], built[3])}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_features_see_no_test_audio(original: Path, altered: Path) -> None:
    manifests = [pd.read_csv(p / "outputs/prepare/manifest.csv") for p in (original, altered)]
    assert manifests[0][["path", "label", "group", "split"]].equals(manifests[1][["path", "label", "group", "split"]])
    assert read_json(original / "outputs/features/normalizer.json") == read_json(altered / "outputs/features/normalizer.json")
    for split in ("train", "val"):
        a, b = (load_spectrogram_set(p / f"outputs/features/{split}.npz") for p in (original, altered))
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y), split
    test_a, test_b = (load_spectrogram_set(p / "outputs/features/test.npz") for p in (original, altered))
    assert np.array_equal(test_a.y, test_b.y) and not np.allclose(test_a.x, test_b.x)  # the alteration is real


def test_altered_test_audio_changes_neither_the_normalizer_nor_train_and_validation_features(twins):
    assert_features_see_no_test_audio(*twins["medical"])


def test_in_clips_mode_with_the_cgan_the_ddpm_and_a_scarcity_level_only_test_metrics_change(twins):
    original, altered = twins["machine"]
    assert_features_see_no_test_audio(original, altered)
    both = (original, altered)
    for name in ("cgan", "ddpm"):
        a, b = (load_spectrogram_set(p / f"outputs/synthetic/{name}/synthetic.npz") for p in both)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y), name
    for name in ("baseline", "cgan", "ddpm"):
        runs = [read_json(p / f"outputs/classifiers/{name}/seed0/run.json") for p in both]
        assert runs[0]["best_epoch"] == runs[1]["best_epoch"], name
        assert_close(runs[0]["val"], runs[1]["val"], f"{name} val")
        # The test predictions change (on four test files the scores themselves may not).
        predictions = [pd.read_csv(p / f"outputs/classifiers/{name}/seed0/predictions_test.csv") for p in both]
        assert not np.allclose(predictions[0].filter(like="p_"), predictions[1].filter(like="p_")), name
    assert_close(read_json(original / "metrics/audit.json"), read_json(altered / "metrics/audit.json"), "audit")
    # The scarcity point: the same subset, normalizer, synthetic data and validation scores; other test scores.
    for name in ("subset.txt", "normalizer.json"):
        assert (original / "outputs/scarcity/n1-t0" / name).read_text() == (altered / "outputs/scarcity/n1-t0" / name).read_text()
    for variant in ("baseline", "baseline_classic", "gan", "gan_classic"):
        runs = [read_json(p / f"outputs/scarcity/n1-t0/{variant}/run.json") for p in both]
        assert_close(runs[0]["val"], runs[1]["val"], f"scarcity {variant} val")
        predictions = [pd.read_csv(p / f"outputs/scarcity/n1-t0/{variant}/predictions_test.csv") for p in both]
        assert not np.allclose(predictions[0].filter(like="p_"), predictions[1].filter(like="p_")), variant
    reports = [read_json(p / "reports/results.json")["methods"] for p in both]
    for method in reports[0]:
        assert reports[0][method]["thresholds"] == pytest.approx(reports[1][method]["thresholds"]), method
    assert reports[0]["baseline"]["summary"] != reports[1]["baseline"]["summary"]
