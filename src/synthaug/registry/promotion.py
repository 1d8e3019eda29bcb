"""Metric-gated promotion: move the `champion` alias only to a version that earned it, and say why.

A version's metrics are those linked to its MLflow logged model (`synthaug register` logs them
with `model_id`); `logged_metrics` reads them. The candidate is chosen in two steps among the
versions trained on the current data version (metrics of other data versions are measured on other
splits): first the method (baseline, a generator's classifier, an ensemble) with the best *mean*
validation metric over its seeds, then that method's best seed. Taking the single best of every
method's every seed would crown the luckiest of many noisy scores (a winner's curse); a method's mean
over seeds is what retraining it would give. Only versions scored on the whole validation split
compete: the fitted ensemble is scored on the validation half its weights never saw
(`synthaug.validation_scope` = held out), a number not comparable with the others. It is compared with the current champion on the same split: by its
logged model's metric when it was trained on the same data version, otherwise (or when its model
has no such metric) by running the champion on the current validation files. The alias moves
only when the candidate is better by more than the margin; the old champion becomes `previous`.
A candidate that does not earn it gets the `challenger` alias. The decision (metric, both values,
margin, previous version, date, reason) is written as tags on the version it concerns and on the
registered model.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthaug.errors import DataError

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
DATA_VERSION_TAG = "synthaug.data_version"
METHOD_TAG = "synthaug.method"
SCOPE_TAG = "synthaug.validation_scope"  # "held out" where the validation score covers part of the split
PROMOTION_PREFIX = "synthaug.promotion."


@dataclass
class Decision:
    candidate_version: str
    candidate_value: float
    champion_version: str | None
    champion_value: float | None
    champion_value_source: str  # "logged model" | "re-evaluated on the current validation split" | "none"
    promote: bool
    reason: str
    choice: str = ""  # how the candidate was chosen: its method's mean over seeds and the runner-up's


@dataclass
class MethodChoice:
    """The method with the best mean validation metric over its seeds, and its best seed's version."""

    version: Any  # an MLflow ModelVersion (or anything with `version` and `tags`)
    method: str
    mean: float
    half_width: float  # 95 % t-interval half-width of the mean over seeds (NaN for one seed)
    seeds: int
    runner_up: str | None
    runner_up_mean: float

    def describe(self, metric: str) -> str:
        spread = f" ± {self.half_width:.4f} (95 % over {self.seeds} seeds)" if math.isfinite(self.half_width) else " (1 seed)"
        text = f"method {self.method}: mean {metric} {self.mean:.4f}{spread}, best seed version {self.version.version}"
        if self.runner_up is not None:
            text += f"; runner-up {self.runner_up} {self.runner_up_mean:.4f} ({self.mean - self.runner_up_mean:+.4f})"
        return text


def logged_model_id(version) -> str | None:
    """The logged model a version was registered from. MLflow 3.17's SQL registry store does not
    keep `model_id` on the version, but its source is the logged model's URI, models:/<model_id>."""
    if getattr(version, "model_id", None):
        return version.model_id
    source = str(getattr(version, "source", "") or "")
    rest = source.removeprefix("models:/")
    return rest if rest != source and rest and "/" not in rest else None


def logged_metrics(client, version) -> dict[str, float]:
    """{metric: value} linked to the version's logged model (the latest value of each key); empty
    for a version without one (registered from a run's artifacts, or by an older synthaug)."""
    model_id = logged_model_id(version)
    if not model_id:
        return {}
    latest: dict[str, tuple[int, int, float]] = {}
    for m in client.get_logged_model(model_id).metrics or []:
        if m.key not in latest or (m.timestamp, m.step) >= latest[m.key][:2]:
            latest[m.key] = (m.timestamp, m.step, float(m.value))
    return {key: value for key, (_, _, value) in latest.items()}


def metric_values(client, versions: list, metric: str) -> dict[str, float]:
    """{version number: its logged model's `metric`} (NaN where the model has none)."""
    return {str(v.version): logged_metrics(client, v).get(metric, math.nan) for v in versions}


def _value(values: Mapping[str, float], version) -> float:
    return float(values.get(str(version.version), math.nan))


