# The two commands: `make demo` and `make test`. Each sets up everything it needs on a
# fresh machine: the virtual environment (.venv), the Kafka jars and redis-server, the stack.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit venv stack browser down lint bench clean test-secure

demo: $(STAMP) stack
	$(PY) -m gatekeeper demo

test: $(STAMP) stack browser  # tests/secure are left out: make test-secure runs them
	$(PY) -m pytest -q -p no:cacheprovider -m 'not secure' tests

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/scenarios tests/differential tests/cli

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

stack:
	scripts/stack up > /dev/null

browser:  # chromium for the console's browser tests
	scripts/browser-deps

down:
	scripts/stack down

lint: $(STAMP)
	$(PY) -m ruff check gatekeeper tests
	$(PY) -m mypy gatekeeper

bench: $(STAMP) stack
	benchmarks/run

clean:
	scripts/stack down --purge || true
	rm -rf $(VENV) .stack build *.egg-info

test-secure: $(STAMP)  # tests/secure on the secure stack: up --secure, run, down (~3 min)
	scripts/test-secure
