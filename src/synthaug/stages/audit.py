"""audit: every synthetic set -> its fidelity, diversity and memorization, per class, in three embedding views.

Reads params `dataset.name`, `audit`, `train_generator.models` (the sets to audit) and
`train_classifier.seeds`; reads FEATURES/{train,val}.npz, the manifest (the group of each validation
file, when given), the baseline classifiers CLASSIFIERS/baseline/seed<S>/model.pt and
SYNTHETIC/<name>/synthetic.npz. The test split is not read: curation and tuning act on these scores,
so nothing here may depend on the data the final scores are measured on.

For each class any generator synthesized, and in three views (the penultimate layer of the first seed's
baseline classifier, "classifier"; a fixed random projection of the log-mel, "log_mel"; each mel band's
mean and spread over time, "band_statistics"), scores
every synthetic set and a "perfect generator" reference row (real validation spectrograms never seen by
any generator, scored exactly as a synthetic set is) against a held-out half of the validation data and
against the training data; see synthaug.evaluation.fidelity for the design and the metrics.

Writes OUT_DIR/<name>/audit.json (every metric, with the reference row), OUT_DIR/<name>/scores.npz (per
synthetic sample: manifold_distance, copy_ratio and the baseline's mean probability of its label, which
`curation` uses), OUT_DIR/<name>/nearest_neighbours.png (the most copy-like samples beside their nearest
training spectrograms) and the headline numbers to METRICS (each generator, and the reference under
"real_validation"). Logs the same numbers and figure into each generator's MLflow run (its own metrics
as audit.<class>.<view>.<metric>, the reference's as audit_reference.<class>.<view>.<metric>).

One stage audits every set: a run is dominated by start-up and by embedding the real data once, and the
reference row is shared by all generators.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from synthaug.cli_arguments import add_params
from synthaug.config import AuditParams, Params, load_params
from synthaug.datasets.manifest import file_groups
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set

# torch, scikit-learn and matplotlib (through synthaug.training and synthaug.evaluation) load in the
# functions that use them, so `synthaug audit --help` and a bad parameter answer before they do.
VIEWS = ("classifier", "log_mel", "band_statistics")
HEADLINE = (
    "two_sample_auroc_val",
    "two_sample_auroc_knn_val",
    "two_sample_auroc_train",
    "kid_val",
    "kid_train",
    "frechet_val",
    "frechet_dims_val",
    "precision",
    "recall",
    "density",
    "coverage",
    "memorization_rate",
)


def label_confidence(models: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The baseline classifiers' mean probability of each sample's own label."""
    from synthaug.training import predict_proba

    probabilities = np.mean([predict_proba(model, x) for model in models], axis=0)
    return probabilities[np.arange(len(y)), y]


def copy_figure(
    synthetic: SpectrogramSet,
    train: SpectrogramSet,
    embedded_synthetic: np.ndarray,
    embedded_train: np.ndarray,
    copy_ratio: np.ndarray,
    val_classes: set[int],
):
    """The most copy-like samples of the first synthesized class with validation data (else the first class).

    Ordered by copy ratio (below 1: a copy); by distance to the nearest training sample where the ratio
    could not be computed.
    """
    from synthaug.evaluation.figures import nearest_neighbours
    from synthaug.evaluation.memorization import nearest_training

    classes = sorted(set(synthetic.y.tolist()))
    usable = [c for c in classes if (train.y == c).sum() >= 2 and len(np.unique(embedded_train[train.y == c], axis=0)) >= 2]
    if not usable:
        return None
    c = next((c for c in usable if c in val_classes), usable[0])
    rows, train_rows = synthetic.y == c, train.y == c
    near = nearest_training(embedded_train[train_rows], embedded_synthetic[rows])
    ratio = copy_ratio[rows]
    score, score_name = (ratio, "copy ratio") if np.isfinite(ratio).any() else (near["nearest"], "distance")
    name = synthetic.class_names[c]
    return nearest_neighbours(
        synthetic.x[rows],
        train.x[train_rows],
        near["index"],
        np.nan_to_num(score, nan=np.inf),
        score_name=score_name,
        title=f"{synthetic.metadata.get('generator', '')} {name}: most copy-like samples and their nearest training spectrograms",
    )


