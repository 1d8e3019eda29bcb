"""One validated type per generator's hyperparameters (params `train_generator.models.NAME`), without torch.

`train_generator.models` keeps its YAML shape (generator name -> the keys it overrides), so DVC's
`foreach` and each stage's params are unchanged; every entry is validated against its generator's
model when params are loaded, so a typo or a bad value stops before any stage starts, and again
when a generator is built. The models hold every key with its default (the published recipe), its
bounds and, in the comment beside it, its description (docs/parameters.md is rendered from them).
Values are strict: `steps: true` or `lr: "1e-4"` is refused rather than coerced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from synthaug.config_base import Section
from synthaug.errors import ConfigError

# Keys of older parameter files and what replaced them.
RENAMED = {
    "epochs": "training budgets are optimizer steps, the same on any data size: replace `epochs: E` with "
    "`steps: S` (one epoch is about ceil(n_train / batch_size) steps; for wgan_gp count generator "
    "steps, about epochs x ceil(n_train / batch_size) / n_critic)",
}
# The transforms of synthaug.generators.diffaugment, by name (that module checks the two agree).
DIFFAUGMENT_TRANSFORMS = ("time_shift", "freq_shift", "cutout")


def key_name(generator: str, key: str) -> str:
    """The dotted params.yaml key of a generator's hyperparameter."""
    return f"train_generator.models.{generator}.{key}"


def check_policy(policy: Any, key: str) -> list[str]:
    """A DiffAugment policy as a list, or ValueError naming `key` and the valid transform names."""
    if isinstance(policy, str) or not isinstance(policy, (list, tuple)):
        raise ValueError(f"{key} must be a list of transform names (e.g. [time_shift, cutout]; [] = off), got {policy!r}")
    unknown = [name for name in policy if name not in DIFFAUGMENT_TRANSFORMS]
    if unknown:
        raise ValueError(
            f"{key}: unknown transform(s) {', '.join(map(str, unknown))}; valid: {', '.join(DIFFAUGMENT_TRANSFORMS)}"
        )
    return list(policy)


