#!/usr/bin/env bash
# GPU readiness in one short run: train the published (paper-medical) generator recipes and the quick
# profile's recipes (params.yaml) on a CUDA device, 3 seeds each, as one continuing training per seed
# scored at 300, 1,000, 3,000 and 10,000 optimizer steps until a wall-clock cap of GPU_CHECK_MINUTES
# (default 1) per training, on one real class (the Telegram COVID-19-positive coughs of
# ../shared/datasets/covid19-cough); audit the samples against held-out recordings (selection and
# reporting halves) and print the fidelity tables. 24 trainings, 6 side by side: about 8 minutes.
#
# The GPU machine is bare and offline, and the project's environment is too large to copy there, so
# the check runs on that machine's own Python (3.12 with PyTorch and CUDA, numpy, scipy, scikit-learn,
# pandas) plus the few packages it lacks, carried as wheels, and on features computed here:
#
#   benchmarks/gpu_check.sh --prepare   # here: wheels and the featurized class into .gpu/ (git-ignored)
#   benchmarks/gpu_check.sh [OUT]       # there, with .gpu carried: tables to stdout, JSON and figures to OUT
#                                       #   (default benchmarks/gpu)
#   benchmarks/gpu_check.sh --smoke     # seconds on CPU with the tiny profile: checks the script runs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
GPU_DIR=.gpu
MINUTES=${GPU_CHECK_MINUTES:-1}
STEPS=300,1000,3000,10000
# What synthaug imports that a PyTorch image lacks (versions from requirements.lock).
WHEELS=(diffusers pydantic pydantic_core annotated-types typing-inspection prdc ruamel.yaml soundfile cffi pycparser)

features() {  # features PROFILE: the featurized cough class at PROFILE's resolution
    echo "$GPU_DIR/covid19-cough-positive-${1}.npz"
}

if [[ "${1:-}" == "--smoke" ]]; then
    out=$(mktemp -d)
    exec "$PYTHON" benchmarks/generator_fidelity.py --data covid19-cough --profile tiny --device cpu --clock cpu \
        --steps 2 --seeds 0 --samples 24 --jobs 1 --minutes 1 --features "$out/features.npz" --out "$out"
fi

if [[ "${1:-}" == "--prepare" ]]; then
    mkdir -p "$GPU_DIR/wheels"
    pins=()
    for name in "${WHEELS[@]}"; do
        pin=$(grep -i -E "^${name//[-_]/[-_]}==" requirements.lock) || { echo "gpu_check.sh: $name is not in requirements.lock" >&2; exit 1; }
        pins+=("$pin")
    done
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$GPU_DIR/wheels" "${pins[@]}"
    for profile in paper-medical quick; do
        flag=(); [[ $profile == quick ]] || flag=(--profile "$profile")
        "$PYTHON" benchmarks/generator_fidelity.py --data covid19-cough "${flag[@]}" --features "$(features "$profile")" --featurize-only
    done
    du -sh "$GPU_DIR"
    echo "prepared $GPU_DIR: carry it to the GPU machine and run benchmarks/gpu_check.sh there"
    exit 0
fi

OUT_DIR=${1:-benchmarks/gpu}
if [[ ! -d "$GPU_DIR/wheels" ]]; then
    echo "gpu_check.sh: $GPU_DIR/wheels is missing: run benchmarks/gpu_check.sh --prepare where the project is installed, then carry $GPU_DIR" >&2
    exit 1
fi
PYTHON=${GPU_PYTHON:-python3}
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: $PYTHON sees no CUDA device; run it on a GPU machine, or use --smoke for a CPU check" >&2
    exit 1
fi
site=$(mktemp -d)
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$GPU_DIR"/wheels/*.whl
export PYTHONPATH="$PWD/src:$site"
for profile in paper-medical quick; do
    flag=(); [[ $profile == quick ]] || flag=(--profile "$profile")
    "$PYTHON" benchmarks/generator_fidelity.py --data covid19-cough "${flag[@]}" --features "$(features "$profile")" \
        --device cuda --clock wall --steps "$STEPS" --seeds 0,1,2 --jobs 6 --minutes "$MINUTES" --out "$OUT_DIR/$profile"
done
