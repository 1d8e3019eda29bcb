"""Log an AudioClassifier bundle as an MLflow pyfunc model: code, artifacts, signature, example, requirements."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from synthaug.registry.audio_model import BUNDLE_ARTIFACT, probability_column

MODEL_NAME_IN_RUN = "audio_model"  # the run's other logged model, "model", maps spectrograms to probabilities
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/synthaug: travels with the model (code_paths)
# What loading and running the model imports; pinned to the versions it was logged with, which also
# spares MLflow seconds of requirement inference per model.
REQUIREMENTS = (
    "mlflow",
    "torch",
    "torchaudio",
    "soundfile",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "pydantic",
    "pyyaml",
    "tqdm",
)
EXAMPLE_SECONDS = 0.5


def pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name).split('+')[0]}" for name in REQUIREMENTS]


def signature(class_names: list[str]):
    """Input: `path`, or `waveform` with `sample_rate` (all optional columns, one of the two per row);
    output: label, one probability per class, clip count and error."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    inputs = Schema(
        [
            ColSpec(DataType.string, "path", required=False),
            ColSpec(Array(DataType.double), "waveform", required=False),
            ColSpec(DataType.long, "sample_rate", required=False),
        ]
    )
    outputs = Schema(
        [
            ColSpec(DataType.string, "label"),
            *(ColSpec(DataType.double, probability_column(name)) for name in class_names),
            ColSpec(DataType.long, "n_clips"),
            ColSpec(DataType.string, "error"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(sample_rate: int) -> pd.DataFrame:
    """Half a second of a 440 Hz tone as a waveform row: a file path would not exist where the model goes."""
    t = np.arange(int(EXAMPLE_SECONDS * sample_rate)) / sample_rate
    wave = (0.1 * np.sin(2 * np.pi * 440.0 * t)).round(4)
    return pd.DataFrame({"waveform": [wave.tolist()], "sample_rate": [int(sample_rate)]})


def log_audio_model(bundle_dir: Path, class_names: list[str], sample_rate: int):
    """Log the bundle as a pyfunc model named MODEL_NAME_IN_RUN in the active run; return its ModelInfo."""
    import mlflow.pyfunc

    return mlflow.pyfunc.log_model(
        name=MODEL_NAME_IN_RUN,
        python_model=str(PYFUNC_CODE),
        artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
        code_paths=[str(PACKAGE_DIR)],
        signature=signature(class_names),
        input_example=input_example(sample_rate),
        pip_requirements=pip_requirements(),
    )
