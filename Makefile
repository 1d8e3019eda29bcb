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

.PHONY: help setup run industrial test ui tune tune-create tune-worker dashboard lock clean-outputs

help:
	@echo "make run         set up, create the demo data if data/ is empty, run the DVC pipeline (medical protocol)"
	@echo "make industrial  the industrial protocol (data-scarcity sweep) on the machine demo data"
	@echo "make test   set up and run the tests"
	@echo "make ui     serve the MLflow UI on the project's tracking store"
	@echo "make tune   a short Optuna study (GENERATOR=vae TRIALS=8 STORAGE=...); writes profiles/tuned-GENERATOR.yaml"
	@echo "make tune-worker   join a study as one more worker (same STORAGE); make dashboard: optuna-dashboard"

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

test: setup
	$(BIN)/python -m pytest

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

# Re-resolve requirements.lock from requirements.in in a scratch environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Exact versions of every package the project installs (direct and transitive), for Python 3.11."; \
	  echo "# Direct dependencies are listed in pyproject.toml; regenerate with: make lock"; \
	  .lock-venv/bin/python -m pip freeze --all --exclude pip --exclude-editable; } > requirements.lock
	rm -rf .lock-venv

clean-outputs:
	rm -rf outputs metrics
