"""The endless seeded stream of training batches every generator's loop draws from (generators.base).

Each pass over the data is a fresh permutation drawn from the run's RNG; the stream's position is
part of a checkpoint, so a resumed run continues mid-pass exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


class BatchStream:
    """An endless stream of training indices: consecutive random permutations of range(n) from `rng`.

    Batches are consecutive slices of the stream, so every spectrogram is shown equally often and a
    batch may straddle two permutations. The stream's position is part of a checkpoint.
    """

    def __init__(self, n: int, rng: torch.Generator) -> None:
        self.n, self.rng = int(n), rng
        self.order = torch.empty(0, dtype=torch.long)
        self.position = 0

    def take(self, count: int) -> torch.Tensor:
        parts = []
        while count > 0:
            if self.position >= len(self.order):
                self.order, self.position = torch.randperm(self.n, generator=self.rng), 0
            part = self.order[self.position : self.position + count]
            parts.append(part)
            self.position += len(part)
            count -= len(part)
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.order, self.position = state["order"].cpu(), int(state["position"])


def split_batches(x: torch.Tensor, count: int) -> list[torch.Tensor]:
    """x [count * b, ...] as `count` consecutive mini-batches of b."""
    return list(x.chunk(int(count))) if count > 1 else [x]
