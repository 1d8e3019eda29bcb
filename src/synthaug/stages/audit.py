"""audit: every synthetic set -> its fidelity, diversity and memorization, per class, in two embedding views.

Reads params `dataset.name`, `dataset.protocol`, `audit`, `train_generator.models` (the sets to
audit) and `train_classifier.seeds`; reads FEATURES/{train,test}.npz, the baseline classifiers
CLASSIFIERS/baseline/seed<S>/model.pt and SYNTHETIC/<name>/synthetic.npz. For each generator and
each class it synthesized, compares the synthetic spectrograms with the real training and test
spectrograms of that class in two views: the penultimate layer of the first seed's baseline
classifier ("classifier") and a fixed random projection of the log-mel ("log_mel"). See
synthaug.evaluation.fidelity for the metrics.

Writes OUT_DIR/<name>/audit.json (every metric), OUT_DIR/<name>/scores.npz (per synthetic sample:
manifold_distance, copy_ratio and the baseline's mean probability of its label, which `curation`
uses), OUT_DIR/<name>/nearest_neighbours.png (the most copy-like samples beside their nearest
training spectrograms) and the headline numbers to METRICS. Logs the same numbers and figure into
each generator's MLflow run, so a generator's run carries its audit.

One stage audits every set: a run is dominated by start-up and by embedding the real data once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthaug.classifiers.saved import load_classifier
from synthaug.config import load_params
from synthaug.evaluation.fidelity import audit, class_sample_scores, memorization, random_projection
from synthaug.evaluation.figures import nearest_neighbours
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set
from synthaug.training import predict_embeddings, predict_proba

HEADLINE = ("frechet", "frechet_reference", "precision", "recall", "density", "coverage", "memorization_rate", "two_sample_auroc")


def label_confidence(models: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The baseline classifiers' mean probability of each sample's own label."""
    probabilities = np.mean([predict_proba(model, x) for model in models], axis=0)
    return probabilities[np.arange(len(y)), y]


def audit_set(synthetic: SpectrogramSet, views: dict[str, dict[str, np.ndarray]], train: SpectrogramSet, test: SpectrogramSet,
              settings, models: list) -> tuple[dict, dict[str, np.ndarray], object]:
    """(metrics {class: {view: audit}}, per-sample scores, nearest-neighbour figure) of one synthetic set."""
    results: dict = {}
    embedded = views["classifier"]
    scores = class_sample_scores(embedded["synthetic"], synthetic.y, embedded["train"], train.y, embedded["test"], test.y,
                                 k=settings.k, quantile=settings.memorization_quantile)
    scores["confidence"] = label_confidence(models, synthetic.x, synthetic.y).astype(np.float32)
    figure = None
    for c in sorted(set(synthetic.y.tolist())):
        name = synthetic.class_names[c]
        s_rows, tr_rows, te_rows = synthetic.y == c, train.y == c, test.y == c
        results[name] = {
            view: audit(v["train"][tr_rows], v["test"][te_rows], v["synthetic"][s_rows], n_samples=settings.n_samples,
                        k=settings.k, quantile=settings.memorization_quantile, seed=settings.seed)
            for view, v in views.items()
        }
        # The figure shows the first synthesized class that has real test data to set the threshold
        # against: the minority class in the medical protocol.
        if figure is None and te_rows.any() and s_rows.sum() >= 2:
            copies = memorization(embedded["synthetic"][s_rows], embedded["train"][tr_rows], embedded["test"][te_rows],
                                  quantile=settings.memorization_quantile)
            figure = nearest_neighbours(synthetic.x[s_rows], train.x[tr_rows], copies["nearest_train"], copies["synthetic_to_train"],
                                        title=f"{synthetic.metadata.get('generator', '')} {name}: most copy-like samples and their nearest training spectrograms")
    return results, scores, figure


def main(params_path: Path, features_dir: Path, classifiers_dir: Path, synthetic_dir: Path, out_dir: Path, metrics_path: Path,
         project_root: Path = Path(".")) -> None:
    params = load_params(params_path)
    settings = params.audit
    train, test = (load_spectrogram_set(features_dir / f"{split}.npz") for split in ("train", "test"))
    models = [load_classifier(classifiers_dir / "baseline" / f"seed{seed}" / "model.pt")[0] for seed in params.train_classifier.seeds]
    real = {"train": train.x, "test": test.x}

    def embed(x: np.ndarray) -> dict[str, np.ndarray]:
        return {"classifier": predict_embeddings(models[0], x),
                "log_mel": random_projection(x, dim=settings.projection_dim, seed=settings.seed)}

    real_views = {split: embed(x) for split, x in real.items()}
    metrics: dict = {}
    outputs = {}
    for name in params.train_generator.models:
        synthetic = load_spectrogram_set(synthetic_dir / name / "synthetic.npz")
        synthetic_views = embed(synthetic.x)
        views = {view: {"train": real_views["train"][view], "test": real_views["test"][view], "synthetic": synthetic_views[view]}
                 for view in ("classifier", "log_mel")}
        results, scores, figure = audit_set(synthetic, views, train, test, settings, models)
        outputs[name] = (synthetic, results, scores, figure)
        metrics[name] = {cls: {view: {k: values[k] for k in HEADLINE} for view, values in by_view.items()}
                         for cls, by_view in results.items()}
        for cls, by_view in results.items():
            c = by_view["classifier"]
            print(f"audit {name} {cls}: Fréchet {c['frechet']:.2f} (real-vs-real {c['frechet_reference']:.2f}), precision "
                  f"{c['precision']:.2f}, recall {c['recall']:.2f}, coverage {c['coverage']:.2f}, memorized "
                  f"{c['memorization_rate']:.0%}, two-sample AUROC {c['two_sample_auroc']:.2f}")

    with atomic_directory(out_dir) as tmp:
        for name, (synthetic, results, scores, figure) in outputs.items():
            (tmp / name).mkdir()
            write_json_atomic(tmp / name / "audit.json", {"generator": name, "views": ["classifier", "log_mel"],
                                                           "settings": settings.model_dump(), "classes": results})
            np.savez(tmp / name / "scores.npz", **scores)
            figure.savefig(tmp / name / "nearest_neighbours.png", dpi=80)
    write_json_atomic(metrics_path, metrics)
    for name, (synthetic, *_rest) in outputs.items():
        log_to_generator_run(project_root, synthetic.metadata.get("generator_run_id", ""), metrics[name], out_dir / name)


def log_to_generator_run(project_root: Path, run_id: str, metrics: dict, folder: Path) -> None:
    """Add the audit to the generator's MLflow run (the tracking store the stages use)."""
    if not run_id:
        return
    import time

    import mlflow

    from synthaug import tracking

    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(project_root))
    now = int(time.time() * 1000)
    flat = tracking.flatten({"audit": metrics})
    client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, float(v), now, 0) for k, v in flat.items() if v == v])
    for file_name in ("audit.json", "nearest_neighbours.png"):
        client.log_artifact(run_id, str(folder / file_name), "audit")
