"""Which classes get generators and how many synthetic spectrograms each: the one rule of synthesize and tune."""

from __future__ import annotations

import numpy as np
import pytest

from synthaug.class_plan import configured_ratio, learned_classes, synthetic_counts
from synthaug.errors import ConfigError, DataError

TEN = [str(d) for d in range(10)]


def labels(*sizes: int) -> np.ndarray:
    return np.concatenate([np.full(n, c) for c, n in enumerate(sizes)]).astype(np.int64)


def test_minority_on_ten_balanced_classes_stops_with_the_fix_instead_of_growing_class_0():
    y = labels(*[30] * 9, 28)  # within the 10 % tolerance of the largest: balanced
    with pytest.raises(ConfigError) as error:
        learned_classes(y, TEN, "minority", 0.1)
    message = str(error.value)
    assert "train_generator.classes" in message and "classes: all" in message and "cgan" in message
    assert "train_generator.minority_tolerance" in message
    with pytest.raises(ConfigError):
        synthetic_counts(y, TEN, "minority", ratio=0.5, n_per_class=10)


def test_every_class_clearly_smaller_than_the_largest_is_a_minority():
    y = labels(100, 95, 89, 40, 0)  # class 4 has no training data; 95 is within 10 %, 89 is not
    names = ["a", "b", "c", "d", "e"]
    assert learned_classes(y, names, "minority", 0.1) == [2, 3]
    assert learned_classes(y, names, "minority", 0.0) == [1, 2, 3]  # any class smaller than the largest
    assert learned_classes(y, names, "all") == [0, 1, 2, 3]


def test_minority_classes_grow_by_the_ratio_but_never_past_the_largest():
    y = labels(100, 89, 40, 5)
    names = ["a", "b", "c", "d"]
    # round(0.5 x 89) = 45 would overtake 100: capped at the gap 11; 0.5 x 5 = 2.5 rounds half up to 3.
    assert synthetic_counts(y, names, "minority", ratio=0.5, n_per_class=7) == {"b": 11, "c": 20, "d": 3}
    assert synthetic_counts(y, names, "minority", ratio=0.0, n_per_class=7) == {"b": 0, "c": 0, "d": 0}


def test_the_medical_binary_case_is_unchanged():
    y = labels(250, 74)
    assert learned_classes(y, ["negative", "positive"], "minority") == [1]
    assert synthetic_counts(y, ["negative", "positive"], "minority", ratio=0.5, n_per_class=500) == {"positive": 37}


def test_listed_classes_are_learned_and_grow_by_the_ratio_uncapped():
    y = labels(30, 30, 30)
    names = ["cough", "speech", "silence"]
    assert learned_classes(y, names, ["silence", "cough"]) == [0, 2]
    assert synthetic_counts(y, names, ["cough"], ratio=2.0, n_per_class=1) == {"cough": 60}
    with pytest.raises(ConfigError, match=r"train_generator.classes: sneeze is not a class.*valid names: cough, speech, silence"):
        learned_classes(y, names, ["sneeze"])
    with pytest.raises(DataError, match="no training spectrograms"):
        learned_classes(labels(30, 0, 30), names, ["speech"])


def test_all_mode_draws_n_per_class_unless_a_ratio_is_given():
    y = labels(46, 10)
    names = ["negative", "positive"]
    assert configured_ratio("all", 0.5) is None and configured_ratio("minority", 0.5) == 0.5
    assert configured_ratio(["positive"], 0.5) == 0.5
    assert synthetic_counts(y, names, "all", ratio=None, n_per_class=16) == {"negative": 16, "positive": 16}
    assert synthetic_counts(y, names, "all", ratio=0.5, n_per_class=16) == {"negative": 23, "positive": 5}


def test_synthesize_and_tuning_draw_the_same_counts(monkeypatch):
    """The synthesize stage and a tuning trial ask the one rule, with the same rounding."""
    from synthaug.stages.synthesize import counts_per_class

    y = labels(100, 89, 40, 5)
    names = ["a", "b", "c", "d"]
    stage = counts_per_class(y, names, names, "minority", 0.5, 500, 0.1)
    assert stage == synthetic_counts(y, names, "minority", ratio=0.5, n_per_class=500) == {"b": 11, "c": 20, "d": 3}
    with pytest.raises(DataError, match="re-run train_generator"):
        counts_per_class(y, names, ["d"], "minority", 0.5, 500, 0.1)  # a generator trained for class d alone
