"""The probe/judge split of test cells, the conventions lint, and the judge's verdicts and words."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest

from autograder.judge import judge, lint_notebook, split_test_cell

VISIBLE = """import numpy as np
import tensorflow as tf
from course.checks import check_close, load_answers

answers = load_answers("a")
got = leaky_relu(tf.constant(answers["lrelu_x"]))
check_close("leaky_relu(x)", np.asarray(got, dtype=np.float64), answers["lrelu_true"], 1e-6)"""

HIDDEN = """import numpy as np
from course.checks import check_true
z = np.asarray(sample_noise(1000, 2))
### BEGIN HIDDEN TESTS
check_true("noise: shape", z.shape == (1000, 2), f"got {z.shape}")
check_true("noise: mean near zero", abs(float(z.mean())) < SECRET_LIMIT, f"mean {z.mean():.3f}")
### END HIDDEN TESTS"""


def test_visible_cell_splits_at_the_first_check():
    parts = split_test_cell(VISIBLE)
    assert "import tensorflow" in parts.imports
    assert "leaky_relu" in parts.probe and "check_close" not in parts.probe
    assert parts.judge.startswith("check_close")
    assert parts.probe_names == ("got",)  # answers, np and the helpers are the judge's own


def test_hidden_cell_splits_at_the_marker_and_the_kernel_never_gets_the_hidden_part():
    from autograder.judge import kernel_source

    parts = split_test_cell(HIDDEN)
    assert "sample_noise" in parts.probe
    assert "SECRET_LIMIT" in parts.judge
    sent = kernel_source(parts)
    assert "SECRET_LIMIT" not in sent and "mean near zero" not in sent
    assert "send_values(['z'])" in sent


def test_student_calls_inside_a_visible_check_move_to_the_probe():
    parts = split_test_cell("from course.checks import check_equal\ncheck_equal('add(1, 2)', add(1, 2), 3)")
    assert "add(1, 2)" in parts.probe
    assert "add(" not in parts.judge.replace("'add(1, 2)'", "")


def test_judge_passes_fails_and_words_hidden_failures_without_the_expected_value():
    parts = split_test_cell(VISIBLE)
    answers = {"lrelu_true": np.array([1.0, -0.01])}
    assert judge(parts, values={"got": np.array([1.0, -0.01])}, problems={}, missing=[], answers=answers,
                 hidden=False).passed
    wrong = judge(parts, values={"got": np.array([1.0, 0.0])}, problems={}, missing=[], answers=answers,
                  hidden=False)
    assert not wrong.passed and "want" in wrong.message and "threshold" in wrong.message
    hidden = judge(parts, values={"got": np.array([1.0, 0.0])}, problems={}, missing=[], answers=answers,
                   hidden=True)
    assert not hidden.passed and "want" not in hidden.message and "-0.01" not in hidden.message


def test_a_value_that_did_not_arrive_fails_the_check_and_says_so():
    parts = split_test_cell(VISIBLE)
    verdict = judge(parts, values={}, problems={}, missing=["got"], answers={"lrelu_true": np.zeros(2)},
                    hidden=False)
    assert not verdict.passed and "`got` was not computed" in verdict.message
    verdict = judge(parts, values={}, problems={"got": "a Model is not plain data"}, missing=[],
                    answers={"lrelu_true": np.zeros(2)}, hidden=False)
    assert not verdict.passed and "not plain data" in verdict.message


def test_a_forged_value_of_the_wrong_kind_fails_instead_of_crashing_the_judge():
    parts = split_test_cell(HIDDEN)
    verdict = judge(parts, values={"z": "not an array", "SECRET_LIMIT": 0.1}, problems={}, missing=[],
                    answers={}, hidden=True)
    assert not verdict.passed


def _notebook(tmp_path, *test_sources, setup="import os\nGRADING = bool(os.environ.get('NBGRADER_EXECUTION'))"):
    cells = [nbformat.v4.new_code_cell(setup, metadata={"nbgrader": {"grade": False, "solution": False,
                                                                       "locked": True, "grade_id": "setup"}})]
    for i, source in enumerate(test_sources):
        cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "points": 1, "grade_id": f"t{i}"}}))
    path = tmp_path / "a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_lint_accepts_the_conventions(tmp_path):
    assert lint_notebook(_notebook(tmp_path, VISIBLE, HIDDEN.replace("SECRET_LIMIT", "0.1"))) == []


