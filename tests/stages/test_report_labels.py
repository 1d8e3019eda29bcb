"""The report names the conditional GAN by the classes it learns: one (minority only) or, with
`teacher_classes: all`, every training class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from synthaug.config import load_params
from synthaug.evaluation.formatting import UNCONDITIONAL_CGAN_LABEL, method_label
from synthaug.stages.report import generator_classes

ROOT = Path(__file__).resolve().parents[2]


def params_with_cgan(tmp_path: Path, **cgan) -> object:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train_generator"]["models"]["cgan"] = {**(raw["train_generator"]["models"].get("cgan") or {}), **cgan}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_params(path)


def test_the_cgan_is_unconditional_on_the_minority_alone_and_conditional_when_every_class_teaches_it(tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    np.savez(features / "train.npz", y=np.array([0] * 30 + [1] * 10))
    names = ["negative", "positive"]
    minority = generator_classes(params_with_cgan(tmp_path), features, names)
    assert minority == ["positive"] and method_label("cgan", len(minority)) == UNCONDITIONAL_CGAN_LABEL
    taught = generator_classes(params_with_cgan(tmp_path, teacher_classes="all"), features, names)
    assert taught == names and method_label("cgan", len(taught)) == "cgan"
