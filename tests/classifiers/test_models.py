"""The classifiers: shapes on any input size, penultimate features, and build_classifier's contract."""

from __future__ import annotations

import pytest
import torch

from synthaug.classifiers import ARCHITECTURES, build_classifier, penultimate
from synthaug.errors import ConfigError

# Small widths keep the suite fast; shapes do not depend on width.
SMALL = {"medical_cnn": {"width": 0.25}, "resnet_cnn": {"width": 4, "blocks": 3}, "three_layer_cnn": {"width": 4}}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("mels, frames", [(128, 94), (64, 64), (5, 3)])
def test_logits_have_one_column_per_class_for_any_input_size(architecture, mels, frames):
    model = build_classifier(architecture, 3, (1, mels, frames), seed=0, **SMALL[architecture])
    x = torch.randn(2, 1, mels, frames)
    assert model(x).shape == (2, 3)
    model.eval()
    features = penultimate(model, x)
    assert features.shape == (2, model.embed_dim)
    # The head is one linear layer on the penultimate features (dropout is off in eval mode).
    torch.testing.assert_close(model.head(features), model(x))


def test_medical_cnn_has_the_published_filters_by_default():
    model = build_classifier("medical_cnn", 2, (1, 128, 94))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4


def test_seed_fixes_initial_weights_and_leaves_global_rng_alone():
    before = torch.random.get_rng_state()
    a = build_classifier("three_layer_cnn", 2, (1, 16, 16), seed=3, width=4)
    b = build_classifier("three_layer_cnn", 2, (1, 16, 16), seed=3, width=4)
    c = build_classifier("three_layer_cnn", 2, (1, 16, 16), seed=4, width=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_unknown_architecture_names_the_key_and_the_choices():
    with pytest.raises(ConfigError, match=r"train_classifier\.model\.architecture.*medical_cnn.*resnet_cnn"):
        build_classifier("vgg", 2, (1, 16, 16))


def test_unknown_option_names_the_option_and_the_valid_ones():
    with pytest.raises(ConfigError, match=r"train_classifier\.model\.depth.*valid: blocks, dropout, width"):
        build_classifier("resnet_cnn", 2, (1, 16, 16), depth=3)
