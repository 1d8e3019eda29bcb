"""Which classes a generator learns: minority-only never sees another class; all-classes covers each."""

from __future__ import annotations

import numpy as np

from synthaug.class_plan import learned_classes
from synthaug.generators.per_class import fit_models, load_models, plan_models, save_models

SHAPE = (1, 16, 12)
TINY = {
    "vae": {"steps": 1, "width": 0.0625, "batch_size": 8},
    "cgan": {"images_per_stage": 8, "base_channels": 8, "max_channels": 8},
}


def data():
    # Class 0: 12 spectrograms of value -1; class 1 (the minority): 5 of value +1.
    x = np.concatenate([np.full((12, *SHAPE), -1.0), np.full((5, *SHAPE), 1.0)]).astype(np.float32)
    return x, np.array([0] * 12 + [1] * 5)


def test_minority_mode_learns_only_the_smallest_class():
    _, y = data()
    assert learned_classes(y, ["healthy", "positive"], "minority") == [1]
    assert learned_classes(y, ["healthy", "positive"], "all") == [0, 1]


def test_minority_mode_never_shows_the_other_class(monkeypatch):
    x, y = data()
    seen = []
    from synthaug.generators.vae import VAE

    original = VAE.fit
    monkeypatch.setattr(VAE, "fit", lambda self, xs, ys=None, **kw: (seen.append(xs.copy()), original(self, xs, ys, **kw))[1])
    trained = fit_models("vae", TINY["vae"], x, y, ["healthy", "positive"], mode="minority", seed=0, checkpoint_root=None)
    assert [slot.key for slot, _ in trained] == ["class-positive"]
    assert len(seen) == 1 and (seen[0] == 1.0).all() and len(seen[0]) == 5


def test_all_mode_one_model_per_class_or_one_conditional():
    _, y = data()
    names = ["healthy", "positive"]
    assert [s.key for s in plan_models("vae", y, names, "all")] == ["class-healthy", "class-positive"]
    conditional = plan_models("cgan", y, names, "all")
    assert [s.key for s in conditional] == ["conditional"] and conditional[0].labels == {0: 0, 1: 1}


def test_several_minority_classes_get_one_model_each_or_one_conditional_over_them():
    y = np.array([0] * 20 + [1] * 10 + [2] * 19 + [3] * 5)  # class 2 is within 10 % of the largest
    names = ["a", "b", "c", "d"]
    assert [s.key for s in plan_models("vae", y, names, "minority")] == ["class-b", "class-d"]
    conditional = plan_models("cgan", y, names, "minority")
    assert len(conditional) == 1 and conditional[0].labels == {1: 0, 3: 1}
    assert [s.key for s in plan_models("vae", y, names, ["c"])] == ["class-c"]


def test_saved_models_serve_their_classes(tmp_path):
    x, y = data()
    names = ["healthy", "positive"]
    trained = fit_models("vae", TINY["vae"], x, y, names, mode="all", seed=0, checkpoint_root=None)
    save_models(tmp_path, "vae", trained, names, mlflow_run_id="abc")
    index, by_class = load_models(tmp_path, device="cpu")
    assert index["mlflow_run_id"] == "abc" and sorted(by_class) == names
    generator, label = by_class["positive"]
    original = next(g for s, g in trained if s.key == "class-positive")
    np.testing.assert_array_equal(generator.sample(2, label, seed=3), original.sample(2, 0, seed=3))


def test_class_conditional_vae_wgan_ddpm_are_one_model_over_every_learned_class(tmp_path):
    x, y = data()
    names = ["healthy", "positive"]
    for name in ("vae", "wgan_gp", "ddpm"):
        slots = plan_models(name, y, names, "all", config={"class_conditional": True})
        assert [s.key for s in slots] == ["conditional"] and slots[0].labels == {0: 0, 1: 1}, name
        assert len(plan_models(name, y, names, "all", config={"class_conditional": False})) == 2, name
    config = {**TINY["vae"], "class_conditional": True}
    trained = fit_models("vae", config, x, y, names, mode="all", seed=0, checkpoint_root=None)
    assert len(trained) == 1 and trained[0][1].n_classes == 2
    save_models(tmp_path, "vae", trained, names)
    _, by_class = load_models(tmp_path, device="cpu")
    assert by_class["healthy"][0] is by_class["positive"][0]  # one model serves both classes
    assert (by_class["healthy"][1], by_class["positive"][1]) == (0, 1)


