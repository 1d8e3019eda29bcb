#!/usr/bin/env bash
# GPU readiness: train the published (paper-medical) generator recipes on a CUDA device for 1,000 to
# 30,000 optimizer steps (3 seeds) on one real class (the Telegram COVID-19-positive coughs of
# ../shared/datasets/covid19-cough, at the published resolution), audit their samples against
# held-out recordings and print the fidelity table (benchmarks/gpu/ holds the JSON and the figure).
#
#   benchmarks/gpu_check.sh            # on a machine with CUDA
#   benchmarks/gpu_check.sh --smoke    # seconds on CPU with the tiny profile: checks the script runs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

if [[ "${1:-}" == "--smoke" ]]; then
    out=$(mktemp -d)
    exec "$PYTHON" benchmarks/generator_fidelity.py --data covid19-cough --profile tiny --device cpu --clock cpu \
        --steps 2 --seeds 0 --samples 24 --jobs 1 --out "$out"
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: no CUDA device here; run it on a GPU machine, or use --smoke for a CPU check" >&2
    exit 1
fi
exec "$PYTHON" benchmarks/generator_fidelity.py --data covid19-cough --profile paper-medical --device cuda --clock wall \
    --steps 1000,3000,10000,30000 --seeds 0,1,2 --jobs 1 --out benchmarks/gpu
