"""A typed, validated view of params.yaml (plus profile overlays).

params.yaml is the single source of parameters, one section per stage, so DVC can track exactly the
keys each stage reads. This module only parses and validates; stages decide what to read. Any
problem is reported as a ConfigError that names the file, the dotted key and what to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from synthaug.augment_configs import checked_augmentation, classic_augmentation_default
from synthaug.class_plan import DEFAULT_MINORITY_TOLERANCE
from synthaug.config_base import Section
from synthaug.errors import ConfigError
from synthaug.feature_params import FeaturizeParams

PARAMS_FILE = "params.yaml"
PROFILES_DIR = "profiles"


class DatasetParams(Section):
    """Which data the pipeline reads: an adapter, its root folder and adapter options."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")  # names the MLflow experiment (synthaug-<name>)
    protocol: Literal["medical", "industrial"] = "medical"  # which published design the stages follow
    adapter: str  # how the data is read: coswara, folder, csv, fsdd, covid19-cough or demo
    root: str  # the folder holding the audio (and the adapter's metadata)
    options: dict[str, Any] = Field(default_factory=dict)  # the adapter's own options (see below)


class DemoParams(Section):
    """Sizes of the built-in demo data sets (written by `synthaug demo` when data/ is empty)."""

    seed: int = 0  # seeds the synthesised demo recordings
    cough: dict[str, Any] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)


class SplitParams(Section):
    train: float = Field(0.7, gt=0, lt=1)  # share of each class's groups in training
    val: float = Field(0.15, gt=0, lt=1)  # share in validation (model selection)
    test: float = Field(0.15, gt=0, lt=1)  # share in test (reported only)
    seed: int = 0  # which groups land in which split

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitParams:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1.0, got {total:g}")
        return self


class PrepareParams(Section):
    """The split, and the data report's checks (thresholds of its warnings, the upsampling refusal)."""

    split: SplitParams = Field(default_factory=SplitParams)
    allow_upsampling: bool = False  # true: files recorded below featurize.sample_rate or 2 x f_max only warn
    min_groups_per_class: int = Field(10, ge=0)  # fewer groups of a class in val or test warn; 0: no check
    max_class_association: float = Field(0.2, ge=0, le=1)  # Cramér's V of class vs native rate/channels/source
    max_duration_ratio: float = Field(1.5, ge=1)  # largest / smallest median duration of the classes


