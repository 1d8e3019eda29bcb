"""predict: classify audio files and folders with a registered model -> a CSV of labels and probabilities.

Reads the model (e.g. models:/synthaug-cough@champion) from the project's MLflow store (or
MLFLOW_TRACKING_URI) and the audio under PATHS. Files that cannot be used are listed, with why,
in the CSV's `error` column and on stderr; the others are classified all the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

from synthaug import tracking
from synthaug.registry.prediction import expand_paths, predict_files, write_predictions


def main(model_uri: str, paths: list[Path], out: Path, project_root: Path = Path(".")) -> Path:
    import mlflow
    import mlflow.pyfunc

    files = expand_paths(paths)
    mlflow.set_tracking_uri(tracking.tracking_uri(project_root))
    model = mlflow.pyfunc.load_model(model_uri)
    frame = predict_files(model, files)
    write_predictions(frame, out)
    failed = frame[frame["error"] != ""]
    print(f"predict: {len(frame) - len(failed)} of {len(frame)} file(s) classified -> {out}")
    if len(failed):
        print(f"predict: {len(failed)} file(s) could not be used:", file=sys.stderr)
        for path, error in zip(failed["path"], failed["error"]):
            print(f"  {path}: {error}", file=sys.stderr)
    return out