class GeneratorConfig(Section):
    """The keys every generator takes beside its own hyperparameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: ClassVar[str] = ""
    always_conditional: ClassVar[bool] = False  # the cgan: one model over every class it learns, whatever the config

    steps: int | None = Field(None, ge=1)  # optimizer steps of the main training
    batch_size: int = Field(32, ge=1)  # spectrograms per optimizer step
    # wall-clock cap on the training (null: none); a capped run stops cleanly after a checkpoint
    max_minutes: float | None = Field(None, gt=0)
    # decay of an exponential moving average of the network that samples (null or 0: off)
    ema_decay: float | None = Field(None, ge=0, lt=1)
    ema_start: int = Field(0, ge=0)  # optimizer step from which the moving average is updated
    # Which training classes a conditional model learns from: learned (the classes train_generator.classes
    # augments; published) or all (every training class teaches one conditional model, which is then
    # sampled only for the augmented classes).
    teacher_classes: Literal["learned", "all"] = "learned"
    # With teacher_classes all: optimizer steps after the main budget on the augmented classes' spectrograms alone (0: none)
    fine_tune_steps: int = Field(0, ge=0)
    # Further EMA decays averaged beside ema_decay, for the snapshot choice (train_generator.fidelity_snapshots) to pick from
    ema_candidates: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        for old, hint in RENAMED.items():
            if isinstance(data, Mapping) and old in data:
                raise ValueError(f"{key_name(cls.name, old)}: {hint}")
        return data

    @field_validator("diffaugment", mode="before", check_fields=False)
    @classmethod
    def _policy(cls, policy: Any) -> list[str]:
        return check_policy(policy, key_name(cls.name, "diffaugment"))

    @property
    def conditional(self) -> bool:
        """One model over every learned class."""
        return self.always_conditional or bool(getattr(self, "class_conditional", False))

    @model_validator(mode="after")
    def _shared_rules(self) -> GeneratorConfig:
        name = self.name
        if self.teacher_classes == "all" and not self.conditional:
            raise ValueError(
                f"{key_name(name, 'teacher_classes')}: all needs one conditional model ({key_name(name, 'class_conditional')}: "
                "true): an unconditional model trained on every class would sample them all mixed"
            )
        if self.fine_tune_steps > 0 and self.teacher_classes != "all":
            raise ValueError(
                f"{key_name(name, 'fine_tune_steps')}: {self.fine_tune_steps} needs {key_name(name, 'teacher_classes')}: all "
                "(the fine-tune narrows a model taught by every class to the augmented ones); set it to 0 or teach with all"
            )
        if self.ema_candidates and not self.ema_decay:
            raise ValueError(
                f"{key_name(name, 'ema_candidates')}: {self.ema_candidates} are alternatives to an average; set "
                f"{key_name(name, 'ema_decay')} (e.g. 0.999) or leave ema_candidates empty"
            )
        if self.ema_decay in self.ema_candidates or len(set(self.ema_candidates)) != len(self.ema_candidates):
            raise ValueError(
                f"{key_name(name, 'ema_candidates')}: {self.ema_candidates} repeats a decay (ema_decay is {self.ema_decay}); list each once"
            )
        return self


class VAEConfig(GeneratorConfig):
    """The VAE of the medical study."""

    name: ClassVar[str] = "vae"
    steps: int = Field(5000, ge=1)  # optimizer steps (published: 200 epochs, about 5,000 steps of 32)
    batch_size: int = Field(32, ge=1)  # spectrograms per optimizer step
    lr: float = Field(1e-4, gt=0)  # Adam learning rate
    beta: float = Field(0.1, ge=0)  # weight of the KL term against the reconstruction
    latent_dim: int = Field(128, ge=1)  # size of the latent code z
    width: float = Field(1.0, gt=0)  # multiplies every encoder and decoder block's filter count (64/128/256/512 at 1.0)
    # sum (squared error summed over the spectrogram, published), mean (per element), or gaussian (the sigma-VAE's learned decoder variance)
    reconstruction: Literal["sum", "mean", "gaussian"] = "sum"
    kl_warmup_steps: int = Field(0, ge=0)  # ramp beta up linearly over this many steps (0: off)
    free_bits: float = Field(0.0, ge=0)  # nats per latent dimension the KL term does not penalise (0: off)
    decoder_noise: bool = (
        False  # true: sample N(decoder(z), the training reconstruction error per mel band) instead of the decoder's mean
    )
    latent_density: Literal["prior", "mixture"] = (
        "prior"  # prior: z ~ N(0, I) (published); mixture: a Gaussian mixture fitted to the training latents
    )
    mixture_components: int = Field(10, ge=1)  # components of that mixture (a class with few training latents gets fewer)
    class_conditional: bool = False  # true: one model learns every learned class (labels into encoder and decoder)


class WGANGPConfig(GeneratorConfig):
    """The WGAN-GP of the medical study."""

    name: ClassVar[str] = "wgan_gp"
    steps: int = Field(1500, ge=1)  # generator steps (each follows n_critic critic steps; published: 300 epochs, about 1,500)
    batch_size: int = Field(32, ge=1)  # spectrograms per critic or generator step
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"  # rmsprop (published) or adam (betas 0, 0.9)
    lr: float = Field(5e-5, gt=0)  # learning rate of both networks
    lr_critic: float | None = Field(None, gt=0)  # the critic's own learning rate (null: lr)
    lr_generator: float | None = Field(None, gt=0)  # the generator's own learning rate (null: lr)
    n_critic: int = Field(5, ge=1)  # critic steps per generator step, each on its own real mini-batch
    gp_lambda: float = Field(10.0, ge=0)  # weight of the gradient penalty on interpolates of real and generated spectrograms
    noise_dim: int = Field(128, ge=1)  # size of the noise vector the generator starts from
    width: float = Field(1.0, gt=0)  # multiplies every block's filter count (critic 64/128/256/512 at 1.0)
    spectral_norm: bool = True  # spectrally normalised critic layers (published)
    # differentiable augmentations the critic sees on real and generated batches alike ([]: off)
    diffaugment: list[str] = Field(default_factory=list)
    lecam_lambda: float = Field(0.0, ge=0)  # weight of LeCam regularisation of the critic (0: off)
    lecam_decay: float = Field(0.99, ge=0, lt=1)  # decay of the LeCam anchors' moving averages
    r1_gamma: float = Field(0.0, ge=0)  # R1 regularisation gamma on real inputs, beside the gradient penalty (0: off)
    class_conditional: bool = False  # true: one model learns every learned class (class embedding, projection critic)


# What the DDPM keys are when the formulation is EDM: changing one is refused.
DDPM_ONLY = (
    "num_train_timesteps",
    "beta_start",
    "beta_end",
    "prediction_type",
    "snr_gamma",
    "sampling_eta",
    "timestep_spacing",
    "zero_terminal_snr",
    "clip_sample_range",
)


class DDPMConfig(GeneratorConfig):
    """The DDPM of the medical study (DDIM sampling), or EDM's formulation of the same U-Net."""

    name: ClassVar[str] = "ddpm"
    steps: int = Field(19600, ge=1)  # optimizer steps (published: 400 epochs, about 19,600 steps of 16)
    batch_size: int = Field(16, ge=1)  # spectrograms per optimizer step
    lr: float = Field(1e-4, gt=0)  # AdamW learning rate
    weight_decay: float = Field(0.01, ge=0)  # AdamW weight decay
    lr_warmup_steps: int = Field(0, ge=0)  # linear learning-rate warm-up over this many steps (0: off)
    num_train_timesteps: int = Field(1000, ge=1)  # diffusion steps T
    beta_start: float = Field(1e-4, gt=0, lt=1)  # first beta of the linear variance schedule
    beta_end: float = Field(0.02, gt=0, lt=1)  # last beta of the linear variance schedule
    prediction_type: Literal["epsilon", "v_prediction"] = (
        "epsilon"  # what the U-Net predicts: epsilon (the added noise; published) or v_prediction
    )
    snr_gamma: float | None = Field(None, gt=0)  # min-SNR loss weighting gamma (null: the plain L2 loss)
    sampling_steps: int = Field(50, ge=1)  # DDIM steps at sampling (EDM: Heun steps)
    sampling_eta: float = Field(0.0, ge=0, le=1)  # DDIM eta: 0 deterministic (published), 1 fresh noise at each step
    # which timesteps DDIM visits: leading (diffusers' default), trailing (ends at T - 1) or linspace
    timestep_spacing: Literal["leading", "trailing", "linspace"] = "leading"
    zero_terminal_snr: bool = False  # rescale the betas so the last step holds no signal (needs v_prediction)
    clip_sample_range: float | None = Field(None, gt=0)  # clamp the predicted x0 to +-this at each DDIM step (null: off)
    base_channels: int = Field(32, ge=1)  # width of the first U-Net block; block widths are base_channels x channel_mults
    # one multiplier per U-Net level (its length is the number of levels; five for the published U-Net)
    channel_mults: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1, 2, 2, 4, 4], min_length=2)
    layers_per_block: int = Field(2, ge=1)  # ResNet layers in each U-Net block
    attention_head_dim: int = Field(8, ge=1)  # channels per self-attention head at the bottleneck
    norm_num_groups: int = Field(8, ge=1)  # group-norm groups; must divide every block width
    patch_size: int = Field(1, ge=1)  # the U-Net works on p x p patches folded into channels (1: published)
    class_conditional: bool = False  # true: one model learns every learned class (a class embedding added to the time embedding)
    dropout: float = Field(0.0, ge=0, lt=1)  # the U-Net's dropout (formulation edm only; 0: off)
    # formulation: ddpm (published: DDPM training, DDIM sampling) or edm (preconditioning, log-normal noise
    # levels, Heun sampling). Spectrograms are z-scored per mel channel, so sigma_data is 1, not EDM's 0.5
    # for images, and the training noise levels move with it: p_mean = EDM's -1.2 + ln(1 / 0.5) = -0.5
    # (measured on the learning test's bursts, 400 steps: KID share 0.76 at -1.2, 0.17 at -0.6);
    # sigma_min, sigma_max, rho and p_std are EDM's.
    formulation: Literal["ddpm", "edm"] = "ddpm"
    sigma_data: float = Field(1.0, gt=0)  # edm: standard deviation of the data (1 for z-scored spectrograms)
    sigma_min: float = Field(0.002, gt=0)  # edm: lowest noise level of the sampler
    sigma_max: float = Field(80.0, gt=0)  # edm: highest noise level of the sampler
    rho: float = Field(7.0, gt=0)  # edm: curvature of the sampler's noise levels
    p_mean: float = -0.5  # edm: mean of ln(sigma) in training (EDM's -1.2 shifted for sigma_data 1)
    p_std: float = Field(1.2, gt=0)  # edm: spread of ln(sigma) in training
    augment_probability: float = Field(0.0, ge=0, le=1)  # edm: probability of non-leaking augmentation per sample (0: off)

    @property
    def block_widths(self) -> tuple[int, ...]:
        return tuple(self.base_channels * m for m in self.channel_mults)

    @model_validator(mode="after")
    def _consistent(self) -> DDPMConfig:
        key = lambda k: key_name("ddpm", k)  # noqa: E731
        if not self.beta_start < self.beta_end:
            raise ValueError(f"{key('beta_start')}/beta_end: need 0 < beta_start < beta_end < 1")
        if self.sampling_steps > self.num_train_timesteps:
            raise ValueError(f"{key('sampling_steps')} must be <= num_train_timesteps ({self.num_train_timesteps})")
        if self.zero_terminal_snr and self.prediction_type != "v_prediction":
            raise ValueError(
                f"{key('zero_terminal_snr')}: true needs prediction_type: v_prediction; at zero signal-to-noise the last "
                "step's input holds no trace of the data, so the added noise is all there is to predict and epsilon "
                "prediction learns nothing there (Lin et al. 2024)"
            )
        if any(w % self.norm_num_groups for w in self.block_widths):
            raise ValueError(
                f"{key('norm_num_groups')}={self.norm_num_groups} must divide every block width "
                f"{list(self.block_widths)} (base_channels x channel_mults)"
            )
        if not self.sigma_min < self.sigma_max:
            raise ValueError(f"{key('sigma_min')} must be below sigma_max (EDM: 0.002 and 80)")
        if self.formulation == "edm":
            fields = type(self).model_fields
            changed = [k for k in DDPM_ONLY if getattr(self, k) != fields[k].get_default(call_default_factory=True)]
            if changed:
                raise ValueError(
                    f"{key(changed[0])}: {', '.join(changed)} belong to the DDPM formulation; with formulation: edm "
                    "remove them (EDM's preconditioning, noise levels and Heun sampler replace them)"
                )
        elif self.augment_probability > 0:
            raise ValueError(
                f"{key('augment_probability')}: non-leaking augmentation tells the network what was augmented, which "
                "only formulation: edm does; set it to 0 or use formulation: edm"
            )
        return self


