"""Checks used by the notebooks' test cells.

Every assertion helper prints what it wanted, what it got, the error and the threshold, and raises
``AssertionError`` with the same text when the check fails, so a failing cell explains itself in the
notebook and in the grader's feedback.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ANSWERS_DIR_ENV = "GAN_COURSE_ANSWERS"


def rel_error(x, y) -> float:
    """Maximum relative error between two arrays (CS231n's definition)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def count_params(model) -> int:
    """Number of scalars in all of a Keras model's weights (BatchNorm moving statistics included)."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights))


def answers_path(assignment: str) -> Path:
    """Where the answer file of an assignment lives: ``$GAN_COURSE_ANSWERS`` or the repository's ``data/``."""
    folder = os.environ.get(ANSWERS_DIR_ENV) or Path(__file__).resolve().parents[1] / "data"
    return Path(folder) / f"{assignment}.npz"


def load_answers(assignment: str) -> dict[str, np.ndarray]:
    """Load ``data/<assignment>.npz`` into a dict of arrays, with a clear error when it is missing."""
    path = answers_path(assignment)
    if not path.is_file():
        raise FileNotFoundError(
            f"answer file {path} not found: run `autograder answers {assignment}` "
            f"or set ${ANSWERS_DIR_ENV} to the folder holding {assignment}.npz"
        )
    with np.load(path) as archive:
        answers = {key: archive[key] for key in archive.files}
    hidden = _hidden_answers_path(assignment)
    if hidden is not None and hidden.is_file():
        with np.load(hidden) as archive:
            answers.update({key: archive[key] for key in archive.files})
    return answers


def _hidden_answers_path(assignment: str) -> Path | None:
    """The instructor-only expected values of hidden checks, next to the grader (absent from a student's copy,
    and never mounted in a grading sandbox); None when ``$GAN_COURSE_ANSWERS`` points elsewhere."""
    if os.environ.get(ANSWERS_DIR_ENV):
        return None
    return Path(__file__).resolve().parents[1] / "autograder" / "hidden" / f"{assignment}.npz"


class CheckFailed(AssertionError):
    """A failed check, with what it compared, so the grader can word the feedback itself.

    ``str()`` is the full report (want / got / relative error / threshold, arrays summarised); ``hidden_message()``
    leaves out the expected value, for checks whose expected values students must not see.
    """

    def __init__(self, name: str, *, want=None, got=None, error=None, threshold=None, explanation=None):
        self.name, self.want, self.got = name, want, got
        self.error, self.threshold, self.explanation = error, threshold, explanation
        if explanation is not None:
            text = f"{name}: {explanation}"
        else:
            text = _report(name, want, got, error, threshold)
        super().__init__(text)

    def hidden_message(self) -> str:
        if self.explanation is not None:
            return f"{self.name}: {self.explanation}"
        if self.error is not None:
            return (f"{self.name}: differs from the expected value (relative error {self.error:.3g}, "
                    f"threshold {self.threshold:.3g})")
        return f"{self.name}: got {_short(self.got)}, which is not the expected value"


def _report(name: str, want, got, error=None, threshold=None) -> str:
    lines = [f"{name}:", f"  want:      {_short(want)}", f"  got:       {_short(got)}"]
    if error is not None:
        lines.append(f"  rel error: {error:.3g}")
    if threshold is not None:
        lines.append(f"  threshold: {threshold:.3g}")
    return "\n".join(lines)


def _short(value) -> str:
    try:
        array = None if isinstance(value, str) else np.asarray(value)
    except (TypeError, ValueError):  # ragged sequences
        array = None
    if array is None:
        text = str(value)
    else:
        text = np.array2string(array, threshold=8, precision=6, edgeitems=2)
        if array.ndim > 0 and array.size > 8:
            text = f"{text.replace(chr(10), ' ')} (shape {array.shape})"
    return text if len(text) <= 200 else text[:197] + "..."


# While the grader's judge runs a test cell's judge code it listens here for each check that runs, so that a
# check skipped by a probe value (an empty list to loop over, a flag that steers an ``if``) cannot pass
# unseen. Notebooks have no listener.
_check_listeners: list = []


def _notify_check() -> None:
    if _check_listeners:
        caller = sys._getframe(2)  # the code that called the check_* helper
        for listener in _check_listeners:
            listener(caller)


def check_close(name: str, got, want, threshold: float) -> None:
    """Assert that ``got`` matches ``want`` (same shape) within a maximum relative error ``threshold``.

    Returns None on purpose: a number left as a test cell's last value would be read by plain nbgrader
    as partial credit.
    """
    _notify_check()
    got_array = np.asarray(got)
    want_array = np.asarray(want)
    if got_array.shape != want_array.shape and got_array.size != want_array.size:
        failure = CheckFailed(name, want=f"shape {want_array.shape}", got=f"shape {got_array.shape}")
        print(f"{failure}\n  FAILED")
        raise failure
    try:
        error = rel_error(got_array.reshape(want_array.shape), want_array)
    except (TypeError, ValueError) as problem:  # strings, objects: not numbers
        failure = CheckFailed(name, want=want_array, got=got_array, explanation=f"not numbers ({problem})")
        print(f"{failure}\n  FAILED")
        raise failure from None
    passed = bool(error <= threshold)  # NaN fails too
    print(_report(name, want_array, got_array, error, threshold) + ("\n  PASSED" if passed else "\n  FAILED"))
    if not passed:
        raise CheckFailed(name, want=want_array, got=got_array, error=error, threshold=threshold)


def check_equal(name: str, got, want) -> None:
    """Assert exact equality (numbers, shapes, strings, tuples)."""
    _notify_check()
    try:
        passed = bool(np.all(np.asarray(got) == np.asarray(want))) and np.shape(got) == np.shape(want)
    except (TypeError, ValueError):  # ragged or incomparable values are not equal
        passed = False
    print(_report(name, want, got) + ("\n  PASSED" if passed else "\n  FAILED"))
    if not passed:
        raise CheckFailed(name, want=want, got=got)


def check_true(name: str, condition: bool, explanation: str) -> None:
    """Assert a property; ``explanation`` says what was expected and what was seen (shown only on failure)."""
    _notify_check()
    passed = bool(condition)
    print(f"{name}: PASSED" if passed else f"{name}: {explanation}\n  FAILED")
    if not passed:
        raise CheckFailed(name, explanation=explanation)


def check_param_count(model, want: int, name: str = "model") -> None:
    """Assert a Keras model's parameter count (``count_params``); ``model`` may also be the count itself."""
    _notify_check()
    count = int(model) if isinstance(model, (int, np.integer)) or (
        isinstance(model, np.ndarray) and model.ndim == 0) else count_params(model)
    check_equal(f"{name} parameter count", count, want)


# Deterministic weights shared by the notebooks' behaviour checks and the NumPy answer references:
# the reference draws arrays for a list of (role, shape) and the check sets the same arrays into a Keras
# model, so an architecture with the right parameter count but a wrong activation or layer order fails.
def seeded_arrays(specs, seed: int) -> list[np.ndarray]:
    """One float32 array per ``(role, shape)``, drawn in order from ``np.random.default_rng(seed)``.

    Roles are Keras weight names: ``kernel``, ``bias``, ``gamma``, ``beta``, ``moving_mean``,
    ``moving_variance``. Kernels are scaled by 1/sqrt(fan_in) with fan_in = prod(shape[:-1]).
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for role, shape in specs:
        shape = tuple(int(s) for s in shape)
        if role == "kernel":
            bound = 1.0 / np.sqrt(np.prod(shape[:-1]))
            array = rng.uniform(-bound, bound, shape)
        elif role in ("gamma", "moving_variance"):
            array = rng.uniform(0.5, 1.5, shape)
        elif role in ("bias", "beta", "moving_mean"):
            array = rng.uniform(-0.1, 0.1, shape)
        else:
            raise ValueError(f"no seeded initialisation for a weight named {role!r} (shape {shape})")
        arrays.append(array.astype(np.float32))
    return arrays


def weight_specs(model) -> list[tuple[str, tuple[int, ...]]]:
    """``(role, shape)`` of each of a Keras model's weights, in ``model.weights`` order."""
    return [(w.name.split("/")[-1].split(":")[0], tuple(w.shape)) for w in model.weights]


def set_seeded_weights(model, seed: int) -> None:
    """Overwrite every weight of ``model`` with ``seeded_arrays(weight_specs(model), seed)``."""
    for variable, array in zip(model.weights, seeded_arrays(weight_specs(model), seed)):
        variable.assign(array)
