"""CNN classifiers of spectrograms (models.py) and classic batch augmentation (augment.py)."""

from synthaug.classifiers.augment import (
    Augmenter,
    FrequencyMask,
    Mixup,
    RandomGain,
    TimeMask,
    TimeShift,
)
from synthaug.classifiers.models import (
    ARCHITECTURES,
    MedicalCNN,
    ResNetCNN,
    SpectrogramClassifier,
    ThreeLayerCNN,
    build_classifier,
    penultimate,
)

__all__ = [
    "ARCHITECTURES",
    "Augmenter",
    "FrequencyMask",
    "MedicalCNN",
    "Mixup",
    "RandomGain",
    "ResNetCNN",
    "SpectrogramClassifier",
    "ThreeLayerCNN",
    "TimeMask",
    "TimeShift",
    "build_classifier",
    "penultimate",
]
