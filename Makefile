# The front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell ./scripts/find-python.sh)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ENV    ?= dev

.PHONY: help venv dev dev-reset test test-fast lint fmt migrate build validate invoke token bench bench-quick soak deploy clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/shared/requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

venv: $(STAMP) ## create .venv with the pinned dependencies

dev: $(STAMP) ## run the local API (see README)
	@echo "The local stack (make dev) is not built yet; run 'make test' meanwhile." >&2; exit 1

test: $(STAMP) ## run the whole test suite against a throwaway PostgreSQL (or $$DATABASE_URL)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP) ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP) ## apply migrations to $$DATABASE_URL (CMD=status|dry-run|apply)
	PYTHONPATH=layers/shared $(PY) -m shared.migrations $(or $(CMD),apply) --dir sql/migrations

clean: ## remove build output and caches (keeps .local/)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
