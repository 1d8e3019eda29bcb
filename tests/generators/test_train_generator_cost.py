"""The train_generator stage says up front what several per-class models will cost."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import yaml

from synthaug.errors import ConfigError
from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set

SHAPE = (1, 16, 12)


def write_project(root, sizes: list[int], classes) -> None:
    rng = np.random.default_rng(0)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)]).astype(np.int64)
    train = SpectrogramSet(
        x=rng.standard_normal((len(y), *SHAPE)).astype(np.float32),
        y=y,
        file_id=np.array([f"f{i}" for i in range(len(y))]),
        class_names=[f"c{c}" for c in range(len(sizes))],
    )
    (root / "features").mkdir()
    save_spectrogram_set(root / "features" / "train.npz", train)
    params = {
        "dataset": {"name": "cost-test", "adapter": "demo", "root": "data"},
        "train_generator": {
            "classes": classes,
            "log_every": 2,
            "checkpoint_every": 100,
            "grid_every": 100,
            "models": {"vae": {"steps": 4, "batch_size": 4, "width": 0.0625, "latent_dim": 4}},
        },
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    with contextlib.chdir(tmp_path):
        yield tmp_path


def run(root):
    from synthaug.stages import train_generator

    train_generator.main("vae", root / "params.yaml", root / "features", root / "out", root / "metrics.json", project_root=root)


@pytest.mark.slow  # the stage on a featurized project
def test_several_per_class_models_are_counted_and_timed_before_they_train(project, capsys):
    write_project(project, [8, 8, 8], "all")
    run(project)
    said = capsys.readouterr()
    text = said.out + said.err
    assert "train_generator vae: 3 models to train, one per class (train_generator.classes: all)" in text
    assert "`train_generator.models.vae.class_conditional: true` trains one model that learns every class" in text
    # The estimate comes once, after the first model's first logged steps, before the second model starts.
    estimate = text.index("about ")
    assert text.index("model 1 of 3") < estimate < text.index("model 2 of 3")
    assert "of training for the 3 models (10 steps left at" in text  # 4 - 2 of the first, 4 + 4 of the others
    assert text.index("model 2 of 3") < text.index("the second model took") < text.index("model 3 of 3")
    assert "for the other 1" in text


def test_one_model_needs_no_announcement():
    from synthaug.generators.per_class import plan_models
    from synthaug.stages.train_generator import plan_message

    y = np.array([0] * 8 + [1] * 4)
    assert plan_message("vae", plan_models("vae", y, ["a", "b"], "minority"), "minority") is None
    assert plan_message("cgan", plan_models("cgan", y, ["a", "b"], "all"), "all") is None  # one conditional model
    assert "2 models to train" in plan_message("vae", plan_models("vae", y, ["a", "b"], "all"), "all")


def test_minority_on_balanced_classes_stops_before_any_training(project):
    write_project(project, [8, 8, 8], "minority")
    with pytest.raises(ConfigError, match="use `classes: all`"):
        run(project)
    assert not (project / "out").exists()
