"""Metric-gated promotion: move the `champion` alias only to a version that earned it, and say why.

A version's metrics are those linked to its MLflow logged model (`synthaug register` logs them
with `model_id`); `logged_metrics` reads them. The candidate is the version with the best
validation metric among those trained on the current data version (metrics of other data versions
are measured on other splits). It is compared with the current champion on the same split: by its
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

from synthaug.errors import DataError

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
DATA_VERSION_TAG = "synthaug.data_version"
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


def choose_candidate(versions: list, values: Mapping[str, float], metric: str, data_version: str):
    """The version with the highest `metric` (`values`, by version number) among those of
    `data_version` (the earliest on ties)."""
    same_data = [v for v in versions if v.tags.get(DATA_VERSION_TAG) == data_version and not math.isnan(_value(values, v))]
    if not same_data:
        raise DataError(
            f"no registered version of data version {data_version} has the metric {metric} on its logged "
            "model; run `synthaug register` after the pipeline (make promote does both)"
        )
    return max(same_data, key=lambda v: (_value(values, v), -int(v.version)))


def decide(
    candidate,
    champion,
    values: Mapping[str, float],
    metric: str,
    margin: float,
    data_version: str,
    evaluate_champion: Callable[[object], float],
) -> Decision:
    """Whether `candidate` takes the champion alias from `champion` (None: there is none yet);
    `values`: `metric` by version number (see `metric_values`)."""
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
