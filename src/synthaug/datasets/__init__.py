"""Dataset adapters (one per source, all producing the one manifest schema) and splits.

`load_dataset(adapter, root, options)` is the entry point the `prepare` stage uses; `ADAPTERS`
maps each adapter name to its `load(root, **options)` function.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from synthaug.errors import ConfigError

if TYPE_CHECKING:
    from synthaug.datasets.base import AdapterResult

# Adapter name -> the module whose `load` lists that source's files.
ADAPTER_MODULES = {
    "coswara": "synthaug.datasets.coswara",
    "folder": "synthaug.datasets.folder",
    "csv": "synthaug.datasets.csv_table",
    "fsdd": "synthaug.datasets.fsdd",
    "covid19-cough": "synthaug.datasets.covid19_cough",
    "demo": "synthaug.datasets.demo_adapter",
}


class _Adapters(Mapping[str, Callable[..., "AdapterResult"]]):
    """Adapter name -> load function, each module imported on first use: the adapters pull in audio
    decoding (and torch with it), which stages that only read a manifest never need."""

    def __getitem__(self, name: str) -> Callable[..., AdapterResult]:
        return importlib.import_module(ADAPTER_MODULES[name]).load

    def __iter__(self) -> Iterator[str]:
        return iter(ADAPTER_MODULES)

    def __len__(self) -> int:
        return len(ADAPTER_MODULES)


ADAPTERS: Mapping[str, Callable[..., AdapterResult]] = _Adapters()


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
            raise ConfigError(f"dataset.options.{key}: not an option of adapter {adapter!r}; valid options: {valid or 'none'}")
    return load(Path(root), **options)


def __getattr__(name: str):
    # AdapterResult stays importable from the package without importing the adapters' base module
    # (and audio decoding) for every `synthaug.datasets.*` import.
    if name == "AdapterResult":
        from synthaug.datasets.base import AdapterResult

        return AdapterResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ADAPTERS", "ADAPTER_MODULES", "AdapterResult", "load_dataset"]
