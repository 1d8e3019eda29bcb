"""The audit stage's own logic, without trained models: validation groups from the manifest, and the per-class
audit of several generators beside one shared real-validation reference row, and the validation half it
scores when generators chose their snapshots on the other half."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from synthaug.config import AuditParams, Params
from synthaug.datasets.manifest import file_groups, write_manifest
from synthaug.errors import DataError
from synthaug.evaluation.audit_report import validation_half_note
from synthaug.evaluation.fidelity import REFERENCE
from synthaug.generator_snapshots import selection_data
from synthaug.spectrograms import SpectrogramSet, save_spectrogram_set
from synthaug.stages.audit import VIEWS, audit_classes, headline, reporting_rows


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
    file_ids = np.array(["p1/a.wav", "p1/a.wav", "p1/b.wav", "p2/a.wav"])
    assert file_groups(file_ids, tmp_path / "manifest.csv").tolist() == ["p1", "p1", "p1", "p2"]
    assert file_groups(file_ids, None).tolist() == file_ids.tolist()  # without a manifest: one group per file
    # A file the manifest does not list is stale data, never a group of its own (its participant could then
    # sit on both sides of a split).
    with pytest.raises(DataError, match=r"manifest.csv: 1 file\(s\) not listed, e.g. 'elsewhere.wav'.*re-run featurize"):
        file_groups(np.append(file_ids, "elsewhere.wav"), tmp_path / "manifest.csv")


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
    # Worker processes share the (class, view) audits and the permutations without changing a number.
    one_worker = audit_classes(
        synthetic,
        synthetic_y,
        real,
        train_y,
        val_y,
        val_groups,
        ["negative", "positive"],
        AuditParams(repeats=1, permutations=9, workers=1),
    )
    assert json.dumps(one_worker, sort_keys=True, default=str) == json.dumps(
        (results, reference, permutation), sort_keys=True, default=str
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


def test_when_generators_choose_snapshots_the_audit_scores_only_the_other_half(tmp_path):
    groups = np.repeat([f"p{i}" for i in range(15)], 2)
    val = SpectrogramSet(
        x=np.zeros((len(groups), 1, 2, 2), dtype=np.float32),
        y=np.tile([0, 1], 15),
        file_id=np.array([f"{g}/{i}.wav" for i, g in enumerate(groups)]),
        class_names=["negative", "positive"],
    )
    save_spectrogram_set(tmp_path / "val.npz", val)
    manifest = pd.DataFrame(
        {
            "path": val.file_id,
            "label": ["x"] * len(groups),
            "group": groups,
            "split": ["val"] * len(groups),
            "source": ["demo"] * len(groups),
            "duration_s": [3.0] * len(groups),
            "sample_rate": [16000] * len(groups),
        }
    )
    write_manifest(manifest, tmp_path / "manifest.csv")
    dataset = {"name": "audit-test", "adapter": "demo", "root": "data"}
    choosing = Params.model_validate({"dataset": dataset, "train_generator": {"fidelity_snapshots": 4}, "audit": {"seed": 3}})
    chosen_on = selection_data(tmp_path, val, tmp_path / "manifest.csv", seed=choosing.audit.seed).in_selection
    reported = reporting_rows(file_groups(val.file_id, tmp_path / "manifest.csv"), choosing)
    assert not (chosen_on & reported).any() and (chosen_on | reported).all()  # choosing and reporting never meet
    assert not set(groups[chosen_on]) & set(groups[reported])  # nor does a participant
    assert reporting_rows(groups, Params.model_validate({"dataset": dataset})).all()  # the last step served: all of validation

    note = validation_half_note({"vae": {"validation": {"half": "reporting", "files": 14, "groups": 7}}})
    assert "other half only (14 files of 7 groups)" in note
    assert validation_half_note({"vae": {"validation": {"half": "all", "files": 30, "groups": 15}}}) == ""
