"""The published protocols as data: one tuple of `Published` rows per arm.

Two studies, three arms:
- `medical`: McShannon, Mella, Dietrich, "Synthetic Data Augmentation for Medical Audio
  Classification: A Preliminary Evaluation" (Coswara cough; VAE, WGAN-GP, DDPM; CNN; ensemble).
- `pucks` and `metal_balls`: Ngamthipwatthana, Gourishetti, McLeod, Grollmisch, "Bridging the Gap:
  GANs as a Solution for Data-Scarce Industrial Audio Classification" (GANSynth-style conditional
  GAN; IDMT-ISA-PUCKS and IDMT-ISA-METAL-BALLS; data-scarcity sweep).

Each row is a key of the effective configuration, the value the study states (or NOT_STATED), where
it states it, and a note (see synthaug.protocols for the kinds of keys and the comparison).
`CODE_FACTS` are the protocol choices made in code rather than params, with the module that makes
each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOT_STATED = "not stated"


@dataclass(frozen=True)
class Published:
    """One published setting: `key` in the effective configuration, the stated `value`, its `source`."""

    key: str
    value: Any
    source: str
    note: str = ""
    data: bool = False  # describes the published data set, not a protocol choice: never a difference

    @property
    def stated(self) -> bool:
        return not (isinstance(self.value, str) and self.value == NOT_STATED)


# What the code does where no parameter decides; each comment names the module that does it.
CODE_FACTS: dict[str, Any] = {
    "code.split_grouping": "grouped by the manifest's `group`, stratified by label",  # datasets/splits.py
    "code.predefined_split_kept": True,  # datasets/splits.py keeps a manifest's own train/test assignment
    "code.synthetic_data_in": "training split only (validation and test are real)",  # stages/train_classifier.py
    "code.normalization": "per-mel-channel z-score fitted on the training split",  # features.fit_normalizer
    "code.mel_filterbank": "triangular Slaney mel filters on the STFT power, centred frames",  # features.py
    "code.synthetic_count": "minority_ratio x the minority class's training-split size",  # stages/synthesize.py
    "code.optimizer": "Adam",  # training.py
    "code.loss": "cross-entropy",  # training.py (soft targets, so mixup trains as it is)
    "code.lr_schedule": "cosine annealing",  # training.py
    "code.lr_schedule_period": "train_classifier.epochs",  # training.py: CosineAnnealingLR(T_max=epochs)
    "code.early_stopping_metric": "validation macro F1",  # training.py
    "code.classifier_output_layer": "one linear layer with softmax",  # classifiers/models.py (after global pooling)
    "code.vae_loss": "MSE reconstruction + beta x KL divergence",  # generators/vae.py
    "code.ddpm_loss": "L2 between the network's output and its target",  # generators/ddpm.py
    "code.ensemble_rule": "equal-weight mean of the members' class probabilities",  # evaluation/ensemble
    "code.test_metrics": "macro F1 and AUROC on the real test split",  # evaluation/metrics
    "code.cgan_conditioning": "one-hot class label into the generator, auxiliary classifier in the discriminator",
    "code.cgan_trained_on_scarcity_subset": True,  # stages/scarcity.py: each point's GAN sees exactly its subset
    "code.scarcity_clips": "every clip of each chosen file (a 60 s file gives 23 clips of 5 s)",  # stages/scarcity.py
    "code.scarcity_variants": "baseline, baseline + augmentation, GAN, GAN + augmentation",  # stages/scarcity.py
    "code.augmentation_on_synthetic": True,  # classic augmentation transforms real and synthetic batches alike
    "code.file_level_prediction": "mean of clip probabilities",  # evaluation/metrics.aggregate_by_file
    "code.scarcity_metric": "test accuracy, mean and std over trials",  # evaluation/report.py (the scarcity table)
}


_M = "train_generator.models"


_NOT_IN_RECIPE = "not part of the recipe the study describes"


# The data size the medical study's generator epochs apply to: its minority class's training split.
MEDICAL_MINORITY_TRAIN = round(0.7 * 1116)  # 781 of the 1,116 COVID-positive recordings (§2.1)


_EPOCHS_NOTE = (
    f"epochs over the minority class's training split, about {MEDICAL_MINORITY_TRAIN} spectrograms; "
    f"a step budget counts as steps / ceil({MEDICAL_MINORITY_TRAIN} / batch_size) epochs"
)


MEDICAL: tuple[Published, ...] = (
    Published(
        "dataset",
        "Coswara cough, healthy (3,847) vs COVID-19 positive (1,116); exposed and recovered excluded",
        "§2.1",
        "4,963 recordings, about 3.4:1",
        data=True,
    ),
    Published("featurize.sample_rate", 16000, "§2.1", "re-sampled to 16 kHz mono"),
    Published("featurize.mode", "crop", "§2.1", "one clip per recording: centre crop, zero padding"),
    Published("featurize.duration_s", 3.0, "§2.1"),
    Published("featurize.n_fft", 2048, "§2.2"),
    Published("featurize.hop_length", 512, "§2.2"),
    Published("featurize.window", "hann", "§2.2"),
    Published("featurize.n_mels", 128, "§2.2"),
    Published("featurize.f_min", 0.0, "§2.2", "mel bins span 0-8000 Hz"),
    Published("featurize.f_max", 8000.0, "§2.2", "mel bins span 0-8000 Hz"),
    Published("code.normalization", CODE_FACTS["code.normalization"], "§2.2", "per-channel z-score from the training set"),
    Published("code.mel_filterbank", NOT_STATED, "§2.2"),
    Published("prepare.split.train", 0.7, "§2.1"),
    Published("prepare.split.val", 0.15, "§2.1"),
    Published("prepare.split.test", 0.15, "§2.1"),
    Published("prepare.split.seed", NOT_STATED, "§2.1"),
    Published(
        "code.split_grouping",
        "stratified random sampling of recordings (no grouping)",
        "§2.1",
        "the study stratifies recordings by class; it does not group them by participant",
    ),
    Published("code.synthetic_data_in", CODE_FACTS["code.synthetic_data_in"], "§2.1"),
    Published("train_generator.classes", "minority", "§2.4", "generators see COVID-positive recordings only"),
    Published("synthesize.minority_ratio", 0.5, "§2.4", "the minority class grows by 50 %"),
    Published(
        "code.synthetic_count",
        "50 % of all 1,116 positive recordings: 558, added to the training split",
        "§2.4",
        "558 is half the whole positive class, about 71 % of its training split",
    ),
    Published(
        "train_classifier.model.architecture", "medical_cnn", "§2.3", "4 blocks of 3x3 conv, batch norm, ReLU, 2x2 max pool"
    ),
    Published("train_classifier.model.width", 1.0, "§2.3", "32/64/128/256 filters"),
    Published("train_classifier.model.dropout", 0.0, "§2.3", "the network described has no dropout layer"),
    Published("code.classifier_output_layer", NOT_STATED, "§2.3", "pooling and output layer are not described"),
    Published("train_classifier.epochs", 100, "§2.3"),
    Published("train_classifier.patience", 15, "§2.3"),
    Published("derived.early_stopping", True, "§2.3"),
    Published("code.early_stopping_metric", "validation macro F1", "§2.3"),
    Published("derived.model_kept", NOT_STATED, "§2.3"),
    Published("train_classifier.lr", 0.001, "§2.3"),
    Published("code.optimizer", "Adam", "§2.3"),
    Published("code.lr_schedule", "cosine annealing", "§2.3"),
    Published("code.lr_schedule_period", NOT_STATED, "§2.3"),
    Published("code.loss", "cross-entropy", "§2.3"),
    Published("train_classifier.balance", "none", "§2.3", "plain cross-entropy; no class weighting or resampling is described"),
    Published("train_classifier.batch_size", NOT_STATED, "§2.3"),
    Published("train_classifier.weight_decay", NOT_STATED, "§2.3"),
    Published("train_classifier.augment", {}, "§2.1-2.4", "no classic augmentation is described"),
    Published("derived.classifier_runs_per_method", 1, "§4", "single training instances rather than repeated runs"),
    Published("derived.vae_epochs", 200, "§2.4", _EPOCHS_NOTE),
    Published(f"{_M}.vae.lr", 0.0001, "§2.4", "Adam"),
    Published(f"{_M}.vae.beta", 0.1, "§2.4", "MSE reconstruction + beta x KL"),
    Published(f"{_M}.vae.latent_dim", 128, "§2.4"),
    Published(f"{_M}.vae.width", 1.0, "§2.4", "encoder blocks of two convolutions with 64/128/256/512 filters"),
    Published(f"{_M}.vae.batch_size", NOT_STATED, "§2.4"),
    Published(f"{_M}.vae.reconstruction", NOT_STATED, "§2.4", "MSE; whether summed or averaged is not given"),
    Published(f"{_M}.vae.kl_warmup_steps", 0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.vae.free_bits", 0.0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.vae.ema_decay", None, "§2.4", "samples decode from the trained weights; " + _NOT_IN_RECIPE),
    Published(f"{_M}.vae.latent_density", "prior", "§2.4", "samples decode z ~ N(0, I); " + _NOT_IN_RECIPE),
    *(
        Published(f"{_M}.{name}.teacher_classes", "learned", "§2.4", "each generator learns the COVID-19-positive class only")
        for name in ("vae", "wgan_gp", "ddpm")
    ),
    *(Published(f"{_M}.{name}.fine_tune_steps", 0, "§2.4", _NOT_IN_RECIPE) for name in ("vae", "wgan_gp", "ddpm")),
    Published("code.vae_loss", CODE_FACTS["code.vae_loss"], "§2.4"),
    Published("derived.wgan_gp_epochs", 300, "§2.4", _EPOCHS_NOTE + " (critic batches: generator steps x n_critic)"),
    Published(f"{_M}.wgan_gp.lr", 0.00005, "§2.4"),
    Published(f"{_M}.wgan_gp.n_critic", 5, "§2.4", "critic-generator update ratio 5:1"),
    Published(f"{_M}.wgan_gp.gp_lambda", 10.0, "§2.4"),
    Published(f"{_M}.wgan_gp.lecam_lambda", 0.0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.wgan_gp.r1_gamma", 0.0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.wgan_gp.noise_dim", 128, "§2.4"),
    Published(f"{_M}.wgan_gp.width", NOT_STATED, "§2.4", "four transposed-convolution / convolution blocks; filters not given"),
    Published(f"{_M}.wgan_gp.batch_size", NOT_STATED, "§2.4"),
    Published(f"{_M}.wgan_gp.optimizer", "rmsprop", "§2.4"),
    Published(f"{_M}.wgan_gp.lr_critic", None, "§2.4", "one learning rate for both networks (null: `lr`)"),
    Published(f"{_M}.wgan_gp.lr_generator", None, "§2.4", "one learning rate for both networks (null: `lr`)"),
    Published(f"{_M}.wgan_gp.spectral_norm", True, "§2.4", "the discriminator uses spectral normalization"),
    Published(f"{_M}.wgan_gp.diffaugment", [], "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.wgan_gp.ema_decay", None, "§2.4", _NOT_IN_RECIPE),
    Published("derived.ddpm_epochs", 400, "§2.4", _EPOCHS_NOTE),
    Published(f"{_M}.ddpm.lr", 0.0001, "§2.4", "AdamW"),
    Published(f"{_M}.ddpm.weight_decay", 0.01, "§2.4"),
    Published(f"{_M}.ddpm.num_train_timesteps", 1000, "§2.4"),
    Published(f"{_M}.ddpm.beta_start", 0.0001, "§2.4", "linear variance schedule"),
    Published(f"{_M}.ddpm.beta_end", 0.02, "§2.4", "linear variance schedule"),
    Published(f"{_M}.ddpm.sampling_steps", 50, "§2.4", "DDIM sampling"),
    Published(f"{_M}.ddpm.prediction_type", "epsilon", "§2.4", "trained to predict the noise"),
    Published(f"{_M}.ddpm.snr_gamma", None, "§2.4", "the simplified (unweighted) L2 loss"),
    Published(f"{_M}.ddpm.formulation", "ddpm", "§2.4", "DDPM training and DDIM sampling, not EDM's"),
    Published(f"{_M}.ddpm.zero_terminal_snr", False, "§2.4", "the linear betas as they are"),
    Published(f"{_M}.ddpm.dropout", 0.0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.ddpm.augment_probability", 0.0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.ddpm.lr_warmup_steps", 0, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.ddpm.ema_decay", None, "§2.4", _NOT_IN_RECIPE),
    Published(f"{_M}.ddpm.timestep_spacing", NOT_STATED, "§2.4", "which 50 of the 1,000 timesteps DDIM visits"),
    Published("derived.ddpm_unet_blocks", 5, "§2.4", "five encoder and five decoder blocks with skip connections"),
    Published("derived.ddpm_attention_resolution", [64, 64], "§2.4", "multi-head self-attention at the 64x64 bottleneck"),
    Published(f"{_M}.ddpm.base_channels", NOT_STATED, "§2.4", "U-Net widths are not given"),
    Published(f"{_M}.ddpm.layers_per_block", NOT_STATED, "§2.4"),
    Published(f"{_M}.ddpm.batch_size", NOT_STATED, "§2.4"),
    Published(f"{_M}.ddpm.clip_sample_range", NOT_STATED, "§2.4", "DDIM's clamp of the predicted clean sample"),
    Published(f"{_M}.ddpm.sampling_eta", NOT_STATED, "§2.4", "DDIM's eta (0: deterministic)"),
    Published("code.ddpm_loss", CODE_FACTS["code.ddpm_loss"], "§2.4"),
    Published("ensemble.members", ["baseline", "vae", "wgan_gp", "ddpm"], "§2.5"),
    Published("code.ensemble_rule", CODE_FACTS["code.ensemble_rule"], "§2.5, eq. 1", "mean COVID-positive probability"),
    Published("code.test_metrics", CODE_FACTS["code.test_metrics"], "§2.6", "macro F1 is the primary metric"),
)


# Both industrial arms share the spectrogram, GAN and classifier-training settings of the study.
_INDUSTRIAL_SHARED: tuple[Published, ...] = (
    Published("featurize.sample_rate", 44100, "Table 1"),
    Published("featurize.n_fft", 2048, "GAN"),
    Published("featurize.hop_length", 512, "GAN"),
    Published("featurize.n_mels", 1024, "GAN", "GANSynth's spectrogram settings: 1024 frequency bins"),
    Published("featurize.window", NOT_STATED, "GAN"),
    Published("featurize.f_min", NOT_STATED, "GAN", "GANSynth's spectrogram settings are kept, the band is not given"),
    Published("featurize.f_max", NOT_STATED, "GAN", "GANSynth's spectrogram settings are kept, the band is not given"),
    Published(
        "code.mel_filterbank",
        NOT_STATED,
        "GAN",
        "GANSynth's own mel mapping is not described; 1024 triangular "
        "filters over 1,025 FFT bins leave 253 of them empty at 0-22,050 Hz (constant channels)",
    ),
    Published("code.predefined_split_kept", True, "Experimental Design", "accuracy on each data set's predefined test set"),
    Published("train_generator.classes", "all", "GAN", "one class-conditional GAN for all classes"),
    Published(
        "code.cgan_conditioning",
        CODE_FACTS["code.cgan_conditioning"],
        "Related Work, GAN",
        "GANSynth's one-hot pitch vector repurposed for class labels; AC-GAN head",
    ),
    Published(f"{_M}.cgan.batch_size", NOT_STATED, "GAN", "GANSynth's other hyperparameters are kept, not listed"),
    Published(f"{_M}.cgan.lr", NOT_STATED, "GAN", "GANSynth's other hyperparameters are kept, not listed"),
    Published(f"{_M}.cgan.base_channels", NOT_STATED, "GAN", "GANSynth's other hyperparameters are kept, not listed"),
    Published(f"{_M}.cgan.max_channels", NOT_STATED, "GAN", "GANSynth's other hyperparameters are kept, not listed"),
    Published(f"{_M}.cgan.ac_weight", NOT_STATED, "GAN", "GANSynth's other hyperparameters are kept, not listed"),
    Published(f"{_M}.cgan.ema_decay", NOT_STATED, "GAN", "GANSynth's other hyperparameters are kept, not listed"),
    Published(
        f"{_M}.cgan.diffaugment",
        [],
        "GAN, Table 2",
        "GANSynth has no differentiable augmentation; the study changes only the four settings of Table 2",
    ),
    Published(f"{_M}.cgan.r1_gamma", 0.0, "GAN", "GANSynth regularises with the gradient penalty alone, not R1"),
    Published(
        "code.cgan_trained_on_scarcity_subset", True, "Experimental Design", "each GAN sees exactly the classifier's real subset"
    ),
    Published(
        "code.classifier_output_layer",
        "one linear layer with softmax",
        "Classifier",
        "a single feedforward layer with softmax, one unit per class",
    ),
    Published("train_classifier.model.dropout", NOT_STATED, "Classifier", "the CNNs' own layouts are in [6] and [20]"),
    Published("train_classifier.batch_size", 256, "Classifier"),
    Published("train_classifier.lr", 0.001, "Classifier"),
    Published("code.optimizer", "Adam", "Classifier"),
    Published("code.loss", "cross-entropy", "Classifier", "categorical cross-entropy"),
    Published("scarcity.early_stopping", False, "Classifier", "trained for a fixed number of epochs"),
    Published("derived.early_stopping", False, "Classifier", "the pipeline's own classifiers: no early stop either"),
    Published("train_classifier.balance", "none", "Classifier", "plain cross-entropy; no weighting is described"),
    Published("code.lr_schedule", NOT_STATED, "Classifier", "only Adam with learning rate 0.001 is given"),
    Published("derived.model_kept", NOT_STATED, "Classifier", "no validation split is described"),
    Published("train_classifier.weight_decay", NOT_STATED, "Classifier"),
    Published("code.scarcity_variants", CODE_FACTS["code.scarcity_variants"], "Experimental Design"),
    Published("code.augmentation_on_synthetic", True, "Experimental Design", "augmentation applies to real and synthetic data"),
    Published("code.scarcity_metric", CODE_FACTS["code.scarcity_metric"], "Experimental Design", "over the trials of each level"),
    Published("scarcity.subset_seed", NOT_STATED, "Experimental Design", "subsets are drawn at random"),
)


PUCKS: tuple[Published, ...] = (
    Published(
        "dataset",
        "IDMT-ISA-PUCKS: 5 classes, 75 test files of 60 s; train on vol.050, test on vol.100",
        "Datasets, Table 1",
        "test recordings carry louder background noise",
        data=True,
    ),
    *_INDUSTRIAL_SHARED,
    Published("featurize.mode", "clips", "Datasets"),
    Published("featurize.duration_s", 5.0, "Datasets", "5 s clips of the 1 min recordings"),
    Published("featurize.clip_overlap", 0.5, "Datasets", "23 clips per file"),
    Published("code.file_level_prediction", "mean of clip probabilities", "Classifier", "23 clip outputs averaged per test file"),
    Published("derived.cgan_final_resolution", [512, 1024], "GAN, Table 2", "frames x frequency bins, padded to a power of two"),
    Published("derived.cgan_resolutions", 9, "GAN, Table 2"),
    Published("derived.cgan_start_resolution", [2, 4], "GAN, Table 2", "frames x frequency bins"),
    Published(f"{_M}.cgan.images_per_stage", 80000, "GAN, Table 2", "8,000 gave poor results on Pucks"),
    Published("synthesize.n_per_class", 1000, "Experimental Design", "the point of diminishing returns (footnote 1)"),
    Published("train_classifier.model.architecture", "three_layer_cnn", "Classifier", "3 layers of 3x3 convolutions, as in [20]"),
    Published("train_classifier.model.width", NOT_STATED, "Classifier"),
    Published("train_classifier.epochs", 1500, "Classifier"),
    Published("scarcity.files_per_class", [1, 2, 3], "Results", "10, 20 and 30 clips per class"),
    Published("code.scarcity_clips", "10 clips per class from each file chosen (10, 20, 30 for 1, 2, 3 files)", "Results"),
    Published("derived.gans_per_level", 1, "Experimental Design, footnote 2", "one GAN for the Pucks data set"),
    Published("derived.classifier_trials_per_gan", 5, "Experimental Design"),
    Published(
        "scarcity.augment",
        "mixup (p = 1) and two image augmentations drawn at random from [6, App. B], random magnitude, p = 0.5 each",
        "Experimental Design",
        "the augmentations of [6] are not in this package",
    ),
)


METAL_BALLS: tuple[Published, ...] = (
    Published(
        "dataset",
        "IDMT-ISA-METAL-BALLS: 3 classes (eloxed, coated, broken), 171 test files of 0.4 s",
        "Datasets, Table 1",
        data=True,
    ),
    *_INDUSTRIAL_SHARED,
    Published("featurize.mode", "crop", "Table 1", "one spectrogram per 0.4 s file"),
    Published(
        "derived.frames_per_clip",
        32,
        "GAN, Table 2",
        "0.4 s files adjusted to the nearest power-of-two length: 32 frames at hop 512",
    ),
    Published("derived.cgan_final_resolution", [32, 1024], "GAN, Table 2", "frames x frequency bins"),
    Published("derived.cgan_resolutions", 5, "GAN, Table 2"),
    Published("derived.cgan_start_resolution", [2, 64], "GAN, Table 2", "frames x frequency bins"),
    Published(f"{_M}.cgan.images_per_stage", 8000, "GAN, Table 2", "reduced from GANSynth's 800k"),
    Published("synthesize.n_per_class", 3000, "Experimental Design", "the point of diminishing returns (footnote 1)"),
    Published(
        "train_classifier.model.architecture",
        "resnet_cnn",
        "Classifier",
        "CNN420 ResNet of [6]: average pooling after each block, global max pooling after the last convolution",
    ),
    Published("train_classifier.model.blocks", NOT_STATED, "Classifier", "CNN420's layout is in [6], not in the study"),
    Published("train_classifier.model.width", NOT_STATED, "Classifier", "CNN420's layout is in [6], not in the study"),
    Published("train_classifier.epochs", 70, "Classifier"),
    Published(
        "scarcity.files_per_class",
        NOT_STATED,
        "Experimental Design, Results",
        "the full list is in Fig. 2 (not in the text); the text names 4 ... 360, 18, 72 and 108",
    ),
    Published("derived.scarcity_fewest_files_per_class", 4, "Experimental Design", "from four to 360 files per class"),
    Published("derived.scarcity_most_files_per_class", 360, "Experimental Design", "from four to 360 files per class"),
    Published("derived.gans_per_level", 3, "footnote 2", "three GANs, averaged over their 15 classifier trials"),
    Published("derived.classifier_trials_per_gan", 5, "Experimental Design, footnote 2"),
    Published(
        "scarcity.augment",
        "the augmentations of [5] (its Table 2), applied with p = 0.5 each time a sample is fed",
        "Experimental Design",
        "the augmentations of [5] are not in this package",
    ),
)


PROTOCOLS: dict[str, tuple[Published, ...]] = {"medical": MEDICAL, "pucks": PUCKS, "metal_balls": METAL_BALLS}
