"""Decoding, mono mixing, resampling, crop/pad and segmentation of audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from synthaug import audio
from synthaug.errors import AudioError, DataError


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# -- fix_length and segment -------------------------------------------------------------------


def test_fix_length_centre_crops_a_longer_wave():
    assert audio.fix_length(np.arange(10.0), 4).tolist() == [3, 4, 5, 6]


def test_fix_length_zero_pads_a_shorter_wave_symmetrically():
    assert audio.fix_length(np.ones(3), 7).tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert audio.fix_length(np.ones(3), 6).tolist() == [0, 1, 1, 1, 0, 0]  # odd shortfall: extra at the end


def test_fix_length_keeps_an_exact_wave():
    wave = np.arange(5.0)
    assert np.array_equal(audio.fix_length(wave, 5), wave)


def test_segment_60s_into_5s_clips_with_half_overlap_gives_23_clips():
    rate = 100  # the arithmetic is rate-independent; a low rate keeps the arrays small
    wave = np.arange(60 * rate, dtype=np.float32)
    clips = audio.segment(wave, clip_samples=5 * rate, hop_samples=int(2.5 * rate))
    assert clips.shape == (23, 5 * rate)
    assert clips[:, 0].tolist() == [k * 250 for k in range(23)]  # clip k starts at k * hop
    assert clips[-1, -1] == wave[-1]  # 22 hops of 2.5 s plus one 5 s clip end exactly at 60 s


def test_segment_drops_a_trailing_partial_clip():
    clips = audio.segment(np.ones(1099, np.float32), clip_samples=500, hop_samples=250)
    assert clips.shape == (3, 500)


def test_segment_pads_a_short_wave_to_one_clip():
    clips = audio.segment(np.ones(300, np.float32), clip_samples=500, hop_samples=250)
    assert clips.shape == (1, 500)
    assert clips.sum() == 300 and clips[0, 0] == 0 and clips[0, 100] == 1


def test_segment_returns_independent_clips():
    wave = np.arange(1000, dtype=np.float32)
    clips = audio.segment(wave, 500, 250)
    clips[0, 300] = -1  # overlapping clips must not share memory with each other or the wave
    assert clips[1, 50] == 300 and wave[300] == 300


# -- load -------------------------------------------------------------------------------------


def test_load_mixes_channels_to_mono_by_mean(tmp_path: Path):
    left, right = tone(1.0, 16000, 440), tone(1.0, 16000, 1000, 0.25)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    wave = audio.load(tmp_path / "stereo.wav", 16000)
    assert wave.dtype == np.float32 and wave.shape == (16000,)
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-6)


def test_load_resamples_8k_to_16k_with_torchaudio(tmp_path: Path):
    sf.write(tmp_path / "8k.wav", tone(1.5, 8000), 8000, subtype="FLOAT")
    wave = audio.load(tmp_path / "8k.wav", 16000)
    assert wave.shape == (24000,)
    expected = torchaudio.functional.resample(torch.from_numpy(tone(1.5, 8000)), 8000, 16000).numpy()
    np.testing.assert_allclose(wave, expected, atol=1e-6)


def test_load_decodes_flac_and_ogg(tmp_path: Path):
    for name in ("a.flac", "a.ogg"):
        sf.write(tmp_path / name, tone(0.5, 16000), 16000)
        wave = audio.load(tmp_path / name, 16000)
        assert wave.dtype == np.float32 and abs(len(wave) - 8000) < 100


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "unreadable"),
        (lambda p: p.write_text("this is not audio\n"), "unreadable"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "empty"),
        (lambda p: sf.write(p, np.zeros(16000, np.float32), 16000), "silent"),
        (
            lambda p: sf.write(p, np.where(np.arange(1600) == 7, np.nan, 0.1).astype(np.float32), 16000, subtype="FLOAT"),
            "non-finite",
        ),
    ],
    ids=["zero-bytes", "text-file", "no-samples", "all-zero", "nan"],
)
def test_load_names_the_reason_for_a_bad_file(tmp_path: Path, make, reason: str):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError) as raised:
        audio.load(path, 16000)
    assert raised.value.reason == reason
    assert raised.value.path == str(path) and str(path) in str(raised.value)
    assert isinstance(raised.value, DataError)  # the CLI reports it as a user error, not a crash


def test_load_decodes_real_mp3_files(covid19_cough_root: Path):
    for path in sorted((covid19_cough_root / "raw").glob("*.mp3"))[:3]:
        info = audio.probe(path)
        wave = audio.load(path, 16000)
        assert wave.ndim == 1 and wave.dtype == np.float32 and np.isfinite(wave).all()
        assert abs(len(wave) - info.duration_s * 16000) <= 16  # resampled from 8 or 48 kHz, mixed to mono