def audit_classes(
    synthetic_views: dict[str, dict[str, np.ndarray]],
    synthetic_y: dict[str, np.ndarray],
    real_views: dict[str, dict[str, np.ndarray]],
    train_y: np.ndarray,
    val_y: np.ndarray,
    val_groups: np.ndarray,
    class_names: list[str],
    settings: AuditParams,
    train_groups: np.ndarray | None = None,
) -> tuple[dict, dict, dict]:
    """({generator: {class: {view: row}}}, {class: {view: reference row}}, {class: {set: permutation test}})
    for every class any set holds; the third holds each set's and the reference's group permutation test
    of the strongest two-sample AUROC (`strongest_permutation_tests`)."""
    from synthaug.evaluation.fidelity import REFERENCE, audit_class

    results: dict[str, dict] = {name: {} for name in synthetic_views}
    reference: dict[str, dict] = {}
    permutation: dict[str, dict] = {}
    classes = sorted({int(c) for y in synthetic_y.values() for c in np.unique(y)})
    present = {c: [name for name, y in synthetic_y.items() if (y == c).any()] for c in classes}
    # Each (class, view) fits cross-validated two-sample tests for every set, seconds each, independently of
    # the others: `settings.workers` processes share them (the rows do not depend on how many), with a bar
    # and an ETA on a terminal, quiet in logs and CI.
    jobs = [(c, view) for c in classes for view in VIEWS]
    bar = tqdm(total=len(jobs), unit="class-view", desc="audit", disable=True if os.environ.get("CI") else None)
    audits = Parallel(n_jobs=max(1, min(settings.workers, len(jobs))), return_as="generator")(
        delayed(audit_class)(
            real_views["train"][view][train_y == c],
            real_views["val"][view][val_y == c],
            val_groups[val_y == c],
            {name: synthetic_views[name][view][synthetic_y[name] == c] for name in present[c]},
            repeats=settings.repeats,
            k=settings.k,
            quantile=settings.memorization_quantile,
            copy_distance_ratio=settings.copy_distance_ratio,
            seed=settings.seed,
            train_groups=None if train_groups is None else train_groups[train_y == c],
        )
        for c, view in jobs
    )
    for (c, view), rows in zip(jobs, audits):
        reference.setdefault(class_names[c], {})[view] = rows[REFERENCE]
        for name in present[c]:
            results[name].setdefault(class_names[c], {})[view] = rows[name]
        bar.update(1)
    for c in classes:
        cls = class_names[c]
        permutation[cls] = strongest_permutation_tests(
            {view: real_views["val"][view][val_y == c] for view in VIEWS},
            val_groups[val_y == c],
            {name: {view: synthetic_views[name][view][synthetic_y[name] == c] for view in VIEWS} for name in present[c]},
            settings,
        )
    bar.close()
    return results, reference, permutation


def strongest_permutation_tests(
    val_views: dict[str, np.ndarray], val_groups: np.ndarray, sets: dict[str, dict[str, np.ndarray]], settings: AuditParams
) -> dict[str, dict]:
    """{REFERENCE or set name: two_sample_permutation_test result} for one class, at the audit's first split.

    The comparison half and each candidate (the reference half, or a set's subsample to its size) are
    the audit's own first split and draw, so the statistic is the strongest AUROC of that split.
    """
    from synthaug.evaluation.fidelity import REFERENCE, candidate_rows, group_halves, two_sample_permutation_test

    splits = group_halves(val_groups, repeats=settings.repeats, seed=settings.seed)
    if not splits or settings.permutations == 0:
        return {}
    comparison, reference_rows = splits[0]
    candidates = {REFERENCE: ({v: x[reference_rows] for v, x in val_views.items()}, val_groups[reference_rows])}
    for name, views in sets.items():
        available = len(next(iter(views.values())))
        drawn = candidate_rows(available, len(reference_rows), name, seed=settings.seed, repeat=0)
        candidates[name] = ({v: x[drawn] for v, x in views.items()}, np.arange(len(drawn)))
    return {
        name: two_sample_permutation_test(
            {v: x[comparison] for v, x in val_views.items()},
            views,
            val_groups[comparison],
            groups,
            permutations=settings.permutations,
            seed=settings.seed,
            workers=settings.workers,
        )
        for name, (views, groups) in candidates.items()
    }


def headline(by_class: dict[str, dict], tests: dict[str, dict]) -> dict:
    """The numbers metrics/audit.json keeps per class: HEADLINE per view, the strongest two-sample AUROC and
    the p-value of its group permutation test (`tests`: {class: permutation test of this set})."""
    from synthaug.evaluation.fidelity import strongest_two_sample

    return {
        cls: {view: {k: row[k] for k in HEADLINE} for view, row in by_view.items()}
        | {
            "two_sample_auroc_strongest": strongest_two_sample(by_view)["auroc"],
            "two_sample_p_value": tests.get(cls, {}).get("p_value", math.nan),
        }
        for cls, by_view in by_class.items()
    }


