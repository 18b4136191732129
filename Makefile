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

.PHONY: sandbox install lock demo test test-slow test-ci-slow validate check bench bench-grading clean

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
	$(PY) -m pytest -q -ra --durations=25

test-slow: install
	$(PY) -m pytest -q -ra -m slow

# The slow checks .ci/run adds after `make test` (about 20 min on 2 cores): grading on Dask and resuming, two
# gradings at once on PostgreSQL, the quick bench, every forger strategy on every assignment, and each
# assignment's correct variants and wrong-variant bundles through the grader. The rest of
# `-m slow` (each wrong variant alone, training to a quality target) takes hours: `make test-slow`.
VARIANTS := tests/notebooks/test_gan_basics_variants.py::test_correct_variants_and_wrong_bundles \
	tests/notebooks/test_gan_1d_conditional_variants.py::test_correct_alternatives_and_a_wrong_bundle_through_the_grader \
	tests/notebooks/test_gan_1d_conditional_variants.py::test_every_variant_in_process \
	tests/notebooks/test_keras_sequential_gan_variants.py::test_correct_variants_and_wrong_bundles \
	tests/notebooks/test_keras_model_gan_variants.py::test_correct_variants_and_wrong_bundles \
	tests/notebooks/test_dcgan_cifar_variants.py::test_correct_variants_and_wrong_bundles
CI_SLOW := tests/autograder/test_distributed.py tests/autograder/test_gradebook_postgres.py \
	tests/benchmarks/test_bench.py tests/notebooks/test_forged_probes.py $(VARIANTS)
test-ci-slow: install sandbox
	$(PY) -m pytest -q -ra -m slow $(CI_SLOW)

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
