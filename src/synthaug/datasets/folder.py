"""Adapter `folder`: one folder per class, optionally split by folder or by a pattern in the name.

Layouts it describes:

- `root/<class>/**/<file>`: no predefined split.
- `root/<split dir>/<class>/**/<file>` with `split_dirs`, e.g. {"train": "train", "test": "test"}.
- class folders whose file names carry the split, e.g. IDMT-ISA-METAL-BALLS or IDMT-ISA-PUCKS,
  where the test files are recorded with louder background noise (`..._vol100.wav`) than the
  training files (`..._vol050.wav`): `split_pattern: "vol(?P<split>\\d+)"` with
  `split_map: {"050": "train", "100": "test"}` (quote the keys in YAML).

Patterns are regular expressions searched (`re.search`) in the file's posix path relative to
`root`, so they can look at folders or the file name; each has one named group: `label`, `split`
or `group`. Without `label_pattern` the label is the first folder (below the split folder);
without `group_pattern` every file is its own group.

A file that no rule fits (no class folder, a pattern that does not match, a split value missing
from `split_map`) is left out, counted and listed in the report under `unmatched`; it is not an
error, because data folders often hold stray files. Hidden files and files with other
extensions are counted under `ignored_files`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from synthaug.datasets.base import AdapterResult, counted, finish, require_dir
from synthaug.datasets.manifest import SPLITS
from synthaug.errors import ConfigError

DEFAULT_EXTENSIONS = ("wav", "flac", "ogg", "mp3")


def load(
    root: Path,
    split_dirs: dict[str, str] | None = None,  # {split: folder under root}, each holding class folders
    label_pattern: str | None = None,  # a regex whose group `label` takes the class from the path (default: the first folder)
    split_pattern: str | None = None,  # a regex whose group `split` takes the split from the path
    split_map: dict[str, str] | None = None,  # {what split_pattern finds: train, val or test}
    group_pattern: str | None = None,  # a regex whose group `group` keeps files of one group in one split
    extensions: list[str] | tuple[str, ...] = DEFAULT_EXTENSIONS,  # the audio file extensions listed
    source: str = "folder",  # the manifest's source column
) -> AdapterResult:
    """List the audio files under `root` as described in the module docstring."""
    root = require_dir(Path(root), "data root", "point dataset.root at the folder that holds the class folders")
    if split_dirs is not None and split_pattern is not None:
        raise ConfigError(
            "dataset.options.split_dirs and dataset.options.split_pattern both set; "
            "the split comes either from folders or from file names, set only one"
        )
    if isinstance(extensions, str) or not extensions:
        raise ConfigError(f"dataset.options.extensions: expected a list such as {list(DEFAULT_EXTENSIONS)}, got {extensions!r}")
    suffixes = {"." + str(e).lower().lstrip(".") for e in extensions}
    listing = _list_files(root, _check_split_dirs(root, split_dirs))
    is_audio = listing["suffix"].isin(suffixes) & ~listing["hidden"]
    ignored = listing.loc[~is_audio, "suffix"].where(~listing.loc[~is_audio, "hidden"], "(hidden)")
    files = listing[is_audio].reset_index(drop=True)

    path = files["path"]
    label = _extract(path, label_pattern, "label") if label_pattern else files["class_dir"]
    group = _extract(path, group_pattern, "group") if group_pattern else path
    if split_pattern:
        split = _extract(path, split_pattern, "split")
        split = split.map(_check_split_map(split_map)) if split_map is not None else split
        split = split.where(split.isin(SPLITS))
    else:
        if split_map is not None:
            raise ConfigError("dataset.options.split_map: only used with dataset.options.split_pattern")
        split = files["split"]
    unmatched = {"label": label.isna(), "split": split.isna(), "group": group.isna()}
    usable = ~(unmatched["label"] | unmatched["split"] | unmatched["group"])

    manifest = pd.DataFrame({"path": path, "label": label, "group": group, "split": split, "source": source})[usable]
    report = {
        "audio_files": len(files),
        "ignored_files": {str(k or "(no extension)"): int(v) for k, v in ignored.value_counts().items()},
        "unmatched": {rule: counted(path[mask]) for rule, mask in unmatched.items()},
    }
    return finish(manifest, root, "folder", report)


def _list_files(root: Path, split_dirs: dict[str, str]) -> pd.DataFrame:
    """Every file under root (or under each split folder) with its class folder and split."""
    bases = {split: root / folder for split, folder in split_dirs.items()} or {"": root}
    rows = []
    for split, base in bases.items():
        for file in sorted(p for p in base.rglob("*") if p.is_file()):
            inner = file.relative_to(base).parts
            rows.append(
                {
                    "path": file.relative_to(root).as_posix(),
                    "class_dir": inner[0] if len(inner) > 1 else None,
                    "split": split,
                    "suffix": file.suffix.lower(),
                    "hidden": any(part.startswith(".") for part in inner),
                }
            )
    return pd.DataFrame(rows, columns=["path", "class_dir", "split", "suffix", "hidden"])


def _compile(pattern: str, group: str) -> re.Pattern:
    key = f"dataset.options.{group}_pattern"
    try:
        regex = re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ConfigError(f"{key}: {pattern!r} is not a valid regular expression ({exc})") from exc
    if group not in regex.groupindex:
        raise ConfigError(f"{key}: {pattern!r} needs a named group (?P<{group}>...)")
    return regex


def _extract(paths: pd.Series, pattern: str, group: str) -> pd.Series:
    """The named group of the first match in each path; NaN where the pattern does not match."""
    _compile(pattern, group)
    values = paths.str.extract(pattern)[group]
    return values.mask(values == "")


def _check_split_dirs(root: Path, split_dirs: dict[str, str] | None) -> dict[str, str]:
    if split_dirs is None:
        return {}
    if not isinstance(split_dirs, dict) or not split_dirs or set(split_dirs) - set(SPLITS):
        raise ConfigError(
            f"dataset.options.split_dirs: expected a mapping from {list(SPLITS)} to folders "
            f"under the data root, got {split_dirs!r}"
        )
    for split, folder in split_dirs.items():
        require_dir(root / folder, f"split folder for {split!r}", "fix dataset.options.split_dirs or the data layout")
    return {str(k): str(v) for k, v in split_dirs.items()}


def _check_split_map(split_map) -> dict[str, str]:
    if not isinstance(split_map, dict) or not set(map(str, split_map.values())) <= set(SPLITS):
        raise ConfigError(
            f"dataset.options.split_map: expected a mapping from matched text to one of {list(SPLITS)}, got {split_map!r}"
        )
    return {str(k): str(v) for k, v in split_map.items()}
