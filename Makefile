# Newcomer's commands: `make demo` runs the main job on the embedded default; `make test` passes the tests.
# Both do their own set-up on a fresh machine (Debian packages, virtualenv, Python packages).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the test servers need (PostgreSQL for the state-store tests).
APT_PACKAGES := postgresql

.PHONY: setup system-packages test lint typecheck demo bench clean

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 2; fi; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: system-packages $(VENV)/.installed

lint: $(VENV)/.installed
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy --strict ent_migrate

test: setup lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

demo: $(VENV)/.installed
	$(BIN)/python -m ent_migrate.demo

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out .mypy_cache .ruff_cache .pytest_cache .hypothesis
