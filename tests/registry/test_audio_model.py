"""The registered model takes raw audio and gives the pipeline's probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from synthaug.errors import DataError
from synthaug.features import LogMelParams, extract, fit_normalizer
from synthaug.registry.audio_model import AudioClassifier
from synthaug.spectrograms import load_spectrogram_set
from tests.registry.conftest import file_level_reference, train_tiny

pytestmark = pytest.mark.slow  # trains a classifier and logs it as a pyfunc model


@pytest.fixture(scope="module")
def trained(project):
    from synthaug.classifiers.saved import save_classifier

    model, architecture, options, class_names, input_shape = train_tiny(project, seed=0)
    path = project / "trained-seed0.pt"
    save_classifier(path, model, architecture=architecture, options=options, class_names=class_names, input_shape=input_shape)
    return model, path, class_names


def bundle_from_features(project: Path, tmp_path: Path, member_paths, weights=None) -> Path:
    val = load_spectrogram_set(project / "outputs/features/val.npz")
    normalizer = json.loads((project / "outputs/features/normalizer.json").read_text())
    return AudioClassifier.write_bundle(
        tmp_path / "bundle", member_paths, weights or [1.0] * len(member_paths), val.feature_params, normalizer, val.class_names
    )


def val_paths(project: Path) -> tuple[list[str], list[str]]:
    val = load_spectrogram_set(project / "outputs/features/val.npz")
    ids = list(dict.fromkeys(val.file_id))  # file ids in first-seen order
    return ids, [str(project / "data/demo/cough" / file_id) for file_id in ids]


def test_logged_pyfunc_model_gives_the_pipeline_probabilities_from_audio_files(project, trained, tmp_path, store):
    import mlflow

    from synthaug.registry.packaging import log_audio_model

    model, path, class_names = trained
    bundle = bundle_from_features(project, tmp_path, [path])
    with mlflow.start_run():
        info = log_audio_model(bundle, class_names, sample_rate=16000)
    loaded = mlflow.pyfunc.load_model(info.model_uri)

    ids, paths = val_paths(project)
    out = loaded.predict(pd.DataFrame({"path": paths}))
    expected = file_level_reference(model, load_spectrogram_set(project / "outputs/features/val.npz"))
    got = out[[f"p_{c}" for c in class_names]].to_numpy()
    assert np.allclose(got, np.stack([expected[i] for i in ids]), atol=1e-5)
    assert list(out["label"]) == [class_names[int(np.argmax(expected[i]))] for i in ids]
    assert (out["error"] == "").all() and (out["n_clips"] == 1).all()
    assert info.signature is not None and {"path", "waveform", "sample_rate"} <= set(info.signature.inputs.input_names())


def test_waveform_rows_give_the_same_probabilities_as_their_files(project, trained, tmp_path):
    _, path, _ = trained
    classifier = AudioClassifier.load(bundle_from_features(project, tmp_path, [path]))
    _, paths = val_paths(project)
    waves = [sf.read(p, dtype="float32") for p in paths[:3]]
    by_wave = classifier.predict(pd.DataFrame({"waveform": [w.tolist() for w, _ in waves], "sample_rate": [r for _, r in waves]}))
    by_path = classifier.predict(pd.DataFrame({"path": paths[:3]}))
    assert np.allclose(by_wave.filter(like="p_").to_numpy(), by_path.filter(like="p_").to_numpy(), atol=1e-6)


def test_a_segmented_file_gets_the_mean_of_its_clip_probabilities(project, trained, tmp_path):
    """Clips mode (the industrial protocol): one row per file, the mean over its overlapping clips."""
    model, path, class_names = trained
    val = load_spectrogram_set(project / "outputs/features/val.npz")
    params = LogMelParams(
        **{**val.feature_params, "mode": "clips", "duration_s": val.feature_params["duration_s"], "clip_overlap": 0.5}
    )
    rng = np.random.default_rng(0)
    long_file = tmp_path / "long.wav"
    sf.write(
        long_file,
        (0.1 * rng.standard_normal(int(params.sample_rate * params.duration_s * 2.6))).astype(np.float32),
        params.sample_rate,
    )
    extraction = extract([long_file], ["long"], params, workers=1, progress=False)
    normalizer = fit_normalizer(extraction.x)
    bundle = AudioClassifier.write_bundle(
        tmp_path / "bundle", [path], [1.0], params.model_dump(), normalizer.to_dict(), class_names
    )
    out = AudioClassifier.load(bundle).predict(pd.DataFrame({"path": [str(long_file)]}))

    from synthaug.training import predict_proba

    clip_proba = predict_proba(model, normalizer.apply(extraction.x), device="cpu")
    assert len(extraction.x) == 4 and out["n_clips"].iloc[0] == 4
    assert np.allclose(out.filter(like="p_").to_numpy()[0], clip_proba.mean(axis=0), atol=1e-5)


def test_an_ensemble_bundle_is_the_weighted_mean_of_its_members(project, trained, tmp_path):
    from synthaug.classifiers.saved import save_classifier

    model_a, path_a, class_names = trained
    model_b, architecture, options, _, input_shape = train_tiny(project, seed=1)
    path_b = tmp_path / "b.pt"
    save_classifier(path_b, model_b, architecture=architecture, options=options, class_names=class_names, input_shape=input_shape)
    ensemble = AudioClassifier.load(bundle_from_features(project, tmp_path, [path_a, path_b], weights=[3.0, 1.0]))
    ids, paths = val_paths(project)
    val = load_spectrogram_set(project / "outputs/features/val.npz")
    a, b = file_level_reference(model_a, val), file_level_reference(model_b, val)
    out = ensemble.predict(pd.DataFrame({"path": paths}))
    assert np.allclose(out.filter(like="p_").to_numpy(), np.stack([0.75 * a[i] + 0.25 * b[i] for i in ids]), atol=1e-5)


def test_unusable_rows_are_reported_and_the_others_classified(project, trained, tmp_path):
    _, path, class_names = trained
    classifier = AudioClassifier.load(bundle_from_features(project, tmp_path, [path]))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00not audio at all")
    _, paths = val_paths(project)
    rows = pd.DataFrame(
        {
            "path": [str(corrupt), paths[0], None, None],
            "waveform": [None, None, [0.0] * 8000, [0.1, -0.1] * 4000],
            "sample_rate": [None, None, 16000, None],
        }
    )
    out = classifier.predict(rows)
    assert out["error"].iloc[0].startswith("unreadable")
    assert out["error"].iloc[1] == "" and out["label"].iloc[1] in class_names
    assert out["error"].iloc[2].startswith("silent")
    assert out["error"].iloc[3].startswith("no sample rate")
    assert out.filter(like="p_").iloc[[0, 2, 3]].isna().all().all()


def test_unknown_input_column_is_a_clear_error(project, trained, tmp_path):
    _, path, _ = trained
    classifier = AudioClassifier.load(bundle_from_features(project, tmp_path, [path]))
    with pytest.raises(DataError, match="unknown input column.*file"):
        classifier.predict(pd.DataFrame({"file": ["a.wav"]}))


def test_bundle_refuses_a_member_trained_for_other_classes(project, trained, tmp_path):
    _, path, _ = trained
    val = load_spectrogram_set(project / "outputs/features/val.npz")
    normalizer = json.loads((project / "outputs/features/normalizer.json").read_text())
    with pytest.raises(DataError, match="trained for classes"):
        AudioClassifier.write_bundle(tmp_path / "bundle", [path], [1.0], val.feature_params, normalizer, ["a", "b", "c"])
