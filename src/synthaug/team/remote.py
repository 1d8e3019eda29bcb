"""The DVC remote of SYNTHAUG_DVC_REMOTE, in DVC's local config (.dvc/config.local, never committed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from synthaug.errors import ConfigError, SynthaugError

REMOTE_NAME = "team"


def dvc_executable() -> str:
    """dvc from this environment first (it may not be on PATH, e.g. `.venv/bin/synthaug team remote`)."""
    import shutil
    import sys

    return shutil.which("dvc", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])) or "dvc"


def configure_remote(project_root: Path, url: str | None = None, *, log=print) -> str:
    """`dvc remote add --local -d team URL`, with the S3 endpoint of AWS_ENDPOINT_URL_S3 when set.

    Credentials stay in the environment, where DVC's S3 client reads them. To share the remote's
    URL with the team, `dvc remote add -d team URL` (without --local) commits it in .dvc/config.
    """
    url = url or os.environ.get("SYNTHAUG_DVC_REMOTE")
    if not url:
        raise ConfigError("SYNTHAUG_DVC_REMOTE: not set; give the remote's URL (s3://BUCKET/PATH) in team.env or the environment")
    dvc = dvc_executable()
    commands = [[dvc, "remote", "add", "--local", "--force", "--default", REMOTE_NAME, url]]
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if url.startswith("s3://") and endpoint:
        commands.append([dvc, "remote", "modify", "--local", REMOTE_NAME, "endpointurl", endpoint])
    for command in commands:
        result = subprocess.run(command, cwd=project_root, capture_output=True, text=True)
        if result.returncode != 0:
            raise SynthaugError(f"{' '.join(command[1:])} failed: {(result.stderr or result.stdout).strip()}")
    log(f"DVC remote {REMOTE_NAME!r} -> {url}" + (f" (endpoint {endpoint})" if endpoint else "") + " in .dvc/config.local")
    return REMOTE_NAME
