# The two commands a newcomer needs: `make serve` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=

.PHONY: serve test lint format bench schemathesis dist clean

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

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The mock against a bare Starlette app under wrk (Debian's, installed here when missing), then
# SSE fan-out, memory, an in-process lifecycle and a client check. How to read it:
# docs/benchmarks.md. `make bench ARGS="--only poll --rounds 3"` for a shorter run.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/python -m bench $(ARGS)

# schemathesis as CI runs it: `mockserver serve` in the background on a free port, the CLI
# against each API's served document (its `servers` point back at this server, so no --url),
# then the server is stopped. Settings and the reasons for them: schemathesis.toml.
# More or fewer cases: make schemathesis SCHEMATHESIS_ARGS="--max-examples 50".
SCHEMATHESIS_ARGS ?= --max-examples 25
schemathesis: $(VENV)/.installed-test
	@port=$$($(BIN)/python -c "from mockserver.fixtures.live import free_port; print(free_port())"); \
	base=http://127.0.0.1:$$port; \
	$(BIN)/mockserver serve --port $$port --log-level warning & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server' EXIT INT TERM; \
	failed=0; \
	run() { $(BIN)/schemathesis run "$$base/$$1" -H "$$2" --wait-for-schema 30 \
		$(SCHEMATHESIS_ARGS) || failed=1; }; \
	run neuralanalog/openapi.json "X-API-Key: ci-key"; \
	run camb/apis/openapi.json "x-api-key: ci-key"; \
	run neurolinker/openapi.json "Authorization: Bearer nl_ci-key"; \
	run neuraldraft/openapi.json "Authorization: Bearer ndsk_test_ci-key"; \
	exit $$failed

# Wheel and sdist in dist/, checked as PyPI would check them.
dist: $(VENV)/.installed-test
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

clean:
	rm -rf $(VENV) build dist *.egg-info .hypothesis
