"""Profiles: overlays on params.yaml (profiles/NAME.yaml) applied by one command.

params.yaml holds the quick profile. `synthaug profile NAME` deep-merges profiles/NAME.yaml into
it (a `null` value removes that key), keeping its comments and key order (ruamel.yaml round trip), and validates the result before
writing, so a broken overlay never leaves a broken params.yaml. `git checkout params.yaml` returns
to the quick profile. The paper profiles (paper-medical, paper-pucks, paper-metal-balls; paper-industrial
is paper-pucks' earlier name) reproduce the settings of synthaug.protocols' table of published values.
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
        if value is None:  # `key: null` in a profile removes the key, e.g. a generator the profile does not use
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def _represent_float(representer, value: float):
    # ruamel writes 5e-05 for 0.00005, which YAML 1.1 readers (PyYAML, so DVC and the stages) take
    # for a string; YAML 1.1 floats need a dot in the mantissa.
    if value != value or value in (float("inf"), float("-inf")):
        return representer.represent_float(value)
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        text = text.replace("e", ".0e")
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def apply_profile(name: str, params_path: Path, project_root: Path) -> list[str]:
    """Merge profiles/NAME.yaml into params_path; return the top-level sections it changed."""
    overlay_path = project_root / PROFILES_DIR / f"{name}.yaml"
    if not overlay_path.is_file():
        raise ConfigError(f"profile {name!r} not found in {PROFILES_DIR}/; available: {', '.join(available(project_root))}")
    overlay = read_yaml(overlay_path)
    yaml = YAML()  # round-trip mode keeps comments and order
    yaml.preserve_quotes = True
    yaml.representer.add_representer(float, _represent_float)
    document = yaml.load(params_path.read_text())
    _merge_into(document, overlay)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    parse_params(YAML(typ="safe").load(buffer.getvalue()), where=f"{params_path} with profile {name!r}")
    write_text_atomic(params_path, buffer.getvalue())
    return sorted(overlay)
