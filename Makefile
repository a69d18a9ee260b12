# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-lab test lint format install clean lab browser jdk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

DEMO ?= demo-output
demo: install
	$(BIN)/mikrodata demo --out $(DEMO)

# The secure JupyterLab on the extract `make demo` built, as its researcher: the
# researcher's own home, the steward's public key, and the project's output request.
# (The demo declares the researcher's name; a real lab uses the account's own.)
demo-lab: install
	@test -d $(DEMO)/lab/extract || { echo "run make demo first"; exit 1; }
	MIKRODATA_HOME=$(abspath $(DEMO))/researcher-home \
	MIKRODATA_TRUSTED_KEYS=$(abspath $(DEMO))/state/trusted_keys \
	MIKRODATA_OUTPUT_REQUESTS=$(abspath $(DEMO))/output-request \
	MIKRODATA_USER=anna.andersson MIKRODATA_DECLARED_IDENTITY=1 \
	$(BIN)/mikrodata lab start --project $(DEMO)/lab --port $(LAB_PORT)

# The secure JupyterLab for one project (docs/lab.md). Without an extract yet, the
# project gets a dummy one for the example request. The token: $$JUPYTER_TOKEN or printed.
PROJECT ?= lab-project
LAB_PORT ?= 8888
lab: install
	$(BIN)/mikrodata lab start --project $(PROJECT) --port $(LAB_PORT) \
		--dummy-extract access_requests/examples/example_project.yaml --notebooks notebooks

# Debian's Chromium and ChromeDriver for the real-browser test (never a browser download).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null; \
	else echo "Chromium is missing: install Debian's chromium and chromium-driver" \
		"(as root: apt-get install chromium chromium-driver); the browser test skips."; fi

# Debian's Java runtime for the Spark engine and its tests (pyspark needs a JDK 17+).
jdk:
	@if command -v java >/dev/null || [ -n "$$JAVA_HOME" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			openjdk-17-jre-headless >/dev/null; \
	else echo "Java is missing: install a JDK 17+ (as root: apt-get install" \
		"openjdk-17-jre-headless); the Spark tests skip."; fi

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint browser jdk
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-output lab-project .pytest_cache
