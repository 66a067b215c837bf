# Kindling: `make dev` runs the whole system locally; `make test` installs what it needs and passes.
SHELL := /bin/bash
# SAM must not try to phone home (CI and `make dev` run offline).
export SAM_CLI_TELEMETRY := 0
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
FN ?= api
EVENT ?= events/$(FN).json

.PHONY: dev test install install-system lint format typecheck validate build unit integration e2e bench mutate invoke clean

$(STAMP): requirements-dev.txt layers/dependencies/requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(SAM_STAMP): tools/requirements-sam.txt
	$(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-sam.txt
	touch $@

$(CHECKOV_STAMP): tools/requirements-checkov.txt
	$(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	touch $@

install: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) install-system

# System packages the tests and the mail lab use (Dovecot); installs only what is missing.
install-system:
	@bash scripts/install-system-deps.sh

dev: $(STAMP) install-system
	@bash scripts/fetch-swagger-ui.sh
	$(BIN)/python -m devstack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=shared $(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

# checkov: every check left failing is skipped in the resource's Metadata with a one-line reason. --skip-download
# keeps it offline (no guideline download from the vendor's API).
validate: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	$(SAM) validate --lint --template template.yaml --region us-east-1
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) -f template.yaml --framework cloudformation --quiet --compact --skip-download

build: $(SAM_STAMP)
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM) build --template template.yaml --build-dir .aws-sam/build

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/infrastructure

integration: $(STAMP) install-system
	$(BIN)/pytest tests/integration

e2e: $(STAMP) install-system
	$(BIN)/pytest tests/e2e

test: install lint typecheck validate build
	$(BIN)/pytest

bench: $(STAMP) install-system
	$(BIN)/python -m bench

# Mutation score of the pure rule modules (bench/mutation.py; MODULES=... runs only those). Not part of `make test`.
mutate: $(STAMP)
	$(BIN)/python -m bench.mutation $(MODULES)

invoke: $(STAMP)
	$(BIN)/python -m devstack.invoke $(FN) $(EVENT)

clean:
	rm -rf .aws-sam .kindling .pytest_cache .mypy_cache .ruff_cache
