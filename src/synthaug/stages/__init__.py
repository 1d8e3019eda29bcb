"""One module per `synthaug` command that runs a pipeline stage or acts on its outputs.

`STAGES` lists them, read from this package, so the start-up test and benchmark cannot miss one.
"""

from __future__ import annotations

import pkgutil

STAGES: tuple[str, ...] = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)))
