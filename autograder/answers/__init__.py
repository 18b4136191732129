"""`autograder answers`: write ``data/<assignment>.npz`` from an independent NumPy reference.

Each assignment has a module ``autograder/answers/<assignment>.py`` that uses NumPy only (never the
notebook solutions, never TensorFlow) and defines ``SEED`` and ``build() -> dict[str, np.ndarray]``.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np

from autograder.paths import DATA_DIR


def reference_names() -> list[str]:
    """Assignments that have an answer reference."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_answers(assignment: str) -> dict[str, np.ndarray]:
    """Run the NumPy reference of ``assignment`` and return its answer arrays."""
    if assignment not in reference_names():
        raise KeyError(f"no answer reference for {assignment!r} (known: {', '.join(reference_names())})")
    module = importlib.import_module(f"{__name__}.{assignment}")
    return {key: np.asarray(value) for key, value in module.build().items()}


def compare_answers(expected: dict[str, np.ndarray], path: Path) -> list[str]:
    """Differences between freshly built answers and the file at ``path`` (empty when they agree)."""
    if not path.is_file():
        return [f"{path} is missing"]
    with np.load(path) as archive:
        committed = {key: archive[key] for key in archive.files}
    problems = [f"{key}: missing from {path.name}" for key in sorted(expected.keys() - committed.keys())]
    problems += [f"{key}: in {path.name} but not produced" for key in sorted(committed.keys() - expected.keys())]
    for key in sorted(expected.keys() & committed.keys()):
        new, old = expected[key], committed[key]
        if new.shape != old.shape or new.dtype != old.dtype:
            problems.append(f"{key}: {old.dtype}{list(old.shape)} committed, {new.dtype}{list(new.shape)} built")
        elif np.issubdtype(new.dtype, np.floating):
            # BLAS builds may differ in the last bits; anything beyond that is a real change.
            if not np.allclose(new, old, rtol=1e-6, atol=1e-9, equal_nan=True):
                problems.append(f"{key}: values differ (max abs diff {np.max(np.abs(new - old)):.3g})")
        elif not np.array_equal(new, old):
            problems.append(f"{key}: values differ")
    return problems


def write_answers(*, assignments: list[str], data_dir: Path = DATA_DIR, check: bool = False) -> list[str]:
    """Write (or with ``check`` compare) ``data_dir/<assignment>.npz``; returns the problems found."""
    problems = []
    for assignment in assignments:
        answers = build_answers(assignment)
        path = Path(data_dir) / f"{assignment}.npz"
        if check:
            problems += [f"{assignment}: {p}" for p in compare_answers(answers, path)]
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **answers)
    return problems
