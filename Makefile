# `make run`: set up .venv and reproduce the pipeline on the bundled sample.
# `make test`: set up .venv and run the test suite.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
export DVC_NO_ANALYTICS := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run test daily deps mutation tensorboard pr-report clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

run: setup
	dvc repro
	@echo
	@echo "report:  $(CURDIR)/reports/index.html"
	@echo "metrics: $(CURDIR)/metrics/ (dvc metrics show)"

test: setup
	pytest

# The daily loop: new bars -> every stage but train -> tomorrow's signals and the monitor's verdict;
# exits 1 when the retrain rule fires (then `dvc repro` retrains). docs/monitoring.md has the cron line.
daily: setup
	bash tools/daily.sh

# Rewrite each stage's code deps in dvc.yaml from its import closure (tests/test_stage_deps.py checks them).
deps: setup
	python tools/stage_deps.py --write

# Mutation testing of the core, shard by shard (SHARD=features for one); score per module in benchmarks/mutation.json.
# Incremental after the first run (changed functions and last run's survivors); FRESH=1 for a cold run.
mutation: setup
	python benchmarks/mutation.py $(if $(SHARD),--shard $(SHARD)) $(if $(FRESH),--fresh)

# What CML posts on a pull request: metrics and params against BASE (a branch, tag or commit).
BASE ?= main
pr-report:
	@echo "## Metrics: workspace vs $(BASE)"
	@dvc metrics diff $(BASE) --md
	@echo
	@echo "## Params: workspace vs $(BASE)"
	@dvc params diff $(BASE) --md

tensorboard: setup
	stockcast tensorboard

clean:
	rm -rf $(VENV)
