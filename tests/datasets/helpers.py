"""Tiny audio files and manifests for the dataset tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf


def tone(seconds: float, sample_rate: int) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return 0.1 * np.sin(2 * np.pi * 440 * t)


def wav_bytes(seconds: float = 0.2, sample_rate: int = 8000) -> bytes:
    """A short sine tone as WAV bytes, to write many identical files quickly."""
    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds, sample_rate), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_audio(path: Path, seconds: float = 0.2, sample_rate: int = 8000) -> Path:
    """A short tone in the format the file extension names (wav, flac, ogg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, sample_rate), sample_rate)
    return path


def synthetic_manifest(
    n_groups: int, labels: dict[str, float], files_per_group=(1, 3), seed: int = 0, split: str = ""
) -> pd.DataFrame:
    """A manifest of n_groups groups, each with one label drawn with the given probabilities and
    a random number of files (no audio behind it: splits only read the table)."""
    rng = np.random.default_rng(seed)
    names = list(labels)
    p = np.array(list(labels.values()))
    rows = []
    for g in range(n_groups):
        label = names[rng.choice(len(names), p=p / p.sum())]
        for f in range(rng.integers(files_per_group[0], files_per_group[1] + 1)):
            rows.append(
                {
                    "path": f"g{g:04d}/f{f}.wav",
                    "label": label,
                    "group": f"g{g:04d}",
                    "split": split,
                    "source": "test",
                    "duration_s": 1.0,
                    "sample_rate": 16000,
                }
            )
    return pd.DataFrame(rows)
