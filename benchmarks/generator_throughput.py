"""Training and sampling throughput, and peak memory, of each generator at quick-profile size.

For every generator in params.yaml's `train_generator.models` (the quick profile's sizes), on
random z-scored spectrograms of the demo shape [1, 128, 94]:
- training: optimizer steps per second (WGAN-GP: generator steps, each with n_critic critic
  steps) over `--steps` steps after two warm-up steps, on `--n` training spectrograms (the
  progressive GAN at its final, full-resolution stage, its slowest);
- sampling: spectrograms per second (DDPM with its configured DDIM steps, 50 by default);
- peak memory: the process's peak resident set size after the generator ran (each generator runs
  in its own process, so the peaks do not mix), and on CUDA the peak allocated GPU memory.

    python benchmarks/generator_throughput.py [--n 74] [--steps 10] [--samples 16] [--threads 2]
        [--shape 1,128,94] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthaug.config import load_params  # noqa: E402
from synthaug.generators import generator_class  # noqa: E402

SHAPE = (1, 128, 94)


def measure(name: str, config: dict, n: int, steps: int, samples: int, threads: int, shape: tuple = SHAPE) -> dict:
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    y = np.zeros(n, dtype=np.int64)
    config = {**config, "steps": 2, "max_minutes": None}
    if name == "cgan":
        # Its cost grows with the resolution stage; time the final (full-size) stage, the slowest.
        config["images_per_stage"] = 1
    generator = generator_class(name)(config, input_shape=shape, n_classes=1, seed=0)
    generator.fit(x, y, progress=False)  # warm-up steps (allocations, kernel selection)
    generator.update_settings(steps=2 + steps)
    started = time.perf_counter()
    generator.fit(x, y, progress=False)  # continues from step 2
    train_seconds = time.perf_counter() - started
    generator.sample(2, 0, seed=0)  # warm-up
    started = time.perf_counter()
    generator.sample(samples, 0, seed=1)
    sample_seconds = time.perf_counter() - started
    result = {
        "generator": name,
        "train_steps_per_s": steps / train_seconds,
        "sample_spectrograms_per_s": samples / sample_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(
            p.numel() for m in generator.modules().values() if isinstance(m, torch.nn.Module) for p in m.parameters()
        ),
    }
    if torch.cuda.is_available():
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _worker(args: tuple) -> dict:
    return measure(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=74, help="training spectrograms (default 74, the demo's minority class)")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--shape",
        default=",".join(map(str, SHAPE)),
        help="spectrogram shape channels,mels,frames (default the published 1,128,94)",
    )
    parser.add_argument("--samples", type=int, default=16, help="spectrograms to sample (default 16)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    models = load_params(ROOT / "params.yaml").train_generator.models
    context = multiprocessing.get_context("spawn")  # a fresh process per generator: separate peak memory
    results = []
    for name, config in models.items():
        with context.Pool(1) as pool:
            shape = tuple(int(d) for d in args.shape.split(","))
            result = pool.apply(_worker, ((name, config, args.n, args.steps, args.samples, args.threads, shape),))
        results.append(result)
        print(
            f"{name:8s} train {result['train_steps_per_s']:7.2f} steps/s   "
            f"sample {result['sample_spectrograms_per_s']:7.1f} spectrograms/s   "
            f"peak RSS {result['peak_rss_mib']:6.0f} MiB   {result['parameters'] / 1e6:5.2f} M parameters",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu_threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
