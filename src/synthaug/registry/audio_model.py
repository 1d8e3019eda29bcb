"""The registered model's predictor: raw audio in, file-level class probabilities out.

An AudioClassifier carries the whole preprocessing of the pipeline (decode, mix to mono, resample,
crop or segment into clips, log-mel, the training split's per-mel normalization) and one or more
trained networks with their ensemble weights, so a registered model classifies audio files without
the project's data or outputs. Its files (a *bundle*) are a folder holding `model.json` (log-mel
parameters, normalizer statistics, class names, member weights) and `member<i>.pt` (each network,
synthaug.classifiers.saved format).

Input rows (a pandas DataFrame) name an audio file in `path`, or carry a decoded `waveform` (1-D
samples) with its `sample_rate`. Output rows, in the same order: `label`, `p_<class>` for every
class, `n_clips` and `error` (empty when the row was classified; otherwise why not, and the
probabilities are NaN). A file cut into several clips gets the mean of its clips' probabilities,
as the pipeline's file-level evaluation does.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from synthaug import audio
from synthaug.errors import AudioError, DataError
from synthaug.features import LogMelParams, Normalizer, file_clips, log_mel_clips

BUNDLE_FILE = "model.json"
BUNDLE_ARTIFACT = "bundle"  # the bundle folder's name among the logged model's artifacts
INPUT_COLUMNS = ("path", "waveform", "sample_rate")


def probability_column(class_name: str) -> str:
    return f"p_{class_name}"


@dataclass
class AudioClassifier:
    """Networks (members) with their weights, and the preprocessing that turns audio into their input."""

    members: list  # SpectrogramClassifier, eval mode, CPU
    weights: np.ndarray  # [M], sums to 1
    logmel: LogMelParams
    normalizer: Normalizer
    class_names: list[str]
    description: dict

    @property
    def output_columns(self) -> list[str]:
        return ["label", *(probability_column(c) for c in self.class_names), "n_clips", "error"]

    # ---- on disk ------------------------------------------------------------------------------

    @staticmethod
    def write_bundle(
        bundle_dir: Path,
        member_paths: Sequence[Path],
        weights: Sequence[float],
        feature_params: dict,
        normalizer: dict,
        class_names: Sequence[str],
        description: dict | None = None,
    ) -> Path:
        """Write a bundle folder from trained classifier files (model.pt of each member) and the
        featurize outputs; `description` (method, seed, ...) is kept for whoever reads the model."""
        from synthaug.classifiers.saved import load_classifier

        if len(member_paths) == 0 or len(member_paths) != len(weights):
            raise ValueError(f"need one weight per member, got {len(member_paths)} members and {len(weights)} weights")
        for path in member_paths:  # fail here, with the file's name, rather than when the model is loaded
            _, saved = load_classifier(Path(path))
            if list(saved["class_names"]) != list(class_names):
                raise DataError(
                    f"{path}: trained for classes {saved['class_names']}, not {list(class_names)}; "
                    "re-run the pipeline from the same features (dvc repro)"
                )
        bundle_dir = Path(bundle_dir)
        bundle_dir.mkdir(parents=True, exist_ok=False)
        for i, path in enumerate(member_paths):
            shutil.copyfile(path, bundle_dir / f"member{i}.pt")
        weight_array = np.asarray(weights, dtype=np.float64)
        spec = {
            "feature_params": dict(feature_params),
            "normalizer": {"mean": list(normalizer["mean"]), "std": list(normalizer["std"])},
            "class_names": list(class_names),
            "weights": (weight_array / weight_array.sum()).tolist(),
            "description": dict(description or {}),
        }
        (bundle_dir / BUNDLE_FILE).write_text(json.dumps(spec, indent=1))
        return bundle_dir

    @classmethod
    def load(cls, bundle_dir: Path) -> AudioClassifier:
        from synthaug.classifiers.saved import load_classifier

        bundle_dir = Path(bundle_dir)
        spec_path = bundle_dir / BUNDLE_FILE
        if not spec_path.is_file():
            raise DataError(f"{bundle_dir}: not a synthaug audio model (no {BUNDLE_FILE})")
        spec = json.loads(spec_path.read_text())
        members = [load_classifier(bundle_dir / f"member{i}.pt")[0] for i in range(len(spec["weights"]))]
        return cls(
            members=members,
            weights=np.asarray(spec["weights"], dtype=np.float64),
            logmel=LogMelParams(**spec["feature_params"]),
            normalizer=Normalizer.from_dict(spec["normalizer"]),
            class_names=list(spec["class_names"]),
            description=spec.get("description", {}),
        )

    # ---- prediction -----------------------------------------------------------------------------

    def wave(self, row: dict) -> np.ndarray:
        """The row's mono waveform at the model's rate; AudioError when it cannot be used."""
        path = row.get("path")
        if isinstance(path, str) and path:
            return audio.load(path, self.logmel.sample_rate)
        waveform, rate = row.get("waveform"), row.get("sample_rate")
        if waveform is None or (np.ndim(waveform) == 0 and pd.isna(waveform)):
            raise AudioError("<row>", "no input", "give `path`, or `waveform` with `sample_rate`")
        if rate is None or pd.isna(rate):
            raise AudioError("waveform", "no sample rate", "give `sample_rate` (Hz) with `waveform`")
        return audio.to_model_rate(np.asarray(waveform, dtype=np.float32), int(rate), self.logmel.sample_rate)

    def clip_probabilities(self, spectrograms: np.ndarray) -> np.ndarray:
        """Weighted mean of the members' class probabilities [K, C] for log-mel clips [K, 1, mels, frames]."""
        from synthaug.evaluation.ensemble import average_probabilities
        from synthaug.training import predict_proba

        x = self.normalizer.apply(spectrograms)
        probas = [predict_proba(member, x, device="cpu") for member in self.members]
        return average_probabilities(np.stack(probas).astype(np.float64), self.weights)

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """One output row per input row (see the module docstring); unusable rows get their error."""
        unknown = [c for c in rows.columns if c not in INPUT_COLUMNS]
        if unknown:
            raise DataError(
                f"unknown input column(s) {', '.join(map(str, unknown))}; "
                f"give {INPUT_COLUMNS[0]}, or {INPUT_COLUMNS[1]} with {INPUT_COLUMNS[2]}"
            )
        clips, owner, errors = [], [], [""] * len(rows)
        for i, row in enumerate(rows.to_dict("records")):
            try:
                file_clip_waves = file_clips(self.wave(row), self.logmel)
            except AudioError as exc:
                errors[i] = f"{exc.reason}" + (f": {exc.detail}" if exc.detail else "")
                continue
            clips.append(file_clip_waves)
            owner.extend([i] * len(file_clip_waves))
        n_classes = len(self.class_names)
        file_proba = np.full((len(rows), n_classes), np.nan)
        n_clips = np.zeros(len(rows), dtype=np.int64)
        if clips:
            proba = self.clip_probabilities(log_mel_clips(np.concatenate(clips), self.logmel))
            owner_index = np.asarray(owner)
            n_clips = np.bincount(owner_index, minlength=len(rows))
            sums = np.zeros((len(rows), n_classes))
            np.add.at(sums, owner_index, proba)
            used = n_clips > 0
            file_proba[used] = sums[used] / n_clips[used, None]
        labels = [self.class_names[int(np.argmax(p))] if not errors[i] else "" for i, p in enumerate(file_proba)]
        out = pd.DataFrame({"label": labels}, index=rows.index)
        for c, name in enumerate(self.class_names):
            out[probability_column(name)] = file_proba[:, c]
        out["n_clips"] = n_clips
        out["error"] = errors
        return out
