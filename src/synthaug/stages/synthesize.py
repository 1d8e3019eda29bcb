"""synthesize@NAME: a trained generator -> a labelled synthetic spectrogram set, previews and audio.

Reads params `dataset.name`, `dataset.protocol`, `train_generator.classes`,
`train_generator.minority_tolerance` and `synthesize`;
reads FEATURES/train.npz, FEATURES/normalizer.json and MODEL_DIR (written by train_generator@NAME).
Writes OUT_DIR/synthetic.npz (the `synthaug.spectrograms.SpectrogramSet` schema, with the generator's MLflow run id and the
seed in its metadata), OUT_DIR/real_vs_synthetic.png, OUT_DIR/previews/*.wav (inverse mel +
Griffin-Lim of de-normalized samples) and counts and timing to METRICS. Logs one MLflow run.

How many: synthaug.class_plan.synthetic_counts, the rule tuning uses too. In `minority`
mode every minority class grows by `minority_ratio` of its training size (the medical protocol: 0.5),
never past the largest class; a listed class grows by `minority_ratio`; in `all` mode every class
gets `n_per_class` (the industrial one).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from synthaug import tracking
from synthaug.class_plan import Classes, configured_ratio, describe_classes, synthetic_counts
from synthaug.cli_arguments import add_params
from synthaug.config import load_params
from synthaug.errors import DataError
from synthaug.feature_params import LogMelParams
from synthaug.io import atomic_directory, write_json_atomic
from synthaug.spectrograms import SpectrogramSet, load_spectrogram_set, save_spectrogram_set

if TYPE_CHECKING:  # torch: imported once the work begins
    from synthaug.features import Normalizer


def counts_per_class(
    train_y: np.ndarray,
    class_names: list[str],
    served: list[str],
    classes: Classes,
    ratio: float,
    n_per_class: int,
    tolerance: float,
) -> dict[str, int]:
    """Synthetic spectrograms to draw for each learned class; DataError when the generator serves other
    classes (trained under other settings) or the ratio asks for none of a class."""
    counts = synthetic_counts(
        train_y, class_names, classes, ratio=configured_ratio(classes, ratio), n_per_class=n_per_class, tolerance=tolerance
    )
    unserved = sorted(set(counts) - set(served))
    if unserved:
        raise DataError(
            f"the trained generator serves {', '.join(served)}, but train_generator.classes: "
            f"{describe_classes(classes)} asks for {', '.join(unserved)}; re-run train_generator (dvc repro)"
        )
    sizes = np.bincount(train_y, minlength=len(class_names))
    empty = [f"{name} ({sizes[class_names.index(name)]} training spectrograms)" for name, n in counts.items() if n == 0]
    if empty:
        raise DataError(
            f"synthesize.minority_ratio {ratio:g} asks for no synthetic spectrograms of {', '.join(empty)}; "
            "raise the ratio or use train_generator.classes: all with synthesize.n_per_class"
        )
    return counts


def main(
    name: str,
    params_path: Path,
    features_dir: Path,
    model_dir: Path,
    out_dir: Path,
    metrics_path: Path,
    project_root: Path = Path("."),
) -> None:
    # torch and matplotlib load once the work begins, so a bad argument or parameter is reported at
    # once (tests/test_startup.py).
    from synthaug.evaluation.figures import real_vs_synthetic
    from synthaug.features import Normalizer
    from synthaug.generators.per_class import load_models, sample_classes

    params = load_params(params_path)
    dataset, settings = params.dataset, params.synthesize
    train = load_spectrogram_set(features_dir / "train.npz")
    normalizer = Normalizer.from_dict(json.loads((features_dir / "normalizer.json").read_text()))
    logmel = LogMelParams(**train.feature_params)
    index, models = load_models(model_dir, device=params.train_generator.device)
    counts = counts_per_class(
        train.y,
        train.class_names,
        sorted(models),
        params.train_generator.classes,
        settings.minority_ratio,
        settings.n_per_class,
        params.train_generator.minority_tolerance,
    )

    started = time.perf_counter()
    x, y = sample_classes(models, counts, train.class_names, seed=settings.seed, batch_size=settings.batch_size)
    seconds = time.perf_counter() - started
    lineage = {
        "generator": name,
        "generator_run_id": index.get("mlflow_run_id", ""),
        "seed": settings.seed,
        "data_version": tracking.data_version(project_root),
    }
    synthetic = SpectrogramSet(
        x=x,
        y=y,
        file_id=np.array([f"synthetic/{name}/{i:06d}" for i in range(len(x))]),
        class_names=train.class_names,
        feature_params=train.feature_params,
        metadata=lineage,
    )

    with tracking.stage_run(
        project_root=project_root,
        dataset_name=dataset.name,
        stage="synthesize",
        protocol=dataset.protocol,
        params={"generator": name, **settings.model_dump(), "classes": describe_classes(params.train_generator.classes)},
        run_name=f"synthesize-{name}",
        tags={
            "synthaug.method": name,
            "synthaug.seed": str(settings.seed),
            "synthaug.generator_run_id": lineage["generator_run_id"],
        },
    ):
        with atomic_directory(out_dir) as tmp:
            save_spectrogram_set(tmp / "synthetic.npz", synthetic)
            figure = real_vs_synthetic(train, synthetic, name)
            figure.savefig(tmp / "real_vs_synthetic.png", dpi=80)
            write_previews(tmp / "previews", synthetic, normalizer, logmel, settings.previews_per_class)
        metrics = {
            "count": {k: int(v) for k, v in counts.items()},
            "total": len(x),
            "seconds": seconds,
            "spectrograms_per_second": len(x) / max(seconds, 1e-9),
        }
        write_json_atomic(metrics_path, metrics)
        tracking.log_counts(metrics, "synthesize")
        tracking.log_figure(figure, "real_vs_synthetic.png")
        for preview in sorted((out_dir / "previews").glob("*.wav")):
            tracking.log_file(preview, "previews")
    print(f"synthesize {name}: {len(x)} spectrograms {dict(counts)} in {seconds:.1f} s -> {out_dir}")


def write_previews(folder: Path, synthetic: SpectrogramSet, normalizer: Normalizer, logmel: LogMelParams, per_class: int) -> None:
    from synthaug.features import log_mel_to_audio

    """A few synthetic spectrograms per class rendered to audio, de-normalized with the training statistics."""
    folder.mkdir(parents=True, exist_ok=True)
    db = synthetic.x[:, 0] * normalizer.std[None, :, None] + normalizer.mean[None, :, None]
    # Between digital silence (-100 dB, the log floor) and far above any real recording: keeps a
    # wild sample of an under-trained generator from overflowing when turned back into power.
    db = np.clip(db, -100.0, 120.0)
    for c in sorted(set(synthetic.y.tolist())):
        for k, i in enumerate(np.flatnonzero(synthetic.y == c)[:per_class]):
            wave = log_mel_to_audio(db[i], logmel, seed=k)
            sf.write(folder / f"{synthetic.class_names[c]}_{k}.wav", wave, logmel.sample_rate, subtype="PCM_16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `synthaug synthesize` (synthaug.cli)."""
    add_params(parser)
    parser.add_argument("name", help="generator: vae, wgan_gp, ddpm or cgan")
    parser.add_argument("features", type=Path, help="folder written by featurize")
    parser.add_argument("model_dir", type=Path, help="folder written by train_generator")
    parser.add_argument("out_dir", type=Path, help="output folder, e.g. outputs/synthetic/vae")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")


def run(args: argparse.Namespace) -> None:
    """`synthaug synthesize`: main with the parsed arguments."""
    main(args.name, args.params, args.features, args.model_dir, args.out_dir, args.metrics)
