# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install clean native-prereqs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The C loops of pseudonymisation (pseudonymisation/_kernels.c) need a C compiler and
# the OpenSSL headers. Where they are missing and we are root on Debian, install them;
# elsewhere pip builds without the C loops (slower; tests/pseudonymisation/test_kernels.py
# says what to do).
native-prereqs:
	@if ! printf '#include <openssl/sha.h>\n' | cc -E -x c - >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && apt-get install -y -qq gcc libssl-dev; \
		else \
			echo "note: no C compiler or OpenSSL headers: pseudonymisation will run without its C loops"; \
		fi; \
	fi

$(STAMP): $(BIN)/python pyproject.toml setup.py pseudonymisation/_kernels.c | native-prereqs
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mikrodata demo --out demo-output

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache
