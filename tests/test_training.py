"""The training loop: it learns what can be learned, stops early on the best epoch, resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from synthaug.classifiers import Augmenter, build_classifier
from synthaug.config import TrainClassifierParams, parse_params
from synthaug.errors import ConfigError
from synthaug.training import TrainConfig, class_balance, predict_proba, train_classifier

# One thread: tiny models are dominated by per-op overhead, and one thread keeps them fast and
# steady when the machine is shared.
FAST = {"num_threads": 1, "batch_size": 16}


def toy_set(n: int, seed: int, shuffle_labels: bool = False):
    """16x16 noise spectrograms with a bright band of mel channels whose position gives the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 1, 16, 16)).astype(np.float32)
    for i, label in enumerate(y):
        x[i, 0, 2 + 8 * label : 6 + 8 * label] += 1.5
    return x, (rng.permutation(y) if shuffle_labels else y)


def small_model(seed: int = 0):
    return build_classifier("three_layer_cnn", 2, (1, 16, 16), seed=seed, width=4)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_learns_a_separable_set():
    result = train_classifier(small_model(), toy_set(128, 0), toy_set(64, 1), TrainConfig(epochs=8, **FAST))
    x_test, y_test = toy_set(200, 2)
    proba = predict_proba(result.model, x_test, batch_size=64)
    assert f1_score(y_test, proba.argmax(1), average="macro") > 0.95
    assert result.history[result.best_epoch - 1]["val_macro_f1"] > 0.95
    endpoints = {"val_macro_f1", "val_accuracy", "val_auroc", "val_balanced_accuracy", "val_macro_f1_val_threshold"}
    assert set(result.history[0]) == {"epoch", "train_loss", "val_loss", "lr", "seconds", *endpoints}
    assert result.history[-1]["val_auroc"] > 0.95


def test_does_not_learn_shuffled_labels():
    result = train_classifier(
        small_model(),
        toy_set(128, 0, shuffle_labels=True),
        toy_set(64, 1, shuffle_labels=True),
        TrainConfig(epochs=8, **FAST),
    )
    x_test, y_test = toy_set(400, 2, shuffle_labels=True)
    assert f1_score(y_test, predict_proba(result.model, x_test).argmax(1), average="macro") < 0.65


def test_early_stopping_restores_the_best_epoch():
    snapshots = {}
    model = small_model()
    x_val, y_val = toy_set(64, 1)
    config = TrainConfig(epochs=30, patience=3, **FAST)

    def remember(epoch, record):
        snapshots[epoch] = (weights(model), predict_proba(model, x_val))

    result = train_classifier(model, toy_set(128, 0), (x_val, y_val), config, on_epoch_end=remember)
    assert result.stopped_early and len(result.history) < 30
    assert result.best_epoch == len(result.history) - 3
    best_f1 = max(h["val_macro_f1"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_macro_f1"] == best_f1 == result.best_val_macro_f1
    best_weights, best_proba = snapshots[result.best_epoch]
    assert same_weights(weights(result.model), best_weights)
    assert not same_weights(weights(result.model), snapshots[len(result.history)][0])
    np.testing.assert_allclose(predict_proba(result.model, x_val), best_proba, atol=1e-6)


def test_without_patience_every_epoch_runs_and_the_last_is_kept_whatever_validation_says():
    # Fixed epochs (patience None) must not select on validation: two validation sets, one with
    # its labels shuffled, give the same final weights, and those are the last epoch's.
    finals = []
    for shuffled in (False, True):
        model, snapshots = small_model(), {}
        result = train_classifier(
            model,
            toy_set(128, 0),
            toy_set(64, 1, shuffle_labels=shuffled),
            TrainConfig(epochs=6, patience=None, **FAST),
            # Called within this iteration, so the loop variables are the ones meant.
            on_epoch_end=lambda epoch, record: snapshots.update({epoch: weights(model)}),  # noqa: B023
        )
        assert len(result.history) == 6 and result.best_epoch == 6 and not result.stopped_early
        assert same_weights(weights(result.model), snapshots[6])
        finals.append(weights(result.model))
    assert same_weights(*finals)


AUGMENT = {"time_mask": {"n_masks": 1, "max_width": 4}, "mixup": {"alpha": 0.4}}


def run(tmp_path=None, seed=0, on_epoch_end=None, **overrides):
    settings = {"epochs": 5, "patience": 50, "seed": seed, "balance": "weighted_sampler", **FAST, **overrides}
    config = TrainConfig(**settings)
    return train_classifier(
        small_model(),
        toy_set(96, 0),
        toy_set(40, 1),
        config,
        augmenter=Augmenter.from_params(AUGMENT),
        checkpoint_dir=tmp_path,
        on_epoch_end=on_epoch_end,
    )


def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path):
    uninterrupted = run()

    def kill_at_epoch_3(epoch, record):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, on_epoch_end=kill_at_epoch_3)
    seen = []
    resumed = run(tmp_path, on_epoch_end=lambda epoch, record: seen.append(epoch))
    assert seen == [4, 5]
    assert same_weights(weights(resumed.model), weights(uninterrupted.model))
    strip = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]  # noqa: E731
    assert strip(resumed.history) == strip(uninterrupted.history)
    # A finished run found in its checkpoint folder is returned as it is, without training.
    again = run(tmp_path, on_epoch_end=lambda epoch, record: seen.append(epoch))
    assert seen == [4, 5] and same_weights(weights(again.model), weights(resumed.model))


