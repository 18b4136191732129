"""`autograder answers`: write the answer files of each assignment from an independent NumPy reference.

Each assignment has a module ``autograder/answers/<assignment>.py`` that uses NumPy only (never the
notebook solutions, never TensorFlow) and defines ``SEED``, ``build(seed=SEED) -> dict[str, np.ndarray]``,
and optionally ``HIDDEN_KEYS`` (expected values only hidden checks read). Two files:

- ``data/<a>.npz`` (public, students have it): ``build(SEED)`` without the hidden keys;
- ``autograder/hidden/<a>.npz`` (instructor-only): ``build(SEED)``'s hidden keys, so the instructor's own
  interactive run of the source notebook finds them (``course.checks.load_answers`` merges them).

Grading reads neither: the grader draws each submission's inputs with ``autograder.inputs``
(``build(seed)`` with a seed of that submission's own), so a submission that copies the public expected
values earns nothing.

Files are written byte-stably (fixed zip timestamps) and left untouched when every value agrees with the
committed one within ``RTOL``/``ATOL`` (another machine's BLAS may differ in the last bits).
"""
from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.answer_keys import EXPECTED_SUFFIX, is_input  # noqa: F401 (part of this module's interface)
from autograder.paths import DATA_DIR, HIDDEN_DIR, SOURCE_DIR, testkit_modules

RTOL, ATOL = 1e-6, 1e-9  # far below every check's threshold, far above BLAS summation-order noise


def reference_names() -> list[str]:
    """Assignments that have an answer reference."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _module(assignment: str):
    if assignment not in reference_names():
        raise KeyError(f"no answer reference for {assignment!r} (known: {', '.join(reference_names())})")
    return importlib.import_module(f"{__name__}.{assignment}")


def build_answers(assignment: str, seed: int | None = None) -> dict[str, np.ndarray]:
    """Run the NumPy reference of ``assignment`` (with its ``SEED`` unless told) and return its arrays."""
    module = _module(assignment)
    if seed is None or seed == module.SEED:
        built = module.build()
    elif "seed" in inspect.signature(module.build).parameters:
        built = module.build(seed=seed)
    else:
        raise ValueError(f"the {assignment} reference's build() takes no seed")
    return {key: np.asarray(value) for key, value in built.items()}


def key_usage(assignment: str, source_dir: Path = SOURCE_DIR):
    """Where the assignment's source notebooks read each answer key (``autograder.judge.KeyUsage``)."""
    # Deferred: the judge reads notebooks (nbformat), and building the answers stays NumPy only.
    from autograder.judge import answer_key_usage

    return answer_key_usage(sorted((Path(source_dir) / assignment).glob("*.ipynb")), testkit_modules(assignment))


def hidden_keys(assignment: str, source_dir: Path = SOURCE_DIR) -> frozenset[str]:
    """Keys kept out of ``data/``: those the reference declares, and those only hidden judge code reads."""
    declared = frozenset(getattr(_module(assignment), "HIDDEN_KEYS", ()))
    return declared | key_usage(assignment, source_dir).hidden_only


@dataclass(frozen=True)
class AnswerFiles:
    """Where one assignment's answer files live."""

    public: Path
    hidden: Path

    @classmethod
    def of(cls, assignment: str, *, data_dir: Path = DATA_DIR, hidden_dir: Path = HIDDEN_DIR) -> "AnswerFiles":
        return cls(public=Path(data_dir) / f"{assignment}.npz", hidden=Path(hidden_dir) / f"{assignment}.npz")


def answer_sets(assignment: str) -> dict[str, dict[str, np.ndarray]]:
    """The contents of each answer file: ``{"public": ..., "hidden": ...}``."""
    answers = build_answers(assignment)
    hidden = hidden_keys(assignment)
    unknown = sorted(hidden - answers.keys())
    if unknown:
        raise KeyError(f"{assignment}: HIDDEN_KEYS names keys build() does not produce: {unknown}")
    return {"public": {k: v for k, v in answers.items() if k not in hidden},
            "hidden": {k: v for k, v in answers.items() if k in hidden}}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive whose bytes depend only on the arrays (sorted names, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def compare_answers(expected: dict[str, np.ndarray], path: Path) -> list[str]:
    """Differences between freshly built answers and the file at ``path`` (empty when they agree)."""
    if not path.is_file():
        return [f"{path} is missing"]
    committed = read_npz(path)
    problems = [f"{key}: missing from {path.name}" for key in sorted(expected.keys() - committed.keys())]
    problems += [f"{key}: in {path.name} but not produced" for key in sorted(committed.keys() - expected.keys())]
    for key in sorted(expected.keys() & committed.keys()):
        new, old = expected[key], committed[key]
        if new.shape != old.shape or new.dtype != old.dtype:
            problems.append(f"{key}: {old.dtype}{list(old.shape)} committed, {new.dtype}{list(new.shape)} built")
        elif np.issubdtype(new.dtype, np.floating):
            if not np.allclose(new, old, rtol=RTOL, atol=ATOL, equal_nan=True):
                problems.append(f"{key}: values differ (max abs diff {np.max(np.abs(new - old)):.3g})")
        elif not np.array_equal(new, old):
            problems.append(f"{key}: values differ")
    return problems


def write_answers(*, assignments: list[str], data_dir: Path = DATA_DIR, hidden_dir: Path = HIDDEN_DIR,
                  check: bool = False) -> list[str]:
    """Write (or with ``check`` compare) every answer file of each assignment; returns the problems found."""
    problems = []
    for assignment in assignments:
        files = AnswerFiles.of(assignment, data_dir=data_dir, hidden_dir=hidden_dir)
        sets = answer_sets(assignment)
        for kind, path in (("public", files.public), ("hidden", files.hidden)):
            arrays = sets[kind]
            if kind == "hidden" and not arrays:
                if check and path.is_file():
                    problems.append(f"{assignment}: {path.name} is not produced by the reference any more")
                elif not check and path.is_file():
                    path.unlink()
                continue
            differences = compare_answers(arrays, path)
            if check:
                problems += [f"{assignment}: {p}" for p in differences]
            elif differences:  # untouched when everything agrees: regenerating never dirties the tree
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(npz_bytes(arrays))
    return problems
