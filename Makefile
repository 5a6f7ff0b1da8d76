# cloudops - two commands: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: gateway azurite web web-lint demo test lint typecheck unit integration setup services clean schemas docs conformance image image-test k8s

$(STAMP): pyproject.toml
	@scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $@

setup: $(STAMP) ## create the virtualenv and install cloudops with its dev extras

DEMO_ARGS ?=

demo: $(STAMP) ## run the whole pipeline for two tenants on embedded services and print the answer (DEMO_ARGS=--serve keeps the API up)
	@scripts/ensure-services.sh --no-browser
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory azurite gateway || echo "Azurite or the gateway did not install: the demo skips them"; \
	  else echo "npm not found: the demo runs without its Azure source and GraphQL gateway (apt-get install nodejs npm)"; fi
	$(BIN)/cloudops demo $(DEMO_ARGS)

GATEWAY := gateway/node_modules/.package-lock.json

$(GATEWAY): gateway/package-lock.json
	cd gateway && npm ci --no-audit --no-fund

gateway: $(GATEWAY) ## install the Apollo Gateway and composition (Node 20, npm registry) for the GraphQL tests

AZURITE := tests/support/node/node_modules/.package-lock.json

$(AZURITE): tests/support/node/package-lock.json
	cd tests/support/node && npm ci --no-audit --no-fund

azurite: $(AZURITE) ## install Azurite (npm registry), the Azure Blob + Queue emulator of the azure-blob source tests

WEB := web/node_modules/.package-lock.json

$(WEB): web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web: $(WEB) ## install (npm ci) and build the web UI into web/dist (served by `cloudops api` at /)
	cd web && npm run build

web-lint: $(WEB) ## the web UI's GraphQL types are current (codegen --check), ESLint, tsc --noEmit
	cd web && npm run lint

services: ## make sure the PostgreSQL and Redis binaries exist (the suite starts its own servers)
	@scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) azurite
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) services gateway web azurite
	$(BIN)/pytest tests/integration -q

test: $(STAMP) services gateway web azurite lint web-lint typecheck ## lint, type-check, then every test (unit + integration)
	$(BIN)/pytest -q --durations=25

IMAGE_TEST_TAG ?= localhost/cloudops:image-test

image: ## build the runtime image with buildah (BASE_IMAGE=python:3.11-slim with Docker Hub)
	scripts/image.sh

image-test: $(STAMP) services ## build the image, run the parse + load workers and the API from it against local services
	scripts/image.sh $(IMAGE_TEST_TAG)
	CLOUDOPS_TEST_IMAGE=$(IMAGE_TEST_TAG) $(BIN)/pytest tests/integration/test_image.py -q -rs; \
	  rc=$$?; podman rmi -f $(IMAGE_TEST_TAG) >/dev/null 2>&1; podman image prune -f >/dev/null 2>&1; exit $$rc

k8s: $(STAMP) ## render k8s/base from the code's roles, topics and settings
	$(BIN)/python scripts/render_k8s.py

conformance: $(STAMP) ## run every golden fixture's FOCUS output through the official FOCUS 1.2 validator
	$(BIN)/pytest tests/integration/test_conformance.py -q -m integration

schemas: $(STAMP) ## write the topic JSON Schemas and the AsyncAPI document to schemas/
	$(BIN)/cloudops topics schema --out schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cloudops .venv-focus-validator focus-validator-work