class CGANConfig(GeneratorConfig):
    """The class-conditional progressive GAN in the style of GANSynth (the industrial study)."""

    name: ClassVar[str] = "cgan"
    always_conditional: ClassVar[bool] = True
    steps: int | None = Field(
        None, ge=1
    )  # optimizer steps (null: derived from images_per_stage, so that every stage gets its images)
    batch_size: int = Field(16, ge=1)  # spectrograms per discriminator and generator step
    lr: float = Field(1e-3, gt=0)  # Adam learning rate of both networks (betas 0, 0.99)
    noise_dim: int = Field(128, ge=1)  # size of the noise vector (the one-hot label is appended)
    base_channels: int = Field(128, ge=1)  # channels of the last (full-resolution) stage; they double towards the start
    max_channels: int = Field(256, ge=1)  # cap on any stage's channels
    images_per_stage: int = Field(8000, ge=1)  # images shown per resolution stage (GANSynth: 800k; the study: 8,000)
    # [mels, frames] of the first stage (null: derived from the input size)
    start_resolution: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)] | None = None
    gp_lambda: float = Field(10.0, ge=0)  # weight of the WGAN gradient penalty
    drift_weight: float = Field(1e-3, ge=0)  # Progressive GAN's drift term on real scores
    ac_weight: float = Field(10.0, ge=0)  # weight of the auxiliary classifier's cross-entropy (GANSynth: 10)
    fade_in_fraction: float = Field(0.5, ge=0, le=1)  # share of each new stage over which it fades in
    # differentiable augmentations the discriminator sees on real and generated batches alike ([]: off)
    diffaugment: list[str] = Field(default_factory=list)
    r1_gamma: float = Field(0.0, ge=0)  # R1 regularisation gamma on real inputs, beside the gradient penalty (0: off)