def test_lint_names_each_broken_convention(tmp_path):
    problems = "\n".join(lint_notebook(_notebook(
        tmp_path,
        "from course.checks import check_true\nx = f()\nassert x == 1\ncheck_true('x', x == 1, 'no')",
        "x = f()\nimport numpy as np\nfrom course.checks import check_true\ncheck_true('x', x == 1, 'no')",
        "from course.checks import check_true\nx = 1\n### BEGIN HIDDEN TESTS\ncheck_true('f', f(x) == 2, 'no')\n"
        "### END HIDDEN TESTS",
        "from course.checks import check_true, load_answers\nanswers = load_answers('a')\ny = f(answers['k_true'])\n"
        "check_true('y', y == 1, 'no')",
        "import tensorflow as tf\nfrom course.checks import check_true\nz = f()\ncheck_true('z', tf.is_tensor(z), 'no')",
        setup="FAST = True"), hidden_keys=frozenset({"k_true"})))
    assert "bare `assert`" in problems
    assert "imports must come first" in problems
    assert "hidden code calls student code (`f(x)`)" in problems
    assert "visible code reads hidden expected values ['k_true']" in problems
    assert "the one grading flag is `GRADING`" in problems


def test_lint_wants_hidden_code_to_read_only_what_the_probe_defines(tmp_path):
    problems = "\n".join(lint_notebook(_notebook(tmp_path, HIDDEN)))
    assert "hidden code reads ['SECRET_LIMIT']" in problems


LOOPING = """import numpy as np
from course.checks import check_true
cases = [("dense", 1), ("conv", 2)]
outputs = {kind: float(np.asarray(build(kind)).sum()) for kind, _ in cases}
### BEGIN HIDDEN TESTS
for kind, want in cases:
    check_true(f"{kind} output", abs(outputs[kind] - want) < 1e-6, f"{kind}: wrong output")
if outputs:
    check_true("some output", len(outputs) == 2, "want two outputs")
### END HIDDEN TESTS"""


def test_a_check_that_probe_values_steer_around_does_not_pass():
    """A forger who sends an empty list to loop over (or a value that skips an ``if``) runs no check: no pass."""
    parts = split_test_cell(LOOPING)
    honest = {"cases": [("dense", 1), ("conv", 2)], "outputs": {"dense": 1.0, "conv": 2.0}}
    assert judge(parts, values=honest, problems={}, missing=[], answers={}, hidden=True).passed
    for forged in ({"cases": [], "outputs": {}}, {"cases": [], "outputs": {"dense": 1.0, "conv": 2.0}}):
        verdict = judge(parts, values=forged, problems={}, missing=[], answers={}, hidden=True)
        assert not verdict.passed and "did not run" in verdict.message, forged
    assert not judge(parts, values={"cases": honest["cases"], "outputs": {}}, problems={}, missing=[], answers={},
                     hidden=True).passed


def test_a_helper_parameter_named_like_a_probe_value_does_not_stop_it_being_sent():
    cell = """import numpy as np
from course.checks import check_true
got = np.asarray(build())
want = 3.0
### BEGIN HIDDEN TESTS
def scaled_error(got, want):
    return float(np.max(np.abs(got - want)))
check_true("output", scaled_error(got, want) < 1e-6 and all(w > 0 for w in got.ravel()), "wrong output")
### END HIDDEN TESTS"""
    parts = split_test_cell(cell)
    assert parts.probe_names == ("got", "want")
    from autograder.judge import _free_names

    assert _free_names(parts.judge) == {"got", "want"}  # the comprehension's `w` is its own, not the probe's
    assert judge(parts, values={"got": np.array([3.0]), "want": 3.0}, problems={}, missing=[], answers={},
                 hidden=True).passed


