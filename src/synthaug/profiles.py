"""Profiles: overlays on params.yaml (profiles/NAME.yaml) applied by one command.

params.yaml holds the quick profile. `synthaug profile NAME` deep-merges profiles/NAME.yaml into
it, keeping its comments and key order (ruamel.yaml round trip), and validates the result before
writing, so a broken overlay never leaves a broken params.yaml. `git checkout params.yaml` returns
to the quick profile.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from synthaug.config import PROFILES_DIR, parse_params, read_yaml
from synthaug.errors import ConfigError
from synthaug.io import write_text_atomic


def available(project_root: Path) -> list[str]:
    return sorted(p.stem for p in (project_root / PROFILES_DIR).glob("*.yaml"))


def _merge_into(target: CommentedMap, overlay: dict[str, Any]) -> None:
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def apply_profile(name: str, params_path: Path, project_root: Path) -> list[str]:
    """Merge profiles/NAME.yaml into params_path; return the top-level sections it changed."""
    overlay_path = project_root / PROFILES_DIR / f"{name}.yaml"
    if not overlay_path.is_file():
        raise ConfigError(f"profile {name!r} not found in {PROFILES_DIR}/; available: {', '.join(available(project_root))}")
    overlay = read_yaml(overlay_path)
    yaml = YAML()  # round-trip mode keeps comments and order
    yaml.preserve_quotes = True
    document = yaml.load(params_path.read_text())
    _merge_into(document, overlay)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    parse_params(YAML(typ="safe").load(buffer.getvalue()), where=f"{params_path} with profile {name!r}")
    write_text_atomic(params_path, buffer.getvalue())
    return sorted(overlay)
