"""The data report of `prepare`: per class and split counts, and each warning and refusal, on tiny
generated WAV files; plus the path and parameter-key errors users meet with their own data."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from synthaug import tracking
from synthaug.config import SplitParams
from synthaug.datasets import ADAPTERS, load_dataset
from synthaug.datasets.csv_table import group_like_columns
from synthaug.datasets.data_report import Thresholds, build_data_report, format_table
from synthaug.datasets.manifest import escapes_root
from synthaug.datasets.splits import assign_splits
from synthaug.errors import ConfigError, DataError
from synthaug.stages import prepare
from tests.datasets.helpers import tone

DEFAULTS = Thresholds(model_sample_rate=16000, f_max=8000.0)


def write_wav(path, seconds=0.1, sample_rate=16000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = tone(seconds, sample_rate)
    sf.write(str(path), np.stack([wave] * channels, axis=1) if channels > 1 else wave, sample_rate)
    return path


def class_folders(root, groups_per_class=12, files_per_group=1, **per_class):
    """root/<label>/g<N>_<i>.wav for labels a and b; per_class[label] = write_wav keyword arguments."""
    for label in ("a", "b"):
        for g in range(groups_per_class):
            for i in range(files_per_group):
                write_wav(root / label / f"{label}{g:02d}_{i}.wav", **per_class.get(label, {}))
    return root


def split_report(root, thresholds=DEFAULTS, **options):
    result = load_dataset("folder", root, {"group_pattern": r"/(?P<group>[ab]\d+)_", **options})
    manifest = assign_splits(result.manifest, seed=0)
    return build_data_report(manifest, thresholds, result.report)


def checks(report):
    return [w["check"] for w in report.warnings]


def write_params(path, root, **sections):
    params = {
        "dataset": {"name": "t", "adapter": "folder", "root": str(root), "options": {"group_pattern": r"/(?P<group>[ab]\d+)_"}}
    }
    for section, values in sections.items():
        params.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(params))
    return path


# --- the summary ---------------------------------------------------------------------------------


def test_summary_per_class_and_split_and_no_warnings_on_clean_data(tmp_path):
    class_folders(tmp_path, groups_per_class=40, a={"seconds": 0.1}, b={"seconds": 0.12})
    report = split_report(tmp_path, Thresholds(16000, 8000.0, min_groups_per_class=6))  # 15 % of 40 groups
    assert report.refusals == [] and report.warnings == []
    summary = report.summary.set_index(["label", "split"])
    assert summary.loc[("a", "all"), "files"] == 40 and summary.loc[("b", "all"), "groups"] == 40
    assert summary.loc[[("a", s) for s in ("train", "val", "test")], "files"].sum() == 40
    assert summary.loc[("a", "all"), "sample_rates"] == {"16000": 40}
    assert summary.loc[("b", "all"), "channels"] == {"1": 40}
    assert summary.loc[("a", "all"), "duration_median_s"] == pytest.approx(0.1, abs=1e-3)
    assert summary.loc[("b", "all"), "duration_total_s"] == pytest.approx(40 * 0.12, abs=1e-2)
    table = format_table(report)
    assert "16000 (40)" in table and "no warnings" in table
    assert json.loads(json.dumps(report.to_json()))["classes"]["a"]["all"]["files"] == 40


def test_native_channels_are_recorded_in_the_manifest(tmp_path):
    write_wav(tmp_path / "a" / "stereo.wav", channels=2)
    write_wav(tmp_path / "a" / "mono.wav")
    manifest = load_dataset("folder", tmp_path, {}).manifest
    assert manifest.set_index("path")["channels"].to_dict() == {"a/mono.wav": 1, "a/stereo.wav": 2}
    assert list(manifest.columns)[:8] == ["path", "label", "group", "split", "source", "duration_s", "sample_rate", "channels"]


# --- upsampling: refused by default, a warning when allowed --------------------------------------


def test_8khz_files_under_16khz_settings_are_refused_with_the_keys(tmp_path, capsys):
    class_folders(tmp_path / "data", a={"sample_rate": 8000}, b={"sample_rate": 8000})
    params = write_params(tmp_path / "params.yaml", tmp_path / "data")
    out, metrics = tmp_path / "out", tmp_path / "m.json"
    with pytest.raises(DataError) as error:
        prepare.main(params, out, metrics, project_root=tmp_path)
    message = str(error.value)
    assert "24 of 24 files" in message and "8000 Hz: 24 files (a 12, b 12)" in message
    assert "featurize.sample_rate = 16000" in message and "featurize.f_max = 8000" in message
    assert "lower featurize.sample_rate to at most 8000 and featurize.f_max to at most 4000" in message
    # the STFT scaled with the rate (the params' n_fft and hop_length halved), so frames keep their length in time
    n_fft, hop = (
        yaml.safe_load(params.read_text()).get("featurize", {}).get(k, d) for k, d in (("n_fft", 2048), ("hop_length", 512))
    )
    assert f"featurize.n_fft: {n_fft // 2}, featurize.hop_length: {hop // 2}" in message
    assert "prepare.allow_upsampling: true" in message
    assert "REFUSED [upsampling]" in capsys.readouterr().out  # the table is printed before stopping
    assert not out.exists() and not metrics.exists()


def test_f_max_above_half_the_native_rate_is_refused_too():
    manifest = pd.DataFrame(
        {
            "path": ["x.wav", "y.wav"],
            "label": ["a", "b"],
            "group": ["x", "y"],
            "split": ["train", "test"],
            "source": "s",
            "duration_s": 1.0,
            "sample_rate": [12000, 22050],
            "channels": 1,
        }
    )
    report = build_data_report(manifest, Thresholds(model_sample_rate=8000, f_max=7000.0, min_groups_per_class=0))
    assert [r["check"] for r in report.refusals] == ["upsampling"]
    assert report.refusals[0]["files"] == 1 and "12000 Hz: 1 files" in report.refusals[0]["message"]
    fine = build_data_report(manifest, Thresholds(model_sample_rate=8000, f_max=4000.0, min_groups_per_class=0))
    assert fine.refusals == [] and "upsampling" not in checks(fine)


def test_allow_upsampling_turns_the_refusal_into_a_warning(tmp_path):
    class_folders(tmp_path, a={"sample_rate": 8000}, b={"sample_rate": 16000})
    allowed = Thresholds(model_sample_rate=16000, f_max=8000.0, allow_upsampling=True)
    report = split_report(tmp_path, allowed)
    assert report.refusals == []
    warning = next(w for w in report.warnings if w["check"] == "upsampling")
    assert warning["files"] == 12 and warning["lowest_native_rate"] == 8000
    assert "allow_upsampling" not in warning["fix"] and "featurize.sample_rate to at most 8000" in warning["fix"]
    assert "WARNING [upsampling]" in format_table(report)


@pytest.fixture
def logged(monkeypatch):
    """What the prepare stage logs to MLflow, recorded instead of sent (a real store costs seconds of
    schema migrations; the end-to-end tests run the stage against one)."""
    calls = {"params": {}, "tags": {}, "metrics": {}, "files": []}

    @contextlib.contextmanager
    def stage_run(*, params, tags=None, **_):
        calls["params"], calls["tags"] = params, dict(tags or {})
        yield None

    monkeypatch.setattr(tracking, "stage_run", stage_run)
    monkeypatch.setattr(
        tracking,
        "log_counts",
        lambda counts, prefix: calls["metrics"].update({f"{prefix}.{k}": v for k, v in tracking.flatten(counts).items()}),
    )
    monkeypatch.setattr(tracking, "log_file", lambda path, artifact_path=None: calls["files"].append(path.name))
    monkeypatch.setattr(tracking, "log_figure", lambda figure, name: calls["files"].append(name))
    monkeypatch.setattr(tracking, "log_dataset_input", lambda *a, **k: None)
    monkeypatch.setattr(tracking, "data_version", lambda root: "none")
    return calls


def test_the_stage_writes_logs_and_prints_the_report(tmp_path, capsys, logged):
    class_folders(tmp_path / "data", a={"sample_rate": 8000}, b={"sample_rate": 8000})
    params = write_params(tmp_path / "params.yaml", tmp_path / "data", prepare={"allow_upsampling": True})
    prepare.main(params, tmp_path / "out", tmp_path / "m.json", project_root=tmp_path)
    assert "data_report.json" in logged["files"]
    assert logged["metrics"]["prepare.warnings"] >= 1
    assert "upsampling" in logged["tags"]["synthaug.data_warnings"].split(",")
    assert logged["params"]["featurize"] == {"sample_rate": 16000, "f_max": 8000.0}
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert "upsampling" in [w["check"] for w in report["warnings"]]
    assert report["classes"]["a"]["all"]["sample_rates"] == {"8000": 12}
    assert report["thresholds"]["allow_upsampling"] is True
    assert json.loads((tmp_path / "m.json").read_text())["warnings"] == len(report["warnings"])
    printed = capsys.readouterr().out
    assert "WARNING [upsampling]" in printed and "8000 (12)" in printed


# --- confounds between classes -------------------------------------------------------------------


def test_classes_at_different_rates_and_channels_are_warned(tmp_path):
    class_folders(tmp_path, a={"sample_rate": 16000, "channels": 2}, b={"sample_rate": 44100})
    report = split_report(tmp_path)
    assert report.refusals == []  # both rates are at least featurize.sample_rate
    found = {w["check"]: w for w in report.warnings}
    assert {"sample_rate_confound", "channels_confound"} <= set(found)
    assert found["sample_rate_confound"]["cramers_v"] == pytest.approx(1.0)
    assert "a: 16000 100%; b: 44100 100%" in found["sample_rate_confound"]["message"]
    assert "prepare.max_class_association = 0.2" in found["sample_rate_confound"]["message"]
    assert format_table(report).count("fix: as above") == 1  # the two confounds share one fix, printed once


def test_rates_spread_alike_over_classes_are_not_warned(tmp_path):
    for label in ("a", "b"):
        for g in range(12):
            write_wav(tmp_path / label / f"{label}{g:02d}_0.wav", sample_rate=(16000, 22050)[g % 2])
    assert "sample_rate_confound" not in checks(split_report(tmp_path))


def test_sources_that_tell_the_class_are_warned():
    rows = [
        {
            "path": f"{label}{i}.wav",
            "label": label,
            "group": f"{label}{i}",
            "split": "train",
            "source": source,
            "duration_s": 1.0,
            "sample_rate": 16000,
            "channels": 1,
        }
        for label, source in (("pos", "phone"), ("neg", "app"))
        for i in range(20)
    ]
    report = build_data_report(pd.DataFrame(rows), Thresholds(16000, 8000.0, min_groups_per_class=0))
    assert checks(report) == ["source_confound"]
    assert "dataset.options.sources" in report.warnings[0]["fix"]


def test_median_durations_that_differ_by_a_factor_are_warned(tmp_path):
    class_folders(tmp_path, a={"seconds": 0.1}, b={"seconds": 0.3})
    report = split_report(tmp_path)
    warning = next(w for w in report.warnings if w["check"] == "duration_confound")
    assert warning["ratio"] == pytest.approx(3.0, rel=0.01)
    assert "prepare.max_duration_ratio = 1.5" in warning["message"]
    lenient = Thresholds(16000, 8000.0, max_duration_ratio=4.0)
    assert "duration_confound" not in checks(split_report(tmp_path, lenient))


# --- too few groups in val or test ---------------------------------------------------------------


def test_a_class_with_too_few_groups_in_test_is_warned(tmp_path):
    class_folders(tmp_path, groups_per_class=12, files_per_group=2)
    report = split_report(tmp_path)
    warning = next(w for w in report.warnings if w["check"] == "few_groups")
    test_groups = report.summary.set_index(["label", "split"]).loc[("a", "test"), "groups"]
    assert warning["groups"]["test/a"] == test_groups < 10
    assert "prepare.min_groups_per_class = 10" in warning["message"] and "prepare.split.test" in warning["fix"]
    assert "few_groups" not in checks(split_report(tmp_path, Thresholds(16000, 8000.0, min_groups_per_class=0)))
    assert "few_groups" not in checks(split_report(tmp_path, Thresholds(16000, 8000.0, min_groups_per_class=1)))


# --- groups that look like they should be set ----------------------------------------------------


def csv_root(root, **columns):
    for i in range(12):
        for label in ("a", "b"):
            write_wav(root / "audio" / f"{label}{i}.wav")
    paths = [f"audio/{label}{i}.wav" for i in range(12) for label in ("a", "b")]
    table = pd.DataFrame({"path": paths, "label": [p[6] for p in paths], **columns})
    table.to_csv(root / "metadata.csv", index=False)
    return root


@pytest.mark.parametrize("column", ["participant", "Group", "Speaker ID", "subject_id"])
def test_an_unused_group_column_in_a_csv_table_is_warned(tmp_path, column):
    csv_root(tmp_path, **{column: [f"p{i // 2}" for i in range(24)]})
    result = load_dataset("csv", tmp_path, {})
    assert result.report["unused_group_columns"] == [column]
    report = build_data_report(assign_splits(result.manifest), DEFAULTS, result.report)
    warning = next(w for w in report.warnings if w["check"] == "unused_group_columns")
    assert f"dataset.options.group_column: {column}" in warning["fix"]
    used = load_dataset("csv", tmp_path, {"group_column": column})
    assert used.report["unused_group_columns"] == []
    assert used.manifest["group"].nunique() == 12


def test_other_columns_do_not_look_like_groups():
    assert group_like_columns(["path", "label", "patient_age", "groupings", "speaker", "Patient_No"]) == ["speaker", "Patient_No"]


# --- paths outside the data root -----------------------------------------------------------------


def test_a_csv_path_escaping_the_root_is_refused_with_its_line(tmp_path):
    root = csv_root(tmp_path / "data")
    write_wav(tmp_path / "secret.wav")  # exists: the path must be refused, not merely missing
    table = pd.read_csv(root / "metadata.csv")
    table.loc[3, "path"] = "audio/../../secret.wav"
    table.to_csv(root / "metadata.csv", index=False)
    with pytest.raises(
        DataError,
        match=r"metadata.csv line 5 \(column 'path'\): path 'audio/../../secret.wav' "
        r"leads outside the data root dataset.root",
    ):
        load_dataset("csv", root, {})
    table.loc[3, "path"] = str(tmp_path / "secret.wav")
    table.to_csv(root / "metadata.csv", index=False)
    with pytest.raises(DataError, match=r"line 5 .*lies outside the data root dataset.root"):
        load_dataset("csv", root, {})


def test_paths_inside_the_root_are_normalized_not_refused(tmp_path):
    root = csv_root(tmp_path)
    table = pd.read_csv(root / "metadata.csv")
    table.loc[0, "path"] = "audio/sub/../a0.wav"
    table.loc[1, "path"] = str(root / "audio" / "b0.wav")
    table.to_csv(root / "metadata.csv", index=False)
    paths = load_dataset("csv", root, {}).manifest["path"]
    assert {"audio/a0.wav", "audio/b0.wav"} <= set(paths) and len(paths) == 24
    assert escapes_root("../x.wav") and escapes_root("a/../../x.wav") and escapes_root("..")
    assert not escapes_root("a/../x.wav") and not escapes_root("..x.wav")


def test_a_manifest_row_escaping_the_root_is_refused_by_any_adapter(tmp_path):
    (tmp_path / "raw").mkdir()
    write_wav(tmp_path.parent / f"{tmp_path.name}-outside.wav")
    records = [{"filename": f"../../{tmp_path.name}-outside.wav", "covid19": True, "source": "telegram"}]
    (tmp_path / "metadata.json").write_text(json.dumps(records))
    with pytest.raises(DataError, match=r"paths lead outside the data root \(dataset.root\).*row 0"):
        load_dataset("covid19-cough", tmp_path, {})


# --- missing files are reported before any split -------------------------------------------------


def test_most_files_missing_is_reported_as_missing_files_not_as_a_split_error(tmp_path, capsys):
    root = csv_root(tmp_path / "data")
    for path in sorted((root / "audio").glob("*.wav"))[:20]:
        path.unlink()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"dataset": {"name": "t", "adapter": "csv", "root": str(root)}}))
    with pytest.raises(DataError) as error:
        prepare.main(params, tmp_path / "out", tmp_path / "m.json", project_root=tmp_path)
    message = str(error.value)
    assert "most listed files are missing: 20 of 24 listed files are missing under dataset.root" in message
    assert "audio/a0.wav" in message and "groups" not in message
    assert not (tmp_path / "out").exists()


def test_a_few_missing_files_are_printed_before_the_split_and_warned(tmp_path, capsys):
    root = csv_root(tmp_path)
    (root / "audio" / "a3.wav").unlink()
    result = load_dataset("csv", root, {})
    manifest = prepare.split_manifest(result, SplitParams())
    assert "1 listed files are missing under dataset.root and left out, e.g. ['audio/a3.wav']" in capsys.readouterr().out
    report = build_data_report(manifest, DEFAULTS, result.report)
    warning = next(w for w in report.warnings if w["check"] == "missing_files")
    assert warning["files"] == 1 and "1 of 24 listed files" in warning["message"]


def test_a_split_error_names_the_missing_files(tmp_path):
    root = csv_root(tmp_path)
    for i in range(1, 12):
        (root / "audio" / f"a{i}.wav").unlink()  # 11 of 24 missing: under half, but class a keeps 1 file
    with pytest.raises(DataError, match=r"class 'a' has 1 groups.*11 listed files are missing under dataset.root"):
        prepare.split_manifest(load_dataset("csv", root, {}), SplitParams())


def test_unreadable_files_are_counted_and_warned(tmp_path):
    class_folders(tmp_path)
    (tmp_path / "a" / "a00_0.wav").write_bytes(b"RIFF")
    report = split_report(tmp_path)
    assert report.unreadable == 1 and "unreadable_files" in checks(report)
    assert report.summary.set_index(["label", "split"]).loc[("a", "all"), "sample_rates"] == {"16000": 11}


# --- error messages name the real parameter keys -------------------------------------------------


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_a_missing_root_names_dataset_root(tmp_path, adapter):
    with pytest.raises(DataError) as error:
        load_dataset(adapter, tmp_path / "not-there", {})
    assert "not-there" in str(error.value)
    if adapter != "demo":  # the demo's fix is to generate it
        assert "dataset.root" in str(error.value)
    assert "prepare.root" not in str(error.value)


@pytest.mark.parametrize(
    "adapter, options, key",
    [
        ("nope", {}, "dataset.adapter"),
        ("folder", {"split_pattern": "x"}, "dataset.options.split_pattern"),
        ("folder", {"label_patern": "x"}, "dataset.options.label_patern"),
        ("csv", {"label_column": "class"}, "dataset.options.label_column"),
        ("csv", {"table": "other.csv"}, "dataset.options.table"),
        ("coswara", {"min_quality": 7}, "dataset.options.min_quality"),
        ("covid19-cough", {"sources": "telegram"}, "dataset.options.sources"),
    ],
)
def test_option_errors_name_dataset_options_keys(tmp_path, adapter, options, key):
    csv_root(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "metadata.json").write_text(json.dumps([{"filename": "x.mp3", "covid19": True, "source": "t"}]))
    (tmp_path / "combined_data.csv").write_text("id,covid_status\n")
    with pytest.raises((ConfigError, DataError)) as error:
        load_dataset(adapter, tmp_path, options)
    assert key in str(error.value) and "prepare." not in str(error.value)
