"""benchmarks/gpu_check.sh --smoke: the GPU readiness script trains, audits and tabulates every generator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COUGH = ROOT.parent / "shared" / "datasets" / "covid19-cough"


@pytest.mark.slow
@pytest.mark.skipif(not (COUGH / "metadata.json").is_file(), reason="needs ../shared/datasets/covid19-cough")
def test_smoke_run_trains_audits_and_tabulates_every_generator():
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(ROOT / "benchmarks" / "gpu_check.sh"), "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "AUROC" not in line]
    assert sorted(row.split("|")[1].strip() for row in rows) == ["cgan", "ddpm", "vae", "wgan_gp"]
