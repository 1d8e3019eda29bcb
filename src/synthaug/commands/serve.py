"""serve: serve a registered model over HTTP (`mlflow models serve` in this environment).

Reads MODEL from the project's MLflow store (or MLFLOW_TRACKING_URI). Writes nothing: POST
/invocations with {"dataframe_records": [{"path": ...}]} or waveform rows answers the model's
predictions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model URI, e.g. models:/synthaug-cough@champion")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5001, help="port (default: 5001)")


def run(args: argparse.Namespace) -> None:
    from synthaug import tracking

    # mlflow models serve starts `uvicorn` from PATH: put this environment's bin folder first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": tracking.tracking_uri(Path.cwd())}
    mlflow_bin = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    print(
        f"serving {args.model} on http://{args.host}:{args.port}/invocations (Ctrl+C stops it)\n"
        f"  try: curl -X POST -H 'Content-Type: application/json' http://{args.host}:{args.port}/invocations "
        '-d \'{"dataframe_records": [{"path": "/abs/path/to/file.wav"}]}\'',
        flush=True,
    )
    # --env-manager local: the model runs in this environment, which has its pinned requirements.
    command = ["models", "serve", "-m", args.model, "--env-manager", "local", "--host", args.host, "--port", str(args.port)]
    os.execve(mlflow_bin, [mlflow_bin, *command], env)