def reporting_rows(val_groups: np.ndarray, params: Params) -> np.ndarray:
    """The validation rows the audit scores: all of them, or, when generators chose their snapshots on the
    selection half of validation (train_generator.fidelity_snapshots > 1), the other half only, for every
    set and the reference alike (synthaug.evaluation.selection)."""
    from synthaug.evaluation.selection import selection_half

    if params.train_generator.fidelity_snapshots > 1:
        return ~selection_half(val_groups, seed=params.audit.seed)
    return np.ones(len(val_groups), dtype=bool)


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"


class Embedder:
    """The audit's views of spectrograms: the baseline classifier's embedding, a random projection of
    the log-mel, and per-band statistics."""

    def __init__(self, model, settings: AuditParams) -> None:
        self.model, self.settings = model, settings

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        from synthaug.evaluation.distances import band_statistics, random_projection
        from synthaug.training import predict_embeddings

        return {
            "classifier": predict_embeddings(self.model, x),
            "log_mel": random_projection(x, dim=self.settings.projection_dim, seed=self.settings.seed),
            "band_statistics": band_statistics(x),
        }


def score_synthetic_sets(
    names: list[str],
    synthetic_dir: Path,
    embed: Embedder,
    models: list,
    train: SpectrogramSet,
    val: SpectrogramSet,
    real_views: dict[str, dict[str, np.ndarray]],
    train_groups: np.ndarray,
    settings: AuditParams,
) -> tuple[dict, dict, dict]:
    """Each generator's synthetic set embedded and scored per sample: (views, labels, {name: (metadata, scores, copy figure)})."""
    from synthaug.evaluation.memorization import class_sample_scores

    synthetic_views, synthetic_y, per_set = {}, {}, {}
    for name in names:
        synthetic = load_spectrogram_set(synthetic_dir / name / "synthetic.npz")
        views = embed(synthetic.x)
        # Per-sample scores feed curation, not the fidelity verdict, so they use all of validation even when
        # the audit's two-sample rows are scored on the reporting half only.
        scores = class_sample_scores(
            views["classifier"],
            synthetic.y,
            real_views["train"]["classifier"],
            train.y,
            real_views["val"]["classifier"],
            val.y,
            k=settings.k,
            quantile=settings.memorization_quantile,
            copy_distance_ratio=settings.copy_distance_ratio,
            train_groups=train_groups,
        )
        scores["confidence"] = label_confidence(models, synthetic.x, synthetic.y).astype(np.float32)
        figure = copy_figure(
            synthetic, train, views["classifier"], real_views["train"]["classifier"], scores["copy_ratio"], set(val.y.tolist())
        )
        synthetic_views[name], synthetic_y[name] = views, synthetic.y
        per_set[name] = (synthetic.metadata, scores, figure)  # the spectrograms themselves are not kept
    return synthetic_views, synthetic_y, per_set


def print_summaries(results: dict, reference: dict, metrics: dict) -> None:
    """One line per generator and class: its headline scores, the real validation data's in brackets."""
    from synthaug.evaluation.fidelity import REFERENCE

    for name, by_class in results.items():
        for cls, by_view in by_class.items():
            c, r = by_view["classifier"], reference[cls]["classifier"]
            print(
                f"audit {name} {cls} (real validation in brackets): strongest two-sample AUROC "
                f"{metrics[name][cls]['two_sample_auroc_strongest']:.2f} ({metrics[REFERENCE][cls]['two_sample_auroc_strongest']:.2f}; "
                f"group permutation p {metrics[name][cls]['two_sample_p_value']:.3g}), "
                f"kNN {c['two_sample_auroc_knn_val']:.2f} ({r['two_sample_auroc_knn_val']:.2f}), KID {c['kid_val']:.3g} "
                f"({r['kid_val']:.3g}), precision {c['precision']:.2f} ({r['precision']:.2f}), coverage {c['coverage']:.2f} "
                f"({r['coverage']:.2f}), copies {_percent(c['memorization_rate'])} ({_percent(r['memorization_rate'])})"
            )


def write_audit(out_dir: Path, per_set: dict, documents: dict[str, dict]) -> None:
    """OUT_DIR/<generator>/: audit.json, scores.npz and the nearest-neighbour figure, written whole or not at all."""
    with atomic_directory(out_dir) as tmp:
        for name, (_metadata, scores, figure) in per_set.items():
            (tmp / name).mkdir()
            write_json_atomic(tmp / name / "audit.json", documents[name])
            np.savez(tmp / name / "scores.npz", **scores)
            if figure is not None:
                figure.savefig(tmp / name / "nearest_neighbours.png", dpi=80)


