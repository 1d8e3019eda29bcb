"""promote: move the `champion` alias of the registered model to the best version, if it earned it.

Reads params `dataset`, `registry` and data.dvc (the current data version); with a champion of
another data version, also outputs/prepare/manifest.csv and the validation audio it lists, to
compare both on the same split. Writes the aliases (`champion`, the old one `previous`) and the
reasons as tags in the registry. See synthaug.registry.promotion for the rule.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthaug import tracking
from synthaug.cli_arguments import add_params
from synthaug.config import load_params
from synthaug.registry import promotion


def main(params_path: Path, manifest_path: Path, *, dry_run: bool = False, project_root: Path = Path(".")) -> promotion.Decision:
    from mlflow import MlflowClient

    from synthaug.registry.versions import model_name  # with torch and scikit-learn: once the work begins

    params = load_params(params_path)
    settings = params.registry
    name = model_name(settings.model_name, params.dataset.name)
    tracking.use_project_store(project_root, params.dataset.name)
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    data_version = tracking.data_version(project_root)
    values = promotion.metric_values(client, versions, settings.metric)
    candidate = promotion.choose_candidate(versions, values, settings.metric, data_version)
    champion = promotion.current_champion(client, name)

    def evaluate_champion(version) -> float:
        import mlflow.pyfunc

        from synthaug.registry.prediction import evaluate_split

        print(
            f"promote: champion version {version.version} was trained on data version "
            f"{version.tags.get(promotion.DATA_VERSION_TAG)} (or its model has no {settings.metric}); "
            "evaluating it on the current validation files"
        )
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
        class_names = [c.removeprefix("p_") for c in model.metadata.get_output_schema().input_names() if c.startswith("p_")]
        return evaluate_split(model, manifest_path, Path(params.dataset.root), "val", class_names, settings.metric)

    decision = promotion.decide(candidate, champion, values, settings.metric, settings.margin, data_version, evaluate_champion)
    verb = ("would promote" if dry_run else "promotes") if decision.promote else "keeps the champion"
    print(f"promote: {name}: {'(dry run) ' if dry_run else ''}{verb}: {decision.reason}")
    if not dry_run:
        promotion.apply(client, name, decision, settings.metric, settings.margin)
        if decision.promote:
            print(
                f"promote: {name}@champion is now version {decision.candidate_version}"
                + (f" (previous: version {decision.champion_version})" if decision.champion_version else "")
            )
    return decision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug promote` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument(
        "manifest",
        type=Path,
        nargs="?",
        default=Path("outputs/prepare/manifest.csv"),
        help="manifest, for re-evaluating an older champion (default: outputs/prepare/manifest.csv)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the decision, change nothing")


def run(args: argparse.Namespace) -> None:
    """`synthaug promote`: main with the parsed arguments."""
    main(args.params, args.manifest, dry_run=args.dry_run)
