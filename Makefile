# gan-course: `make demo` sets everything up and runs the main job; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# nbgrader creates a new gradebook by running `alembic` from PATH: keep the venv's bin on it.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 2
export MPLBACKEND := Agg

.PHONY: install demo test test-slow validate check bench bench-grading clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

demo: install
	$(BIN)/autograder demo

test: install
	$(PY) -m pytest -q -ra

test-slow: install
	$(PY) -m pytest -q -ra -m slow

validate: install
	$(BIN)/autograder validate

check: install
	$(BIN)/autograder answers --check
	$(BIN)/autograder release --check

bench: install
	$(PY) -m benchmarks.run

bench-grading: install
	$(PY) -m benchmarks.grading

clean:
	rm -rf demo build .pytest_cache
