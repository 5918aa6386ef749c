# Set-up and checks. `make test` is all a fresh machine needs; CI runs it through .ci/run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HYPOTHESIS_PROFILE ?= ci
export HYPOTHESIS_PROFILE
# The browser tests use Debian's chromium: Playwright must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

PEER_VENV := .venv-peer

.PHONY: demo test lint docs redis chromium bench bench-peer docs-generated screenshots inbox clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Redis tests start their own redis-server processes; install Debian's package if missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "Installing Debian's redis-server for the Redis tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get install -y -q redis-server >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q >/dev/null 2>&1 && \
		  $(SUDO) apt-get install -y -q redis-server >/dev/null 2>&1; } || \
		echo "Could not install redis-server: the Redis tests will fail and say how to get it"; \
	}

# The browser tests drive Debian's chromium (through Playwright, which downloads nothing).
chromium:
	@command -v /usr/bin/chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q >/dev/null 2>&1 && \
		  $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1; } || \
		echo "Could not install chromium: the browser tests will fail and say how to get it"; \
	}

# The documentation site, built strictly: a broken link or reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The suite; the pure core must keep full branch coverage (see [tool.coverage] in pyproject).
test: lint docs redis chromium
	$(BIN)/pytest --cov

bench: $(STAMP)
	$(BIN)/python bench/core.py

# The peer framework gets an environment of its own: this library never depends on it.
bench-peer: redis
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[redis]' agno 'sqlalchemy[asyncio]' langgraph langgraph-checkpoint-sqlite
	$(PEER_VENV)/bin/python bench/peer.py

docs-generated: $(STAMP)
	$(BIN)/python -m statemachine.tools.diagram --write docs/state-machine.md

# The inbox's screenshots in the docs, taken by the browser tests.
screenshots: $(STAMP) chromium
	STATEMACHINE_SCREENSHOTS=docs/images $(BIN)/pytest -q tests/test_web_browser.py

clean:
	rm -rf $(VENV) $(PEER_VENV) site .mypy_cache .pytest_cache .ruff_cache .hypothesis

# The demo needs the package alone (no test, lint or docs tools): its own stamp, the same venv.
DEMO_STAMP := $(VENV)/.demo-stamp

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python examples/refinement_loop.py

# The inbox over the demo's runs (the web extra on top of the demo's install).
WEB_STAMP := $(VENV)/.web-stamp

$(WEB_STAMP): pyproject.toml $(DEMO_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[web]'
	touch $(WEB_STAMP)

inbox: $(WEB_STAMP)
	PYTHONPATH=examples $(BIN)/statemachine serve --store file://runs --app refinement_loop:workflow
