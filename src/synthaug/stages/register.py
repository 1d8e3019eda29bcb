"""register: the pipeline's evaluated classifiers and ensembles -> versions of one registered model.

Reads params `dataset.name` and `registry.model_name`; reads CLASSIFIERS/<method>/seed<S>/ and
ENSEMBLE/<variant>/seed<S>/ run folders and FEATURES/{val.npz, normalizer.json}. Outside `dvc repro`:
the registry is state in the MLflow store (see synthaug.registry.versions). Writes each run's audio
model (preprocessing + networks) into its MLflow run and registers it, with its metrics and lineage
as version tags; runs already registered are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthaug import tracking
from synthaug.cli_arguments import add_params
from synthaug.config import load_params


def main(params_path: Path, classifiers_dir: Path, ensemble_dir: Path, features_dir: Path, project_root: Path = Path(".")) -> str:
    from synthaug.registry.versions import (  # torch and scikit-learn: once the work begins
        find_candidates,
        model_name,
        register_all,
    )

    params = load_params(params_path)
    name = model_name(params.registry.model_name, params.dataset.name)
    tracking.use_project_store(project_root, params.dataset.name)
    candidates = find_candidates(classifiers_dir, ensemble_dir if Path(ensemble_dir).is_dir() else None)
    results = register_all(name, candidates, features_dir)
    new = sum(1 for *_, added in results if added)
    print(f"register: {name}: {new} new version(s), {len(results) - new} already registered")
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug register` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument(
        "classifiers",
        type=Path,
        nargs="?",
        default=Path("outputs/classifiers"),
        help="classifier run folders (default: outputs/classifiers)",
    )
    parser.add_argument(
        "ensemble",
        type=Path,
        nargs="?",
        default=Path("outputs/ensemble"),
        help="ensemble run folders (default: outputs/ensemble)",
    )
    parser.add_argument(
        "features", type=Path, nargs="?", default=Path("outputs/features"), help="featurize outputs (default: outputs/features)"
    )


def run(args: argparse.Namespace) -> None:
    """`synthaug register`: main with the parsed arguments."""
    main(args.params, args.classifiers, args.ensemble, args.features)
