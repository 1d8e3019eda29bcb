"""The built-in demo data sets: reproducible, well-formed, and as hard as the protocols they stand in for."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from synthaug.datasets import demo
from synthaug.datasets.demo import COUGH_RECORDINGS, DEMO_KINDS, MACHINE_CLASSES, SAMPLE_RATE, write_demo
from synthaug.errors import ConfigError

TINY = {
    "cough": {"n_participants": 22},  # 17 negative + 5 positive: the 3.4:1 ratio exactly
    "machine": {"train_files_per_class": 2, "test_files_per_class": 2, "duration_s": 6.0},
}


def read_metadata(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def all_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cough_set(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("cough")
    return root, read_metadata(write_demo("cough", root, seed=3, **TINY["cough"]))


@pytest.fixture(scope="module")
def machine_set(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("machine")
    return root, read_metadata(write_demo("machine", root, seed=3, **TINY["machine"]))


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_same_seed_gives_byte_identical_files_and_metadata(kind, tmp_path):
    first = write_demo(kind, tmp_path / "a", seed=5, **TINY[kind]).parent
    second = write_demo(kind, tmp_path / "b", seed=5, **TINY[kind]).parent
    assert all_bytes(first) == all_bytes(second)


def test_files_written_by_worker_processes_equal_those_written_in_one(tmp_path, monkeypatch):
    one_process = all_bytes(write_demo("cough", tmp_path / "a", seed=5, **TINY["cough"]).parent)
    monkeypatch.setattr(demo, "PARTICIPANTS_PER_TASK", 3)  # 8 tasks over two worker processes
    workers = all_bytes(write_demo("cough", tmp_path / "b", seed=5, **TINY["cough"]).parent)
    assert workers == one_process


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_different_seed_gives_different_audio(kind, tmp_path):
    first = all_bytes(write_demo(kind, tmp_path / "a", seed=5, **TINY[kind]).parent)
    second = all_bytes(write_demo(kind, tmp_path / "b", seed=6, **TINY[kind]).parent)
    wavs = [name for name in first if name.endswith(".wav")]
    assert wavs and wavs == [name for name in second if name.endswith(".wav")]
    assert all(first[name] != second[name] for name in wavs)


def test_metadata_lists_every_written_file_with_the_manifest_columns(cough_set, machine_set):
    for root, meta in (cough_set, machine_set):
        assert list(meta.columns[:4]) == ["path", "label", "group", "split"]
        written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))
        assert sorted(meta.path) == written
        assert not [p for p in root.rglob("*") if p.name.startswith(".")], "temporary files left behind"


def test_interrupted_rewrite_leaves_no_metadata_and_no_temporary_files(tmp_path, monkeypatch):
    write_demo("cough", tmp_path, seed=0, n_participants=4)
    real_write, calls = sf.write, []

    def disk_full_after_three(*args, **kwargs):
        calls.append(args[0])
        real_write(*args, **kwargs)
        if len(calls) > 3:  # the fourth file is written partly (here: wholly) when the disk fills up
            raise OSError("No space left on device")

    monkeypatch.setattr(demo.sf, "write", disk_full_after_three)
    with pytest.raises(OSError):
        write_demo("cough", tmp_path, seed=1, n_participants=4)
    assert not (tmp_path / "metadata.csv").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def test_cough_class_ratio_is_about_3_4_to_1(cough_set):
    _, meta = cough_set
    labels = meta.groupby("group").label.first()
    assert set(labels) == {"negative", "positive"}
    ratio = (labels == "negative").sum() / (labels == "positive").sum()
    assert ratio == pytest.approx(3.4, abs=0.4)


def test_default_cough_size_leaves_enough_test_participants_to_compare_methods():
    """The default demo under the default 70/15/15 grouped split: at least 100 test participants, 25
    of them positive (measured: a paired AUROC difference between two methods is then resolved to
    about +-0.045), with the class ratio kept in every split."""
    from synthaug.datasets.splits import assign_splits

    labels = demo.cough_labels(demo.COUGH_PARTICIPANTS, seed=0)
    manifest = pd.DataFrame(
        [
            {
                "path": f"p{p}/{r}.wav",
                "label": label,
                "group": f"p{p}",
                "split": "",
                "source": "demo",
                "duration_s": 3.0,
                "sample_rate": SAMPLE_RATE,
            }
            for p, label in enumerate(labels)
            for r in COUGH_RECORDINGS
        ]
    )
    groups = assign_splits(manifest, seed=0).groupby("group").first()
    test = groups[groups.split == "test"].label.value_counts()
    assert test.sum() >= 100 and test["positive"] >= 25, test.to_dict()
    for split, rows in groups.groupby("split"):
        ratio = (rows.label == "negative").sum() / (rows.label == "positive").sum()
        assert ratio == pytest.approx(demo.NEGATIVE_PER_POSITIVE, abs=0.4), split


def test_each_participant_has_both_recordings_under_one_label(cough_set):
    _, meta = cough_set
    assert (meta.split == "").all()
    for participant, rows in meta.groupby("group"):
        assert re.fullmatch(r"p\d{4}", participant)
        assert sorted(rows.path) == sorted(f"{participant}/{name}.wav" for name in COUGH_RECORDINGS)
        assert rows.label.nunique() == 1


def test_cough_recordings_are_3s_16khz_mono_pcm_and_audible(cough_set):
    root, meta = cough_set
    for path in meta.path:
        info = sf.info(root / path)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert info.frames == 3 * SAMPLE_RATE
        audio, _ = sf.read(root / path)
        assert np.isfinite(audio).all()
        # -46 dBFS RMS: quiet recordings with a loud cough peak (levels are set by the peak) stay above it
        assert np.sqrt(np.mean(audio**2)) > 0.005, f"{path} is nearly silent"
        assert np.max(np.abs(audio)) < 1.0, f"{path} clips"


def test_machine_files_are_named_like_pucks_with_their_noise_volume(machine_set):
    root, meta = machine_set
    assert sorted(meta.label.unique()) == sorted(MACHINE_CLASSES)
    assert meta.group.is_unique  # each recording is its own group
    for row in meta.itertuples():
        volume = {"train": "050", "test": "100"}[row.split]
        assert re.fullmatch(rf"{row.label}/{row.group}_vol{volume}\.wav", row.path)
        assert row.group.startswith(f"{row.label}_") and row.noise_volume == str(int(volume))
        info = sf.info(root / row.path)
        assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, 6 * SAMPLE_RATE)
    counts = meta.groupby(["label", "split"]).size()
    assert (counts == 2).all() and set(meta.split) == {"train", "test"}


def test_machine_test_files_carry_louder_background_noise(machine_set):
    """Measured below 70 Hz, where only the background (rumble and hum) has energy, in every class."""
    root, meta = machine_set

    def rumble_rms(path: str) -> float:
        audio, _ = sf.read(root / path)
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1.0 / SAMPLE_RATE)
        return float(np.sqrt(power[(freqs >= 20) & (freqs <= 70)].sum()))

    meta = meta.assign(rumble=[rumble_rms(path) for path in meta.path])
    for label, rows in meta.groupby("label"):
        quietest_test = rows[rows.split == "test"].rumble.min()
        loudest_train = rows[rows.split == "train"].rumble.max()
        assert quietest_test > 1.4 * loudest_train, label


@pytest.mark.parametrize(
    ("kind", "options", "named"),
    [
        ("lungs", {}, ["'lungs'", "cough, machine"]),
        ("cough", {"files_per_class": 3}, ["'files_per_class'", "n_participants"]),
        ("machine", {"n_participants": 3}, ["'n_participants'", "train_files_per_class"]),
        ("cough", {"n_participants": 1}, ["'n_participants'", ">= 2"]),
        ("machine", {"test_files_per_class": 0}, ["'test_files_per_class'"]),
        ("machine", {"duration_s": -5}, ["'duration_s'"]),
        ("cough", {"seed": -1}, ["'seed'"]),
    ],
)
def test_bad_kind_or_option_is_a_config_error_naming_it(kind, options, named, tmp_path):
    with pytest.raises(ConfigError) as excinfo:
        write_demo(kind, tmp_path, **options)
    for text in named:
        assert text in str(excinfo.value)
    assert not list(tmp_path.rglob("*.wav"))


@pytest.mark.slow  # trains a classifier on the demo set
def test_cough_class_difference_is_subtle_but_learnable(tmp_path):
    """A simple classifier on per-mel summaries beats chance clearly but is not perfect, and no single
    feature separates the classes: people differ more than the classes do. 200 participants (a
    quarter of the default) keep the test fast; at the default 800 the same measures give a largest
    class gap of 0.49 between-person standard deviations and an AUROC of 0.89."""
    torch = pytest.importorskip("torch")
    torchaudio = pytest.importorskip("torchaudio")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    meta = read_metadata(write_demo("cough", tmp_path, seed=0, n_participants=200))
    waves = torch.stack([torch.from_numpy(sf.read(tmp_path / p, dtype="float32")[0]) for p in meta.path])
    mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=1024, hop_length=512, n_mels=64)
    log_mel = torch.log(mel(waves) + 1e-6)
    features = torch.cat([log_mel.mean(-1), log_mel.std(-1)], dim=1).numpy()
    positive = (meta.label == "positive").to_numpy()

    by_participant = pd.DataFrame(features).groupby(meta.group.to_numpy()).mean()
    participant_positive = meta.groupby("group").label.first().reindex(by_participant.index) == "positive"
    spread_between_people = by_participant[~participant_positive.to_numpy()].std().to_numpy()
    class_gap = np.abs(features[positive].mean(0) - features[~positive].mean(0))
    assert (class_gap < 0.75 * spread_between_people).all()

    aurocs = []
    splitter = GroupShuffleSplit(n_splits=5, test_size=0.3, random_state=0)
    for train, test in splitter.split(features, positive, groups=meta.group):
        model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
        model.fit(features[train], positive[train])
        aurocs.append(roc_auc_score(positive[test], model.predict_proba(features[test])[:, 1]))
    assert 0.75 <= np.mean(aurocs) <= 0.95, aurocs
