# The two commands a newcomer needs: `make demo` (the local stack) and `make test` (every test).
# Both install what they need first; `make setup` is idempotent and fast once cached.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup lint test demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	@for step in .ci/setup.d/*.sh; do echo "-- $$step"; bash "$$step"; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup
	$(BIN)/python -m pytest

# The demo needs the Kafka jars and the JavaScript client, not the Kubernetes validators.
demo: $(STAMP)
	bash .ci/setup.d/10-kafka.sh
	bash .ci/setup.d/20-emulator-js.sh
	$(BIN)/python deploy/local/stack.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
