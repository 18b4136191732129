# gan-course: `make demo` sets everything up and runs the main job; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# nbgrader creates a new gradebook by running `alembic` from PATH: keep the venv's bin on it.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 2
export MPLBACKEND := Agg

# Grading kernels run in a bubblewrap sandbox: install it as root when missing, else say how.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } || \
	  { echo "bubblewrap is missing: sudo apt-get install bubblewrap (or grade with --unsafe-no-sandbox)" >&2; exit 1; }

.PHONY: sandbox install lock demo test test-slow validate check bench bench-grading clean

install: $(VENV)/.installed

# One environment for the whole term: every package at the version (and hash) in requirements.lock, then this
# project itself without resolving anything again. pyproject.toml keeps the ranges; `make lock` re-pins them.
LOCK := requirements.lock
UV_VERSION := 0.13.8

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

lock:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(PY) -m uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 --quiet -o $(LOCK)

demo: install sandbox
	$(BIN)/autograder demo

test: install sandbox
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
