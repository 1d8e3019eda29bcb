"""Which classes get generators and how many synthetic spectrograms each gets: one rule for every caller.

`train_generator.classes` takes three forms:
- `minority` (the medical protocol, for any number of classes): every class with fewer than
  (1 - `train_generator.minority_tolerance`) x the largest class's training spectrograms is a
  minority and is learned. Each grows toward the largest class by `synthesize.minority_ratio` of its
  own training size, never past it:
      n_synthetic(c) = min(round(minority_ratio x n_train(c)), n_train(largest) - n_train(c))
  On balanced data (no class that much smaller than the largest) there is no minority: an error
  names the key and the fix instead of picking a class arbitrarily.
- a list of class names (`classes: [positive]`): exactly those classes are learned; each gets
  round(minority_ratio x n_train(c)) (no cap: the list is the user's explicit choice).
- `all` (the industrial protocol): every class with training spectrograms; each gets
  `synthesize.n_per_class`, or round(ratio x n_train(c)) when a ratio is given (a tuning trial's).

Rounding is half up (2.5 -> 3, 3.5 -> 4), not Python's half to even (2.5 -> 2, 3.5 -> 4).
The train_generator, synthesize, tune and report commands all ask this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from synthaug.errors import ConfigError, DataError

Classes = Literal["minority", "all"] | Sequence[str]
# A class within this share of the largest is not a minority: the rule's own default, which
# train_generator.minority_tolerance takes.
DEFAULT_MINORITY_TOLERANCE: float = 0.1


def _sizes(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)


def learned_classes(
    y: np.ndarray, class_names: Sequence[str], classes: Classes, tolerance: float = DEFAULT_MINORITY_TOLERANCE
) -> list[int]:
    """Real class indices (ascending) the generators learn under `classes` (see the module docstring).

    Raises ConfigError naming `train_generator.classes` for balanced data in minority mode and for
    class names the data does not have; DataError for a listed class without training spectrograms.
    """
    sizes = _sizes(y, len(class_names))
    present = [c for c in range(len(class_names)) if sizes[c] > 0]
    if isinstance(classes, str) and classes == "all":
        return present
    if isinstance(classes, str) and classes == "minority":
        largest = int(sizes.max()) if len(sizes) else 0
        minority = [c for c in present if sizes[c] < (1.0 - tolerance) * largest]
        if not minority:
            per_class = ", ".join(f"{class_names[c]} {sizes[c]}" for c in present)
            raise ConfigError(
                f"train_generator.classes: minority: no class is smaller than the largest by more than "
                f"train_generator.minority_tolerance ({tolerance:.0%}); training spectrograms per class: {per_class}. "
                "On balanced data use `classes: all` (the class-conditional cgan learns every class in one model), "
                "or list the classes to grow, e.g. `classes: [" + class_names[present[0]] + "]`"
            )
        return minority
    if isinstance(classes, str):
        raise ConfigError(f"train_generator.classes: {classes!r} is not minority, all or a list of class names")
    unknown = [name for name in classes if name not in class_names]
    if unknown or not classes:
        raise ConfigError(
            f"train_generator.classes: {', '.join(map(str, unknown)) or 'an empty list'} "
            f"{'is not a class' if unknown else 'names no class'} of this data set; valid names: "
            f"{', '.join(class_names)} (or minority / all)"
        )
    listed = sorted({class_names.index(name) for name in classes})
    empty = [class_names[c] for c in listed if sizes[c] == 0]
    if empty:
        raise DataError(
            f"train_generator.classes lists {', '.join(empty)}, which has no training spectrograms; "
            "remove it from the list or check the split (prepare's data report)"
        )
    return listed


def round_half_up(value: float) -> int:
    # Python's round() rounds halves to even (round(2.5) == 2): a count would then depend on parity.
    return int(math.floor(value + 0.5))


def synthetic_counts(
    y: np.ndarray,
    class_names: Sequence[str],
    classes: Classes,
    *,
    ratio: float | None,
    n_per_class: int,
    tolerance: float = DEFAULT_MINORITY_TOLERANCE,
) -> dict[str, int]:
    """{class name: synthetic spectrograms to draw} for every learned class, in class order.

    `ratio` is `synthesize.minority_ratio` (or a tuning trial's); None draws `n_per_class` of every
    class, which `all` mode does outside tuning. Minority mode caps each count at the gap to the
    largest class. A count may be 0 (ratio 0, or a class too small for the ratio); callers decide
    whether that is an error.
    """
    sizes = _sizes(y, len(class_names))
    learned = learned_classes(y, class_names, classes, tolerance)
    if ratio is None:
        return {class_names[c]: int(n_per_class) for c in learned}
    counts = {class_names[c]: round_half_up(ratio * sizes[c]) for c in learned}
    if isinstance(classes, str) and classes == "minority":
        largest = int(sizes.max())
        counts = {name: min(n, largest - int(sizes[class_names.index(name)])) for name, n in counts.items()}
    return counts


def describe_classes(classes: Classes) -> str:
    """`classes` as params.yaml spells it, for messages and MLflow params."""
    return classes if isinstance(classes, str) else "[" + ", ".join(classes) + "]"


def configured_ratio(classes: Classes, minority_ratio: float) -> float | None:
    """The ratio the pipeline's synthesize applies: `minority_ratio`, except in all mode (n_per_class)."""
    return None if isinstance(classes, str) and classes == "all" else float(minority_ratio)