def test_teacher_classes_all_trains_one_conditional_model_on_every_class_and_serves_the_minority_too(tmp_path):
    """teacher_classes: all -- the whole training split teaches one conditional model; the class plan
    still decides which classes are sampled, so the model must serve the minority under its own label."""
    import pytest

    from synthaug.errors import ConfigError

    x, y = data()
    names = ["healthy", "positive"]
    config = {**TINY["vae"], "class_conditional": True, "teacher_classes": "all"}

    def fit(teacher: str):
        return fit_models(
            "vae", {**config, "teacher_classes": teacher}, x, y, names, mode="minority", seed=0, checkpoint_root=None
        )

    trained = fit("all")
    [(slot, generator)] = trained
    assert slot.labels == {0: 0, 1: 1} and generator.n_classes == 2 and len(generator._stream.order) == 17
    save_models(tmp_path, "vae", trained, names)
    _, models = load_models(tmp_path, device="cpu")
    assert models["positive"][1] == 1 and models["positive"][0].sample(2, 1).shape == (2, *SHAPE)
    # Without it the same conditional model learns the minority alone.
    [(slot, _)] = fit("learned")
    assert slot.labels == {1: 0}
    with pytest.raises(ConfigError, match="teacher_classes: all needs one conditional model"):
        plan_models("vae", y, names, "minority", config={**TINY["vae"], "teacher_classes": "all"})
    with pytest.raises(ConfigError, match="teacher_classes: Input should be .learned. or .all."):
        fit("every")


def test_the_fine_tune_after_the_teacher_trains_on_the_augmented_class_alone(monkeypatch, tmp_path):
    """fine_tune_steps: after the teacher's budget on every class, that many more steps draw only the
    minority's rows; a resumed fine-tune continues its own batch stream exactly."""
    import pytest
    import torch

    from synthaug.errors import ConfigError
    from synthaug.generators.vae import VAE

    x, y = data()
    names = ["healthy", "positive"]
    config = {**TINY["vae"], "steps": 3, "batch_size": 4, "class_conditional": True, "teacher_classes": "all"}
    seen: list[list[int]] = []
    original = VAE.train_step
    monkeypatch.setattr(
        VAE, "train_step", lambda self, xs, ys, rng: (seen.append(sorted(set(ys.tolist()))), original(self, xs, ys, rng))[1]
    )
    [(_, whole)] = fit_models("vae", {**config, "fine_tune_steps": 4}, x, y, names, mode="minority", seed=0, checkpoint_root=None)
    assert whole.steps_done == 7 and whole.total_steps(len(x)) == 7
    assert seen[:3] != [[1]] * 3 and seen[3:] == [[1]] * 4  # the teacher saw both classes, the fine-tune the minority

    # Interrupted after one fine-tune step, saved, loaded and trained on: the same weights as one run.
    [(slot, partial)] = fit_models(
        "vae", {**config, "fine_tune_steps": 1}, x, y, names, mode="minority", seed=0, checkpoint_root=None
    )
    partial.save(tmp_path / "partial.pt")
    resumed = VAE.load(tmp_path / "partial.pt", device="cpu")
    resumed.update_settings(fine_tune_steps=4)
    resumed.fit(x, y, progress=False, fine_tune_labels=[slot.labels[1]])
    for key, module in whole.modules().items():
        if isinstance(module, torch.nn.Module):
            for name, value in module.state_dict().items():
                torch.testing.assert_close(resumed.modules()[key].state_dict()[name], value, rtol=0, atol=0, msg=key + name)

    with pytest.raises(ConfigError, match="fine_tune_steps: 2 needs .*teacher_classes: all"):
        fit_models(
            "vae",
            {**config, "teacher_classes": "learned", "fine_tune_steps": 2},
            x,
            y,
            names,
            mode="minority",
            seed=0,
            checkpoint_root=None,
        )
    with pytest.raises(ConfigError, match="fine_tune_steps: Input should be greater than or equal to 0"):
        fit_models("vae", {**config, "fine_tune_steps": -1}, x, y, names, mode="minority", seed=0, checkpoint_root=None)
    with pytest.raises(ValueError, match="needs fit's fine_tune_labels"):
        VAE({**config, "fine_tune_steps": 1}, input_shape=SHAPE, n_classes=2, device="cpu").fit(x, y, progress=False)
