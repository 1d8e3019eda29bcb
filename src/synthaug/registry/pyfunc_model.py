"""The MLflow pyfunc model around an AudioClassifier, logged from this file (models-from-code).

MLflow runs this file when the model is loaded; `set_model` tells it which object is the model.
The synthaug package travels with the model (code_paths), and the bundle (networks, preprocessing)
is the model's artifact "bundle". Logged by synthaug.registry.packaging.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model


class AudioClassifierModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]  # mlflow.pyfunc exports it lazily
    """pyfunc face of synthaug.registry.audio_model.AudioClassifier: a table of files or waveforms
    in, a table of labels and class probabilities out."""

    def load_context(self, context) -> None:
        from synthaug.registry.audio_model import BUNDLE_ARTIFACT, AudioClassifier

        self.classifier = AudioClassifier.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.classifier.predict(model_input)


set_model(AudioClassifierModel())