def main(
    params_path: Path,
    features_dir: Path,
    classifiers_dir: Path,
    synthetic_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    project_root: Path = Path("."),
    manifest_path: Path | None = None,
) -> None:
    from synthaug.classifiers.saved import load_classifier
    from synthaug.evaluation.fidelity import REFERENCE

    params = load_params(params_path)
    settings = params.audit
    train, val = (load_spectrogram_set(features_dir / f"{split}.npz") for split in ("train", "val"))
    models = [
        load_classifier(classifiers_dir / "baseline" / f"seed{seed}" / "model.pt")[0] for seed in params.train_classifier.seeds
    ]
    val_groups = file_groups(val.file_id, manifest_path)
    train_groups = file_groups(train.file_id, manifest_path)
    embed = Embedder(models[0], settings)
    real_views = {"train": embed(train.x), "val": embed(val.x)}
    names = list(params.train_generator.models)
    synthetic_views, synthetic_y, per_set = score_synthetic_sets(
        names, synthetic_dir, embed, models, train, val, real_views, train_groups, settings
    )
    reporting = reporting_rows(val_groups, params)
    halved = not bool(reporting.all())
    reporting_views = {"train": real_views["train"], "val": {view: x[reporting] for view, x in real_views["val"].items()}}
    validation = {
        "half": "reporting" if halved else "all",
        "files": int(reporting.sum()),
        "groups": int(len(np.unique(val_groups[reporting]))),
    }
    if halved:
        print(
            f"audit: generators chose their snapshots on the selection half of validation; every row is scored on "
            f"the reporting half ({validation['files']} files of {validation['groups']} groups)"
        )
    results, reference, permutation = audit_classes(
        synthetic_views,
        synthetic_y,
        reporting_views,
        train.y,
        val.y[reporting],
        val_groups[reporting],
        train.class_names,
        settings,
        train_groups,
    )

    def tests_of(name: str) -> dict:
        return {cls: by_set.get(name, {}) for cls, by_set in permutation.items()}

    metrics = {name: headline(by_class, tests_of(name)) for name, by_class in results.items()}
    metrics[REFERENCE] = headline(reference, tests_of(REFERENCE))
    print_summaries(results, reference, metrics)
    documents = {
        name: {
            "generator": name,
            "views": list(VIEWS),
            "settings": settings.model_dump(),
            "validation": validation,
            "classes": results[name],
            "reference": {cls: reference[cls] for cls in results[name]},
            # The strongest two-sample AUROC at the first split, with its group permutation p-value.
            "permutation_tests": {cls: tests_of(name).get(cls, {}) for cls in results[name]},
            "reference_permutation_tests": {cls: tests_of(REFERENCE).get(cls, {}) for cls in results[name]},
        }
        for name in per_set
    }
    write_audit(out_dir, per_set, documents)
    write_json_atomic(metrics_path, metrics)
    for name, (metadata, _scores, _figure) in per_set.items():
        own = {"audit": metrics[name], "audit_reference": {cls: metrics[REFERENCE][cls] for cls in metrics[name]}}
        log_to_generator_run(project_root, metadata.get("generator_run_id", ""), own, out_dir / name)


def log_to_generator_run(project_root: Path, run_id: str, metrics: dict, folder: Path) -> None:
    """Add the audit to the generator's MLflow run (the tracking store the stages use)."""
    if not run_id:
        return
    import time

    import mlflow

    from synthaug import tracking

    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(project_root))
    now = int(time.time() * 1000)
    flat = tracking.flatten(metrics)
    client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, float(v), now, 0) for k, v in flat.items() if v == v])
    for file_name in ("audit.json", "nearest_neighbours.png"):
        if (folder / file_name).is_file():
            client.log_artifact(run_id, str(folder / file_name), "audit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug audit` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("classifiers", type=Path, help="folder of trained classifiers (the baseline's are used)")
    parser.add_argument("synthetic", type=Path, help="folder of synthetic sets, e.g. outputs/synthetic")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/audit")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="manifest CSV written by prepare, e.g. outputs/prepare/manifest.csv (validation file -> group)",
    )


def run(args: argparse.Namespace) -> None:
    """`synthaug audit`: main with the parsed arguments."""
    main(args.params, args.features, args.classifiers, args.synthetic, args.out_dir, args.metrics, manifest_path=args.manifest)
