"""Exponential moving averages of a generator's sampling network (a mixin of generators.base.Generator).

`ema_decay` (from step `ema_start`) keeps one average, which `sample` uses once it exists
(`sampling_network`); for choosing the averaging length after training, `ema_candidates` keeps one
more average per decay, and `adopt_ema` makes one of them the average that samples.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from synthaug.generator_configs import GeneratorConfig


class EmaSampling:
    """The averages and the network they follow; the generator sets `ema` and `ema_alternatives` at build."""

    name: ClassVar[str]
    settings: GeneratorConfig
    steps_done: int
    ema: AveragedModel | None
    ema_alternatives: dict[float, AveragedModel]

    def ema_target(self) -> torch.nn.Module:
        """The network `sample` runs (decoder, generator, U-Net): the one whose weights the EMA averages."""
        raise NotImplementedError(f"{self.name} does not name a network for the weight EMA")

    def _build_ema(self, decay: float | None = None) -> AveragedModel | None:
        decay = self.settings.ema_decay if decay is None else decay
        if not decay:
            return None
        # Buffers (batch-norm statistics, progress counters) are copied from the live network at each
        # update rather than averaged: averaging an integer counter is meaningless. The live network's
        # batch-norm statistics do not fit the averaged weights, so generators with batch norm re-measure
        # them on the averaged network before sampling (layers.standing_statistics).
        ema = AveragedModel(self.ema_target(), multi_avg_fn=get_ema_multi_avg_fn(float(decay)), use_buffers=False)
        return ema.requires_grad_(False)

    def _update_ema(self) -> None:
        if self.ema is not None and self.steps_done > int(self.settings.ema_start):
            # The first update copies the live weights; each later one is decay * ema + (1 - decay) * live.
            for average in (self.ema, *self.ema_alternatives.values()):
                average.update_parameters(self.ema_target())

    def ema_decays(self) -> list[float]:
        """The averaging lengths this generator can sample with: ema_decay first, then ema_candidates."""
        return [] if self.ema is None or self.settings.ema_decay is None else [self.settings.ema_decay, *self.ema_alternatives]

    def adopt_ema(self, decay: float) -> None:
        """Sample from the average of `decay` (one of ema_decays()) from now on: it becomes ema_decay and the
        average it replaces becomes a candidate, so a saved model records the length it samples with."""
        decay = float(decay)
        if decay not in self.ema_decays():
            raise ValueError(f"{self.name}: no average of decay {decay}; this generator keeps {self.ema_decays()}")
        current = self.settings.ema_decay
        if decay == current or self.ema is None or current is None:
            return
        self.ema_alternatives[current] = self.ema
        self.ema = self.ema_alternatives.pop(decay)
        self.settings = self.settings.model_copy(update={"ema_decay": decay, "ema_candidates": list(self.ema_alternatives)})

    def sampling_network(self) -> torch.nn.Module:
        """The EMA network once it has been updated, else the live one."""
        if self.ema is not None and int(self.ema.n_averaged) > 0:
            return self.ema.module
        return self.ema_target()
