"""How a run's whole configuration compares with the published protocols (synthaug.published_protocols).

Each arm is a tuple of `Published` rows: a key of the effective configuration, the value the study
states (or NOT_STATED), where it states it, and a note. Keys are of three kinds:
- params keys (`featurize.n_mels`, `train_generator.models.cgan.images_per_stage`), read after
  profile overlays and with every default filled in (sections, architecture and generator defaults);
- `derived.*`: quantities computed from params the way the code computes them (frames per clip,
  the conditional GAN's layout, runs per method, whether early stopping can trigger);
- `code.*`: protocol choices made in code rather than params (CODE_FACTS, with the module that
  makes each one), so a departure that no parameter can undo is still reported.
`data` rows describe the published data set: a run on other data departs from them by design, so
they are documented here but never counted as differences.

`effective_configuration(params)` builds the flat view; `differences_from_published` lists every
stated value a run departs from, `unstated_choices` what the run does where the study is silent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from synthaug.errors import ConfigError
from synthaug.published_protocols import CODE_FACTS, MEDICAL_MINORITY_TRAIN, PROTOCOLS, Published

NOT_SET = "(not set)"

PROFILES = {"medical": "paper-medical", "pucks": "paper-pucks", "metal_balls": "paper-metal-balls"}
# The arm a run is compared with when report.published_protocol is null.
DEFAULT_ARM = {"medical": "medical", "industrial": "pucks"}


# Mappings compared as one value (a published augmentation is a recipe, not a list of separate knobs).
WHOLE_VALUES = ("train_classifier.augment", "scarcity.augment")


def published_arm(params: Mapping[str, Any]) -> str:
    """The arm a run is compared with: report.published_protocol, else the dataset protocol's default arm."""
    chosen = (params.get("report") or {}).get("published_protocol")
    if chosen is None:
        return DEFAULT_ARM[(params.get("dataset") or {}).get("protocol", "medical")]
    if chosen not in PROTOCOLS:
        raise ConfigError(f"report.published_protocol: {chosen!r} is not one of {', '.join(PROTOCOLS)} (or null)")
    return chosen


def effective_configuration(params: Mapping[str, Any]) -> dict[str, Any]:
    """The whole configuration a run uses, flat: {dotted key: value}.

    `params` is params.yaml after profile overlays. Every default is filled in (params sections,
    the classifier architecture's and each generator's own defaults), then the `derived.*` values
    and the CODE_FACTS are added.
    """
    from synthaug.classifier_configs import classifier_config
    from synthaug.config import parse_params
    from synthaug.generator_configs import generator_config
    from synthaug.tracking import flatten

    parsed = parse_params(dict(params), where="params (effective configuration)")
    full = parsed.model_dump(mode="python")
    full["train_classifier"]["model"] = classifier_config(full["train_classifier"]["model"]).model_dump()
    full["train_generator"]["models"] = {
        name: generator_config(name, config).model_dump() for name, config in full["train_generator"]["models"].items()
    }
    flat = flatten(full)
    for key in WHOLE_VALUES:
        flat = {k: v for k, v in flat.items() if not k.startswith(f"{key}.")}
        flat[key] = _nested(full, key)
    flat.update(_derived(full))
    flat.update(CODE_FACTS)
    return flat