# What a check compares with comes from the trusted side (issue 21): each cell below is what a forger exploits.
FORGEABLE = {
    "threshold from the probe": """import numpy as np
from course.checks import check_close, load_answers
answers = load_answers("a")
got = np.asarray(loss(answers["x"]))
threshold = 1e-8 if got.dtype == np.float64 else 1e-6
check_close("loss", got, answers["loss_true"], threshold)""",
    "reference computed in the kernel": """import numpy as np
from course.checks import check_true
from course.testkit.a import stand_in
want_loss = float(stand_in().loss())
loss = float(train_step(stand_in()))
### BEGIN HIDDEN TESTS
gap = abs(loss - want_loss)
check_true("loss before the update", gap <= 1e-4, f"want {want_loss}, got {loss}")
### END HIDDEN TESTS""",
    "expected value derived from a probe value": """from course.checks import check_equal
calls = record(run)
check_equal("noise sized to the batch", [n for n, _ in calls], [b for _, b in calls])""",
    "loop over a probe value": """from course.checks import check_true
rates = [o.learning_rate for o in get_solvers()]
### BEGIN HIDDEN TESTS
for rate in rates:
    check_true("rate", abs(rate - 1e-3) < 1e-9, "wrong rate")
### END HIDDEN TESTS""",
    "all() of a probe value": """from course.checks import check_true
changed = updated_flags(train_step)
### BEGIN HIDDEN TESTS
check_true("every weight changed", all(changed), "some did not")
### END HIDDEN TESTS""",
}


def test_lint_refuses_what_a_forger_could_choose_and_says_where(tmp_path):
    for what, cell in FORGEABLE.items():
        problems = lint_notebook(_notebook(tmp_path, cell))
        assert problems and all("cell 1 (t0): line " in p for p in problems), (what, problems)
    text = lambda what: "\n".join(lint_notebook(_notebook(tmp_path, FORGEABLE[what])))  # noqa: E731
    assert "line 6: check_close's `threshold` (threshold) depends on probe values ['threshold']" in text(
        "threshold from the probe")
    assert "line 8: check_true's condition reads ['gap'], computed in the kernel" in text(
        "reference computed in the kernel")  # `gap`: assigned in the judge from a probe value
    assert "check_equal's `want`" in text("expected value derived from a probe value")
    assert "line 4: loops over probe values ['rates'] before any check of their length" in text(
        "loop over a probe value")
    assert "line 4: takes all()/any() of probe values ['changed']" in text("all() of a probe value")


def test_lint_accepts_counted_loops_and_references_from_the_trusted_side(tmp_path):
    cells = [
        """import numpy as np
from course.checks import check_close, load_answers
answers = load_answers("a")
got = np.asarray(loss(answers["x"]))
check_close(f"loss ({got.dtype})", got, answers["loss_true"], 1e-6)""",
        """import numpy as np
from course.checks import check_close, check_equal, check_true, load_answers
answers = load_answers("a")
rates = [o.learning_rate for o in get_solvers()]
z = np.asarray(sample_noise(1000, 2))
### BEGIN HIDDEN TESTS
check_equal("two optimizers", len(rates), 2)
for rate in rates:
    check_true("rate", abs(rate - 1e-3) < 1e-9, "wrong rate")
for index, role in enumerate(("D", "G")):
    check_close(role, rates[index], answers["rate"], 1e-9)
check_equal("noise shape", z.shape, (1000, 2))
fractions = np.histogram(z, bins=10)[0] / z.size
check_true("uniform", bool(np.all(np.abs(fractions - 0.1) < 0.01)), "not uniform")
### END HIDDEN TESTS""",
    ]
    assert lint_notebook(_notebook(tmp_path, *cells)) == []


@pytest.mark.parametrize("name", ["a.ipynb", "keras_model_gan.ipynb"])
def test_no_notebook_is_exempt_from_the_trusted_comparison_lint(tmp_path, name):
    """A forgeable comparison is a lint problem whatever the notebook is called (keras_model_gan, the last one
    exempted, is migrated), and ``trust_warnings`` lists exactly those problems."""
    from autograder.judge import trust_warnings

    path = _notebook(tmp_path, FORGEABLE["loop over a probe value"])
    path = path.rename(path.with_name(name))
    problems = lint_notebook(path)
    assert len(problems) == 1 and "loops over probe values ['rates']" in problems[0]
    assert trust_warnings(path) == problems


def test_every_source_notebook_compares_only_with_the_trusted_side():
    from autograder.judge import trust_warnings
    from autograder.paths import assignments, source_notebooks

    warnings = [w for assignment in assignments() for path in source_notebooks(assignment)
                for w in trust_warnings(path)]
    assert warnings == []
