"""Grading a class of tiny submissions: the output contract, broken and hostile notebooks, the gradebook."""
from __future__ import annotations

import csv
import os
import sqlite3

import nbformat
import numpy as np
import pytest

from autograder.cli import main as cli_main
from autograder.export import export
from autograder.grade import Limits, grade
from conftest import TINY, TINY_NOTEBOOK, read_json, replace_solution, write_submission

LIMITS = Limits(cell_timeout=10, submission_timeout=60, memory_mb=4096)
FULL = 6.0  # add_values 1 + add_floats_hidden 2 + scale_values 3


def _solution(tiny_course):
    return tiny_course / "source" / TINY / TINY_NOTEBOOK


def _release(tiny_course):
    return tiny_course / "release" / TINY / TINY_NOTEBOOK


def _with_extra_cell(notebook, source, after_grade_id):
    """A copy of ``notebook`` (a path or a NotebookNode) with a student cell added after a graded cell."""
    nb = nbformat.read(notebook, as_version=4) if not isinstance(notebook, dict) else nbformat.from_dict(notebook)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after_grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def _without(path, grade_id):
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


@pytest.fixture(scope="module")
def graded_class(tiny_course, tmp_path_factory):
    """Grade one class holding every kind of submission, in parallel, once for the module."""
    submitted = tmp_path_factory.mktemp("submitted")
    solution, stub = _solution(tiny_course), _release(tiny_course)
    cases = {
        "reference": nbformat.read(solution, as_version=4),
        "untouched": nbformat.read(stub, as_version=4),
        "wrong_add": replace_solution(solution, "add", "def add(a, b):\n    return a - b"),
        "variant_add": replace_solution(solution, "add", "def add(a, b):\n    return sum([a, b])"),
        "invalid_json": '{"cells": [',
        "empty_file": "",
        "deleted_solution": _without(solution, "scale"),
        "deleted_test": _without(solution, "scale_values"),
        "helper_cell": _with_extra_cell(
            replace_solution(solution, "add", "def add(a, b):\n    return plus(a, b)"),
            "def plus(a, b):\n    return a + b", "setup"),
        "rebinds_checks": _with_extra_cell(
            replace_solution(solution, "add", "def add(a, b):\n    return 0"),
            "import course.checks\ncourse.checks.check_equal = lambda *a, **k: None\n"
            "course.checks.check_true = lambda *a, **k: None\ncheck_equal = lambda *a, **k: None", "add"),
        "patches_numpy": _with_extra_cell(
            replace_solution(solution, "add", "def add(a, b):\n    return 0"),
            "import numpy\nnumpy.isclose = lambda *a, **k: True\nnumpy.all = lambda *a, **k: True", "add"),
        "hides_errors": _with_extra_cell(
            replace_solution(solution, "add", "def add(a, b):\n    return 0"),
            "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None", "add"),
        "infinite_loop": replace_solution(solution, "scale", "def scale(x, factor=2.0):\n    while True:\n        pass"),
        "ignores_interrupt": _with_extra_cell(
            solution, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
            "add_floats_hidden"),
        "exits_kernel": _with_extra_cell(solution, "import os\nos._exit(3)", "add_floats_hidden"),
        "memory_hog": _with_extra_cell(solution, "hog = bytearray(16 * 1024 ** 3)", "add"),
        "overwrites_answers": _with_extra_cell(
            solution, "import os, pathlib\nfor f in pathlib.Path(os.environ['GAN_COURSE_ANSWERS']).glob('*.npz'):\n"
            "    f.write_bytes(b'forged')", "add"),
        "reads_thread_budget": replace_solution(
            solution, "add", "def add(a, b):\n    import os\n"
            f"    return a + b if os.environ.get('TF_NUM_INTRAOP_THREADS') == '{max(1, (os.cpu_count() or 1) // 2)}'"
            " else None"),
        "floods_stdout": _with_extra_cell(solution, "for i in range(200000):\n    print('x' * 100)", "add"),
    }
    for student, notebook in cases.items():
        write_submission(submitted, student, notebook)
    old = nbformat.convert(nbformat.read(solution, as_version=4), 3)
    write_submission(submitted, "old_jupyter", nbformat.writes(old, version=3))
    huge = nbformat.read(solution, as_version=4)
    huge.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 50_000_000)]
    write_submission(submitted, "huge_saved_output", huge)
    write_submission(submitted, "renamed", nbformat.read(solution, as_version=4), name="Tiny-mine.ipynb")
    (submitted / "missing_notebook" / TINY).mkdir(parents=True)
    out = tmp_path_factory.mktemp("out")
    answers = tmp_path_factory.mktemp("answers")
    np.savez(answers / f"{TINY}.npz", x=np.arange(3))
    records = grade(assignment=TINY, submitted_dir=submitted, out_dir=out, jobs=2, limits=LIMITS,
                    source_dir=tiny_course / "source", answers_dir=answers, progress=False)
    return out, {r["student_id"]: r for r in records}, submitted, answers


def _scores(record):
    return {c["grade_id"]: c["score"] for c in record["checks"]}


