"""Metrics against hand-computed values, file-level aggregation, and JSON-ready output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthaug.evaluation.metrics import aggregate_by_file, classification_metrics, evaluate

# Binary example: predictions (argmax) are [0, 1, 0, 1, 1].
Y = [0, 0, 1, 1, 1]
P1 = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
PROBA = np.stack([1 - P1, P1], axis=1)


def test_binary_metrics_match_hand_computed_values():
    m = classification_metrics(Y, PROBA, ["healthy", "positive"])
    # class 0: TP 1, FP 1, FN 1 -> F1 1/2; class 1: TP 2, FP 1, FN 1 -> F1 2/3.
    assert m["macro_f1"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # Positive scores {0.4, 0.8, 0.9} beat negatives {0.1, 0.6} in 5 of 6 pairs.
    assert m["auroc"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["per_class"]["positive"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert m["per_class"]["healthy"]["support"] == 2
    assert m["notes"] == []


def test_threshold_on_the_positive_class_probability():
    m = classification_metrics(Y, PROBA, ["healthy", "positive"], threshold=0.35)
    # predictions [0, 1, 1, 1, 1]: class 0 F1 2/3, class 1 precision 3/4 recall 1 -> F1 6/7.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 6 / 7) / 2)
    assert m["threshold"] == 0.35
    assert m["auroc"] == pytest.approx(5 / 6)  # threshold-free


def test_multiclass_auroc_is_the_macro_mean_of_one_vs_rest():
    y = [0, 1, 2, 0]
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.35, 0.55, 0.1]])
    m = classification_metrics(y, proba, ["a", "b", "c"])
    # One-vs-rest: class a 1.0, class b 2/3 (0.5 beats 0.2 and 0.3, not 0.55), class c 1.0.
    assert m["auroc"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert m["accuracy"] == pytest.approx(3 / 4)
    # a: P 1 R 1/2 -> 2/3; b: P 1/2 R 1 -> 2/3; c: 1.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_auroc_is_nan_with_a_note_when_a_class_is_absent():
    m = classification_metrics([1, 1], PROBA[:2], ["healthy", "positive"])
    assert math.isnan(m["auroc"])
    assert "absent" in m["notes"][0]


def test_output_is_plain_json():
    result = evaluate(Y, PROBA, ["f1", "f1", "f2", "f3", "f3"], ["healthy", "positive"])
    text = json.dumps(result)
    assert json.loads(text)["clip"]["confusion_matrix"] == [[1, 1], [1, 2]]
    assert type(result["clip"]["macro_f1"]) is float and type(result["clip"]["n"]) is int


def test_aggregate_by_file_averages_clips_in_first_seen_order():
    file_id = ["b", "a", "b", "c", "a"]
    y = [1, 0, 1, 1, 0]
    p1 = np.array([0.2, 0.6, 0.4, 0.9, 0.8])
    file_proba, file_y, ids = aggregate_by_file(np.stack([1 - p1, p1], axis=1), y, file_id)
    assert ids.tolist() == ["b", "a", "c"]
    assert file_y.tolist() == [1, 0, 1]
    np.testing.assert_allclose(file_proba[:, 1], [0.3, 0.7, 0.9])
    np.testing.assert_allclose(file_proba.sum(axis=1), 1.0)


def test_aggregate_by_file_rejects_a_file_with_two_labels():
    with pytest.raises(ValueError, match="'a'"):
        aggregate_by_file(PROBA[:3], [0, 1, 0], ["a", "a", "b"])


def test_evaluate_reports_clip_and_file_levels():
    result = evaluate(Y, PROBA, ["f1", "f1", "f2", "f3", "f3"], ["healthy", "positive"])
    assert result["clip"]["n"] == 5 and result["file"]["n"] == 3
    # files: f1 label 0 mean p1 0.35 -> 0; f2 label 1 p1 0.4 -> 0; f3 label 1 p1 0.85 -> 1.
    assert result["file"]["confusion_matrix"] == [[1, 0], [1, 1]]
    assert evaluate(Y, PROBA, None, ["healthy", "positive"])["file"] is None
