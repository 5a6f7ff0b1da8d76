# cloudops - two commands: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration setup services clean schemas docs conformance

$(STAMP): pyproject.toml
	@scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $@

setup: $(STAMP) ## create the virtualenv and install cloudops with its dev extras

demo: $(STAMP) ## run the whole pipeline on embedded services and print the answer
	$(BIN)/cloudops demo

services: ## make sure the PostgreSQL and Redis binaries exist (the suite starts its own servers)
	@scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) services
	$(BIN)/pytest tests/integration -q

test: $(STAMP) services lint typecheck ## lint, type-check, then every test (unit + integration)
	$(BIN)/pytest -q

conformance: $(STAMP) ## run every golden fixture's FOCUS output through the official FOCUS 1.2 validator
	$(BIN)/pytest tests/integration/test_conformance.py -q -m integration

schemas: $(STAMP) ## write the topic JSON Schemas to schemas/
	$(BIN)/cloudops topics schema --out schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cloudops .venv-focus-validator focus-validator-work
