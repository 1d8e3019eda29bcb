"""Start-up: a stage imports only what every one of its runs needs, so `synthaug STAGE` starts working
in seconds. Heavy packages a stage needs only sometimes (diffusers for the DDPM, mlflow for logging,
optuna for tuning, torch where no model is touched) are imported where they are used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synthaug.cli import COMMANDS

DEFERRED = ("diffusers", "mlflow", "optuna")


def modules_after_import(*modules: str) -> set[str]:
    """Top-level packages in sys.modules of a fresh interpreter after importing `modules`."""
    code = (
        f"import sys, json\nfor m in {list(modules)!r}: __import__(m)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.slow  # imports torch and every stage in a fresh interpreter: 5-14 s
def test_stage_modules_defer_diffusers_mlflow_and_optuna():
    # All stages in one interpreter (one torch import, not fourteen): none of them may bring these in.
    others = [module for module in COMMANDS.values() if module != "synthaug.stages.tune"]
    loaded = modules_after_import("synthaug.cli", *others)
    assert not loaded & set(DEFERRED), f"a stage module imports {sorted(loaded & set(DEFERRED))} at start-up"
    loaded = modules_after_import("synthaug.cli", "synthaug.stages.tune")
    assert not loaded & {"diffusers", "mlflow"}, "synthaug.stages.tune imports diffusers or mlflow at start-up"


def test_cli_and_manifest_readers_do_not_import_torch():
    # `synthaug --help`, the demo writer and anything that only reads a manifest start without torch.
    loaded = modules_after_import("synthaug.cli", "synthaug.stages.demo", "synthaug.datasets.manifest", "synthaug.datasets")
    assert "torch" not in loaded
    assert not loaded & set(DEFERRED)


HEAVY = {"torch", "sklearn", "matplotlib", "scipy"}
# demo's whole work is writing audio with scipy; every other stage reports a bad argument, parameter or
# data root before these load (seconds on two cores): they are imported inside the functions that use them.
LIGHT_STAGES = [
    module for module in COMMANDS.values() if module.startswith("synthaug.stages.") and module != "synthaug.stages.demo"
]


def test_stages_start_without_torch_scikit_learn_or_matplotlib():
    loaded = modules_after_import("synthaug.cli", *LIGHT_STAGES)
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