def test_resume_refuses_a_checkpoint_with_other_settings(tmp_path):
    run(tmp_path, epochs=1)
    with pytest.raises(ConfigError, match="lr"):
        run(tmp_path, epochs=1, lr=1e-2)


def test_same_seed_same_weights_other_seed_other_weights():
    before, threads = torch.random.get_rng_state(), torch.get_num_threads()
    first, second, other = run(seed=1), run(seed=1), run(seed=2)
    assert same_weights(weights(first.model), weights(second.model))
    assert not same_weights(weights(first.model), weights(other.model))
    # Callers' global state is untouched: RNG, thread count, deterministic-algorithms flag.
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()


def test_class_weights_and_contiguous_layout_run():
    x, y = toy_set(64, 0)
    keep = (y == 1) | (np.arange(64) < 10)  # imbalanced: few class-0 samples
    result = train_classifier(
        small_model(),
        (x[keep], y[keep]),
        toy_set(32, 1),
        TrainConfig(epochs=2, balance="class_weight", channels_last=False, **FAST),
    )
    assert len(result.history) == 2 and result.history[0]["lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize("balance", ["class_weight", "weighted_sampler"])
def test_synthetic_samples_leave_the_real_samples_weights_unchanged(balance):
    """The demo's case: 128 synthetic positives added to 1,120 real recordings (256 positive)."""
    real = np.array([0] * 864 + [1] * 256)
    augmented = np.concatenate([real, np.ones(128, dtype=int)])

    def per_sample(y, n_synthetic, synthetic_weight=1.0):
        weighting = class_balance(y, 2, balance, n_synthetic=n_synthetic, synthetic_weight=synthetic_weight)
        if weighting.draw_weights is not None:
            return weighting.draw_weights.numpy()
        scale = 1.0 if weighting.sample_scale is None else weighting.sample_scale.numpy()
        return weighting.class_weights.numpy()[y] * scale

    alone, mixed = per_sample(real, 0), per_sample(augmented, 128)
    np.testing.assert_array_equal(mixed[: len(real)], alone)  # every real sample keeps its weight
    assert mixed[len(real)] == pytest.approx(alone[-1])  # a synthetic positive weighs as a real positive
    if balance == "class_weight":
        assert alone[-1] == pytest.approx(1120 / (2 * 256))  # 2.19, sklearn's "balanced" on the real rows
        # Counting synthetic rows, as a naive bincount of the mixture does, would have moved it to 1.63:
        assert 1248 / (2 * 384) == pytest.approx(1.625)
    halved = per_sample(augmented, 128, synthetic_weight=0.5)
    np.testing.assert_array_equal(halved[: len(real)], alone)
    assert halved[len(real)] == pytest.approx(0.5 * alone[-1])


def test_synthetic_weight_scales_only_the_synthetic_rows_loss():
    x, y = toy_set(48, 0)
    common = {"epochs": 1, "balance": "class_weight", "seed": 0, **FAST}

    def trained(synthetic_weight):
        model = small_model()
        config = TrainConfig(synthetic_weight=synthetic_weight, **common)
        train_classifier(model, (x, y), toy_set(16, 1), config, n_synthetic=16)
        return weights(model)

    assert same_weights(trained(1.0), trained(1.0))
    assert not same_weights(trained(1.0), trained(0.25))
    with pytest.raises(ValueError, match="synthetic_weight"):
        TrainClassifierParams(synthetic_weight=0)


def test_file_ids_make_validation_file_level():
    x_val, y_val = toy_set(40, 1)
    file_id = np.array([f"file{i // 4}-{y_val[i]}" for i in range(40)])
    result = train_classifier(small_model(), toy_set(96, 0), (x_val, y_val, file_id), TrainConfig(epochs=2, **FAST))
    assert 0.0 <= result.history[-1]["val_macro_f1"] <= 1.0


def test_predict_proba_is_batched_and_normalized():
    model = small_model()
    x, _ = toy_set(10, 0)
    proba = predict_proba(model, x, batch_size=3)
    assert proba.shape == (10, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proba, predict_proba(model, x, batch_size=10), atol=1e-6)
    assert model.training  # the caller's mode is restored


@pytest.mark.parametrize("key, value", [("balance", "oversample"), ("epochs", 0), ("lr", 0.0)])
def test_invalid_config_names_the_key(key, value):
    raw = {"dataset": {"name": "d", "adapter": "folder", "root": "data"}, "train_classifier": {key: value}}
    with pytest.raises(ConfigError, match=f"train_classifier.{key}"):
        parse_params(raw)


def test_a_training_takes_the_params_section_with_its_defaults_and_checks():
    """One home per key: the loop's settings are the train_classifier section, plus the seed and how it runs."""
    settings = TrainClassifierParams(epochs=7, lr=0.01, balance="class_weight")
    config = TrainConfig.for_seed(settings, 3, num_threads=1)
    assert (config.epochs, config.lr, config.balance, config.seed, config.num_threads) == (7, 0.01, "class_weight", 3, 1)
    assert config.patience == TrainClassifierParams().patience and config.batch_size == TrainClassifierParams().batch_size
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


@pytest.mark.slow  # worker processes
def test_seeds_trained_in_parallel_workers_equal_one_thread_sequential_runs(tmp_path, monkeypatch):
    """`run_seeds` with two workers gives each seed the weights, predictions and logged curve of a
    sequential one-thread run of that seed, and leaves finished seeds alone."""
    import mlflow

    from synthaug.classifier_runs import ClassifierData, RunContext, run_classifier, run_seeds
    from synthaug.config import TrainClassifierParams
    from synthaug.spectrograms import SpectrogramSet

    def spectrograms(n, seed, prefix):
        x, y = toy_set(n, seed)
        return SpectrogramSet(x=x, y=y, file_id=np.array([f"{prefix}{i}" for i in range(n)]), class_names=["a", "b"])

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    train = spectrograms(64, 0, "t")
    data = ClassifierData(train.x, train.y, spectrograms(24, 1, "v"), spectrograms(24, 2, "s"), channel_std=np.ones(16))
    settings = TrainClassifierParams(
        model={"architecture": "three_layer_cnn", "width": 4},
        epochs=3,
        patience=3,
        batch_size=16,
        balance="class_weight",
        augment=AUGMENT,
        device="cpu",
    )
    context = RunContext(tmp_path, "unit", "medical", "train_classifier", log_model=False)
    seeds = [0, 1, 2]
    folders = {mode: {s: tmp_path / mode / f"seed{s}" for s in seeds} for mode in ("parallel", "sequential")}
    epochs = {mode: {s: tmp_path / mode / f"epochs{s}" for s in seeds} for mode in ("parallel", "sequential")}

    parallel = run_seeds("baseline", seeds, data, settings, folders["parallel"], epochs["parallel"], context, workers=2)
    sequential = [
        run_classifier("baseline", s, data, settings, folders["sequential"][s], epochs["sequential"][s], context, num_threads=1)
        for s in seeds
    ]

    assert [run["seed"] for run in parallel] == seeds
    for s, p, q in zip(seeds, parallel, sequential):
        assert (folders["parallel"][s] / "predictions_test.csv").read_text() == (
            folders["sequential"][s] / "predictions_test.csv"
        ).read_text()
        assert (p["test"], p["best_epoch"]) == (q["test"], q["best_epoch"])
        logged = mlflow.MlflowClient().get_metric_history(p["mlflow_run_id"], "val_macro_f1")
        assert [m.step for m in logged] == [1, 2, 3]
        epoch_seconds = mlflow.MlflowClient().get_metric_history(p["mlflow_run_id"], "seconds")
        info = mlflow.get_run(p["mlflow_run_id"]).info
        assert info.end_time - info.start_time >= 1000 * sum(m.value for m in epoch_seconds)
    # A seed trained in a worker: its run starts when its training did, so the UI's Duration holds it.
    # Seeds 0 and 1 trained side by side, so seed 1's run began before seed 0's was closed (runs opened
    # only once a worker had finished would follow one another).
    first, second = (mlflow.get_run(parallel[i]["mlflow_run_id"]).info for i in (0, 1))
    assert second.start_time < first.end_time
    a, b = (torch.load(folders[mode][1] / "model.pt", weights_only=True) for mode in ("parallel", "sequential"))
    assert same_weights(a["state_dict"], b["state_dict"])
    assert len({p["test"]["clip"]["auroc"] for p in parallel}) > 1  # the seeds really differ

    # A second call finds every seed finished: nothing is trained or logged again.
    again = run_seeds("baseline", seeds, data, settings, folders["parallel"], epochs["parallel"], context, workers=2)
    assert again == parallel
    assert len(mlflow.search_runs(experiment_names=["synthaug-unit"], output_format="list")) == 2 * len(seeds)
