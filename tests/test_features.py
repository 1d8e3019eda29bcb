"""Log-mel extraction (shapes, frequencies, clips, bad files, workers) and normalization."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthaug.audio import fix_length
from synthaug.config import parse_params
from synthaug.errors import ConfigError, DataError
from synthaug.features import FILES_PER_TASK, LogMelParams, Normalizer, extract, fit_normalizer


def write_tone(path: Path, seconds: float, rate: int = 16000, freq: float = 440.0) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, subtype="FLOAT")
    return path


def mel_centres(params: LogMelParams) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    edges = librosa.mel_frequencies(params.n_mels + 2, fmin=params.f_min, fmax=params.f_max, htk=False)
    return edges[1:-1]  # Slaney mel scale; bin k peaks at edge k + 1


def test_default_params_are_the_medical_protocol():
    params = LogMelParams()
    assert (params.sample_rate, params.n_fft, params.hop_length, params.n_mels) == (16000, 2048, 512, 128)
    assert (params.f_min, params.f_max, params.mode, params.duration_s) == (0.0, 8000.0, "crop", 3.0)
    assert params.n_frames == 94 and params.clip_samples == 48000


@pytest.mark.parametrize(
    "bad", [{"mode": "tiles"}, {"clip_overlap": 1.0}, {"f_max": 9000.0}, {"duration_s": 0.01}, {"win_length": 1024}]
)
def test_invalid_params_raise_config_error_naming_the_key(bad: dict):
    """featurize's keys are checked once, when params load: the error names the key and its bad value."""
    key = next(iter(bad))
    raw = {"dataset": {"name": "d", "adapter": "folder", "root": "data"}, "featurize": bad}
    with pytest.raises(ConfigError) as error:
        parse_params(raw)
    assert "featurize" in str(error.value) and key in str(error.value)


def test_the_featurize_section_is_the_feature_parameters_spectrogram_sets_store():
    settings = parse_params(
        {
            "dataset": {"name": "d", "adapter": "folder", "root": "data"},
            "featurize": {"sample_rate": 22050, "f_max": 11025.0, "workers": 3},
        }
    ).featurize
    stored = settings.log_mel().model_dump()
    assert "workers" not in stored and "on_bad_file" not in stored
    assert stored["sample_rate"] == 22050 and stored["n_fft"] == LogMelParams().n_fft  # one default per key
    assert LogMelParams.model_validate(stored) == settings.log_mel()
    # Sets written by earlier versions store the window length as null (always n_fft); they still load.
    assert LogMelParams.model_validate({**stored, "win_length": None}) == settings.log_mel()


def test_crop_mode_gives_one_128_by_94_spectrogram_per_file(tmp_path: Path):
    paths = [write_tone(tmp_path / "short.wav", 1.0), write_tone(tmp_path / "long.wav", 5.0, rate=8000)]
    result = extract(paths, ["a", "b"], progress=False)
    assert result.x.shape == (2, 1, 128, 94) and result.x.dtype == np.float32
    assert result.file_id.tolist() == ["a", "b"] and result.source_index.tolist() == [0, 1]
    assert result.bad_files == []


def test_clips_mode_repeats_file_id_for_every_clip(tmp_path: Path):
    paths = [write_tone(tmp_path / "a.wav", 10.0), write_tone(tmp_path / "b.wav", 2.0)]
    params = LogMelParams(mode="clips", duration_s=3.0, clip_overlap=0.5)
    result = extract(paths, ["a", "b"], params, progress=False)
    # 10 s, 3 s clips every 1.5 s: 1 + (10 - 3) // 1.5 = 5 clips; the 2 s file pads to one clip.
    assert result.x.shape == (6, 1, 128, 94)
    assert result.file_id.tolist() == ["a"] * 5 + ["b"]
    assert result.source_index.tolist() == [0] * 5 + [1]


@pytest.mark.parametrize("k", [10, 60, 110])
def test_a_pure_tone_peaks_in_its_mel_bin(tmp_path: Path, k: int):
    params = LogMelParams()
    freq = float(mel_centres(params)[k])
    x = extract([write_tone(tmp_path / "tone.wav", 3.0, freq=freq)], ["t"], params, progress=False).x
    assert int(x[0, 0, :, 10:-10].mean(axis=1).argmax()) == k


@pytest.mark.slow  # imports librosa
def test_log_mel_matches_librosa_at_the_same_parameters(tmp_path: Path):
    librosa = pytest.importorskip("librosa")
    path = write_tone(tmp_path / "tone.wav", 2.0, freq=700.0)
    wave = fix_length(sf.read(path, dtype="float32")[0], 48000)  # centred, as extract() pads
    mel = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=2048, hop_length=512, n_mels=128, fmax=8000)
    expected = librosa.power_to_db(mel, amin=1e-10, top_db=None)
    x = extract([path], ["t"], progress=False).x[0, 0]
    loud = expected > expected.max() - 80  # further down, float32 rounding in the FFT dominates
    np.testing.assert_allclose(x[loud], expected[loud], atol=1e-3)


