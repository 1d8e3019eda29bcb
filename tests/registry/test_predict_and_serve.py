"""`synthaug predict` on files and folders, and `synthaug serve` answering HTTP on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from synthaug import tracking
from synthaug.registry.versions import find_candidates, register_all
from synthaug.team.stack import free_port
from tests.registry.conftest import write_run_folder

NAME = "synthaug-serve-test"


@pytest.fixture(scope="module")
def champion(project) -> str:
    """A registered model with a champion, in the project's store; returns its URI."""
    import mlflow
    from mlflow import MlflowClient

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.chdir(project)
        mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
        classifiers = project / "outputs/serve-classifiers"
        write_run_folder(classifiers, "baseline", 3, val_macro_f1=0.5)
        register_all(NAME, find_candidates(classifiers, None), project / "outputs/features", log=lambda _: None)
        version = MlflowClient().search_model_versions(f"name = '{NAME}'")[0]
        MlflowClient().set_registered_model_alias(NAME, "champion", version.version)
    return f"models:/{NAME}@champion"


def audio_folder(project: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    for participant in sorted((project / "data/demo/cough").iterdir())[:3]:
        if participant.is_dir():
            shutil.copytree(participant, folder / participant.name)
    (folder / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (folder / "notes.txt").write_text("not audio: not picked up from a folder")
    return folder


@pytest.mark.slow  # the featurized tiny project and a registered champion
def test_predict_on_a_folder_with_a_corrupt_file_finishes_and_lists_it(project, champion, tmp_path, store, capsys):
    from synthaug.stages import predict

    folder = audio_folder(project, tmp_path)
    out = predict.main(champion, [folder], tmp_path / "predictions.csv", project_root=project)
    frame = pd.read_csv(out, keep_default_na=False)
    wavs = sorted(str(p) for p in folder.rglob("*.wav"))
    assert sorted(frame["path"]) == wavs  # every audio file, the text file left out
    bad = frame[frame["error"] != ""]
    assert list(bad["path"]) == [str(folder / "corrupt.wav")] and bad["error"].iloc[0].startswith("unreadable")
    good = frame[frame["error"] == ""]
    assert set(good["label"]) <= {"negative", "positive"} and len(good) == len(wavs) - 1
    probabilities = good[["p_negative", "p_positive"]].astype(float)
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-5).all()
    err = capsys.readouterr().err
    assert "1 file(s) could not be used" in err and "corrupt.wav" in err


@pytest.mark.slow  # the featurized tiny project and a registered champion
def test_predict_names_a_missing_path(project, champion, tmp_path, store):
    from synthaug.errors import DataError
    from synthaug.stages import predict

    with pytest.raises(DataError, match="no-such-folder: no such file or folder"):
        predict.main(champion, [tmp_path / "no-such-folder"], tmp_path / "p.csv", project_root=project)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.services  # an MLflow model server
def test_served_champion_answers_a_post_on_loopback(project, champion, tmp_path):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.default_tracking_uri(project)}
    server = subprocess.Popen(
        [sys.executable, "-m", "synthaug.cli", "serve", champion, "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120  # a ceiling for a busy machine; it is up in about 10 s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the model server did not come up:\n{server.stdout.read().decode() if server.poll() is not None else ''}"
                )
            time.sleep(0.5)
        folder = audio_folder(project, tmp_path)
        wav = next(p for p in sorted(folder.rglob("*.wav")) if p.name != "corrupt.wav")
        body = json.dumps({"dataframe_records": [{"path": str(wav)}, {"path": str(folder / "corrupt.wav")}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer, corrupt = json.loads(response.read())["predictions"]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the uvicorn worker it started
            server.wait(30)

    import mlflow

    mlflow.set_tracking_uri(tracking.default_tracking_uri(project))
    direct = mlflow.pyfunc.load_model(champion).predict(pd.DataFrame({"path": [str(wav)]})).iloc[0]
    assert answer["label"] == direct["label"] and answer["error"] == ""
    assert answer["p_positive"] == pytest.approx(direct["p_positive"], abs=1e-6)
    assert corrupt["label"] == "" and corrupt["error"].startswith("unreadable")