GENERATOR_CONFIGS: dict[str, type[GeneratorConfig]] = {
    "vae": VAEConfig,
    "wgan_gp": WGANGPConfig,
    "ddpm": DDPMConfig,
    "cgan": CGANConfig,
}


def generator_config(name: str, overrides: Mapping[str, Any] | None) -> GeneratorConfig:
    """Generator `name`'s config: its defaults with `overrides` (a `train_generator.models` entry).

    Raises ConfigError naming each bad key as train_generator.models.NAME.KEY with what to write.
    """
    if name not in GENERATOR_CONFIGS:
        raise ConfigError(f"train_generator.models.{name}: unknown generator; valid: {', '.join(GENERATOR_CONFIGS)}")
    model = GENERATOR_CONFIGS[name]
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(model.model_fields) - set(RENAMED))
    if unknown:
        raise ConfigError(
            f"{key_name(name, unknown[0])}: unknown parameter(s) {', '.join(unknown)} of generator {name}; "
            f"valid: {', '.join(sorted(model.model_fields))}"
        )
    try:
        return model.model_validate(overrides)
    except ValidationError as exc:
        raise ConfigError("; ".join(_problem(name, error) for error in exc.errors())) from None


def _problem(name: str, error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("train_generator.models."):
        return message  # a rule that names its keys itself
    key = key_name(name, ".".join(str(part) for part in error["loc"])) if error["loc"] else f"train_generator.models.{name}"
    return f"{key}: {message} (got {error['input']!r}; docs/parameters.md lists each key's values)"
