"""ensemble: the members' class probabilities averaged, per seed -> ensemble predictions and evaluation.

Reads params `dataset.name`, `dataset.protocol`, `ensemble` and `train_classifier.seeds`; reads
CLASSIFIERS/<member>/seed<S>/predictions_{val,test}.csv for each member in `ensemble.members`, and
MANIFEST (the group of each validation file). Writes OUT_DIR/equal/seed<S>/ (the published rule:
equal weights) and, with `ensemble.fit_weights`, OUT_DIR/fitted/seed<S>/ in the run-folder layout
of synthaug.evaluation.run_folder, and the mean and standard deviation over seeds of the headline metrics
to METRICS. Logs one MLflow run per variant and seed, linked to its members.

Fitted weights minimize the log loss on one half of the validation split (whole groups, classes
spread evenly, seeded by `ensemble.validation_split_seed`, the same halves for every seed); the
fitted ensemble's validation predictions and scores are those of the other half only, so they are
not scored on the data its weights were chosen on. (Each member's best epoch was still chosen on
the whole validation split: every validation score stays somewhat optimistic; test is the honest one.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthaug import tracking
from synthaug.cli_arguments import add_params
from synthaug.config import load_params
from synthaug.datasets.manifest import file_groups
from synthaug.errors import ConfigError, DataError
from synthaug.evaluation.formatting import mean_std
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import load_spectrogram_set

# scikit-learn, scipy and matplotlib (through synthaug.evaluation) are imported in the functions that
# use them, so `synthaug ensemble --help` and a bad parameter answer before they load.

METHODS = {"equal": "ensemble", "fitted": "ensemble_fitted"}


def member_predictions(
    classifiers_dir: Path, members: list[str], seed: int, split: str, class_names: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """(file_id/label frame shared by all members, member probabilities [M, N, C]) for one seed and split."""
    from synthaug.evaluation.run_folder import read_predictions

    frames: list[pd.DataFrame] = []
    probas: list[np.ndarray] = []
    for member in members:
        frame, proba = read_predictions(classifiers_dir / member / f"seed{seed}", split, class_names)
        if frames and not frame.equals(frames[0]):
            raise DataError(
                f"{classifiers_dir / member}: its {split} predictions list other clips than "
                f"{members[0]}'s; re-run both from the same features (dvc repro)"
            )
        frames.append(frame)
        probas.append(proba)
    return frames[0], np.stack(probas)


def main(
    params_path: Path,
    classifiers_dir: Path,
    features_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    project_root: Path = Path("."),
    manifest_path: Path | None = None,
) -> None:
    from synthaug.evaluation.run_folder import EVALUATED_SPLITS, seed_summary

    params = load_params(params_path)
    dataset, settings, seeds = params.dataset, params.ensemble, params.train_classifier.seeds
    missing = [m for m in settings.members if not (classifiers_dir / m).is_dir()]
    if missing:
        raise ConfigError(
            f"ensemble.members: no trained classifiers for {', '.join(missing)} in {classifiers_dir}; "
            "list only baseline and generators in train_generator.models"
        )
    class_names = load_spectrogram_set(features_dir / "val.npz").class_names
    variants = ["equal", "fitted"] if settings.fit_weights else ["equal"]

    summaries: dict[str, list[dict]] = {variant: [] for variant in variants}
    with atomic_directory(out_dir) as tmp:
        for seed in seeds:
            inputs = {
                split: member_predictions(classifiers_dir, settings.members, seed, split, class_names)
                for split in EVALUATED_SPLITS
            }
            member_runs = {m: _run_id(classifiers_dir / m / f"seed{seed}") for m in settings.members}
            frame_val, probas_val = inputs["val"]
            y_val = pd.Categorical(frame_val["label"], categories=class_names).codes
            for variant in variants:
                variant_inputs = inputs
                extra: dict[str, Any] = {}
                if variant == "fitted":
                    weights, variant_inputs, extra = _fit_on_half(
                        inputs, y_val, frame_val, probas_val, manifest_path, settings.validation_split_seed
                    )
                else:
                    weights = np.full(len(settings.members), 1 / len(settings.members))
                summary = _ensemble_run(
                    METHODS[variant],
                    seed,
                    variant_inputs,
                    weights,
                    class_names,
                    tmp / variant / f"seed{seed}",
                    settings.members,
                    member_runs,
                    dataset,
                    project_root,
                    extra,
                )
                summaries[variant].append(summary)
    metrics = {variant: seed_summary(runs) for variant, runs in summaries.items()}
    write_json_atomic(metrics_path, metrics)
    for variant, runs in summaries.items():
        test, val = metrics[variant]["test"]["file"], metrics[variant]["val"]["file"]
        held_out = " (held-out half)" if variant == "fitted" else ""

        def over_seeds(metric: str, test: dict = test, n: int = len(runs)) -> str:  # no "± 0.000" for one seed
            return mean_std({"mean": test[f"{metric}_mean"], "std": test[f"{metric}_std"], "n": n})

        print(
            f"ensemble {variant} of {', '.join(settings.members)}: {len(runs)} seed(s), test macro F1 "
            f"{over_seeds('macro_f1')}, AUROC {over_seeds('auroc')}; "
            f"validation{held_out} macro F1 {val['macro_f1_mean']:.3f}"
        )


def _fit_on_half(
    inputs: dict, y_val: np.ndarray, frame_val: pd.DataFrame, probas_val: np.ndarray, manifest_path: Path | None, split_seed: int
) -> tuple[np.ndarray, dict, dict]:
    """(weights fitted on one validation half, inputs whose val is the other half, what run.json records about it)."""
    from synthaug.evaluation.ensemble import fit_weights, split_validation

    file_ids = frame_val["file_id"].to_numpy()
    groups = None if manifest_path is None else file_groups(file_ids, manifest_path)

    def size(mask: np.ndarray) -> dict:
        unit = file_ids if groups is None else groups
        return {"files": int(len(np.unique(file_ids[mask]))), "groups": int(len(np.unique(unit[mask])))}

    try:
        fit_half = split_validation(file_ids, y_val, groups, seed=split_seed)
    except ValueError as exc:
        # Too few validation groups of some class to hold one half out (a few files per class, as in a
        # scarcity sweep's data): fit on all of validation and say that its validation scores are optimistic.
        print(
            f"ensemble fitted: warning: validation cannot be split in two halves with every class in each ({exc}); "
            "the weights are fitted and scored on the whole validation split, so its validation scores are "
            "optimistic (the test scores are not). Add validation data or set ensemble.fit_weights: false.",
            file=sys.stderr,
        )
        everything = np.ones(len(file_ids), dtype=bool)
        extra = {
            "weights_fitted_on": {"split": "val", "half": "all", **size(everything)},
            "val_scored_on": {"split": "val", "half": "all (optimistic)", **size(everything)},
            "validation_split": f"none: {exc}",
            "validation_split_seed": split_seed,
        }
        return fit_weights(y_val, probas_val), inputs, extra
    weights = fit_weights(y_val[fit_half], probas_val[:, fit_half])
    held_out = {**inputs, "val": (frame_val[~fit_half].reset_index(drop=True), probas_val[:, ~fit_half])}
    extra = {
        "weights_fitted_on": {"split": "val", "half": "fit", **size(fit_half)},
        "val_scored_on": {"split": "val", "half": "held out", **size(~fit_half)},
        "validation_split": "by group" if groups is not None else "by file",
        "validation_split_seed": split_seed,
    }
    return weights, held_out, extra


def _run_id(run_dir: Path) -> str:
    from synthaug.evaluation.run_folder import completed

    return (completed(run_dir) or {}).get("mlflow_run_id", "")


def _ensemble_run(
    method, seed, inputs, weights, class_names, run_dir, members, member_runs, dataset, project_root, extra: dict | None = None
) -> dict:
    """Average, evaluate, write one run folder and log its MLflow run; return its run.json content."""
    from synthaug.evaluation.ensemble import average_probabilities
    from synthaug.evaluation.figures import confusion_matrix_figure, roc_figure
    from synthaug.evaluation.metrics import evaluate
    from synthaug.evaluation.run_folder import EVALUATED_SPLITS, RUN_FILE, headline

    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="ensemble",
        protocol=dataset.protocol,
        params={
            "members": ",".join(members),
            "seed": seed,
            **{f"weight.{m}": float(w) for m, w in zip(members, weights)},
            **({"validation": extra} if extra else {}),
        },
        run_name=f"ensemble-{method}-seed{seed}",
        tags={
            "synthaug.method": method,
            "synthaug.seed": str(seed),
            "synthaug.members": ",".join(members),
            **{f"synthaug.member_run_id.{m}": run_id for m, run_id in member_runs.items()},
        },
    ) as run:
        import mlflow

        evaluations, frames = {}, {}
        for split, (frame, probas) in inputs.items():
            proba = average_probabilities(probas, weights)
            y = pd.Categorical(frame["label"], categories=class_names).codes
            evaluations[split] = evaluate(y, proba, frame["file_id"].to_numpy(), class_names)
            frames[split] = frame.assign(**{f"p_{name}": proba[:, c] for c, name in enumerate(class_names)})
        summary = {
            "method": method,
            "seed": seed,
            "mlflow_run_id": run.info.run_id,
            "members": members,
            "weights": [float(w) for w in weights],
            **(extra or {}),
            **{s: headline(evaluations[s]) for s in EVALUATED_SPLITS},
        }
        test_frame = frames["test"]
        test_y = pd.Categorical(test_frame["label"], categories=class_names).codes
        figures = {
            "confusion_matrix.png": confusion_matrix_figure(
                evaluations["test"]["clip"]["confusion_matrix"], class_names, title=f"{method}, seed {seed}: test"
            ),
            "roc.png": roc_figure(
                test_y,
                test_frame[[f"p_{n}" for n in class_names]].to_numpy(),
                class_names,
                title=f"{method}, seed {seed}: test ROC",
            ),
        }
        run_dir.mkdir(parents=True)
        for split, frame in frames.items():
            frame.to_csv(run_dir / f"predictions_{split}.csv", index=False)
        write_json_atomic(run_dir / "evaluation.json", evaluations)
        for file_name, figure in figures.items():
            figure.savefig(run_dir / file_name, dpi=80)
            tracking.log_figure(figure, file_name)
        write_json_atomic(run_dir / RUN_FILE, summary)
        for split in EVALUATED_SPLITS:
            for level, values in summary[split].items():
                mlflow.log_metrics({f"{split}_{level}_{k}": float(v) for k, v in values.items() if v == v})
        tracking.log_file(run_dir / "evaluation.json", "evaluation")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug ensemble` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("classifiers", type=Path, help="folder of trained classifiers, e.g. outputs/classifiers")
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/ensemble")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="manifest CSV written by prepare (validation file -> group, the unit of the weights' "
        "validation halves); without it each file is its own group",
    )


def run(args: argparse.Namespace) -> None:
    """`synthaug ensemble`: main with the parsed arguments."""
    main(args.params, args.classifiers, args.features, args.out_dir, args.metrics, manifest_path=args.manifest)
