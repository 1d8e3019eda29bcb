"""Tiny projects for the end-to-end tests: the demo data, the tiny profile and `dvc repro` in a temporary
git repository, driven through the same commands a user types (`synthaug`, `dvc`, `git`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from synthaug.team.settings import KEYS as TEAM_KEYS

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Files and folders of the repository a project needs for `dvc repro` (the code is a dependency of the stages).
PROJECT_FILES = (
    "dvc.yaml",
    "params.yaml",
    ".gitignore",
    "outputs/scarcity/.gitignore",
    "outputs/minority_scarcity/.gitignore",
)
PROJECT_FOLDERS = ("src", "profiles")


def command_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        **extra,
    }
    for key in TEAM_KEYS:  # the project's own team.env, if any, says where services are; the caller's environment does not
        env.pop(key, None)
    return env


def run(cmd: list[str], cwd: Path, **env: str) -> str:
    """Run a command in `cwd`; its stdout and stderr, or a failed assertion that shows them."""
    result = subprocess.run(cmd, cwd=cwd, env=command_env(**env), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def set_params(project: Path, overlay: dict) -> None:
    from synthaug.config import deep_merge

    path = project / "params.yaml"
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(path.read_text()), overlay), sort_keys=False))


def new_project(
    project: Path,
    *profiles: str,
    target: str | None = None,
    overlay: dict | None = None,
    before_repro: Callable[[Path], None] | None = None,
    **env: str,
) -> Path:
    """A fresh project in the empty folder `project` with the tiny demo data, the given profiles and `overlay`,
    after one `dvc repro [target]` (`before_repro(project)` runs just before it, on the committed project).
    `env`: extra environment of every command (e.g. OMP_NUM_THREADS when projects are built side by side)."""
    for name in PROJECT_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, project / name)
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for profile in ("tiny", *profiles):
        run(["synthaug", "profile", profile], project, **env)
    if overlay:
        set_params(project, overlay)
    run(["git", "init", "-q"], project)
    run(["dvc", "init", "-q"], project)
    run(["synthaug", "demo", "data"], project, **env)
    run(["dvc", "add", "data", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "tiny project"], project)
    if before_repro is not None:
        before_repro(project)
    run(["dvc", "repro", *([target] if target else [])], project, **env)
    return project


# Two builds side by side use both cores: most of a tiny build is single-threaded start-up of stage
# processes. Each build's torch then gets one thread, so that the two do not fight over the cores.
SIDE_BY_SIDE = {"OMP_NUM_THREADS": "1"}


def build_side_by_side(*builds: Callable[[], Path]) -> list[Path]:
    """Run independent project builds two at a time; their results in order (the first failure is raised)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(build) for build in builds]
        return [future.result() for future in futures]
