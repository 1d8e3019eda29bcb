"""Where a stage keeps resumable training checkpoints.

DVC deletes a stage's outputs before running it, so checkpoints live outside them, under
checkpoints/<stage>/<name>/<fingerprint>/. The fingerprint covers the settings and the bytes of the
input files: a re-run after an interruption resumes, a run with other parameters or data starts
afresh. A stage removes its folder once its outputs are written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CHECKPOINTS_DIR = Path("checkpoints")


def checkpoint_dir(stage: str, name: str, settings: Mapping[str, Any], inputs: Iterable[Path]) -> Path:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in inputs:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "md5").digest())
    return CHECKPOINTS_DIR / stage / name / digest.hexdigest()[:16]
