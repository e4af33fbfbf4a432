# consentfl: two commands from a fresh clone.
#   make demo   set everything up, then run a whole study on the embedded chain and store
#   make test   set everything up, then lint, type-check, check import boundaries and run the tests
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PYCANON_VENV := .venv-pycanon
BIN := $(VENV)/bin
PY := $(BIN)/python
# both cores: each worker runs whole test files (module-scoped fixtures start once per file);
# `make test PYTEST_ARGS=` runs the suite in one process
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: setup demo test lint bench clean dev-up dev-down

CHROMIUM := /usr/bin/chromium

setup: $(VENV)/.installed $(VENV)/.reference node_modules/.installed $(CHROMIUM)

# the patient page's browser test drives Debian's chromium through Playwright (Playwright's own
# browser download is not available offline); installed once, when missing
$(CHROMIUM):
	command -v apt-get >/dev/null || { echo "install chromium at $@ for the browser test"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: the machine holds this CPU wheel; an unpinned torch pulls GBs of CUDA
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,dp,datasets]'
	touch $@

# ByzFL, the reference the robust strategies and attacks are tested against: --no-deps because it
# requires torchvision, which has no wheel for torch 2.13 (the tests load only its aggregators and
# attacks, see tests/unit/fl/byzfl_reference.py)
$(VENV)/.reference: $(VENV)/.installed
	$(PY) -m pip install --quiet --no-deps byzfl==0.0.11
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(MAKE) --no-print-directory $(PYCANON_VENV)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

# pyCANON pins numpy, pandas, scipy and typer exactly: its own venv (PYCANON_VENV, defined at the
# top), used only by the test that cross-checks consent/anonymity.py against it (JSON out)
$(PYCANON_VENV)/.installed: Makefile
	test -x $(PYCANON_VENV)/bin/python || $(PYTHON) -m venv $(PYCANON_VENV)
	echo '*' > $(PYCANON_VENV)/.gitignore
	$(PYCANON_VENV)/bin/python -m pip install --quiet pycanon==1.3.6
	touch $@

# the demo writes into a fresh demo-out/ (a previous run's output is replaced)
demo: setup
	rm -rf demo-out
	$(BIN)/consentfl demo --out demo-out

# bench_flower.py runs Flower's simulation engine from its own venv: flwr[simulation] pins older
# fastapi, starlette, uvicorn, typer and rich than the project uses, so it stays out of .venv
BENCH_VENV := .venv-bench

bench: setup $(BENCH_VENV)/.installed
	$(PY) -m bench

$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	echo '*' > $(BENCH_VENV)/.gitignore
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

clean:
	rm -rf $(VENV) .venv-bench .venv-pycanon node_modules demo-out .pytest_cache .mypy_cache .ruff_cache
