# Two commands for a fresh machine: `make run` (pipeline on the demo data) and `make test`.
# Every target is idempotent: the environment is rebuilt only when requirements.lock changes.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Stages call `synthaug`, `dvc` and `mlflow` by name, so the environment's bin comes first.
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
STAMP := $(VENV)/.installed
# Team settings (MLflow server, S3, DVC remote, tuning database): team.env, git-ignored, written by
# `make team-up` for the local stack or by hand for a real one (docs/team.md).
-include team.env
export $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' team.env 2>/dev/null)

.PHONY: help setup run industrial minority-sweep test test-fast lint ui tune tune-create tune-worker dashboard promote predict serve team-up team-down team-check push pull lock clean-outputs

help:
	@echo "make run         set up, create the demo data if data/ is empty, run the DVC pipeline (medical protocol)"
	@echo "make industrial  the industrial protocol (data-scarcity sweep) on the machine demo data"
	@echo "make minority-sweep  the medical protocol made scarce: minority share against gain, with a real-data ceiling"
	@echo "make test   set up and run every test, end-to-end pipeline runs and server tests included"
	@echo "make test-fast   the tests that start no server and run no pipeline (under 2 minutes)"
	@echo "make lint   ruff (lint and format check) and mypy on src/"
	@echo "make ui     serve the MLflow UI on the project's tracking store"
	@echo "make tune   a short Optuna study (GENERATOR=vae TRIALS=8 STORAGE=...); writes profiles/tuned-GENERATOR.yaml"
	@echo "make tune-worker   join a study as one more worker (same STORAGE); make dashboard: optuna-dashboard"
	@echo "make promote  register the evaluated classifiers and ensembles, move the champion alias if earned"
	@echo "make predict FILES='a.wav folder/'   classify audio with the champion -> predictions.csv"
	@echo "make serve    serve the champion over HTTP on 127.0.0.1:5001"
	@echo "make team-up  a local team stack (PostgreSQL, S3, MLflow server) and team.env; make team-down stops it"
	@echo "make team-check   which team services answer; make push / make pull: DVC data and outputs to/from the remote"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# `dvc repro` needs a git repository and DVC's folder; a fresh clone has both, a tarball neither.
.dvc/config:
	@test -d .git || git init --quiet
	$(BIN)/dvc init --quiet

run: setup .dvc/config
	$(BIN)/synthaug demo data
	$(BIN)/dvc add data --quiet
	$(BIN)/dvc repro
	@echo
	$(BIN)/synthaug where

# Applies the machine profile to params.yaml, then runs the same pipeline; `git checkout params.yaml
# dvc.lock && dvc checkout` returns to the medical demo (DVC keeps both runs' outputs in its cache).
industrial: setup .dvc/config
	$(BIN)/synthaug demo data
	$(BIN)/dvc add data --quiet
	$(BIN)/synthaug profile machine
	$(BIN)/dvc repro
	@echo
	$(BIN)/synthaug where

# The medical protocol made scarce (minority_scarcity stages, profiles/minority-sweep.yaml) on the
# demo cough data, after the main pipeline if it has not run; `git checkout params.yaml dvc.lock`
# returns to the plain demo.
minority-sweep: setup .dvc/config
	$(BIN)/synthaug demo data
	$(BIN)/dvc add data --quiet
	$(BIN)/synthaug profile minority-sweep
	$(BIN)/dvc repro
	@echo
	$(BIN)/synthaug where

test: setup
	$(BIN)/python -m pytest

# Markers (pyproject.toml): e2e runs the pipeline, services starts PostgreSQL/S3/MLflow servers, slow takes > ~5 s.
test-fast: setup
	$(BIN)/python -m pytest -m "not e2e and not services and not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/deptry src
	$(BIN)/python tools/lock_check.py pyproject.toml requirements.lock

ui: setup
	$(BIN)/synthaug ui

# Tuning (outside dvc repro). STORAGE: empty = optuna.db in the project, journal:PATH, or an SQLAlchemy
# URL (postgresql://user:pass@host/db) shared by workers on many machines: `make tune-create` once,
# then `make tune-worker` on each machine.
GENERATOR ?= vae
TRIALS ?= 8
STORAGE ?=
TUNE_ARGS = --generator $(GENERATOR) --n-trials $(TRIALS) $(if $(STORAGE),--storage $(STORAGE))

tune: setup
	@test -f outputs/features/train.npz || $(MAKE) run
	$(BIN)/synthaug tune $(TUNE_ARGS)

tune-create: setup
	$(BIN)/synthaug tune $(TUNE_ARGS) --create-only

tune-worker: setup
	$(BIN)/synthaug tune $(TUNE_ARGS) --worker

dashboard: setup
	$(BIN)/optuna-dashboard $(if $(STORAGE),$(patsubst journal:%,%,$(STORAGE)),sqlite:///optuna.db)

# The model registry (outside dvc repro). MODEL: any MLflow model URI; default the data set's champion.
MODEL ?= models:/$(shell $(BIN)/python -c "from synthaug.config import load_params; from synthaug.registry.versions import model_name; p = load_params('params.yaml'); print(model_name(p.registry.model_name, p.dataset.name))")@champion
FILES ?=
OUT ?= predictions.csv

promote: setup
	@test -d outputs/classifiers || $(MAKE) run
	$(BIN)/synthaug register
	$(BIN)/synthaug promote

predict: setup
	@test -n "$(FILES)" || { echo "make predict: give the audio, e.g. make predict FILES='data/demo/cough/p0001 more.wav'"; exit 2; }
	$(BIN)/synthaug predict $(MODEL) $(FILES) --out $(OUT)

serve: setup
	$(BIN)/synthaug serve $(MODEL)

# Team scale (docs/team.md). team-up writes team.env, which every target reads.
team-up: setup
	$(BIN)/synthaug team up
	$(BIN)/synthaug team remote

team-down: setup
	$(BIN)/synthaug team down

team-check: setup
	$(BIN)/synthaug team check

push: setup
	$(BIN)/dvc push

pull: setup
	$(BIN)/dvc pull

# Resolve pyproject.toml's dependencies (every extra) into requirements.lock with hashes. Versions
# already in the lock are kept while they satisfy pyproject.toml, so an unchanged pyproject.toml
# reproduces the lock exactly; `make lock UPGRADE=--upgrade` moves the transitive ones to the newest.
LOCK_COMMAND = $(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple --no-emit-package synthaug \
	--custom-compile-command "make lock" --quiet
lock: setup
	$(LOCK_COMMAND) $(UPGRADE) --output-file requirements.lock

clean-outputs:
	rm -rf outputs metrics