def _nested(mapping: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        mapping = mapping.get(part, {}) if isinstance(mapping, Mapping) else {}
    return mapping


def _derived(full: dict[str, Any]) -> dict[str, Any]:
    """Quantities the code computes from params, computed the way it does."""
    from synthaug.feature_params import FeaturizeParams

    frames = FeaturizeParams.model_validate(full["featurize"]).n_frames
    classifier, scarcity = full["train_classifier"], full["scarcity"]
    patience = classifier["patience"]
    levels = scarcity["files_per_class"]
    derived: dict[str, Any] = {
        "derived.frames_per_clip": frames,
        # Early stopping can trigger only when patience is set and shorter than the run.
        "derived.early_stopping": patience is not None and patience < classifier["epochs"],
        # training.py: with patience null the last epoch's weights are kept, else the best validation epoch's.
        "derived.model_kept": "last epoch" if patience is None else "best validation epoch",
        "derived.classifier_runs_per_method": len(classifier["seeds"]),
        "derived.gans_per_level": len(scarcity["trials"]) if scarcity["gan_per_trial"] else 1,
        "derived.classifier_trials_per_gan": 1 if scarcity["gan_per_trial"] else len(scarcity["trials"]),
        "derived.scarcity_fewest_files_per_class": min(levels) if levels else None,
        "derived.scarcity_most_files_per_class": max(levels) if levels else None,
    }
    size = (full["featurize"]["n_mels"], frames)
    models = full["train_generator"]["models"]
    if "cgan" in models:
        from synthaug.generators.cgan import progressive_layout

        n_stages, start, padded = progressive_layout(size, models["cgan"].get("start_resolution"))
        # The study writes resolutions as (frames, frequency bins); spectrograms here are (mels, frames).
        derived.update(
            {
                "derived.cgan_final_resolution": [padded[1], padded[0]],
                "derived.cgan_resolutions": n_stages,
                "derived.cgan_start_resolution": [start[1], start[0]],
            }
        )
    for name in ("vae", "wgan_gp", "ddpm"):
        if name in models:
            derived[f"derived.{name}_epochs"] = _epochs_at_published_size(models[name], name)
    if "ddpm" in models:
        from synthaug.generators.layers import padded_size

        blocks = len(models["ddpm"]["channel_mults"])
        multiple = 2 ** (blocks - 1)  # every encoder block but the last halves both axes (generators/ddpm.py)
        derived.update(
            {
                "derived.ddpm_unet_blocks": blocks,
                "derived.ddpm_attention_resolution": [padded_size(d, multiple) // multiple for d in size],
            }
        )
    return derived


def _epochs_at_published_size(config: Mapping[str, Any], name: str) -> float | None:
    """A medical generator's budget in the study's unit: passes over its minority training split.

    Budgets given as optimizer steps are converted with that split's size; the WGAN-GP's generator
    steps each take n_critic critic batches.
    """
    if config.get("epochs") is not None:
        return config["epochs"]
    if config.get("steps") is None or not config.get("batch_size"):
        return None
    batches = config["steps"] * (config.get("n_critic", 1) if name == "wgan_gp" else 1)
    return round(batches / math.ceil(MEDICAL_MINORITY_TRAIN / config["batch_size"]), 2)


def same(here: Any, published: Any) -> bool:
    """Equal as settings: numbers within a relative 1e-9 (0.001 == 1e-3 == 0.0010), tuples as lists."""
    if isinstance(here, bool) or isinstance(published, bool):  # True is not the setting 1
        return isinstance(here, bool) and isinstance(published, bool) and here == published
    if isinstance(here, (int, float)) and isinstance(published, (int, float)):
        return math.isclose(float(here), float(published), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(here, (list, tuple)) and isinstance(published, (list, tuple)):
        return len(here) == len(published) and all(same(a, b) for a, b in zip(here, published))
    if isinstance(here, Mapping) and isinstance(published, Mapping):
        return set(here) == set(published) and all(same(here[k], published[k]) for k in here)
    return here == published


def _row(entry: Published, effective: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": entry.key,
        "here": effective.get(entry.key, NOT_SET),
        "published": entry.value,
        "source": entry.source,
        "note": entry.note,
    }


def _table(protocol: str) -> tuple[Published, ...]:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"report.published_protocol: unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


def differences_from_published(effective: Mapping[str, Any], protocol: str) -> list[dict[str, Any]]:
    """Every stated setting of `protocol` that the effective configuration departs from.

    Rows {key, here, published, source, note}, in the table's order; `here` is NOT_SET when the
    configuration has no such key (e.g. a generator the run does not train).
    """
    return [
        _row(e, effective)
        for e in _table(protocol)
        if e.stated and not e.data and not same(effective.get(e.key, NOT_SET), e.value)
    ]


def unstated_choices(effective: Mapping[str, Any], protocol: str) -> list[dict[str, Any]]:
    """The settings `protocol` leaves open, with the value this run uses for each (keys it has)."""
    return [_row(e, effective) for e in _table(protocol) if not e.stated and e.key in effective]
