# The two commands a newcomer needs: `make serve` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=

.PHONY: serve test lint typecheck format bench schemathesis dist clean test-packages

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

# Tests drive Debian's chromium (the dashboard's browser test) and redis-server (the Redis
# stores); CI (root on a clean machine) installs those missing, elsewhere the tests needing
# them skip and name the package. Each package's command has the package's name.
TEST_PACKAGES := chromium redis-server
test-packages:
	@missing="$$(for p in $(TEST_PACKAGES); do command -v $$p >/dev/null || echo $$p; done)"; \
	[ -z "$$missing" ] || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq $$missing >/dev/null) \
		|| echo "could not install" $$missing": the tests needing them will skip"

# The suite starts many Python processes (xdist workers, pytest runs of the docs, servers):
# each compiles the package and rewrites test modules again unless bytecode is kept, so it is
# kept, under the venv, even where the environment says not to write any. `worksteal`: the
# long schemathesis tests no longer pile up on one worker.
TEST_BYTECODE := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache
test: $(VENV)/.installed-test test-packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(TEST_BYTECODE) $(BIN)/python -m pytest -n 2 --dist worksteal $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The mock against a bare Starlette app under wrk, then a status poll on each store (its own
# redis-server for the Redis ones), then SSE fan-out, memory, an in-process lifecycle and a
# client check. wrk and redis-server (Debian's) are installed here when missing. How to read
# it: docs/benchmarks.md. `make bench ARGS="--only poll --rounds 3"` for a shorter run.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BENCH_PACKAGES := wrk redis-server
bench: $(VENV)/.installed-test
	@missing="$$(for p in $(BENCH_PACKAGES); do command -v $$p >/dev/null || echo $$p; done)"; \
	[ -z "$$missing" ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; }
	$(BIN)/python -m bench $(ARGS)

# schemathesis as CI runs it, here or in any repository that installs the kit: the mock on a
# free port, `schemathesis run` against each API's served document with the settings the APIs
# declare (`ApiService.schemathesis`; mockserver/schemathesis_config.py says how they combine).
# More or fewer cases: make schemathesis SCHEMATHESIS_ARGS="--max-examples 50".
SCHEMATHESIS_ARGS ?= --max-examples 25
schemathesis: $(VENV)/.installed-test
	$(BIN)/mockserver schemathesis $(SCHEMATHESIS_ARGS)

# mypy on the package as it installs: mypy cannot follow setuptools' package-dir mapping
# (contracts/ is mockserver.contracts), so it reads a tree of links laid out that way.
# Settings: [tool.mypy] in pyproject.toml.
TYPECHECK_TREE := build/typecheck
typecheck: $(VENV)/.installed-test
	@rm -rf $(TYPECHECK_TREE) && mkdir -p $(TYPECHECK_TREE)/mockserver
	@ln -s $(CURDIR)/mockserver/* $(TYPECHECK_TREE)/mockserver/
	@ln -s $(CURDIR)/contracts $(TYPECHECK_TREE)/mockserver/contracts
	@ln -s $(CURDIR)/fixtures $(TYPECHECK_TREE)/mockserver/fixtures
	cd $(TYPECHECK_TREE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p mockserver

# Wheel and sdist in dist/, checked as PyPI would check them.
dist: $(VENV)/.installed-test
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

clean:
	rm -rf $(VENV) build dist *.egg-info .hypothesis
