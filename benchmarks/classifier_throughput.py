"""Classifier training throughput: synthaug.training.train_classifier against a plain PyTorch loop.

Both train the medical CNN (4 blocks, 32/64/128/256 filters) on random 128x94 spectrograms with
batch size 32 in the same process, each warmed up first (train_classifier restores the process-wide
settings it changes, so the plain loop runs with the defaults). The machine's float32 matmul rate
(2048x2048) is measured in the same rounds, and the FLOPs of one training step are counted with
torch.utils.flop_counter, so each loop's achieved GFLOP/s can be put against what the machine can
do. `--ablate` also times train_classifier with its speed-ups switched off. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from synthaug.classifiers import build_classifier
from synthaug.training import TrainConfig, train_classifier

SHAPE = (1, 128, 94)
BATCH = 32
# train_classifier with one speed-up (or both) switched off, to measure what each contributes.
ABLATIONS = {
    "synthaug, no channels_last": {"channels_last": False},
    "synthaug, no retain_memory": {"retain_memory": False},
    "synthaug, neither": {"channels_last": False, "retain_memory": False},
}


def medical_cnn(seed: int = 0) -> torch.nn.Module:
    return build_classifier("medical_cnn", 2, SHAPE, seed=seed)


def plain_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    """A training loop as it is usually written."""
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss.item()  # the usual per-step logging read


def synthaug_loop(model, x: np.ndarray, y: np.ndarray, val: tuple, epochs: int, threads: int, **options) -> None:
    """train_classifier for `epochs` epochs, validating on a small set after each; `options` go to TrainConfig."""
    config = TrainConfig(epochs=epochs, batch_size=BATCH, patience=epochs + 1, num_threads=threads, **options)
    train_classifier(model, (x, y), val, config, progress=False)


def timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) of run()."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def matmul_gflops(size: int = 2048, repeat: int = 5) -> float:
    """The best float32 matmul rate of `repeat` products (call it once first to warm up)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = min(timed(lambda: a @ b)[0] for _ in range(repeat))
    return 2 * size**3 / best / 1e9


def step_gflop_per_sample() -> float:
    """FLOPs (convolutions and matmuls) of one training step, forward + backward, per sample."""
    model = medical_cnn()
    x, y = torch.randn(BATCH, *SHAPE), torch.randint(0, 2, (BATCH,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / BATCH / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256, help="training samples per epoch (default 256)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed round (default 2)")
    parser.add_argument("--repeat", type=int, default=4, help="timed rounds, alternating loops; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument(
        "--ablate", action="store_true", help="also time train_classifier without channels_last and/or without retain_memory"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, *SHAPE)).astype(np.float32)
    y = rng.integers(0, 2, args.samples)
    val = (x[:BATCH], y[:BATCH])  # one batch: validation is part of the loop but kept small
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loops = {
        "plain": lambda n, epochs: plain_loop(medical_cnn(), xt[:n], yt[:n], epochs),
        "synthaug": lambda n, epochs: synthaug_loop(medical_cnn(), x[:n], y[:n], val, epochs, threads),
    }
    if args.ablate:
        for name, options in ABLATIONS.items():
            loops[name] = lambda n, epochs, o=options: synthaug_loop(medical_cnn(), x[:n], y[:n], val, epochs, threads, **o)

    for run in loops.values():  # warm-up: first allocations, oneDNN primitives for both memory formats
        run(2 * BATCH, 1)
    matmul_gflops(repeat=1)
    wall: dict[str, list[float]] = {name: [] for name in loops}
    cpu: dict[str, list[float]] = {name: [] for name in loops}
    matmul_rates = []
    # Alternate loops and the matmul within each round, so that other load on a shared machine hits
    # all alike, and keep each one's best round: such load only ever slows a round down.
    for _ in range(args.repeat):
        for name, run in loops.items():
            seconds, cpu_seconds = timed(functools.partial(run, args.samples, args.epochs))
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
        matmul_rates.append(matmul_gflops())
    samples = args.samples * args.epochs
    rate = {name: samples / min(times) for name, times in wall.items()}
    matmul = max(matmul_rates)
    gflop = step_gflop_per_sample()

    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "threads": threads,
        "samples_per_epoch": args.samples,
        "epochs": args.epochs,
        "repeat": args.repeat,
        "gflop_per_sample_step": gflop,
        "matmul_gflops": matmul,
        "samples_per_s": rate,
        "gflops": {name: r * gflop for name, r in rate.items()},
        "fraction_of_matmul": {name: r * gflop / matmul for name, r in rate.items()},
        "ratio_synthaug_over_plain": rate["synthaug"] / rate["plain"],
        "cpu_ms_per_sample": {name: 1000 * min(times) / samples for name, times in cpu.items()},
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "matmul_gflops_per_round": matmul_rates,
    }
    print(f"medical CNN, 128x94, batch {BATCH}, {threads} threads; one training step = {gflop:.3f} GFLOP per sample")
    print(f"float32 matmul 2048x2048: {matmul:.1f} GFLOP/s")
    for name in loops:
        print(
            f"{name:>26}: {rate[name]:6.1f} samples/s = {rate[name] * gflop:5.1f} GFLOP/s "
            f"({rate[name] * gflop / matmul:4.0%} of matmul), {results['cpu_ms_per_sample'][name]:5.1f} CPU-ms/sample"
        )
    print(f"{'ratio':>26}: {rate['synthaug'] / rate['plain']:.2f}x (synthaug / plain)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