def test_reference_gets_full_marks_and_json_contract(graded_class):
    out, records, *_ = graded_class
    record = read_json(out / "results" / "reference" / f"{TINY}.json")
    assert record == records["reference"]
    assert {"student_id", "assignment", "score", "max_score", "status", "checks"} <= record.keys()
    assert (record["score"], record["max_score"], record["status"]) == (FULL, FULL, "graded")
    for check in record["checks"]:
        assert {"grade_id", "score", "max_score", "passed", "message"} <= check.keys()
        assert check["passed"] and check["score"] == check["max_score"]
    assert record["manual_max_score"] == 2


def test_untouched_release_gets_zero(graded_class):
    _, records, *_ = graded_class
    assert records["untouched"]["status"] == "graded"
    assert records["untouched"]["score"] == 0
    assert records["untouched"]["checks"] and all(not c["passed"] for c in records["untouched"]["checks"])
    # each failed check says which cell to fill in, not only "your code raised NotImplementedError"
    messages = {c["grade_id"]: c["message"] for c in records["untouched"]["checks"]}
    assert messages["add_values"].startswith("not implemented yet: fill in the solution cell `add`"), messages
    assert "solution cell `scale`" in messages["scale_values"], messages


def test_wrong_function_loses_exactly_its_checks(graded_class):
    _, records, *_ = graded_class
    assert _scores(records["wrong_add"]) == {"add_values": 0, "add_floats_hidden": 0, "scale_values": 3}
    visible = next(c for c in records["wrong_add"]["checks"] if c["grade_id"] == "add_values")
    assert "want:" in visible["message"] and "got:" in visible["message"]


def test_equivalent_variant_and_helper_cells_keep_full_marks(graded_class):
    _, records, *_ = graded_class
    assert records["variant_add"]["score"] == FULL
    assert records["helper_cell"]["score"] == FULL


@pytest.mark.parametrize("student", ["invalid_json", "empty_file"])
def test_unreadable_notebook_is_invalid_with_a_reason(graded_class, student):
    _, records, *_ = graded_class
    record = records[student]
    assert record["status"] == "invalid"
    assert record["score"] == 0
    assert TINY_NOTEBOOK in record["message"]
    assert "Traceback" not in record["message"]


def test_missing_and_renamed_notebooks(graded_class):
    _, records, *_ = graded_class
    assert records["missing_notebook"]["status"] == "missing"
    assert records["renamed"]["score"] == FULL
    assert "renamed" in records["renamed"]["message"]


@pytest.mark.parametrize("student", ["old_jupyter", "huge_saved_output"])
def test_old_format_and_huge_saved_outputs_are_graded(graded_class, student):
    _, records, *_ = graded_class
    assert (records[student]["status"], records[student]["score"]) == ("graded", FULL)


def test_deleted_cells(graded_class):
    _, records, *_ = graded_class
    deleted_solution = records["deleted_solution"]
    assert deleted_solution["status"] == "missing_cells"
    assert "scale" in deleted_solution["message"]
    assert _scores(deleted_solution) == {"add_values": 1, "add_floats_hidden": 2, "scale_values": 0}
    # a deleted test cell is restored from source/ and still graded
    assert records["deleted_test"]["score"] == FULL


@pytest.mark.parametrize("student", ["rebinds_checks", "patches_numpy", "hides_errors"])
def test_tampering_gains_nothing(graded_class, student):
    _, records, *_ = graded_class
    assert _scores(records[student]) == {"add_values": 0, "add_floats_hidden": 0, "scale_values": 3}


def test_runaway_cell_times_out_but_keeps_other_points(graded_class):
    _, records, *_ = graded_class
    record = records["infinite_loop"]
    assert _scores(record) == {"add_values": 1, "add_floats_hidden": 2, "scale_values": 0}
    scale = next(c for c in record["checks"] if c["grade_id"] == "scale_values")
    assert "ran too long" in scale["message"]


def test_kernel_ignoring_interrupts_is_stopped_and_keeps_earlier_points(graded_class):
    _, records, *_ = graded_class
    record = records["ignores_interrupt"]
    assert record["status"] == "timeout"
    assert "ignored the interrupt" in record["message"]
    assert _scores(record) == {"add_values": 1, "add_floats_hidden": 2, "scale_values": 0}


def test_dying_kernel_is_crashed_and_keeps_earlier_points(graded_class):
    _, records, *_ = graded_class
    record = records["exits_kernel"]
    assert record["status"] == "crashed"
    assert _scores(record) == {"add_values": 1, "add_floats_hidden": 2, "scale_values": 0}


def test_memory_cap_stops_a_hog_without_losing_the_student(graded_class):
    _, records, *_ = graded_class
    assert records["memory_hog"]["status"] == "graded"
    assert records["memory_hog"]["score"] == FULL


def test_answer_files_the_kernel_overwrites_are_private_copies(graded_class):
    _, records, _, answers = graded_class
    assert records["overwrites_answers"]["score"] == FULL
    with np.load(answers / f"{TINY}.npz") as archive:
        np.testing.assert_array_equal(archive["x"], np.arange(3))