def test_log_is_per_spectrogram_with_no_batch_wide_clamp(tmp_path: Path):
    loud = write_tone(tmp_path / "loud.wav", 3.0)
    t = np.arange(48000) / 16000
    sf.write(tmp_path / "quiet.wav", (1e-4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, subtype="FLOAT")
    together = extract([loud, tmp_path / "quiet.wav"], ["l", "q"], progress=False).x
    alone = extract([tmp_path / "quiet.wav"], ["q"], progress=False).x
    np.testing.assert_allclose(together[1], alone[0], atol=1e-4)  # a loud neighbour changes nothing


def make_bad_files(folder: Path) -> dict[str, str]:
    (folder / "zero-bytes.wav").write_bytes(b"")
    (folder / "text.wav").write_text("not audio")
    sf.write(folder / "all-zero.wav", np.zeros(8000, np.float32), 16000)
    sf.write(folder / "nan.wav", np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT")
    return {"zero-bytes.wav": "unreadable", "text.wav": "unreadable", "all-zero.wav": "silent", "nan.wav": "non-finite"}


def test_bad_files_raise_one_error_listing_all_of_them(tmp_path: Path):
    reasons = make_bad_files(tmp_path)
    paths = [write_tone(tmp_path / "good.wav", 1.0)] + [tmp_path / name for name in reasons]
    with pytest.raises(DataError) as raised:
        extract(paths, [p.stem for p in paths], progress=False)
    message = str(raised.value)
    assert "4 audio file(s)" in message and "featurize.on_bad_file: skip" in message
    for name, reason in reasons.items():
        assert f"{tmp_path / name}: {reason}" in message


def test_skip_mode_returns_the_good_files_and_lists_the_bad(tmp_path: Path):
    reasons = make_bad_files(tmp_path)
    bad = [tmp_path / name for name in reasons]
    paths = [bad[0], write_tone(tmp_path / "g1.wav", 1.0), bad[1], bad[2], write_tone(tmp_path / "g2.wav", 1.0), bad[3]]
    result = extract(paths, [p.stem for p in paths], on_bad_file="skip", progress=False)
    assert result.file_id.tolist() == ["g1", "g2"] and result.source_index.tolist() == [1, 4]
    assert [(Path(p).name, r) for p, r, _ in result.bad_files] == list(reasons.items())


def test_skip_mode_with_only_bad_files_returns_an_empty_set(tmp_path: Path):
    reasons = make_bad_files(tmp_path)
    result = extract([tmp_path / n for n in reasons], list(reasons), on_bad_file="skip", progress=False)
    assert result.x.shape == (0, 1, 128, 94) and len(result.file_id) == 0 and len(result.bad_files) == 4


def test_an_empty_file_list_gives_an_empty_set():
    result = extract([], [], progress=False)
    assert result.x.shape == (0, 1, 128, 94) and result.source_index.dtype == np.int64


def test_results_are_identical_for_one_and_two_workers(tmp_path: Path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2 * FILES_PER_TASK + 3):  # three tasks, so two workers really share the work
        rate = 8000 if i % 2 else 16000
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], rng.uniform(-0.5, 0.5, int(rate * rng.uniform(0.2, 4.0))).astype(np.float32), rate)
    ids = [p.stem for p in paths]
    one = extract(paths, ids, workers=1, progress=False)
    two = extract(paths, ids, workers=2, progress=False)
    assert np.array_equal(one.x, two.x) and np.array_equal(one.file_id, two.file_id)
    assert one.source_index.tolist() == list(range(len(paths)))


def test_progress_bar_stays_quiet_when_not_on_a_terminal(tmp_path: Path, capsys):
    extract([write_tone(tmp_path / "a.wav", 0.5)], ["a"], progress=True)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_mismatched_ids_are_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="2 paths but 1 file ids"):
        extract([tmp_path / "a.wav", tmp_path / "b.wav"], ["a"], progress=False)


def test_normalizer_fitted_on_train_standardizes_each_mel_channel():
    rng = np.random.default_rng(1)
    offsets = np.linspace(-80, 0, 128, dtype=np.float32)[None, None, :, None]
    scales = np.linspace(1, 20, 128, dtype=np.float32)[None, None, :, None]
    train = (rng.standard_normal((40, 1, 128, 94)) * scales + offsets).astype(np.float32)
    normalizer = fit_normalizer(train)
    out = normalizer.apply(train)
    assert out.dtype == np.float32 and out.shape == train.shape
    np.testing.assert_allclose(out.mean(axis=(0, 1, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 3)), 1, atol=1e-4)
    # Another split is normalized with the training statistics, not its own.
    shifted = normalizer.apply(train + 5.0)
    np.testing.assert_allclose(shifted.mean(axis=(0, 1, 3)), 5.0 / normalizer.std, rtol=1e-3)


def test_normalizer_floors_the_std_of_a_constant_channel():
    x = np.zeros((3, 1, 4, 5), np.float32)
    x[:, :, 1] = np.arange(5)
    out = fit_normalizer(x).apply(x)
    assert np.isfinite(out).all() and np.all(out[:, :, 0] == 0)


def test_normalizer_round_trips_through_json():
    rng = np.random.default_rng(2)
    normalizer = fit_normalizer(rng.standard_normal((5, 1, 8, 6)).astype(np.float32))
    restored = Normalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    assert np.array_equal(restored.mean, normalizer.mean) and np.array_equal(restored.std, normalizer.std)


def test_normalizer_rejects_a_different_mel_count():
    normalizer = fit_normalizer(np.ones((2, 1, 8, 6), np.float32))
    with pytest.raises(DataError, match="8"):
        normalizer.apply(np.ones((2, 1, 16, 6), np.float32))
