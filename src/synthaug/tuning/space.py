"""Search spaces: tune.space validated per generator, suggested per trial, stored in the study."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import optuna

from synthaug.config import SearchDimension, TuneParams
from synthaug.errors import ConfigError
from synthaug.tuning.attrs import CLASSIFIER_PREFIX, CURATION_PREFIX, RATIO, SPACE_ATTR


def search_space(tune: TuneParams, generator: str, generator_keys: Sequence[str]) -> dict[str, SearchDimension]:
    """tune.space.shared merged with tune.space.<generator> (the generator's ranges win), validated.

    `generator_keys` are the hyperparameters the generator accepts: `shared` keys were checked against
    every generator's when params loaded, here against the tuned one's. Raises ConfigError naming the
    key for anything a trial could not use.
    """
    merged: dict[str, SearchDimension] = {}
    for section in ("shared", generator):
        for key, dimension in tune.space.get(section, {}).items():
            where = f"tune.space.{section}.{key}"
            if key.startswith((CURATION_PREFIX, CLASSIFIER_PREFIX)):
                merged[key] = dimension  # the bound or classifier key was checked when params loaded (TuneParams)
                continue
            if key != RATIO and key not in generator_keys:
                raise ConfigError(
                    f"{where}: not a hyperparameter of generator {generator}; valid: "
                    f"{RATIO}, {', '.join(sorted(generator_keys))}, {CURATION_PREFIX}<bound>, {CLASSIFIER_PREFIX}<key>"
                )
            if dimension.log and dimension.step is not None:
                raise ConfigError(f"{where}: a range cannot have both log and step (Optuna samples one or the other)")
            if key == RATIO and dimension.choices is None and dimension.low is not None and dimension.low < 0:
                raise ConfigError(f"{where}: the synthetic share cannot be negative, got low={dimension.low}")
            merged[key] = dimension
    return merged


def suggest(trial: optuna.trial.BaseTrial, space: Mapping[str, SearchDimension]) -> dict[str, Any]:
    """One value per dimension, under the dimension's own name.

    {choices} -> suggest_categorical; int low and high (and int or no step) -> suggest_int;
    otherwise suggest_float (with log or step).
    """
    values: dict[str, Any] = {}
    for name, dim in space.items():
        if dim.choices is not None:
            values[name] = trial.suggest_categorical(name, list(dim.choices))
            continue
        low, high = dim.low, dim.high
        if low is None or high is None:  # SearchDimension refuses a range without both bounds
            raise ConfigError(f"tune.space.{name}: a range needs low and high")
        if _is_int(low) and _is_int(high) and (dim.step is None or _is_int(dim.step)):
            values[name] = trial.suggest_int(name, low, high, step=dim.step or 1, log=dim.log)
        else:
            step = None if dim.step is None else float(dim.step)
            values[name] = trial.suggest_float(name, float(low), float(high), step=step, log=dim.log)
    return values


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def space_to_json(space: Mapping[str, SearchDimension]) -> dict[str, dict[str, Any]]:
    return {name: dim.model_dump(exclude_none=True) for name, dim in space.items()}


def space_from_json(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, SearchDimension]:
    return {name: SearchDimension.model_validate(dict(dim)) for name, dim in raw.items()}


def study_space(study: optuna.Study) -> dict[str, SearchDimension]:
    """The search space a study was created with (kept in its user attributes, so every worker reads one)."""
    return space_from_json(study.user_attrs.get(SPACE_ATTR, {}))
