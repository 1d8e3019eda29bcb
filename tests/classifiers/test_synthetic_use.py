"""Ways to use synthetic rows beyond plain mixing: domain-adversarial training, a fine-tune on real
rows, and selection by utility under a baseline classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import cross_val_predict

from synthaug.classifiers import build_classifier
from synthaug.classifiers.domain_adversarial import adversarial_weight, reverse_gradient
from synthaug.classifiers.utility import keep_most_useful, utility_scores
from synthaug.config import TrainClassifierParams, parse_params
from synthaug.errors import ConfigError
from synthaug.training import TrainConfig, predict_embeddings, predict_proba, train_classifier

FAST = {"num_threads": 1, "batch_size": 16}


def toy_set(n: int, seed: int):
    """16x16 noise spectrograms with a bright band of mel channels whose position gives the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 1, 16, 16)).astype(np.float32)
    for i, label in enumerate(y):
        x[i, 0, 2 + 8 * label : 6 + 8 * label] += 1.5
    return x, y


def small_model(seed: int = 0):
    return build_classifier("three_layer_cnn", 2, (1, 16, 16), seed=seed, width=4)


def test_gradient_reversal_flips_and_scales_the_gradient_and_leaves_the_values():
    x = torch.randn(5, 3, requires_grad=True)
    y = reverse_gradient(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.25 * torch.arange(3.0).expand(5, 3))


def domain_separability(weight: float, seed: int) -> float:
    """Cross-validated AUROC of a logistic regression telling synthetic from real rows by the trained
    features, where the synthetic rows carry a giveaway (a bright time column) the task does not need."""
    x_real, y_real = toy_set(128, seed)
    x_synthetic, y_synthetic = toy_set(128, seed + 50)
    x_synthetic[:, 0, :, 12:14] += 2.0
    x, y = np.concatenate([x_real, x_synthetic]), np.concatenate([y_real, y_synthetic])
    config = TrainConfig(epochs=10, patience=None, domain_adversarial_weight=weight, seed=seed, **FAST)
    result = train_classifier(small_model(seed), (x, y), toy_set(64, 1), config, n_synthetic=128)
    features = predict_embeddings(result.model, x)
    domain = np.repeat([0, 1], 128)
    scores = cross_val_predict(LogisticRegression(max_iter=2000), features, domain, cv=4, method="predict_proba")[:, 1]
    return float(roc_auc_score(domain, scores))


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured: a fresh linear probe still reads the giveaway from the adversarially trained features "
    "(probe AUROC 0.95/0.98/0.96 plain -> 0.95/0.99/0.96 at weight 0.1; weights 0.3-1 raise it to 0.98-1.00): "
    "gradient reversal keeps the giveaway out of the decision (the test below), not out of every linear view",
)
def test_domain_adversarial_training_hides_the_synthetic_giveaway_from_a_fresh_probe():
    plain = [domain_separability(0.0, seed) for seed in range(3)]
    adversarial = [domain_separability(0.1, seed) for seed in range(3)]
    assert min(plain) > 0.9  # plain mixing learns features that spot the synthetic rows
    assert all(a < p - 0.03 for a, p in zip(adversarial, plain))


