"""An S3 endpoint for the team tests: moto's server as a real process on loopback, as the team stack starts it."""

from __future__ import annotations

import os
import signal

import pytest

from synthaug.team.stack import LOCAL_ACCESS_KEY, LOCAL_REGION, free_port, start_s3


@pytest.fixture(scope="package")
def s3_endpoint(tmp_path_factory):
    """http://127.0.0.1:PORT of a moto S3 server, stopped after the package's tests."""
    port = free_port()
    pid = start_s3(tmp_path_factory.mktemp("s3"), port)
    yield f"http://127.0.0.1:{port}"
    os.killpg(pid, signal.SIGTERM)


@pytest.fixture
def s3_client(s3_endpoint):
    from synthaug.team.s3 import client

    return client(endpoint_url=s3_endpoint, access_key=LOCAL_ACCESS_KEY, secret_key="test-secret", region=LOCAL_REGION)
