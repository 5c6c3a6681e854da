# Spicerack: `make demo` to try it, `make test` to check everything.
# tox.ini runs these same targets (lint, typecheck, unit, integration, docs) with BIN set to its environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration docs servers benchmark clean

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[tests,docs]'
	touch $(STAMP)

demo: $(STAMP)
	@echo '$$ cookbook -l'
	@$(BIN)/cookbook -l
	@echo
	@echo '$$ cookbook -d examples.hello --name operator'
	@$(BIN)/cookbook -d examples.hello --name operator

servers:
	./scripts/install-test-servers.sh

lint: $(STAMP)
	$(BIN)/ruff check spicerack cookbooks tests benchmarks setup.py doc/conf.py
	$(BIN)/ruff format --check spicerack cookbooks tests benchmarks setup.py doc/conf.py
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy spicerack cookbooks

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) servers
	$(BIN)/pytest tests/integration

# The documentation site: introduction, configuration, the cookbook command and the API reference; warnings are errors.
docs: $(STAMP)
	$(BIN)/sphinx-build -q -W --keep-going -b html doc doc/_build/html

test: $(STAMP) servers lint typecheck docs
	$(BIN)/pytest tests

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache doc/_build doc/api
