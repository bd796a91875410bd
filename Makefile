# mvpn — `make compile` builds sites/ into build/, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
MIN_VENV := .venv-min
BIN := $(VENV)/bin
ROOT ?= sites
OUT ?= build

.PHONY: compile check test test-min lint unit bench schema docs dist system-deps clean

$(VENV)/.stamp-run: pyproject.toml
	scripts/venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install -q -e .
	touch $@

# Development tools are pinned (constraints/dev.txt); runtime dependencies float.
$(VENV)/.stamp-test: pyproject.toml constraints/dev.txt $(VENV)/.stamp-run
	$(BIN)/pip install -q -c constraints/dev.txt -e '.[test]'
	scripts/sarif-schema.sh "$(VENV)"
	touch $@

compile: $(VENV)/.stamp-run
	$(BIN)/mvpn compile $(ROOT) -o $(OUT)

check: $(VENV)/.stamp-run
	$(BIN)/mvpn check $(ROOT)

schema: $(VENV)/.stamp-run
	$(BIN)/mvpn schema -o schemas

# The generated pages of docs/ (configuration reference, diagnostic codes).
docs: $(VENV)/.stamp-run
	$(BIN)/python -m compiler.docs

# Wheel and sdist into dist/.
dist: $(VENV)/.stamp-test
	$(BIN)/python -m build --no-isolation --outdir dist .

# The unit tests against the lowest version of every runtime dependency pyproject allows
# (scripts/floors.py), so a floor cannot claim more than the code supports.
$(MIN_VENV)/.stamp: pyproject.toml constraints/dev.txt scripts/floors.py
	scripts/venv.sh "$(PYTHON)" "$(MIN_VENV)"
	$(PYTHON) scripts/floors.py > $(MIN_VENV)/floors.txt
	$(MIN_VENV)/bin/pip install -q -c constraints/dev.txt -c $(MIN_VENV)/floors.txt -e '.[test]'
	scripts/sarif-schema.sh "$(MIN_VENV)"
	touch $@

test-min: $(MIN_VENV)/.stamp
	$(MIN_VENV)/bin/pytest -q -m 'not netns' -p no:cacheprovider \
	  --ignore tests/test_packaging.py

system-deps:
	scripts/system-deps.sh

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check compiler tests benchmarks scripts setup.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(VENV)/.stamp-test
	$(BIN)/pytest

test: system-deps lint unit test-min

bench: $(VENV)/.stamp-test
	# Bytecode, as a pip-installed mvpn has it (an editable install writes it on first use,
	# unless PYTHONDONTWRITEBYTECODE is set: then every run compiled ~110 modules, ~0.1 s).
	$(BIN)/python -m compileall -q compiler
	$(BIN)/python -m benchmarks.run $(if $(SIZES),--sizes $(SIZES))

clean:
	rm -rf $(VENV) $(MIN_VENV) dist .build-setuptools $(OUT) .$(OUT).mvpn-spare .mvpn-cache .pytest_cache .mypy_cache .ruff_cache
