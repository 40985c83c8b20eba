# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RUN     ?= runs/demo
ARGS    ?=

.PHONY: demo test test-slow lint format install clean crosscheck

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the packaging files change (fast when already installed).
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gridssl demo --out $(RUN) $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments examples
	$(BIN)/ruff format --check src tests benchmarks experiments examples
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments examples

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks experiments examples
	$(BIN)/ruff check --fix src tests benchmarks experiments examples

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info

# Optional: cross-check the BNT grid score against opexebo (Moser lab). opexebo pins old
# packages, so it is installed without its dependencies, plus the two it imports.
crosscheck: $(STAMP)
	$(BIN)/pip install -q --no-deps opexebo==0.7.2
	$(BIN)/pip install -q -c constraints.txt scikit-image astropy
	$(BIN)/python -m pytest -q -s tests/analysis/test_opexebo_crosscheck.py
