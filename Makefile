# mvpn — `make compile` builds sites/ into build/, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ROOT ?= sites
OUT ?= build

.PHONY: compile check test lint unit bench schema system-deps clean

$(VENV)/.stamp-run: pyproject.toml
	scripts/venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run
	$(BIN)/pip install -q -e '.[test]'
	scripts/sarif-schema.sh "$(VENV)"
	touch $@

compile: $(VENV)/.stamp-run
	$(BIN)/mvpn compile $(ROOT) -o $(OUT)

check: $(VENV)/.stamp-run
	$(BIN)/mvpn check $(ROOT)

schema: $(VENV)/.stamp-run
	$(BIN)/mvpn schema -o schemas

system-deps:
	scripts/system-deps.sh

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check compiler tests benchmarks
	$(BIN)/mypy

unit: $(VENV)/.stamp-test
	$(BIN)/pytest

test: system-deps lint unit

bench: $(VENV)/.stamp-test
	$(BIN)/python -m benchmarks.run $(if $(SIZES),--sizes $(SIZES))

clean:
	rm -rf $(VENV) $(OUT) .$(OUT).mvpn-spare .mvpn-cache .pytest_cache .mypy_cache .ruff_cache