def shortcut_set(n: int, seed: int, positive_share: float) -> tuple[np.ndarray, np.ndarray]:
    """toy_set's task made hard enough to prefer a shortcut: a band of +0.5 instead of +1.5."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_share).astype(np.int64)
    x = rng.normal(size=(n, 1, 16, 16)).astype(np.float32)
    for i, label in enumerate(y):
        x[i, 0, 2 + 8 * label : 6 + 8 * label] += 0.5
    return x, y


def real_test_scores(weight: float, seed: int) -> tuple[float, float]:
    """(macro F1 at the trained decision, AUROC) on real test data of a classifier trained on 200 real
    negatives, 8 real positives and 192 synthetic positives that all carry a giveaway (a bright time
    column) real positives never have: the minority protocol's mix, with a generator's artefact."""
    negatives, positives = shortcut_set(200, seed, 0.0), shortcut_set(8, seed + 10, 1.0)
    x_synthetic, y_synthetic = shortcut_set(192, seed + 20, 1.0)
    x_synthetic[:, 0, :, 12:14] += 2.0
    x = np.concatenate([negatives[0], positives[0], x_synthetic])
    y = np.concatenate([negatives[1], positives[1], y_synthetic])
    config = TrainConfig(epochs=20, patience=None, domain_adversarial_weight=weight, seed=seed, **FAST)
    model = train_classifier(small_model(seed), (x, y), shortcut_set(64, 1, 0.5), config, n_synthetic=len(y_synthetic)).model
    x_test, y_test = shortcut_set(400, 2, 0.5)
    proba = predict_proba(model, x_test)
    return float(f1_score(y_test, proba.argmax(1), average="macro")), float(roc_auc_score(y_test, proba[:, 1]))


@pytest.mark.slow  # 6 trainings of 20 epochs: about 10 s
def test_domain_adversarial_training_stops_the_classifier_deciding_by_the_synthetic_giveaway():
    # Plain mixing learns "giveaway -> positive": real positives lack it and most fall below the decision
    # (macro F1 0.44-0.54 at seeds 0-2). With the reversed domain gradient at weight 1 the features cannot
    # carry the giveaway, so the decision rests on the band real positives share (0.76-0.96); the ranking
    # was right either way (AUROC 0.97-1.00), which is why the decision, not AUROC, is the measure here.
    for seed in range(3):
        plain_f1, plain_auroc = real_test_scores(0.0, seed)
        adversarial_f1, adversarial_auroc = real_test_scores(1.0, seed)
        assert plain_f1 < 0.65, (seed, plain_f1)  # the shortcut is there to be removed
        assert adversarial_f1 > plain_f1 + 0.15, (seed, plain_f1, adversarial_f1)
        assert adversarial_auroc > plain_auroc - 0.03, (seed, plain_auroc, adversarial_auroc)


def test_the_domain_head_learns_the_domains_and_only_the_ramped_weight_reaches_the_features():
    assert adversarial_weight(0.5, 0.0) == 0.0 and adversarial_weight(0.5, 1.0) == pytest.approx(0.5, abs=1e-4)
    x, y = toy_set(64, 0)
    config = TrainConfig(epochs=2, domain_adversarial_weight=0.1, **FAST)
    plain = train_classifier(small_model(), (x, y), toy_set(32, 1), TrainConfig(epochs=2, **FAST), n_synthetic=32)
    adversarial = train_classifier(small_model(), (x, y), toy_set(32, 1), config, n_synthetic=32)
    # Same seed, same data: only the reversed domain gradient makes the weights differ.
    assert any(not torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(), adversarial.model.state_dict().values()))
    without_synthetic = train_classifier(small_model(), (x, y), toy_set(32, 1), config)
    same = train_classifier(small_model(), (x, y), toy_set(32, 1), TrainConfig(epochs=2, **FAST))
    assert all(torch.equal(a, b) for a, b in zip(same.model.state_dict().values(), without_synthetic.model.state_dict().values()))


def test_fine_tune_trains_on_the_real_rows_alone_after_the_mixture():
    # Poisoned synthetic rows: class-0 patterns labelled 1. The fine-tune on real rows undoes the damage.
    x_real, y_real = toy_set(128, 0)
    x_poison, _ = toy_set(256, 3)
    keep = np.flatnonzero(x_poison[:, 0, 2:6].mean(axis=(1, 2)) > 1.0)[:64]
    x = np.concatenate([x_real, x_poison[keep]])
    y = np.concatenate([y_real, np.ones(len(keep), np.int64)])
    val, (x_test, y_test) = toy_set(64, 1), toy_set(400, 2)
    mixed = train_classifier(small_model(), (x, y), val, TrainConfig(epochs=6, **FAST), n_synthetic=len(keep))
    tuned = train_classifier(
        small_model(),
        (x, y),
        val,
        TrainConfig(epochs=6, fine_tune_epochs=6, fine_tune_lr_factor=1.0, **FAST),
        n_synthetic=len(keep),
    )
    assert [r["epoch"] for r in tuned.history] == list(range(1, 13))
    assert tuned.history[6]["lr"] == pytest.approx(1e-3)  # the fine-tune starts afresh at lr x fine_tune_lr_factor
    assert tuned.history[5]["lr"] < 1e-4  # where the mixture's cosine schedule ended
    f1 = {
        name: f1_score(y_test, predict_proba(r.model, x_test).argmax(1), average="macro")
        for name, r in (("mixed", mixed), ("tuned", tuned))
    }
    assert f1["tuned"] > f1["mixed"] + 0.05 and f1["tuned"] > 0.9
    without_synthetic = train_classifier(small_model(), toy_set(128, 0), val, TrainConfig(epochs=2, fine_tune_epochs=3, **FAST))
    assert len(without_synthetic.history) == 2  # nothing to fine-tune away from


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_utility_ranks_a_duplicated_validation_sample_above_random_noise(seed):
    model = train_classifier(small_model(seed), toy_set(128, 0), toy_set(32, 1), TrainConfig(epochs=4, seed=seed, **FAST)).model
    x_val, y_val = toy_set(48, 1)
    rng = np.random.default_rng(9)
    noise, noise_labels = rng.normal(size=(48, 1, 16, 16)).astype(np.float32), rng.integers(0, 2, 48)
    candidates = (np.concatenate([x_val, noise]), np.concatenate([y_val, noise_labels]))
    scores = utility_scores(model, candidates, (x_val, y_val))
    assert roc_auc_score(np.repeat([1, 0], 48), scores) > 0.7  # duplicates rank above noise
    keep = keep_most_useful(scores, candidates[1], 0.5)
    assert abs(keep.sum() - 48) <= 1 and keep[:48].sum() > keep[48:].sum()  # half of each class, more duplicates


def test_keep_most_useful_keeps_each_class_share_by_score():
    keep = keep_most_useful(np.array([0.1, 0.9, 0.5, 0.3, 0.2, 0.8]), np.array([0, 0, 0, 1, 1, 1]), 1 / 3)
    assert keep.tolist() == [False, True, False, False, False, True]


def test_the_methods_are_validated_as_train_classifier_keys_and_utility_needs_the_sweep():
    base = {"dataset": {"name": "d", "protocol": "medical", "adapter": "demo", "root": "data"}}
    with pytest.raises(ConfigError, match="minority_scarcity.methods.fast: not valid train_classifier keys.*fine_tune_epochs"):
        parse_params({**base, "minority_scarcity": {"methods": {"fast": {"fine_tune_epochs": -1}}}})
    with pytest.raises(ConfigError, match="minority_scarcity.methods.typo: not valid train_classifier keys.*fine_tune_epoch"):
        parse_params({**base, "minority_scarcity": {"methods": {"typo": {"fine_tune_epoch": 2}}}})
    with pytest.raises(ConfigError, match="utility_keep_share: 0.5 .* the train_classifier stage does not train"):
        TrainClassifierParams(utility_keep_share=0.5).refuse_utility_selection("the train_classifier stage")
