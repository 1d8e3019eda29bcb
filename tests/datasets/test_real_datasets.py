"""The fsdd and covid19-cough adapters on the real data sets in ../shared (skipped when absent)."""

from __future__ import annotations

import json

import pytest

from synthaug.datasets import covid19_cough, fsdd
from synthaug.errors import ConfigError

pytestmark = pytest.mark.slow  # reads whole real data sets


def test_fsdd(fsdd_root):
    result = fsdd.load(fsdd_root)
    manifest = result.manifest
    assert len(manifest) == 3000
    assert sorted(manifest["label"].unique()) == [str(d) for d in range(10)]
    assert manifest["label"].value_counts().eq(300).all()
    assert sorted(manifest["group"].unique()) == ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    assert (manifest["group"] == manifest["path"].str.split("_").str[1]).all()
    assert (manifest["sample_rate"] == 8000).all() and manifest["duration_s"].between(0.1, 2.5).all()
    assert result.report["unreadable"]["count"] == 0 and result.report["missing_files"]["count"] == 0


def test_covid19_cough(covid19_cough_root):
    result = covid19_cough.load(covid19_cough_root)
    manifest, report = result.manifest, result.report
    assert len(manifest) == 1324
    assert manifest["label"].value_counts().to_dict() == {"positive": 682, "negative": 642}
    assert manifest["group"].is_unique
    assert set(manifest["source"]) == {"call-center", "telegram"}
    # A few files in this release are truncated: they stay listed, counted as unreadable.
    unreadable = manifest["duration_s"].isna()
    assert report["unreadable"]["count"] == unreadable.sum()
    assert json.dumps(report)
    assert (manifest.loc[unreadable, "sample_rate"] == 0).all()
    assert set(manifest.loc[~unreadable & (manifest["source"] == "telegram"), "sample_rate"]) == {48000}


def test_covid19_cough_sources_option(covid19_cough_root):
    result = covid19_cough.load(covid19_cough_root, sources=["telegram"])
    assert result.manifest["label"].value_counts().to_dict() == {"negative": 438, "positive": 186}
    assert result.report["excluded_sources"] == {"call-center": 700}
    with pytest.raises(ConfigError, match=r"unknown channels \['radio'\].*'call-center', 'telegram'"):
        covid19_cough.load(covid19_cough_root, sources=["radio"])


def test_covid19_cough_data_report(covid19_cough_root):
    from synthaug.datasets.data_report import Thresholds, build_data_report

    result = covid19_cough.load(covid19_cough_root)
    manifest = result.manifest.assign(split="train")  # the checks below do not depend on the split
    # Call-centre files are 8 kHz phone audio: the default 16 kHz / 0-8 kHz settings would upsample them.
    refused = build_data_report(
        manifest, Thresholds(model_sample_rate=16000, f_max=8000.0, min_groups_per_class=0), result.report
    )
    assert [r["check"] for r in refused.refusals] == ["upsampling"]
    assert refused.refusals[0]["lowest_native_rate"] == 8000
    # At 8 kHz nothing is upsampled, but the channel still tells the class more often than not.
    report = build_data_report(manifest, Thresholds(model_sample_rate=8000, f_max=4000.0, min_groups_per_class=0), result.report)
    assert report.refusals == []
    found = {w["check"]: w for w in report.warnings}
    assert {"sample_rate_confound", "channels_confound", "source_confound"} <= set(found)
    assert 0.3 < found["source_confound"]["cramers_v"] < 0.5
