"""Dataset adapters (one per source, all producing the one manifest schema) and splits.

`load_dataset(adapter, root, options)` is the entry point the `prepare` stage uses; `ADAPTERS`
maps each adapter name to its `load(root, **options)` function.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from synthaug.datasets import coswara, covid19_cough, csv_table, demo_adapter, folder, fsdd
from synthaug.datasets.base import AdapterResult
from synthaug.errors import ConfigError

ADAPTERS = {
    "coswara": coswara.load,
    "folder": folder.load,
    "csv": csv_table.load,
    "fsdd": fsdd.load,
    "covid19-cough": covid19_cough.load,
    "demo": demo_adapter.load,
}


def load_dataset(adapter: str, root: str | Path, options: dict | None = None) -> AdapterResult:
    """Run adapter `adapter` on `root` with `options`; unknown names and keys are a ConfigError."""
    if adapter not in ADAPTERS:
        raise ConfigError(f"dataset.adapter: unknown adapter {adapter!r}; valid adapters: {sorted(ADAPTERS)}")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ConfigError(f"dataset.options: expected a mapping of option names to values, got {options!r}")
    load = ADAPTERS[adapter]
    valid = [name for name in inspect.signature(load).parameters if name != "root"]
    for key in options:
        if key not in valid:
            raise ConfigError(f"dataset.options.{key}: not an option of adapter {adapter!r}; "
                              f"valid options: {valid or 'none'}")
    return load(Path(root), **options)


__all__ = ["ADAPTERS", "AdapterResult", "load_dataset"]