def test_parallel_workers_split_the_cores_between_kernels(graded_class):
    _, records, *_ = graded_class  # graded with jobs=2: each kernel gets half the cores for TensorFlow
    assert records["reads_thread_budget"]["score"] == FULL


def test_flooded_output_is_bounded(graded_class):
    _, records, *_ = graded_class
    assert records["floods_stdout"]["score"] == FULL


def test_feedback_never_shows_hidden_test_source(graded_class):
    out, records, *_ = graded_class
    for student in records:
        page = (out / "feedback" / student / f"{TINY}.html").read_text()
        assert "SECRET_HIDDEN_ASSERTION" not in page
        assert "Traceback" not in page
    wrong = (out / "feedback" / "wrong_add" / f"{TINY}.html").read_text()
    assert "add: wrong result for negative floats" in wrong


def test_csv_and_gradebook(graded_class):
    out, records, *_ = graded_class
    with (out / "grades.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0].keys()) == ["student_id", "assignment", "score", "max_score", "manual_score",
                                    "manual_max_score", "extra_credit", "late_penalty", "total", "total_max",
                                    "needs_manual_grade", "status", "sandboxed"]
    assert {r["sandboxed"] for r in rows} == {"True"}
    assert {r["student_id"]: float(r["score"]) for r in rows} == {s: r["score"] for s, r in records.items()}
    with sqlite3.connect(out / "gradebook.db") as db:
        (auto_total,) = db.execute(
            "select sum(g.auto_score) from grade g join submitted_notebook n on g.notebook_id = n.id "
            "join submitted_assignment a on n.assignment_id = a.id where a.student_id = 'reference'").fetchone()
    assert auto_total == FULL
    exported = out / "export.csv"
    assert export(db_url=f"sqlite:///{out / 'gradebook.db'}", out_csv=exported) == len(records)


def test_regrading_one_student_is_idempotent(graded_class, tiny_course):
    out, records, submitted, _ = graded_class
    db = out / "gradebook.db"
    with sqlite3.connect(db) as conn:
        before = conn.execute("select count(*) from grade").fetchone()[0]
    again = grade(assignment=TINY, submitted_dir=submitted, out_dir=out, jobs=1, limits=LIMITS, only="wrong_add",
                  source_dir=tiny_course / "source", progress=False)
    assert [r["score"] for r in again] == [records["wrong_add"]["score"]]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from grade").fetchone()[0] == before
    with (out / "grades.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(records)  # the other students' rows are kept


def test_cli_grade_exit_code_and_unknown_student(graded_class, tiny_course, capsys):
    _, _, submitted, _ = graded_class
    code = cli_main(["grade", "gan_basics", str(submitted), "--out", str(submitted.parent / "x"), "--only", "nobody"])
    assert code == 1
    assert "nobody" in capsys.readouterr().err


def test_a_grader_error_is_retried_once_then_reported_with_where(monkeypatch, tmp_path):
    """An error of ours (or of the machine) while grading one student is tried once more, and a lasting one
    becomes an ``error`` record naming the exception and the code that raised it; other students are kept."""
    from autograder import grade as grade_module
    from autograder.grade import Submission, grade_locally

    calls = {}

    def flaky(submission, **_):
        calls[submission.student_id] = calls.get(submission.student_id, 0) + 1
        if submission.student_id == "always" or calls[submission.student_id] == 1:
            raise OSError(f"scratch folder vanished for {submission.student_id}")
        return {"student_id": submission.student_id, "message": "", "status": "graded", "checks": [1]}

    monkeypatch.setattr(grade_module, "grade_submission", flaky)
    students = [Submission(name, TINY, tmp_path / name) for name in ("once", "always")]
    records = {s.student_id: r for s, r in grade_locally(students, jobs=1, source_dir=tmp_path, limits=Limits(),
                                                          answers_dir=tmp_path, hidden_dir=tmp_path)}
    assert calls == {"once": 2, "always": 2}
    assert records["once"]["status"] == "graded"
    assert "graded again after a grader error: OSError: scratch folder vanished for once" in records["once"]["message"]
    assert records["always"]["status"] == "error" and records["always"]["checks"] == []
    assert "OSError: scratch folder vanished for always (at test_grade.py:" in records["always"]["message"]


def test_class_report_of_a_graded_class(graded_class, tiny_course):
    """The records carry their grading time; `autograder.report` reads OUT as grade wrote it (results,
    grades.csv, gradebook, autograded/ notebooks with their solution cells)."""
    from autograder.report import write_report
    from autograder.similarity import read_class_cells

    out, records, *_ = graded_class
    assert all(r["grading_seconds"] > 0 and r["graded_at"] for r in records.values() if r["checks"])
    page = write_report(out_dir=out, assignment=TINY, release_dir=tiny_course / "release",
                        dest=out / "report-test" / "tiny.html").read_text()
    for student, status in (("ignores_interrupt", "timeout"), ("exits_kernel", "crashed"), ("reference", "graded")):
        assert f"<td>{student}</td><td>{status}</td>" in page
    cells = read_class_cells(notebooks_dir=out / "autograded", assignment=TINY)
    assert "return a - b" in cells[(TINY_NOTEBOOK, "add")]["wrong_add"]
