"""The shared step loop: batch stream, wall-clock cap, EMA contract, progress bar, old files, params checks."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from synthaug.config import parse_params
from synthaug.errors import ConfigError
from synthaug.generators.base import CHECKPOINT_NAME, STOPPED_BY_TIME_CAP, OldGeneratorState
from synthaug.generators.batches import BatchStream
from synthaug.generators.vae import VAE

SHAPE = (1, 16, 12)
TINY = {"steps": 3, "batch_size": 4, "width": 0.0625, "latent_dim": 4, "lr": 1e-3}


def spectrograms(n: int = 10) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, *SHAPE)).astype(np.float32)


def tiny(**overrides) -> VAE:
    return VAE({**TINY, **overrides}, input_shape=SHAPE, seed=0, device="cpu")


def decoder_weights(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.named_parameters()}


def test_batch_stream_shows_every_spectrogram_once_per_pass_and_resumes_mid_pass():
    stream = BatchStream(10, torch.Generator().manual_seed(0))
    drawn = torch.cat([stream.take(4) for _ in range(5)])  # 20 indices: two passes, batches straddle them
    assert sorted(drawn[:10].tolist()) == list(range(10)) and sorted(drawn[10:].tolist()) == list(range(10))
    assert not torch.equal(drawn[:10], drawn[10:])  # each pass its own permutation

    rng = torch.Generator().manual_seed(1)
    straight = BatchStream(10, rng)
    head = straight.take(7)
    state, rng_state = straight.state_dict(), rng.get_state()
    tail = straight.take(9)
    resumed_rng = torch.Generator()
    resumed_rng.set_state(rng_state)
    resumed = BatchStream(10, resumed_rng)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.take(9), tail) and len(head) == 7


def test_wall_clock_cap_stops_after_the_current_step_with_a_checkpoint_and_a_note(tmp_path, capsys):
    model = tiny(steps=50, max_minutes=1e-9)  # any step takes longer than this
    history = model.fit(spectrograms(), checkpoint_dir=tmp_path, log_every=10)
    assert model.steps_done == 1 and model.stop_reason == STOPPED_BY_TIME_CAP
    assert [h["step"] for h in history] == [1]  # the open window is logged at the cap
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["steps_done"] == 1 and saved["stop_reason"] == STOPPED_BY_TIME_CAP
    assert "max_minutes" in capsys.readouterr().err
    model.update_settings(max_minutes=None)  # a later fit without the cap continues to the budget
    model.fit(spectrograms(), checkpoint_dir=tmp_path)
    assert model.steps_done == 50 and model.stop_reason is None


def test_ema_is_decay_times_old_plus_one_minus_decay_times_new_and_sampling_uses_it(tmp_path):
    model = tiny(steps=1, ema_decay=0.75)
    model.fit(spectrograms())
    first = decoder_weights(model.ema.module)
    for key, value in decoder_weights(model.decoder).items():  # the first update copies the live weights
        torch.testing.assert_close(first[key], value, rtol=0, atol=0)
    model.update_settings(steps=2)
    model.fit(spectrograms())  # one more step
    live, ema = decoder_weights(model.decoder), decoder_weights(model.ema.module)
    for key in live:
        torch.testing.assert_close(ema[key], 0.75 * first[key] + 0.25 * live[key], rtol=1e-5, atol=1e-7)
    assert not all(torch.equal(ema[k], live[k]) for k in live)

    # Sampling decodes with the EMA weights, not the live ones.
    z = torch.randn(3, TINY["latent_dim"], generator=torch.Generator().manual_seed(9))
    model.ema.module.eval()
    model.decoder.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(model.sample(3, seed=9), model.ema.module(z).numpy())
        assert not np.allclose(model.sample(3, seed=9), model.decoder(z).numpy())

    # The EMA survives save and load.
    model.save(tmp_path / "vae.pt")
    loaded = VAE.load(tmp_path / "vae.pt", device="cpu")
    for key, value in decoder_weights(loaded.ema.module).items():
        torch.testing.assert_close(value, ema[key], rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.sample(3, seed=9), model.sample(3, seed=9))


def test_each_ema_candidate_averages_alike_and_an_adopted_one_samples_and_is_saved_as_ema_decay(tmp_path):
    model = tiny(steps=1, ema_decay=0.5, ema_candidates=[0.9])
    model.fit(spectrograms())
    first = decoder_weights(model.decoder)
    model.update_settings(steps=2)
    model.fit(spectrograms())
    live = decoder_weights(model.decoder)
    kept = {0.5: decoder_weights(model.ema.module), 0.9: decoder_weights(model.ema_alternatives[0.9].module)}
    for decay, averaged in kept.items():  # both started from the first step's weights, each with its own decay
        for key in live:
            torch.testing.assert_close(averaged[key], decay * first[key] + (1 - decay) * live[key], rtol=1e-5, atol=1e-7)
    assert model.ema_decays() == [0.5, 0.9]
    configured = model.sample(3, seed=4)
    model.adopt_ema(0.9)
    assert model.config["ema_decay"] == 0.9 and model.config["ema_candidates"] == [0.5] and model.ema_decays() == [0.9, 0.5]
    adopted = model.sample(3, seed=4)
    assert not np.allclose(adopted, configured)
    model.save(tmp_path / "vae.pt")
    loaded = VAE.load(tmp_path / "vae.pt", device="cpu")
    np.testing.assert_array_equal(loaded.sample(3, seed=4), adopted)  # the saved model samples with the adopted average
    loaded.adopt_ema(0.5)
    np.testing.assert_array_equal(loaded.sample(3, seed=4), configured)  # and still holds the other one
    with pytest.raises(ValueError, match="no average of decay 0.7"):
        loaded.adopt_ema(0.7)


def test_ema_starts_at_ema_start_and_sampling_uses_the_live_weights_until_then():
    model = tiny(steps=2, ema_decay=0.9, ema_start=2)
    model.fit(spectrograms())
    assert int(model.ema.n_averaged) == 0 and model.sampling_network() is model.decoder
    model.update_settings(steps=3)
    model.fit(spectrograms())
    assert int(model.ema.n_averaged) == 1 and model.sampling_network() is model.ema.module
    for key, value in decoder_weights(model.decoder).items():  # step 3 copied the live weights
        torch.testing.assert_close(decoder_weights(model.ema.module)[key], value, rtol=0, atol=0)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_on_a_terminal_and_stays_quiet_in_ci(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    tiny(steps=2).fit(spectrograms())
    assert "train vae" in terminal.getvalue() and "2/2" in terminal.getvalue()

    quiet = FakeTerminal()
    monkeypatch.setattr("sys.stderr", quiet)
    monkeypatch.setenv("CI", "true")
    tiny(steps=2).fit(spectrograms())
    assert quiet.getvalue() == ""


def test_epoch_based_files_are_refused_with_a_clear_message(tmp_path):
    old = {
        "name": "vae",
        "config": {"epochs": 3},
        "input_shape": list(SHAPE),
        "n_classes": 1,
        "seed": 0,
        "epochs_done": 3,
        "history": [],
        "modules": {},
    }
    torch.save(old, tmp_path / "vae.pt")
    with pytest.raises(OldGeneratorState, match="epochs.*train again"):
        VAE.load(tmp_path / "vae.pt", device="cpu")
    torch.save({**old, "rng_state": torch.Generator().get_state()}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(OldGeneratorState, match="epochs"):
        tiny().fit(spectrograms(), checkpoint_dir=tmp_path)


def params_with(models: dict) -> dict:
    return {"dataset": {"name": "demo", "adapter": "demo", "root": "data"}, "train_generator": {"models": models}}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"epochs": 15}, r"train_generator\.models\.vae\.epochs: training budgets are optimizer steps.*steps: S"),
        ({"steps": 0}, r"train_generator\.models\.vae\.steps: Input should be greater than or equal to 1 \(got 0"),
        ({"steps": 10, "max_minutes": -1}, r"vae\.max_minutes: Input should be greater than 0"),
        ({"ema_decay": 1.5}, r"vae\.ema_decay: Input should be less than 1"),
        ({"ema_start": -3}, r"vae\.ema_start: Input should be greater than or equal to 0"),
        ({"diffaugment": ["rotate"]}, r"vae\.diffaugment: unknown parameter"),
        ({"class_conditional": "yes"}, r"vae\.class_conditional: Input should be a valid boolean"),
        ({"ema_candidates": [0.99]}, r"vae\.ema_candidates: \[0\.99\] are alternatives to an average; set .*ema_decay"),
        ({"ema_decay": 0.9, "ema_candidates": [0.9]}, r"vae\.ema_candidates: \[0\.9\] repeats a decay"),
        ({"ema_decay": 0.9, "ema_candidates": 0.99}, r"vae\.ema_candidates: Input should be a valid list"),
        ({"fine_tune_steps": 5}, r"vae\.fine_tune_steps: 5 needs .*teacher_classes: all"),
    ],
)
def test_params_report_bad_generator_training_keys_by_their_full_name(config, message):
    with pytest.raises(ConfigError, match=message):
        parse_params(params_with({"vae": config}))


def test_params_accept_step_budgets_and_a_derived_cgan_budget():
    params = parse_params(
        params_with(
            {
                "vae": {"steps": 100, "max_minutes": 2.5, "ema_decay": 0.999},
                "cgan": {"steps": None, "diffaugment": ["time_shift", "cutout"]},
            }
        )
    )
    assert params.train_generator.models["vae"]["steps"] == 100
    assert params.train_generator.log_every >= 1 and params.train_generator.checkpoint_every >= 1


def test_the_same_training_saves_the_same_bytes(tmp_path):
    """DVC hashes saved models: two runs of one training must write identical files (timings, which differ
    from run to run, stay in metrics and MLflow; the archive inside does not take the temporary file's name)."""
    digests = []
    for run in range(2):
        model = tiny(steps=3)
        model.fit(spectrograms(), log_every=1)
        assert all("seconds_per_step" in record for record in model.history)  # measured, as MLflow logs them
        model.save(tmp_path / f"run{run}" / "vae.pt")
        digests.append((tmp_path / f"run{run}" / "vae.pt").read_bytes())
    assert digests[0] == digests[1]
    loaded = VAE.load(tmp_path / "run0" / "vae.pt", device="cpu")
    assert not any("seconds_per_step" in record for record in loaded.history)
