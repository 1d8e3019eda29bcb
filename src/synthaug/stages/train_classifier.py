"""train_classifier@NAME: spectrograms (real, plus a synthetic set if given) -> a classifier and its evaluation.

Reads params `dataset.name`, `dataset.protocol` and `train_classifier`; reads FEATURES/{train,val,
test}.npz and FEATURES/normalizer.json, and with --synthetic a synthetic set (added to training
only: validation and test stay real). Writes OUT_DIR/model.pt (state dict + architecture + classes),
OUT_DIR/predictions_{train,val,test}.csv (file id, true label, class probabilities per clip),
OUT_DIR/evaluation.json (clip- and file-level metrics incl. per-class results and confusion
matrices), OUT_DIR/*.png (learning curves, confusion matrix, ROC), the headline metrics to METRICS
and the per-epoch learning curve to PLOTS (for `dvc plots`). Checkpoints every epoch under
checkpoints/train_classifier/NAME/, so a killed run resumes. Logs one MLflow run with the model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from synthaug import tracking
from synthaug.checkpoints import checkpoint_dir
from synthaug.classifiers import Augmenter, build_classifier
from synthaug.classifiers.saved import save_classifier
from synthaug.config import load_params
from synthaug.evaluation.figures import confusion_matrix_figure, learning_curves, roc_figure
from synthaug.evaluation.metrics import evaluate
from synthaug.io import atomic_directory, write_json_atomic, write_text_atomic
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set
from synthaug.training import TrainConfig, predict_proba, train_classifier

HEADLINE = ("macro_f1", "auroc", "accuracy", "balanced_accuracy")
TRAINING_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "patience", "balance", "seed", "device")


def headline(evaluation: dict) -> dict:
    """The few numbers `dvc metrics show` and the MLflow run list show: per level, per metric."""
    return {level: {k: result[k] for k in HEADLINE} for level, result in evaluation.items() if result}


def predictions_frame(spectrograms: SpectrogramSet, proba: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"file_id": spectrograms.file_id, "label": np.asarray(spectrograms.class_names)[spectrograms.y]})
    for c, name in enumerate(spectrograms.class_names):
        frame[f"p_{name}"] = proba[:, c]
    return frame


def main(
    name: str, params_path: Path, features_dir: Path, out_dir: Path, metrics_path: Path, plots_dir: Path,
    synthetic_path: Path | None = None, project_root: Path = Path("."),
) -> None:
    params = load_params(params_path)
    dataset, settings = params.dataset, params.train_classifier
    splits = {split: load_spectrogram_set(features_dir / f"{split}.npz") for split in ("train", "val", "test")}
    normalizer = json.loads((features_dir / "normalizer.json").read_text())
    train_x, train_y = splits["train"].x, splits["train"].y
    lineage: dict[str, str] = {"synthaug.synthetic_set": "none"}
    if synthetic_path is not None:
        synthetic = load_spectrogram_set(synthetic_path)
        train_x, train_y = np.concatenate([train_x, synthetic.x]), np.concatenate([train_y, synthetic.y])
        lineage = {"synthaug.synthetic_set": str(synthetic_path), "synthaug.generator_run_id": synthetic.metadata.get("generator_run_id", "")}

    class_names = splits["train"].class_names
    input_shape = tuple(train_x.shape[1:])
    options = {k: v for k, v in settings.model.items() if k != "architecture"}
    architecture = settings.model["architecture"]
    model = build_classifier(architecture, len(class_names), input_shape, seed=settings.seed, **options)
    augmenter = Augmenter.from_params(settings.augment, channel_std=normalizer["std"])
    config = TrainConfig(**{k: getattr(settings, k) for k in TRAINING_KEYS})
    inputs = [features_dir / f"{split}.npz" for split in splits] + ([synthetic_path] if synthetic_path else [])
    checkpoints = checkpoint_dir("train_classifier", name, settings.model_dump(), inputs)

    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="train_classifier",
        protocol=dataset.protocol,
        params={"train_classifier": settings.model_dump(), "n_train": len(train_y), "n_synthetic": len(train_y) - len(splits["train"].y)},
        run_name=f"train_classifier-{name}-seed{settings.seed}",
        tags={"synthaug.method": name, "synthaug.seed": str(settings.seed), **lineage},
    ):
        import mlflow

        logged: set[int] = set()

        def on_epoch_end(epoch: int, record: dict) -> None:
            mlflow.log_metrics({k: float(v) for k, v in record.items() if k != "epoch"}, step=epoch)
            logged.add(epoch)

        val = splits["val"]
        if any(checkpoints.glob("*.pt")):
            print(f"train_classifier {name}: resuming from the checkpoint in {checkpoints}")
        result = train_classifier(model, (train_x, train_y), (val.x, val.y, val.file_id), config,
                                  augmenter=augmenter or None, checkpoint_dir=checkpoints, on_epoch_end=on_epoch_end)
        for record in result.history:  # epochs restored from a checkpoint were logged by an earlier run
            if record["epoch"] not in logged:
                mlflow.log_metrics({k: float(v) for k, v in record.items() if k != "epoch"}, step=record["epoch"])

        evaluations, probabilities = {}, {}
        for split, spectrograms in splits.items():
            probabilities[split] = predict_proba(result.model, spectrograms.x, device=config.device)
            evaluations[split] = evaluate(spectrograms.y, probabilities[split], spectrograms.file_id, class_names)
        metrics = {split: headline(evaluations[split]) for split in ("val", "test")}
        metrics.update(best_epoch=result.best_epoch, epochs_run=len(result.history), n_train=len(train_y))

        test = splits["test"]
        figures = {
            "learning_curves.png": learning_curves(result.history, best_epoch=result.best_epoch, title=f"{name}, seed {settings.seed}"),
            "confusion_matrix.png": confusion_matrix_figure(evaluations["test"]["clip"]["confusion_matrix"], class_names, title=f"{name}: test"),
            "roc.png": roc_figure(test.y, probabilities["test"], class_names, title=f"{name}: test ROC"),
        }
        with atomic_directory(out_dir) as tmp:
            save_classifier(tmp / "model.pt", result.model, architecture=architecture, options=options,
                            class_names=class_names, input_shape=input_shape)
            for split, spectrograms in splits.items():
                predictions_frame(spectrograms, probabilities[split]).to_csv(tmp / f"predictions_{split}.csv", index=False)
            write_json_atomic(tmp / "evaluation.json", evaluations)
            for file_name, figure in figures.items():
                figure.savefig(tmp / file_name, dpi=90)
        write_json_atomic(metrics_path, metrics)
        curve = pd.DataFrame(result.history)[["epoch", "train_loss", "val_loss", "val_macro_f1", "val_accuracy"]]
        write_text_atomic(plots_dir / "learning_curve.csv", curve.to_csv(index=False))

        for split in ("val", "test"):
            for level, values in metrics[split].items():
                mlflow.log_metrics({f"{split}_{level}_{k}": float(v) for k, v in values.items()})
        mlflow.log_metric("best_epoch", result.best_epoch)
        for file_name, figure in figures.items():
            tracking.log_figure(figure, file_name)
        for artifact in ["evaluation.json", *(f"predictions_{s}.csv" for s in splits)]:
            tracking.log_file(out_dir / artifact, "evaluation")
        tracking.log_classifier(result.model, test.x[:2], class_names)
    shutil.rmtree(checkpoints, ignore_errors=True)
    test_clip = metrics["test"]["clip"]
    print(f"train_classifier {name}: test macro F1 {test_clip['macro_f1']:.3f}, AUROC {test_clip['auroc']:.3f}, "
          f"accuracy {test_clip['accuracy']:.3f} (best epoch {result.best_epoch}) -> {out_dir}")
