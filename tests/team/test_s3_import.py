"""`synthaug import`: a raw data set from a bucket into data/, resumable and verified, against a real S3 endpoint."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from synthaug.errors import DataError, SynthaugError
from synthaug.team.s3 import MANIFEST, client, import_prefix
from tests.team.tcp_proxy import RestartableProxy

pytestmark = pytest.mark.services  # moto's S3 server on loopback (tests/team/conftest.py)
_buckets = itertools.count()


@pytest.fixture
def bucket(s3_client) -> str:
    """A fresh bucket holding raw/ with three files in two folders."""
    name = f"raw-{next(_buckets)}"
    s3_client.create_bucket(Bucket=name)
    rng = np.random.default_rng(0)
    for key, size in (("raw/a/one.wav", 1000), ("raw/a/two.wav", 300_000), ("raw/b/three.flac", 5)):
        s3_client.put_object(Bucket=name, Key=key, Body=rng.bytes(size))
    s3_client.put_object(Bucket=name, Key="elsewhere/x.wav", Body=b"not under the prefix")
    return name


def content(s3_client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_import_copies_every_object_under_the_prefix_and_skips_them_next_time(s3_client, bucket, tmp_path):
    dest = tmp_path / "data" / "raw"
    report = import_prefix(f"s3://{bucket}/raw/", dest, s3=s3_client, progress=False)
    assert sorted(report.downloaded) == ["a/one.wav", "a/two.wav", "b/three.flac"]
    assert (dest / "a/two.wav").read_bytes() == content(s3_client, bucket, "raw/a/two.wav")
    assert not (dest / "x.wav").exists() and not list(dest.rglob("*.part"))
    assert (dest / MANIFEST).is_file()

    again = import_prefix(f"s3://{bucket}/raw/", dest, s3=s3_client, progress=False)
    assert again.downloaded == [] and len(again.skipped) == 3


def test_a_changed_object_is_fetched_again(s3_client, bucket, tmp_path):
    import_prefix(f"s3://{bucket}/raw", tmp_path, s3=s3_client, progress=False)
    s3_client.put_object(Bucket=bucket, Key="raw/a/one.wav", Body=b"a new recording")
    report = import_prefix(f"s3://{bucket}/raw", tmp_path, s3=s3_client, progress=False)
    assert report.downloaded == ["a/one.wav"] and (tmp_path / "a/one.wav").read_bytes() == b"a new recording"


def test_an_interrupted_download_resumes_from_its_partial_file(s3_client, bucket, tmp_path):
    full = content(s3_client, bucket, "raw/a/two.wav")
    (tmp_path / "a").mkdir(parents=True)
    (tmp_path / "a/two.wav.part").write_bytes(full[:100_000])  # what a killed import left behind
    report = import_prefix(f"s3://{bucket}/raw", tmp_path, s3=s3_client, progress=False)
    assert "a/two.wav" in report.downloaded
    assert (tmp_path / "a/two.wav").read_bytes() == full and not (tmp_path / "a/two.wav.part").exists()


def test_a_corrupt_partial_file_fails_verification_and_is_removed(s3_client, bucket, tmp_path):
    (tmp_path / "a").mkdir(parents=True)
    (tmp_path / "a/two.wav.part").write_bytes(b"\0" * 100_000)  # right length so far, wrong bytes
    with pytest.raises(SynthaugError, match="MD5 .* differs from the object's ETag"):
        import_prefix(f"s3://{bucket}/raw", tmp_path, s3=s3_client, progress=False)
    assert not (tmp_path / "a/two.wav.part").exists() and not (tmp_path / "a/two.wav").exists()
    import_prefix(f"s3://{bucket}/raw", tmp_path, s3=s3_client, progress=False)  # the next run gets it right
    assert (
        hashlib.md5((tmp_path / "a/two.wav").read_bytes()).hexdigest()
        == hashlib.md5(content(s3_client, bucket, "raw/a/two.wav")).hexdigest()
    )


def test_a_connection_dropped_mid_download_is_retried_from_where_it_stopped(s3_client, s3_endpoint, tmp_path):
    s3_client.create_bucket(Bucket="big")
    payload = np.random.default_rng(1).bytes(6_000_000)
    s3_client.put_object(Bucket="big", Key="raw/long.wav", Body=payload)
    proxy = RestartableProxy(int(s3_endpoint.rsplit(":", 1)[1]), delay_s=0.01)
    proxy.start()
    through_proxy = client(endpoint_url=f"http://127.0.0.1:{proxy.port}", access_key="k", secret_key="s", region="us-east-1")

    import threading

    def drop_once() -> None:  # the endpoint goes away after about a megabyte and comes back
        while proxy.bytes < 1_000_000:
            threading.Event().wait(0.01)
        proxy.stop()
        threading.Event().wait(0.5)
        proxy.start()

    dropper = threading.Thread(target=drop_once, daemon=True)
    dropper.start()
    try:
        import_prefix("s3://big/raw", tmp_path, s3=through_proxy, progress=False)
    finally:
        dropper.join(30)
        proxy.stop()
    assert not dropper.is_alive() and proxy.accepted >= 2  # the drop happened, and the download reconnected
    assert (tmp_path / "long.wav").read_bytes() == payload


def test_bad_urls_and_unreachable_endpoints_give_clear_errors(tmp_path, s3_client, bucket):
    with pytest.raises(DataError, match="not an S3 URL"):
        import_prefix("https://example.org/data", tmp_path, s3=s3_client)
    with pytest.raises(DataError, match="no objects under this prefix"):
        import_prefix(f"s3://{bucket}/nothing-here", tmp_path, s3=s3_client)
    dead = client(endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s", region="us-east-1", max_attempts=1)
    with pytest.raises(SynthaugError, match="cannot list the objects.*AWS_ENDPOINT_URL_S3"):
        import_prefix(f"s3://{bucket}/raw", tmp_path, s3=dead)
