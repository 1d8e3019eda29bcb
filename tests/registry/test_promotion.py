"""Promotion moves `champion` only to a better version, keeps the old one as `previous`, and says why;
it compares the metrics linked to each version's logged model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from synthaug import tracking
from synthaug.errors import DataError
from synthaug.registry import promotion
from synthaug.registry.versions import find_candidates, register_all
from tests.registry.conftest import write_run_folder

METRIC = "val_file_macro_f1"


def version(number: int, data_version: str = "d1") -> SimpleNamespace:
    return SimpleNamespace(version=str(number), tags={promotion.DATA_VERSION_TAG: data_version})


def values(**by_version: float) -> dict[str, float]:
    """{version number: metric value}, as promotion.metric_values reads them: values(v3=0.7)."""
    return {name.removeprefix("v"): value for name, value in by_version.items()}


def never(_version) -> float:
    raise AssertionError("the champion was evaluated although its logged model's metric applies")


def test_candidate_is_the_best_version_of_the_current_data_version():
    # Versions without a method tag are methods of their own (one seed each).
    versions = [version(1, "d0"), version(2), version(3), version(4), version(5)]
    scores = values(v1=0.9, v2=0.6, v3=0.7, v4=0.7)  # version 5's model has no such metric
    chosen = promotion.choose_candidate(versions, scores, METRIC, "d1")
    assert chosen.version.version == "3"  # 0.9 is another data version; ties: earliest
    assert chosen.runner_up == "version 4" and chosen.seeds == 1


def test_no_version_of_the_current_data_is_a_clear_error():
    with pytest.raises(DataError, match="synthaug register"):
        promotion.choose_candidate([version(1, "d0"), version(2)], values(v1=0.9), METRIC, "d1")


def test_first_promotion_needs_no_champion():
    decision = promotion.decide(version(2), None, values(v2=0.6), METRIC, 0.0, "d1", never)
    assert decision.promote and "no champion yet" in decision.reason


@pytest.mark.parametrize(
    ("candidate", "margin", "promote"),
    [(0.71, 0.0, True), (0.70, 0.0, False), (0.65, 0.0, False), (0.74, 0.05, False), (0.76, 0.05, True)],
)
def test_candidate_must_beat_the_champion_by_more_than_the_margin(candidate, margin, promote):
    decision = promotion.decide(version(3), version(2), values(v3=candidate, v2=0.70), METRIC, margin, "d1", never)
    assert decision.promote is promote
    assert decision.champion_value == pytest.approx(0.70) and decision.champion_value_source == "logged model"


@pytest.mark.parametrize(
    ("champion", "scores"),
    [
        (version(1, "d0"), values(v3=0.75, v1=0.99)),  # other data
        (version(1), values(v3=0.75)),
    ],
)  # its model has no such metric
def test_champion_without_a_comparable_metric_is_re_evaluated_on_the_current_split(champion, scores):
    evaluated = []

    def evaluate(champion) -> float:
        evaluated.append(champion.version)
        return 0.8

    decision = promotion.decide(version(3), champion, scores, METRIC, 0.0, "d1", evaluate)
    assert evaluated == ["1"] and not decision.promote and decision.champion_value == 0.8
    assert decision.champion_value_source.startswith("re-evaluated")


@pytest.mark.slow  # the featurized tiny project and trained classifiers
def test_registry_promotion_moves_aliases_only_for_a_better_model_and_records_why(project, store):
    """Real registry (the project's SQLite store): register, promote, then a worse and a better model arrive."""
    from mlflow import MlflowClient

    from synthaug.stages import promote

    name = "synthaug-demo-cough"
    features = project / "outputs/features"
    classifiers = project / "outputs/promotion-classifiers"
    data_version = tracking.data_version(project)

    write_run_folder(classifiers, "baseline", 0, val_macro_f1=0.60)
    write_run_folder(classifiers, "vae", 0, val_macro_f1=0.70)
    register_all(name, find_candidates(classifiers, None), features, log=lambda _: None)
    client = MlflowClient()
    versions = {v.tags["synthaug.method"]: v for v in client.search_model_versions(f"name = '{name}'")}
    assert set(versions) == {"baseline", "vae"}
    vae = versions["vae"]
    # The metrics live on the version's logged model, each with the data set it was measured on.
    model = client.get_logged_model(promotion.logged_model_id(vae))
    linked = {m.key: m for m in model.metrics}
    assert linked[METRIC].value == pytest.approx(0.70) and linked["test_file_macro_f1"].value == pytest.approx(0.70)
    assert linked[METRIC].dataset_name == "demo-cough-features-val"
    assert linked[METRIC].dataset_digest == tracking.dvc_md5(features / "val.npz")
    assert linked["test_file_macro_f1"].dataset_name is None  # the tiny project has no test.npz
    assert promotion.logged_metrics(client, vae)[METRIC] == pytest.approx(0.70)
    assert not any(key.startswith(("val_", "test_")) for key in vae.tags)
    assert vae.tags["synthaug.data_version"] == data_version and vae.tags["synthaug.source_run_id"] == vae.run_id

    dry = promote.main(project / "params.yaml", project / "outputs/prepare/manifest.csv", dry_run=True, project_root=project)
    assert dry.promote and promotion.current_champion(client, name) is None  # a dry run changes nothing

    first = promote.main(project / "params.yaml", project / "outputs/prepare/manifest.csv", project_root=project)
    champion = client.get_model_version_by_alias(name, "champion")
    assert first.promote and str(champion.version) == str(vae.version)
    assert champion.tags["synthaug.promotion.outcome"] == "promoted"
    assert champion.tags["synthaug.promotion.metric"] == METRIC
    assert float(champion.tags["synthaug.promotion.value"]) == pytest.approx(0.70)
    assert champion.tags["synthaug.promotion.compared_with"] == "none" and champion.tags["synthaug.promotion.date"]

    # Registering again adds only new runs; a worse one leaves the champion in place.
    write_run_folder(classifiers, "ddpm", 0, val_macro_f1=0.65)
    register_all(name, find_candidates(classifiers, None), features, log=lambda _: None)
    assert len(client.search_model_versions(f"name = '{name}'")) == 3
    kept = promote.main(project / "params.yaml", project / "outputs/prepare/manifest.csv", project_root=project)
    assert not kept.promote and str(client.get_model_version_by_alias(name, "champion").version) == str(vae.version)

    # A better one takes the alias; the old champion becomes `previous`, and the tags say why.
    write_run_folder(classifiers, "cgan", 0, val_macro_f1=0.72)
    register_all(name, find_candidates(classifiers, None), features, log=lambda _: None)
    better = promote.main(project / "params.yaml", project / "outputs/prepare/manifest.csv", project_root=project)
    new = client.get_model_version_by_alias(name, "champion")
    assert better.promote and new.tags["synthaug.method"] == "cgan"
    assert str(client.get_model_version_by_alias(name, "previous").version) == str(vae.version)
    assert new.tags["synthaug.promotion.compared_with"] == str(vae.version)
    assert float(new.tags["synthaug.promotion.compared_value"]) == pytest.approx(0.70)
    assert "beats the champion" in new.tags["synthaug.promotion.reason"]
    assert "promoted version" in client.get_registered_model(name).tags["synthaug.promotion.last"]
    assert not math.isnan(float(new.tags["synthaug.promotion.value"]))


def method_version(number: int, method: str, scope: str | None = None) -> SimpleNamespace:
    tags = {promotion.DATA_VERSION_TAG: "d1", promotion.METHOD_TAG: method}
    if scope:
        tags[promotion.SCOPE_TAG] = scope
    return SimpleNamespace(version=str(number), tags=tags)


def test_the_method_is_chosen_by_its_mean_over_seeds_then_its_best_seed():
    """One lucky seed does not make a method: vae's 0.80 seed loses to the baseline's better mean."""
    versions = [method_version(i + 1, m) for i, m in enumerate(["baseline"] * 3 + ["vae"] * 3)]
    scores = values(v1=0.70, v2=0.71, v3=0.72, v4=0.80, v5=0.55, v6=0.56)
    chosen = promotion.choose_candidate(versions, scores, METRIC, "d1")
    assert chosen.method == "baseline" and chosen.version.version == "3" and chosen.seeds == 3
    assert (
        chosen.mean == pytest.approx(0.71)
        and chosen.runner_up == "vae"
        and chosen.runner_up_mean == pytest.approx(0.6367, abs=1e-4)
    )
    assert chosen.half_width == pytest.approx(4.303 * 0.01 / 3**0.5, rel=1e-3)  # t(0.975, 2) x sd / sqrt(3)
    decision = promotion.decide(chosen, None, scores, METRIC, 0.0, "d1", never)
    assert "method baseline: mean val_file_macro_f1 0.7100" in decision.reason and "runner-up vae" in decision.reason


def test_versions_scored_on_part_of_validation_do_not_compete():
    versions = [method_version(1, "baseline"), method_version(2, "ensemble_fitted", scope="held out")]
    chosen = promotion.choose_candidate(versions, values(v1=0.6, v2=0.9), METRIC, "d1")
    assert chosen.method == "baseline" and chosen.runner_up is None
