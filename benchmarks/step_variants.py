"""Seconds per DDPM training step under CPU variants: torch threads, channels-last, fused AdamW.

Times the quick profile's diffusion recipe (params.yaml `train_generator.models.ddpm`) on random
spectrograms of the demo shape [1, 64, 47], batch 16: three warm-up steps, then the median over
`--blocks` blocks of `--steps` steps. Run variants alternately and repeat: the machine's run-to-run
spread is larger than the effects measured here (benchmarks/README.md, "Steps per CPU-minute").

    OMP_NUM_THREADS=2 python benchmarks/step_variants.py --threads 2 --variant plain
    OMP_NUM_THREADS=2 python benchmarks/step_variants.py --threads 2 --variant channels_last+fused
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diffusers.optimization import get_constant_schedule_with_warmup

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthaug.config import load_params  # noqa: E402
from synthaug.generators.ddpm import DDPM  # noqa: E402

VARIANTS = ("plain", "channels_last", "fused", "channels_last+fused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variant", choices=VARIANTS, default="plain")
    parser.add_argument("--steps", type=int, default=6, help="steps per timed block (default 6)")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks (default 5)")
    parser.add_argument("--shape", default="1,64,47")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = {**load_params(ROOT / "params.yaml").train_generator.models["ddpm"], "max_minutes": None}
    shape = tuple(int(d) for d in args.shape.split(","))
    generator = DDPM(config, input_shape=shape, seed=0, device="cpu")
    if "channels_last" in args.variant:
        generator.unet.to(memory_format=torch.channels_last)
    if "fused" in args.variant:
        generator.optimizer = torch.optim.AdamW(
            generator.unet.parameters(), lr=float(config["lr"]), weight_decay=float(config["weight_decay"]), fused=True
        )
        # The warm-up schedule must drive the optimizer that steps, as in the plain variant.
        generator.lr_schedule = get_constant_schedule_with_warmup(generator.optimizer, int(config["lr_warmup_steps"]))
    x, y = torch.randn(16, *shape), torch.zeros(16, dtype=torch.long)
    rng = torch.Generator().manual_seed(0)
    for _ in range(3):
        generator.train_step(x, y, rng)
    blocks = []
    for _ in range(args.blocks):
        started = time.perf_counter()
        for _ in range(args.steps):
            generator.train_step(x, y, rng)
        blocks.append((time.perf_counter() - started) / args.steps)
    print(json.dumps({"threads": args.threads, "variant": args.variant, "seconds_per_step": float(np.median(blocks))}))


if __name__ == "__main__":
    main()
