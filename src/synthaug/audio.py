"""Audio input: probe, decode, mix to mono, resample, crop/pad and segment into clips.

Decoding goes through soundfile (libsndfile: WAV, FLAC, OGG, MP3); torchaudio >= 2.9 hands I/O to
torchcodec + FFmpeg, which we do not depend on.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from synthaug.errors import AudioError


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int


def probe(path: str | Path) -> AudioInfo:
    """Read the header of an audio file; raise AudioError('unreadable') if it cannot be opened."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types (LibsndfileError, RuntimeError)
        raise AudioError(path, "unreadable", str(exc).strip()) from exc
    duration = info.frames / info.samplerate if info.samplerate else math.nan
    return AudioInfo(duration_s=float(duration), sample_rate=int(info.samplerate), channels=int(info.channels))


# Below this peak the file is treated as digital silence: log-mel of an all-zero clip is a constant
# floor that carries no information and would skew the normalization statistics.
SILENCE_PEAK = 1e-5


def load(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode an audio file to a mono float32 waveform at `sample_rate`.

    Channels are mixed to mono by their mean; other rates are resampled with torchaudio's
    band-limited sinc interpolation. Raises AudioError with reason 'unreadable' (cannot be decoded),
    'empty' (no samples), 'non-finite' (NaN or inf samples) or 'silent' (peak below SILENCE_PEAK).
    """
    try:
        data, source_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types (LibsndfileError, RuntimeError)
        raise AudioError(path, "unreadable", str(exc).strip()) from exc
    return to_model_rate(data, source_rate, sample_rate, source=path)


def to_model_rate(data: np.ndarray, source_rate: int, sample_rate: int, *, source: str | Path = "waveform") -> np.ndarray:
    """Checked mono float32 waveform at `sample_rate` from samples [n] or [n, channels] at `source_rate`.

    What `load` does after decoding, for waveforms that arrive decoded (the registered model's
    waveform input); raises AudioError naming `source` for the same reasons as `load`.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise AudioError(source, "unreadable", f"expected samples [n] or [n, channels], got shape {list(data.shape)}")
    if data.size == 0:
        raise AudioError(source, "empty", "the file holds no samples")
    if not int(source_rate) > 0:
        raise AudioError(source, "unreadable", f"sample rate must be positive, got {source_rate}")
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(wave).all():
        raise AudioError(source, "non-finite", "the file holds NaN or infinite samples")
    peak = float(np.abs(wave).max())
    if peak < SILENCE_PEAK:
        raise AudioError(source, "silent", f"peak amplitude {peak:.2g} is below {SILENCE_PEAK:g}")
    if int(source_rate) != sample_rate:
        wave = resample(wave, int(source_rate), sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample a 1-D waveform with torchaudio's Hann-windowed sinc (functional.resample's method)."""
    tensor = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    with torch.inference_mode():
        return _resampler(int(source_rate), int(target_rate))(tensor).numpy()


@functools.lru_cache(maxsize=16)
def _resampler(source_rate: int, target_rate: int) -> torchaudio.transforms.Resample:
    # The transform builds its sinc kernel once; functional.resample rebuilds it on every call,
    # which costs as much as the resampling itself for short files.
    return torchaudio.transforms.Resample(source_rate, target_rate)


def fix_length(wave: np.ndarray, n_samples: int) -> np.ndarray:
    """Centre-crop a longer waveform, or zero-pad a shorter one symmetrically, to `n_samples`.

    An odd surplus or shortfall puts the extra sample at the end.
    """
    length = len(wave)
    if length > n_samples:
        start = (length - n_samples) // 2
        return wave[start : start + n_samples]
    if length < n_samples:
        before = (n_samples - length) // 2
        return np.pad(wave, (before, n_samples - length - before))
    return wave


def segment(wave: np.ndarray, clip_samples: int, hop_samples: int) -> np.ndarray:
    """Cut a waveform into clips of `clip_samples` every `hop_samples`: an array [n_clips, clip_samples].

    A trailing partial clip is dropped (1 + (length - clip) // hop clips); a waveform shorter than
    one clip is zero-padded (as fix_length does) to a single clip.
    """
    if clip_samples <= 0 or hop_samples <= 0:
        raise ValueError(f"clip_samples and hop_samples must be positive, got {clip_samples}, {hop_samples}")
    if len(wave) <= clip_samples:
        return fix_length(wave, clip_samples)[None, :].copy()
    windows = np.lib.stride_tricks.sliding_window_view(wave, clip_samples)[::hop_samples]
    return np.ascontiguousarray(windows)
