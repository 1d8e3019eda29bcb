"""predict: classify audio files and folders with a registered model -> a CSV of labels and probabilities.

Reads the model (e.g. models:/synthaug-cough@champion) from the project's MLflow store (or
MLFLOW_TRACKING_URI) and the audio under PATHS. Files that cannot be used are listed, with why,
in the CSV's `error` column and on stderr; the others are classified all the same. Writes OUT:
path, label, one probability per class, clips, error.
"""

from __future__ import annotations

import argparse
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug predict` (synthaug.cli)."""
    parser.add_argument("model", help="model URI, e.g. models:/synthaug-cough@champion")
    parser.add_argument("paths", type=Path, nargs="+", help="audio files and folders")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), help="CSV to write (default: predictions.csv)")


def run(args: argparse.Namespace) -> None:
    """`synthaug predict`: main with the parsed arguments."""
    main(args.model, args.paths, args.out)