class TrainGeneratorParams(Section):
    """How generators are trained; `models` holds each generator's own hyperparameters."""

    # minority: every class smaller than the largest by more than minority_tolerance; all; or a list of
    # class names (synthaug.class_plan holds the rule and the synthetic counts).
    classes: Literal["minority", "all"] | list[str] = "minority"
    minority_tolerance: float = Field(DEFAULT_MINORITY_TOLERANCE, ge=0, lt=1)
    seed: int = 0  # seeds weights and batch streams (the plan's model i takes seed + i)
    device: str = "auto"  # auto: CUDA when present, else CPU
    # Periods in optimizer steps: mean losses to MLflow, checkpoints (resume points), sample grids.
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(100, ge=1)
    grid_every: int = Field(200, ge=1)
    # Checkpoints chosen by fidelity (synthaug.evaluation.selection): 1 serves the last step; N > 1 keeps
    # N evenly spaced snapshots and serves the one closest to the selection half of validation, while
    # the audit then reports on the other half only.
    fidelity_snapshots: int = Field(1, ge=1)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)  # generator name -> its hyperparameters (below)

    @field_validator("models")
    @classmethod
    def _valid_generators(cls, models: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Each entry against its generator's model (synthaug.generator_configs), before any stage runs;
        # the entry keeps its YAML shape (the keys it overrides), which is what DVC tracks.
        from synthaug.generator_configs import generator_config

        for name, config in models.items():
            try:
                generator_config(name, config)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return models

    @field_validator("classes", mode="before")
    @classmethod
    def _class_list(cls, classes: Any) -> Any:
        if isinstance(classes, list):
            if not classes:
                raise ValueError("an empty list names no class; list class names, or use minority or all")
            classes = [str(name) for name in classes]  # YAML reads `[3, 7]` (digit class names) as numbers
            if len(set(classes)) != len(classes):
                raise ValueError("a class is listed twice")
        return classes


class SynthesizeParams(Section):
    """How many synthetic spectrograms each generator writes, and the previews that go with them."""

    minority_ratio: float = Field(0.5, gt=0)  # medical: synthetic minority samples per real minority sample
    n_per_class: int = Field(500, ge=1)  # industrial: synthetic samples per class
    seed: int = 0  # seeds the sampling
    batch_size: int = Field(64, ge=1)  # spectrograms sampled per generator call
    previews_per_class: int = Field(2, ge=0)


class TrainClassifierParams(Section):
    """The classifier and its one training loop; `model` and `augment` are checked by their builders."""

    model: dict[str, Any] = Field(default_factory=lambda: {"architecture": "medical_cnn"})  # architecture and options
    epochs: int = Field(100, ge=1)  # at most this many epochs (early stopping may end sooner)
    batch_size: int = Field(32, ge=1)  # spectrograms per optimizer step
    lr: float = Field(1e-3, gt=0)  # Adam learning rate
    weight_decay: float = Field(0.0, ge=0)  # Adam weight decay
    patience: int | None = Field(15, ge=1)  # null: train all epochs and keep the last (no selection on validation)
    balance: Literal["none", "class_weight", "weighted_sampler"] = "none"
    # Class balance comes from the real training counts; each synthetic sample takes its class's real
    # weight times this factor (1: a synthetic sample counts as much as a real one of its class).
    synthetic_weight: float = Field(1.0, gt=0)
    # How synthetic rows are used beyond plain mixing (all off: plain mixing; no effect without them).
    # > 0: a real-vs-synthetic head on the penultimate features learns through gradient reversal with
    # this weight, so the features the classes are told apart by cannot tell synthetic from real.
    domain_adversarial_weight: float = Field(0.0, ge=0)
    # > 0: after the mixture's epochs, this many more on the real rows alone (the two-stage recipe),
    # from lr x fine_tune_lr_factor with its own cosine schedule.
    fine_tune_epochs: int = Field(0, ge=0)
    fine_tune_lr_factor: float = Field(0.1, gt=0, le=1)  # the fine-tune's starting lr over `lr`
    # < 1: keep only this share of the synthetic rows, those whose last-layer loss gradient under the
    # baseline classifier aligns best with its validation loss gradient (selection by utility). Read
    # by the minority_scarcity sweep, which trains the baseline first; other stages refuse it.
    utility_keep_share: float = Field(1.0, gt=0, le=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    device: str = "auto"  # auto: CUDA when present, else CPU
    # Seeds trained at once on the CPU, each in its own process with one torch thread; 1: one after
    # another with every core. A seed's weights depend on its thread count (1 when workers > 1).
    workers: int = Field(2, ge=1)
    augment: dict[str, Any] = Field(default_factory=dict)  # classic augmentation of every training batch ({}: off)
    # The "+ classic augmentation" method (the train_classic stage, the minority sweep's classic arm):
    # the real data alone with this augmentation, the cheap bar every generator is compared with.
    classic_augmentation: dict[str, Any] = Field(default_factory=classic_augmentation_default)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct: a repeated seed repeats the same classifier")
        return seeds

    def refuse_utility_selection(self, where: str) -> None:
        """ConfigError unless utility_keep_share is 1: only the minority_scarcity sweep trains the baseline the selection needs."""
        if self.utility_keep_share < 1:
            raise ConfigError(
                f"train_classifier.utility_keep_share: {self.utility_keep_share} selects synthetic rows under a baseline "
                f"classifier, which {where} does not train; set it to 1 here and use it in minority_scarcity.methods, "
                "e.g. {utility: {utility_keep_share: 0.5}}"
            )

    @field_validator("augment", "classic_augmentation")
    @classmethod
    def _valid_augmentation(cls, augment: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Against the transforms' models (synthaug.augment_configs) when params load; the mapping keeps
        # its YAML shape ({name: options}), which is what DVC tracks.
        return checked_augmentation(augment, f"train_classifier.{info.field_name}")

    @field_validator("model")
    @classmethod
    def _valid_architecture(cls, model: dict[str, Any]) -> dict[str, Any]:
        # Against the architecture's model (synthaug.classifier_configs) when params load; the mapping
        # keeps its YAML shape (architecture and the options it overrides), which is what DVC tracks.
        from synthaug.classifier_configs import classifier_config

        if "architecture" not in model:
            raise ValueError("missing `architecture` (medical_cnn, resnet_cnn or three_layer_cnn)")
        try:
            classifier_config(model)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return model


class AuditParams(Section):
    """How synthetic sets are audited against real validation data (fidelity, diversity, memorization)."""

    repeats: int = Field(5, ge=1)  # group splits of validation into comparison/reference halves, averaged
    k: int = Field(5, ge=1)  # neighbours of the precision/recall/density/coverage manifolds
    memorization_quantile: float = Field(0.05, gt=0, lt=1)  # a copy is closer to training than this share of validation
    copy_distance_ratio: float = Field(0.5, gt=0, le=1)  # ...and nearest/second-nearest training distance below this
    projection_dim: int = Field(128, ge=2)  # the random projection of the log-mel (the second view)
    # Group permutations of the strongest two-sample test's p-value (0: no p-value); 99 resolves p = 0.01.
    permutations: int = Field(99, ge=0)
    # Processes that share the two-sample tests and permutations (the results do not depend on how many).
    workers: int = Field(2, ge=1)
    seed: int = 0  # seeds the projections, splits, subsamples and permutations


class CurationParams(Section):
    """Optional curation: synthetic samples outside these bounds are dropped before training (off by default).

    Each bound may be null (not applied). A bound params.yaml leaves out is not applied either: a profile's
    `null` removes the key, and must not bring back a value (a tuned profile nulls the bounds its trial did
    not apply). Scores come from the audit stage, see synthaug.evaluation.fidelity.
    """

    enabled: bool = False  # true: drop synthetic samples outside the bounds below before training
    max_manifold_distance: float | None = Field(None, gt=0)  # > 1: outside the real training manifold
    min_copy_ratio: float | None = Field(None, ge=0)  # < 1: a copy of one training sample (see audit.copy_distance_ratio)
    min_confidence: float | None = Field(None, ge=0, le=1)  # the baseline's probability of the sample's label


class EnsembleParams(Section):
    """The ensemble: members' class probabilities averaged (the medical protocol: equal weights)."""

    members: list[str] = Field(default_factory=lambda: ["baseline", "vae", "wgan_gp", "ddpm"], min_length=2)  # methods averaged
    fit_weights: bool = True  # also an ensemble with weights fitted on the log loss of one validation half
    validation_split_seed: int = 0  # which groups form the fitting half; the other half scores the fitted ensemble


REGISTRY_METRICS = ("val_file_macro_f1", "val_file_auroc", "val_file_accuracy", "val_file_balanced_accuracy")


class RegistryParams(Section):
    """The model registry: which registered model, and when a version earns the `champion` alias."""

    model_name: str | None = None  # null: synthaug-<dataset.name>
    metric: Literal[REGISTRY_METRICS] = "val_file_macro_f1"  # type: ignore[valid-type]  # validation split, file level; higher is better
    margin: float = Field(0.0, ge=0)  # promote only when the candidate beats the champion by more than this


PrimaryEndpoint = Literal["auroc", "macro_f1_val_threshold", "macro_f1", "balanced_accuracy"]
DEFAULT_PRIMARY_ENDPOINTS: tuple[PrimaryEndpoint, ...] = ("auroc", "macro_f1_val_threshold")


class ReportParams(Section):
    """Statistics of the report: paired bootstrap intervals and permutation tests against the baseline."""

    n_resamples: int = Field(2000, ge=100)  # bootstrap resamples and permutations of each comparison
    confidence: float = Field(0.95, gt=0.5, lt=1)  # level of the reported intervals
    seed: int = 0  # seeds the resampling
    # The endpoints the report shows first and adjusts as its primary family (synthaug.evaluation.endpoints);
    # the tuning objective optimises the first on validation. Argmax accuracy is never a primary
    # endpoint: a moved decision threshold raises it without better discrimination.
    primary_endpoints: list[PrimaryEndpoint] = Field(default_factory=lambda: list(DEFAULT_PRIMARY_ENDPOINTS), min_length=1)
    # The published protocol the run is compared with (synthaug.protocols); null: medical for the
    # medical protocol, pucks for the industrial one.
    published_protocol: Literal["medical", "pucks", "metal_balls"] | None = None


class ScarcityParams(Section):
    """The industrial protocol's data-scarcity sweep; an empty `files_per_class` turns it off."""

    @field_validator("augment")
    @classmethod
    def _valid_augmentation(cls, augment: dict[str, Any]) -> dict[str, Any]:
        return checked_augmentation(augment, "scarcity.augment")

    files_per_class: list[int] = Field(default_factory=list)  # training files per class at each point ([]: no sweep)
    trials: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)  # one subset, GAN and classifier each
    gan_per_trial: bool = True  # false: every trial of a level uses one GAN (seed 0), as for Pucks
    subset_seed: int = 0  # with the trial, which files each point draws
    augment: dict[str, Any] = Field(default_factory=dict)  # the classic augmentation of the "+ classic" variants
    # false (the industrial study): train_classifier.epochs epochs, the last kept, no validation data
    # read; true: early stopping on a validation subset of the same budget (files_per_class per class).
    early_stopping: bool = False
    # The "+ real (ceiling)" variant: up to as many extra real clips per class as the GAN adds, from
    # the training files the point left out (those larger subsets add next); where they hold fewer
    # clips, all of them. The largest subset of a data set that has no files left has no ceiling.
    ceiling: bool = True

    @field_validator("files_per_class")
    @classmethod
    def _positive_sizes(cls, sizes: list[int]) -> list[int]:
        if any(n < 1 for n in sizes) or len(set(sizes)) != len(sizes):
            raise ValueError("expected distinct positive numbers of files per class, e.g. [2, 4, 8]")
        return sizes

    @field_validator("trials")
    @classmethod
    def _distinct_trials(cls, trials: list[int]) -> list[int]:
        if len(set(trials)) != len(trials):
            raise ValueError("trials must be distinct: each trial's number seeds its GAN and classifiers")
        return trials


class MinorityScarcityParams(Section):
    """The medical protocol made scarce: the minority class's training groups subsampled, the majority whole."""

    fractions: list[float] = Field(default_factory=list)  # shares of each minority class's training groups kept ([]: no sweep)
    trials: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)  # each draws its own subsets and seeds its models
    # Generators of train_generator.models, each trained at every point on its minority subset.
    generators: list[str] = Field(default_factory=lambda: ["ddpm"], min_length=1)
    subset_seed: int = 0  # with the trial, which groups each point keeps
    # Ways to use each generator's samples beside plain mixing, each one more arm per generator
    # ("<generator>+<name>"): name -> the train_classifier keys it changes, e.g. {fine_tune_epochs: 4}.
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The "+ real (ceiling)" arm: as many extra real minority spectrograms as a generator adds, from the
    # training groups the point left out; a point whose left-out groups hold too few has no ceiling.
    ceiling: bool = True

    @field_validator("fractions")
    @classmethod
    def _shares(cls, fractions: list[float]) -> list[float]:
        if any(not 0 < f <= 1 for f in fractions) or len(set(fractions)) != len(fractions):
            raise ValueError("expected distinct shares in (0, 1], e.g. [0.1, 0.25, 0.5, 1.0]")
        return fractions

    @field_validator("trials")
    @classmethod
    def _distinct_trials(cls, trials: list[int]) -> list[int]:
        if len(set(trials)) != len(trials):
            raise ValueError("trials must be distinct: each trial's number seeds its subsets and models")
        return trials


# tune.space's keys beside a generator's hyperparameters (synthaug.tuning reads them).
RATIO = "ratio"  # the synthetic share: synthetic spectrograms per real training spectrogram of a served class
CURATION_PREFIX = "curation."  # tune.space keys curation.<bound> tune the curation bounds
CLASSIFIER_PREFIX = "train_classifier."  # tune.space keys train_classifier.<key> tune how synthetic rows are used
# The train_classifier keys a trial may tune: how its synthetic rows are used (utility selection needs
# the baseline, which the objective does not train).
TUNABLE_CLASSIFIER_KEYS = ("domain_adversarial_weight", "fine_tune_epochs", "fine_tune_lr_factor", "synthetic_weight")


class SearchDimension(Section):
    """One hyperparameter's range: {low, high[, log][, step]} (numbers; ints when low and high are ints) or {choices}."""

    low: int | float | None = None  # int bounds (and step) make an integer dimension
    high: int | float | None = None  # the range's upper bound (inclusive)
    log: bool = False  # sample on a log scale
    step: int | float | None = None  # a grid step (not with log)
    choices: list[Any] | None = None  # a categorical dimension instead of a range

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchDimension:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("give either non-empty `choices` or `low` and `high`, not both")
        elif self.low is None or self.high is None or not self.low <= self.high:
            raise ValueError(f"needs low <= high (or choices), got low={self.low}, high={self.high}")
        elif self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class TuneParams(Section):
    """Optuna studies of the augmentation ratio and generator hyperparameters (`synthaug tune`)."""

    generator: str = "vae"  # the generator whose hyperparameters and ratio are tuned
    n_trials: int = Field(20, ge=1)  # trials of the study (shared by every worker)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)  # classifier seeds averaged per trial
    storage: str | None = None  # null: SQLite file optuna.db in the project; journal:PATH; or an SQLAlchemy URL
    study_name: str | None = None  # null: synthaug-<dataset.name>-<generator>
    pruner: Literal["median", "successive_halving", "none"] = "median"
    sampler_seed: int = 0  # seeds Optuna's TPE sampler
    # Per generator: params.yaml keys of train_generator.models.<generator> -> their range; `ratio`
    # (the synthetic share: minority_ratio, or per-class count / real class size) is shared.
    space: dict[str, dict[str, SearchDimension]] = Field(default_factory=dict)

    @field_validator("space")
    @classmethod
    def _known_keys(cls, space: dict[str, dict[str, SearchDimension]]) -> dict[str, dict[str, SearchDimension]]:
        # Every key against the generator models (synthaug.generator_configs), when params are loaded;
        # `shared` keys against every generator's, and again against the tuned one's when a study starts.
        from synthaug.curation import CURATION_BOUNDS
        from synthaug.generator_configs import GENERATOR_CONFIGS

        unknown = sorted(set(space) - set(GENERATOR_CONFIGS) - {"shared"})
        if unknown:
            raise ValueError(
                f"unknown section(s) {', '.join(unknown)}; use shared or a generator: {', '.join(GENERATOR_CONFIGS)}"
            )
        for section, dimensions in space.items():
            models = list(GENERATOR_CONFIGS.values()) if section == "shared" else [GENERATOR_CONFIGS[section]]
            hyperparameters = set().union(*(model.model_fields for model in models))
            for key in dimensions:
                where = f"tune.space.{section}.{key}"
                if key.startswith(CURATION_PREFIX) and key.removeprefix(CURATION_PREFIX) not in CURATION_BOUNDS:
                    raise ValueError(
                        f"{where}: not a curation bound; valid: {', '.join(CURATION_PREFIX + b for b in CURATION_BOUNDS)}"
                    )
                if key.startswith(CLASSIFIER_PREFIX) and key.removeprefix(CLASSIFIER_PREFIX) not in TUNABLE_CLASSIFIER_KEYS:
                    raise ValueError(
                        f"{where}: not a tunable train_classifier key; valid: "
                        f"{', '.join(CLASSIFIER_PREFIX + k for k in TUNABLE_CLASSIFIER_KEYS)}"
                    )
                if not (key == RATIO or key in hyperparameters or key.startswith((CURATION_PREFIX, CLASSIFIER_PREFIX))):
                    owner = "any generator" if section == "shared" else f"generator {section}"
                    raise ValueError(
                        f"{where}: not a hyperparameter of {owner}; valid: {RATIO}, {', '.join(sorted(hyperparameters))}, "
                        f"{CURATION_PREFIX}<bound>, {CLASSIFIER_PREFIX}<key>"
                    )
        return space


class Params(Section):
    dataset: DatasetParams
    demo: DemoParams = Field(default_factory=DemoParams)
    prepare: PrepareParams = Field(default_factory=PrepareParams)
    featurize: FeaturizeParams = Field(default_factory=FeaturizeParams)
    train_generator: TrainGeneratorParams = Field(default_factory=TrainGeneratorParams)
    synthesize: SynthesizeParams = Field(default_factory=SynthesizeParams)
    train_classifier: TrainClassifierParams = Field(default_factory=TrainClassifierParams)
    audit: AuditParams = Field(default_factory=AuditParams)
    curation: CurationParams = Field(default_factory=CurationParams)
    ensemble: EnsembleParams = Field(default_factory=EnsembleParams)
    scarcity: ScarcityParams = Field(default_factory=ScarcityParams)
    minority_scarcity: MinorityScarcityParams = Field(default_factory=MinorityScarcityParams)
    report: ReportParams = Field(default_factory=ReportParams)
    tune: TuneParams = Field(default_factory=TuneParams)
    registry: RegistryParams = Field(default_factory=RegistryParams)

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_given(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("the dataset section is empty")
        return value

    @model_validator(mode="after")
    def _sweep_generators_configured(self) -> Params:
        unknown = [g for g in self.minority_scarcity.generators if g not in self.train_generator.models]
        if self.minority_scarcity.fractions and unknown:
            raise ValueError(
                f"minority_scarcity.generators: {', '.join(unknown)} not in train_generator.models "
                f"({', '.join(self.train_generator.models)}); list configured generators"
            )
        for name, changes in self.minority_scarcity.methods.items():
            try:
                TrainClassifierParams.model_validate({**self.train_classifier.model_dump(), **changes})
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"minority_scarcity.methods.{name}: not valid train_classifier keys ({problems})") from None
        return self


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Return base updated by overlay; nested mappings merge, everything else is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found. Run from the project root or pass --params PATH.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def parse_params(raw: dict[str, Any], where: str = PARAMS_FILE) -> Params:
    """Validate a params mapping; errors name each bad key and its value."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (a typo?); remove it or see docs/parameters.md for the valid keys"
            elif "input" in error and error["type"] != "missing":
                message += f" (got {error['input']!r})"
            problems.append(f"  {key}: {message}")
        raise ConfigError(f"{where}: invalid parameters:\n" + "\n".join(problems)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    return parse_params(read_yaml(path), where=str(path))