def choose_candidate(versions: list, values: Mapping[str, float], metric: str, data_version: str) -> MethodChoice:
    """The method with the highest mean `metric` (`values`, by version number) over its versions of
    `data_version` that were scored on the whole validation split, and that method's best version
    (the earliest on ties). A version without a method tag is a method of its own."""
    from scipy import stats

    same_data = [v for v in versions if v.tags.get(DATA_VERSION_TAG) == data_version and not math.isnan(_value(values, v))]
    comparable = [v for v in same_data if v.tags.get(SCOPE_TAG, "all") == "all"]
    if not comparable:
        raise DataError(
            f"no registered version of data version {data_version} has the metric {metric} on its logged "
            "model for the whole validation split; run `synthaug register` after the pipeline (make promote does both)"
        )
    by_method: dict[str, list] = {}
    for v in comparable:
        by_method.setdefault(v.tags.get(METHOD_TAG) or f"version {v.version}", []).append(v)
    means = {method: float(np.mean([_value(values, v) for v in members])) for method, members in by_method.items()}
    ranked = sorted(means, key=lambda m: (-means[m], min(int(v.version) for v in by_method[m])))
    best = ranked[0]
    scores = [_value(values, v) for v in by_method[best]]
    n = len(scores)
    half_width = float(stats.t.ppf(0.975, n - 1) * np.std(scores, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    version = max(by_method[best], key=lambda v: (_value(values, v), -int(v.version)))
    runner_up = ranked[1] if len(ranked) > 1 else None
    return MethodChoice(version, best, means[best], half_width, n, runner_up, means[runner_up] if runner_up else math.nan)


def decide(
    chosen: MethodChoice | object,
    champion,
    values: Mapping[str, float],
    metric: str,
    margin: float,
    data_version: str,
    evaluate_champion: Callable[[object], float],
) -> Decision:
    """Whether the chosen version (a `MethodChoice`, or a version) takes the champion alias from
    `champion` (None: there is none yet); `values`: `metric` by version number (see `metric_values`).
    The candidate's own value (its seed's score) is what is compared with the champion's."""
    decision = _decide(
        chosen.version if isinstance(chosen, MethodChoice) else chosen,
        champion,
        values,
        metric,
        margin,
        data_version,
        evaluate_champion,
    )
    if isinstance(chosen, MethodChoice):
        decision.choice = chosen.describe(metric)
        decision.reason += f" ({decision.choice})"
    return decision


def _decide(candidate, champion, values, metric, margin, data_version, evaluate_champion) -> Decision:
    value = _value(values, candidate)
    # The registry hands out version numbers as int or str depending on the call: compare strings.
    candidate_version = str(candidate.version)
    champion_version = None if champion is None else str(champion.version)
    if champion is None:
        return Decision(
            candidate_version,
            value,
            None,
            None,
            "none",
            True,
            f"no champion yet; version {candidate_version} has the best {metric} ({value:.4f})",
        )
    if champion_version == candidate_version:
        return Decision(
            candidate_version,
            value,
            champion_version,
            value,
            "logged model",
            False,
            f"version {candidate_version} is already the champion and still the best ({metric} {value:.4f})",
        )
    if champion.tags.get(DATA_VERSION_TAG) == data_version and not math.isnan(_value(values, champion)):
        champion_value, source = _value(values, champion), "logged model"
    else:
        champion_value, source = float(evaluate_champion(champion)), "re-evaluated on the current validation split"
    gain = value - champion_value
    if gain > margin:
        reason = (
            f"{metric} {value:.4f} beats the champion's (version {champion_version}) {champion_value:.4f} "
            f"by {gain:+.4f} > margin {margin:g}"
        )
        return Decision(candidate_version, value, champion_version, champion_value, source, True, reason)
    reason = (
        f"{metric} {value:.4f} does not beat the champion's (version {champion_version}) {champion_value:.4f} "
        f"by more than the margin {margin:g} ({gain:+.4f})"
    )
    return Decision(candidate_version, value, champion_version, champion_value, source, False, reason)


def apply(client, name: str, decision: Decision, metric: str, margin: float, now: dt.datetime | None = None) -> None:
    """Move the aliases and write the decision's tags (see the module docstring)."""
    when = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    tags = {
        "metric": metric,
        "value": f"{decision.candidate_value:.6f}",
        "margin": f"{margin:g}",
        "date": when,
        "reason": decision.reason,
        "compared_with": decision.champion_version or "none",
        "compared_value": "none" if decision.champion_value is None else f"{decision.champion_value:.6f}",
        "compared_value_source": decision.champion_value_source,
        "choice": decision.choice or "single version",
    }
    if decision.promote:
        if decision.champion_version is not None:
            client.set_registered_model_alias(name, PREVIOUS, decision.champion_version)
            client.set_model_version_tag(name, decision.champion_version, f"{PROMOTION_PREFIX}demoted", when)
        client.set_registered_model_alias(name, CHAMPION, decision.candidate_version)
        outcome = "promoted"
    else:
        if decision.champion_version != decision.candidate_version:
            client.set_registered_model_alias(name, CHALLENGER, decision.candidate_version)
        outcome = "kept"
    for key, value in {**tags, "outcome": outcome}.items():
        client.set_model_version_tag(name, decision.candidate_version, f"{PROMOTION_PREFIX}{key}", value)
    client.set_registered_model_tag(
        name, f"{PROMOTION_PREFIX}last", f"{when}: {outcome} version {decision.candidate_version}: {decision.reason}"
    )


def current_champion(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
