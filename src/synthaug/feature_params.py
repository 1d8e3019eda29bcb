"""The log-mel parameters (params `featurize`): one validated type that every spectrogram set stores.

`LogMelParams` holds the keys that shape a spectrogram (sample rate, STFT, mels, duration, clipping);
`FeaturizeParams` adds how featurize treats bad files and its workers. Settings that would make the
spectrograms meaningless (fewer frames than a sound's shape needs, a frame step that merges a
cough's phases) are refused with the key to change and a proposed value.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from synthaug.config_base import Section


class LogMelParams(Section):
    """The keys of `featurize` that shape a spectrogram; stored with every spectrogram set (feature_params).

    The defaults are the medical protocol's (16 kHz, 3 s, 2048/512, Hann, 128 mels 0-8 kHz).
    mode 'crop' centre-crops or zero-pads each file to `duration_s` (one spectrogram per file);
    mode 'clips' cuts it into `duration_s` clips overlapping by `clip_overlap` (several per file).
    synthaug.features computes spectrograms from exactly these values.
    """

    sample_rate: int = Field(16000, gt=0)
    n_fft: int = Field(2048, gt=0)  # STFT window length in samples
    hop_length: int = Field(512, gt=0)
    window: Literal["hann"] = "hann"  # the STFT window
    n_mels: int = Field(128, gt=0)
    f_min: float = Field(0.0, ge=0)  # lowest mel filter frequency in Hz
    f_max: float = Field(8000.0, gt=0)  # highest mel filter frequency in Hz (at most half the sample rate)
    mode: Literal["crop", "clips"] = "crop"
    duration_s: float = Field(3.0, gt=0)
    clip_overlap: float = Field(0.5, ge=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _drop_null_win_length(cls, values: Any) -> Any:
        # Spectrogram sets and registered models written by earlier versions store `win_length: null`
        # (the window is always n_fft long); they must still load.
        if isinstance(values, dict) and "win_length" in values and values["win_length"] is None:
            values = {k: v for k, v in values.items() if k != "win_length"}
        return values

    @model_validator(mode="after")
    def _band_fits(self) -> LogMelParams:
        if self.f_max > self.sample_rate / 2:
            raise ValueError(f"f_max {self.f_max:g} is above the Nyquist frequency {self.sample_rate / 2:g}")
        if self.f_min >= self.f_max:
            raise ValueError(f"f_min {self.f_min:g} must be below f_max {self.f_max:g}")
        if self.hop_length >= self.n_fft:
            # Frames must overlap for the inverse STFT of the audio previews (Griffin-Lim) to exist.
            raise ValueError(
                f"hop_length {self.hop_length} must be below n_fft {self.n_fft} (e.g. hop_length: {self.n_fft // 2})"
            )
        if self.clip_samples < self.n_fft:
            raise ValueError(
                f"duration_s {self.duration_s:g} gives {self.clip_samples} samples, fewer than one "
                f"FFT window (n_fft {self.n_fft}); use a longer duration_s or a smaller n_fft"
            )
        return self

    @property
    def clip_samples(self) -> int:
        return int(round(self.duration_s * self.sample_rate))

    def resolution_warnings(self) -> list[str]:
        """What makes these spectrograms too coarse to learn from, naming the keys to change (empty: fine).

        A clip of fewer than MIN_FRAMES frames, or a frame step longer than MAX_FRAME_SECONDS, blurs a
        cough or a click into one or two columns; typically n_fft and hop_length were left at their
        16 kHz values after featurize.sample_rate was lowered.
        """
        warnings = []
        frame_s = self.hop_length / self.sample_rate
        if self.n_frames < MIN_FRAMES:
            warnings.append(
                f"a {self.duration_s:g} s clip gives only {self.n_frames} frames (fewer than {MIN_FRAMES}); lower "
                f"featurize.hop_length (now {self.hop_length}) or lengthen featurize.duration_s"
            )
        if frame_s > MAX_FRAME_SECONDS:
            warnings.append(
                f"each frame advances {frame_s * 1000:.0f} ms (featurize.hop_length {self.hop_length} at "
                f"featurize.sample_rate {self.sample_rate}), more than {MAX_FRAME_SECONDS * 1000:.0f} ms; scale "
                f"featurize.hop_length and featurize.n_fft with the sample rate, e.g. "
                f"{scaled_stft(self.n_fft, self.hop_length, TYPICAL_FRAME_SECONDS * self.sample_rate / self.hop_length)}"
            )
        return warnings

    @property
    def hop_samples(self) -> int:
        """Distance between clip starts in 'clips' mode."""
        return max(1, int(round(self.clip_samples * (1.0 - self.clip_overlap))))

    @property
    def n_frames(self) -> int:
        """Frames per spectrogram: centred STFT gives 1 + n_samples // hop_length."""
        return 1 + self.clip_samples // self.hop_length


MIN_FRAMES = 32  # fewer frames per clip: too coarse in time to learn a sound's shape


MAX_FRAME_SECONDS = 0.1  # a longer frame step merges a cough's phases into one column


TYPICAL_FRAME_SECONDS = 0.032  # the medical protocol's frame step (hop 512 at 16 kHz), proposed instead


def scaled_stft(n_fft: int, hop_length: int, factor: float) -> str:
    """'n_fft: 512, hop_length: 128': the STFT sizes scaled by `factor` (e.g. new rate / old rate, which keeps
    the time resolution in seconds), n_fft a power of two and the hop keeping its share of the window."""
    new_fft = 2 ** max(4, round(math.log2(max(16.0, n_fft * factor))))
    new_hop = max(1, round(new_fft * hop_length / n_fft))
    return f"n_fft: {new_fft}, hop_length: {new_hop}"


class FeaturizeParams(LogMelParams):
    """Log-mel parameters (the medical protocol's by default) and how to treat bad files."""

    on_bad_file: Literal["error", "skip"] = "error"
    workers: int = Field(2, ge=1)

    def log_mel(self) -> LogMelParams:
        """The spectrogram-shaping keys alone, as synthaug.features takes them and spectrogram sets store them."""
        return LogMelParams.model_validate(self.model_dump(include=set(LogMelParams.model_fields)))
