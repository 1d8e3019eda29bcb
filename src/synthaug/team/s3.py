"""boto3 where synthaug talks to S3 itself: importing a raw data set from a bucket into data/.

Downloads are resumable and verified: an object is streamed into DEST/<key>.part (a retry after a
dropped connection asks only for the missing bytes with a Range request), checked against its size
and, for single-part uploads, its MD5 (the ETag), and only then renamed into place. Objects already
present with the same ETag (recorded in DEST/.synthaug-import.json) are skipped, so re-running an
interrupted import fetches only what is missing. botocore retries transient API errors (throttling,
5xx, connection errors) with its standard mode; the byte stream gets its own retries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from synthaug.errors import DataError, SynthaugError

MANIFEST = ".synthaug-import.json"
CHUNK = 1 << 20
STREAM_ATTEMPTS = 5


def client(
    *,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    max_attempts: int = 10,
):
    """An S3 client with botocore's standard retries; unset arguments come from the environment
    (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ...), as boto3 reads them."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": max_attempts, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or len(url) <= 5:
        raise DataError(f"{url}: not an S3 URL; expected s3://BUCKET/PREFIX")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix


@dataclass
class ImportReport:
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already present and unchanged
    bytes: int = 0


def import_prefix(url: str, dest: Path, *, s3=None, progress: bool = True) -> ImportReport:
    """Copy every object under s3://BUCKET/PREFIX to DEST, keeping the paths below PREFIX."""
    from botocore.exceptions import BotoCoreError, ClientError
    from tqdm import tqdm

    bucket, prefix = parse_s3_url(url)
    s3 = s3 or client()
    dest = Path(dest)
    try:
        objects = [
            o
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
            if not o["Key"].endswith("/")
        ]
    except (BotoCoreError, ClientError) as exc:
        raise SynthaugError(
            f"{url}: cannot list the objects ({exc}); check the bucket name, the endpoint "
            "(AWS_ENDPOINT_URL_S3) and the credentials (synthaug team check)"
        ) from exc
    if not objects:
        raise DataError(f"{url}: no objects under this prefix")
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    report = ImportReport()
    total = sum(o["Size"] for o in objects)
    with tqdm(total=total, unit="B", unit_scale=True, desc="import", disable=None if progress else True) as bar:
        for obj in objects:
            relative = obj["Key"][len(prefix) :].lstrip("/") if prefix else obj["Key"]
            target = dest / relative
            etag = obj["ETag"].strip('"')
            if target.is_file() and manifest.get(relative) == etag and target.stat().st_size == obj["Size"]:
                report.skipped.append(relative)
                bar.update(obj["Size"])
                continue
            _download(s3, bucket, obj["Key"], obj["Size"], etag, target, bar)
            manifest[relative] = etag
            _write_manifest(manifest_path, manifest)  # after each file: an interrupted import keeps what it has
            report.downloaded.append(relative)
            report.bytes += obj["Size"]
    return report


def _download(s3, bucket: str, key: str, size: int, etag: str, target: Path, bar) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    bar.update(have)
    for attempt in range(1, STREAM_ATTEMPTS + 1):
        try:
            if have < size:
                extra = {"Range": f"bytes={have}-"} if have else {}
                body = s3.get_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"', **extra)["Body"]
                with open(part, "ab") as out:
                    for chunk in iter(functools.partial(body.read, CHUNK), b""):
                        out.write(chunk)
                        have += len(chunk)
                        bar.update(len(chunk))
            break
        except (BotoCoreError, ClientError, OSError) as exc:
            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                part.unlink(missing_ok=True)  # the object changed since it was listed: start it over
                raise SynthaugError(f"s3://{bucket}/{key} changed during the import; run the import again") from exc
            if attempt == STREAM_ATTEMPTS:
                raise SynthaugError(
                    f"s3://{bucket}/{key}: download failed after {attempt} attempts ({exc}); "
                    f"run the import again to resume from {have} of {size} bytes"
                ) from exc
            time.sleep(min(2**attempt, 30))
    _verify(part, size, etag, f"s3://{bucket}/{key}")
    os.replace(part, target)


def _verify(path: Path, size: int, etag: str, what: str) -> None:
    actual = path.stat().st_size
    if actual != size:
        path.unlink()
        raise SynthaugError(f"{what}: got {actual} bytes, expected {size}; the partial file was removed, run the import again")
    if "-" not in etag:  # a single-part upload's ETag is the MD5 of its bytes (a multipart one is not)
        digest = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != etag:
            path.unlink()
            raise SynthaugError(
                f"{what}: MD5 {digest.hexdigest()} differs from the object's ETag {etag}; "
                "the download was corrupted and removed, run the import again"
            )


def _write_manifest(path: Path, manifest: dict) -> None:
    from synthaug.io import write_json_atomic

    write_json_atomic(path, dict(sorted(manifest.items())))
