# The two commands a newcomer needs: `make serve` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=

.PHONY: serve test lint format bench schemathesis dist clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/mockserver serve --host $(HOST) --port $(PORT) $(ARGS)

# The dashboard's browser test drives Debian's chromium; CI (root on a clean machine)
# installs it when missing, elsewhere that one test skips and names the package.
chromium:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the dashboard's browser test will skip"

test: $(VENV)/.installed-test chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench $(ARGS)

# schemathesis as CI runs it, here or in any repository that installs the kit: the mock on a
# free port, `schemathesis run` against each API's served document with the settings shipped
# in the package (mockserver/contracts/schemathesis.toml says why each one is there).
# More or fewer cases: make schemathesis SCHEMATHESIS_ARGS="--max-examples 50".
SCHEMATHESIS_ARGS ?= --max-examples 25
schemathesis: $(VENV)/.installed-test
	$(BIN)/mockserver schemathesis $(SCHEMATHESIS_ARGS)

# Wheel and sdist in dist/, checked as PyPI would check them.
dist: $(VENV)/.installed-test
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

clean:
	rm -rf $(VENV) build dist *.egg-info .hypothesis
