"""`autograder answers`: writing, checking, and the errors it gives."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.answers import build_answers, compare_answers, reference_names, write_answers


def test_every_reference_is_deterministic_and_numpy_only():
    for name in reference_names():
        first, second = build_answers(name), build_answers(name)
        assert first.keys() == second.keys() and first
        for key in first:
            np.testing.assert_array_equal(first[key], second[key])


@pytest.mark.parametrize("name", reference_names())
def test_references_use_neither_tensorflow_nor_notebooks(name):
    """Independence: building the answers loads no TensorFlow, Keras or notebook machinery."""
    import subprocess
    import sys

    probe = (f"import sys; from autograder.answers import build_answers; build_answers({name!r}); "
             "bad = sorted(m for m in ('tensorflow', 'keras', 'nbformat', 'nbclient') if m in sys.modules); "
             "print(','.join(bad))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""


def test_check_reports_each_difference(tmp_path):
    name = reference_names()[0]
    assert write_answers(assignments=[name], data_dir=tmp_path) == []
    assert write_answers(assignments=[name], data_dir=tmp_path, check=True) == []
    answers = build_answers(name)
    key = sorted(k for k in answers if np.issubdtype(answers[k].dtype, np.floating))[0]
    changed = dict(answers)
    changed[key] = answers[key] + 1.0
    del changed[sorted(answers)[-1]]
    changed["extra_key"] = np.zeros(2)
    np.savez(tmp_path / "changed.npz", **changed)
    problems = compare_answers(answers, tmp_path / "changed.npz")
    assert any(p.startswith(f"{key}: values differ") for p in problems)
    assert f"{sorted(answers)[-1]}: missing from changed.npz" in problems
    assert "extra_key: in changed.npz but not produced" in problems
    assert compare_answers(answers, tmp_path / "absent.npz") == [f"{tmp_path / 'absent.npz'} is missing"]


def test_unknown_assignment_is_named():
    with pytest.raises(KeyError, match="no answer reference for 'nope'"):
        build_answers("nope")
