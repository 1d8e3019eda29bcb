"""The audit stage's own logic, without trained models: validation groups from the manifest, and the per-class
audit of several generators beside one shared real-validation reference row."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from synthaug.config import AuditParams
from synthaug.datasets.manifest import write_manifest
from synthaug.evaluation.fidelity import REFERENCE
from synthaug.stages.audit import VIEWS, audit_classes, file_groups, headline


def test_validation_files_get_their_participant_from_the_manifest(tmp_path):
    manifest = pd.DataFrame(
        {
            "path": ["p1/a.wav", "p1/b.wav", "p2/a.wav", "p3/a.wav"],
            "label": ["positive"] * 4,
            "group": ["p1", "p1", "p2", "p3"],
            "split": ["val", "val", "val", "train"],
            "source": ["demo"] * 4,
            "duration_s": [3.0] * 4,
            "sample_rate": [16000] * 4,
        }
    )
    write_manifest(manifest, tmp_path / "manifest.csv")
    file_ids = np.array(["p1/a.wav", "p1/a.wav", "p1/b.wav", "p2/a.wav", "elsewhere.wav"])
    assert file_groups(file_ids, tmp_path / "manifest.csv").tolist() == ["p1", "p1", "p1", "p2", "elsewhere.wav"]
    assert file_groups(file_ids, None).tolist() == file_ids.tolist()  # without a manifest: one group per file


def test_every_synthesized_class_is_audited_in_both_views_beside_one_reference_row():
    rng = np.random.default_rng(0)

    def embeddings(n: int, shift: float) -> dict[str, np.ndarray]:
        return {view: rng.normal(shift, 1.0, size=(n, 6)) for view in VIEWS}

    train_y, val_y = np.repeat([0, 1], 40), np.repeat([0, 1], 12)
    real = {
        "train": {view: np.concatenate([embeddings(40, 0.0)[view], embeddings(40, 5.0)[view]]) for view in VIEWS},
        "val": {view: np.concatenate([embeddings(12, 0.0)[view], embeddings(12, 5.0)[view]]) for view in VIEWS},
    }
    val_groups = np.repeat(np.arange(12), 2)
    # "vae" made only the minority class 1; "cgan" made both.
    synthetic = {
        "vae": embeddings(30, 5.0),
        "cgan": {view: np.concatenate([embeddings(20, 0.0)[view], embeddings(20, 5.0)[view]]) for view in VIEWS},
    }
    synthetic_y = {"vae": np.ones(30, dtype=int), "cgan": np.repeat([0, 1], 20)}
    results, reference, permutation = audit_classes(
        synthetic, synthetic_y, real, train_y, val_y, val_groups, ["negative", "positive"], AuditParams(repeats=1, permutations=9)
    )
    assert set(results["vae"]) == {"positive"} and set(results["cgan"]) == {"negative", "positive"}
    assert set(reference) == {"negative", "positive"}
    for by_class in (*results.values(), reference):
        for by_view in by_class.values():
            assert set(by_view) == set(VIEWS)
    assert reference["positive"]["classifier"]["n"] == results["vae"]["positive"]["classifier"]["n"] == 6

    # Every set and the reference get a group permutation test of their strongest AUROC, per class.
    assert set(permutation["positive"]) == {REFERENCE, "vae", "cgan"} and set(permutation["negative"]) == {REFERENCE, "cgan"}
    assert permutation["positive"]["vae"]["permutations"] == 9 and 0 < permutation["positive"]["vae"]["p_value"] <= 1

    tests_of = lambda name: {cls: by_set.get(name, {}) for cls, by_set in permutation.items()}  # noqa: E731
    metrics = {name: headline(by_class, tests_of(name)) for name, by_class in results.items()} | {
        REFERENCE: headline(reference, tests_of(REFERENCE))
    }
    json.dumps(metrics, allow_nan=True)
    assert metrics["vae"]["positive"]["two_sample_p_value"] == permutation["positive"]["vae"]["p_value"]
    strongest = metrics["vae"]["positive"]["two_sample_auroc_strongest"]
    per_view = [metrics["vae"]["positive"][view]["two_sample_auroc_val"] for view in VIEWS]
    assert not math.isnan(strongest) and strongest == max(per_view)
