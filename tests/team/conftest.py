"""An S3 endpoint for the team tests: moto's server as a real process on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from synthaug.team.stack import LOCAL_ACCESS_KEY, LOCAL_REGION, free_port


@pytest.fixture(scope="package")
def s3_endpoint():
    """http://127.0.0.1:PORT of a moto S3 server, stopped after the package's tests."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("moto's S3 server did not start")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)


@pytest.fixture
def s3_client(s3_endpoint):
    from synthaug.team.s3 import client

    return client(endpoint_url=s3_endpoint, access_key=LOCAL_ACCESS_KEY, secret_key="test-secret", region=LOCAL_REGION)
