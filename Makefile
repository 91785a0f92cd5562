# The two commands of the README, plus the pieces they are made of.
#   make demo   set up, start the demo deployment, run `pytest --env demo`, print the decision
#   make test   the project's own tests (lint, types, then pytest against real services)
#   make demo-rollback   green under traffic -> ROLLBACK -> hook switches to blue -> verified

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ENV := .gonogo/demo/demo.env

.PHONY: demo test system venv lint type pytest bench demo-up demo-down demo-status demo-green demo-blue demo-rollback clean

demo: system venv demo-up
	@set -a && . $(DEMO_ENV) && set +a && $(BIN)/python -m pytest --env demo

test: system venv lint type pytest

system:
	@scripts/install-system-packages.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[demo,dev]'
	@touch $@

lint: venv
	$(BIN)/ruff check src checks fixtures tests bench load conftest.py
	$(BIN)/ruff format --check src checks fixtures tests bench load conftest.py

type: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/python -m pytest -p pytester tests

# Side by side with the tools a user would otherwise pick; figures go in bench/README.md.
bench: system venv
	@scripts/install-bench-tools.sh
	$(BIN)/python bench/ports.py
	$(BIN)/python bench/tls.py --sslyze-python .venv-bench/bin/python
	$(BIN)/python bench/edge.py --sslyze-python .venv-bench/bin/python
	$(BIN)/python bench/snapshot.py
	$(BIN)/python bench/containers.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/rollback.py

demo-up: system venv
	@$(BIN)/gonogo demo up

demo-down: venv
	@$(BIN)/gonogo demo down

demo-status: venv
	@$(BIN)/gonogo demo status

demo-green: venv
	@$(BIN)/gonogo demo switch green

demo-blue: venv
	@$(BIN)/gonogo demo switch blue

# Exit 6 is the expected answer here: ROLLBACK, rolled back and verified.
demo-rollback: system venv demo-up
	@scripts/demo-rollback.sh; status=$$?; test $$status -eq 6 || exit $$status

# --purge: the demo's PostgreSQL cluster lives outside .gonogo when run as root.
clean: venv
	@$(BIN)/gonogo demo down --purge
	rm -rf $(VENV) .venv-bench .gonogo
	find reports -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
