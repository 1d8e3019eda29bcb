"""team.env: read by the CLI and make, never overriding the environment, and refusing what it cannot parse."""

from __future__ import annotations

import os
import stat

import pytest

from synthaug.errors import ConfigError
from synthaug.team.settings import load_team_env, read_env_file, write_env_file


def test_env_file_reads_comments_export_and_quotes(tmp_path):
    path = tmp_path / "team.env"
    path.write_text(
        "# the team's services\n\nexport MLFLOW_TRACKING_URI=http://mlflow:5000\nAWS_DEFAULT_REGION='eu-west-1'\n"
        'SYNTHAUG_DVC_REMOTE="s3://bucket/dvc"\n'
    )
    assert read_env_file(path) == {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "SYNTHAUG_DVC_REMOTE": "s3://bucket/dvc",
    }


def test_a_line_that_is_not_key_value_is_named(tmp_path):
    path = tmp_path / "team.env"
    path.write_text("MLFLOW_TRACKING_URI=http://x\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"team.env:2: expected KEY=VALUE"):
        read_env_file(path)


def test_the_environment_wins_over_team_env(tmp_path, monkeypatch):
    (tmp_path / "team.env").write_text("MLFLOW_TRACKING_URI=http://from-file\nSYNTHAUG_DVC_REMOTE=s3://from-file\n")
    environment = {k: v for k, v in os.environ.items() if k != "SYNTHAUG_DVC_REMOTE"}
    environment["MLFLOW_TRACKING_URI"] = "http://from-environment"
    monkeypatch.setattr(os, "environ", environment)  # a copy: nothing leaks into the other tests
    added = load_team_env(tmp_path)
    assert added == {"SYNTHAUG_DVC_REMOTE": "s3://from-file"}
    assert environment["MLFLOW_TRACKING_URI"] == "http://from-environment"
    assert environment["SYNTHAUG_DVC_REMOTE"] == "s3://from-file"


def test_written_env_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "team.env"
    write_env_file(path, {"AWS_SECRET_ACCESS_KEY": "s3cret"}, "local stack")
    assert read_env_file(path) == {"AWS_SECRET_ACCESS_KEY": "s3cret"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
