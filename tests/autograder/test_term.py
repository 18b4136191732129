"""The instructor's term on the tiny assignment: autograded/ for formgrader, manual grades that survive
regrading, late penalties through nbgrader's plugin, rebuilt feedback and the exports agreeing."""
from __future__ import annotations

import csv
import datetime

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.cli import main as cli_main
from autograder.export import export
from autograder.feedback import regenerate
from autograder.grade import Limits, grade
from autograder.nbgrader_api import COURSE_ID
from autograder.term import agreement_problems, load_config
from conftest import TINY, TINY_NOTEBOOK, replace_solution, write_submission

LIMITS = Limits(cell_timeout=10, submission_timeout=60, memory_mb=4096)
AUTO_FULL, MANUAL_MAX = 6.0, 2.0
DUE = datetime.datetime(2026, 10, 5, 23, 59)
ANSWER = "It multiplies every entry of x by the factor."


def _stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")  # nbgrader collect's timestamp.txt


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def term(tiny_course, tmp_path_factory):
    """A class of four: on time with a written answer, untouched stub, two days late, unreadable timestamp."""
    root = tmp_path_factory.mktemp("term")
    submitted, out = root / "submitted", root / "out"
    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    answered = replace_solution(solution, "explain_scale", ANSWER)
    cases = {
        "on_time": (answered, DUE - datetime.timedelta(hours=1)),
        "untouched": (nbformat.read(tiny_course / "release" / TINY / TINY_NOTEBOOK, as_version=4), DUE),
        "late": (answered, DUE + datetime.timedelta(days=1, hours=3)),
        "bad_stamp": (answered, None),
    }
    for student, (notebook, when) in cases.items():
        path = write_submission(submitted, student, notebook)
        (path.parent / "timestamp.txt").write_text(_stamp(when) if when else "next tuesday")
    config = root / "nbgrader_config.py"
    config.write_text("c = get_config()\n"
                      f"c.Autograder.due_dates = {{'{TINY}': '{DUE:%Y-%m-%d %H:%M:%S} UTC'}}\n"
                      "c.AssignLatePenalties.plugin_class = 'autograder.late.PercentPerDay'\n"
                      "c.PercentPerDay.percent_per_day = 25.0\n")
    kwargs = dict(assignment=TINY, submitted_dir=submitted, out_dir=out, limits=LIMITS,
                  source_dir=tiny_course / "source", progress=False, config_file=config)
    records = {r["student_id"]: r for r in grade(jobs=2, **kwargs)}
    return out, records, kwargs, config


def _grade(db, student, cell):
    with Gradebook(db, course_id=COURSE_ID) as book:
        grade = book.find_grade(cell, "Tiny", TINY, student)
        return grade.auto_score, grade.manual_score, grade.extra_credit, grade.needs_manual_grade


def _db(out):
    return f"sqlite:///{out / 'gradebook.db'}"


def test_autograded_notebooks_keep_nbgrader_metadata_and_the_written_answer(term):
    out, records, *_ = term
    for student in records:
        path = out / "autograded" / student / TINY / TINY_NOTEBOOK
        nb = nbformat.read(path, as_version=4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        assert {"add_values", "add_floats_hidden", "scale_values", "explain_scale"} <= set(ids)
        assert (path.parent / "timestamp.txt").is_file()
    nb = nbformat.read(out / "autograded" / "on_time" / TINY / TINY_NOTEBOOK, as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "explain_scale")
    assert answer.source == ANSWER
    verdict = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "add_values")
    assert verdict.outputs[0]["text"].startswith("PASSED")
    # the folder formgrader reads is a course root: its config points at this gradebook and folder
    config = load_config(out / "nbgrader_config.py")
    assert config.CourseDirectory.db_url == _db(out.resolve()) or config.CourseDirectory.db_url.endswith(
        "gradebook.db")
    assert config.CourseDirectory.autograded_directory == "autograded"
    assert config.CourseDirectory.course_id == COURSE_ID


def test_gradebook_flags_written_answers_for_manual_grading(term):
    out, *_ = term
    assert _grade(_db(out), "on_time", "add_values")[0] == 1.0
    auto, manual, _, needs = _grade(_db(out), "on_time", "explain_scale")
    assert (auto, manual, needs) == (None, None, True)
    # the unchanged release stub is no answer: nbgrader's own rule scores it 0, nothing to grade
    auto, _, _, needs = _grade(_db(out), "untouched", "explain_scale")
    assert (auto, needs) == (0.0, False)


def test_late_submission_is_penalised_through_the_plugin(term):
    out, records, *_ = term
    rows = {r["student_id"]: r for r in _rows(out / "grades.csv")}
    # 1 day 3 h late: two started days at 25 % of the autograded 6 points
    assert float(rows["late"]["late_penalty"]) == pytest.approx(3.0)
    assert float(rows["late"]["total"]) == pytest.approx(AUTO_FULL - 3.0)
    assert float(rows["on_time"]["late_penalty"]) == 0.0
    page = (out / "feedback" / "late" / f"{TINY}.html").read_text()
    assert 'class="late-penalty">3' in page and "after the due date" in page
    with Gradebook(_db(out), course_id=COURSE_ID) as book:
        assert book.find_assignment(TINY).duedate == DUE
        assert book.find_submission(TINY, "late").late_submission_penalty == pytest.approx(3.0)


def test_unreadable_timestamp_is_named_and_graded_on_time(term):
    out, records, *_ = term
    assert "timestamp.txt is not a time" in records["bad_stamp"]["message"]
    assert records["bad_stamp"]["score"] == AUTO_FULL
    assert float({r["student_id"]: r for r in _rows(out / "grades.csv")}["bad_stamp"]["late_penalty"]) == 0.0


def test_manual_grades_survive_regrading_and_reach_feedback_and_exports(term, tmp_path):
    out, records, kwargs, config = term
    db = _db(out)
    with Gradebook(db, course_id=COURSE_ID) as book:  # what a grader enters in formgrader
        for student, score in (("on_time", 1.5), ("late", 2.0)):
            grade_row = book.find_grade("explain_scale", "Tiny", TINY, student)
            grade_row.manual_score = score
            grade_row.needs_manual_grade = False  # formgrader's GradeHandler clears it with a score
        book.find_grade("add_values", "Tiny", TINY, "on_time").extra_credit = 0.5
        book.find_comment("explain_scale", "Tiny", TINY, "on_time").manual_comment = "Say by how much."
        book.db.commit()
    grade(jobs=1, only="on_time", **kwargs)
    grade(jobs=2, **kwargs)
    assert _grade(db, "on_time", "explain_scale")[1:3] == (1.5, None)
    assert _grade(db, "on_time", "add_values")[2] == 0.5
    with Gradebook(db, course_id=COURSE_ID) as book:
        assert book.find_comment("explain_scale", "Tiny", TINY, "on_time").manual_comment == "Say by how much."

    late_config = load_config(config)
    regenerate(assignment=TINY, out_dir=out, late_config=late_config)
    page = (out / "feedback" / "on_time" / f"{TINY}.html").read_text()
    assert "Say by how much." in page and "1.5 / 2" in page
    # every answer is graded: the score line says so, instead of "points are graded by hand"
    assert "graded by hand: 1.5 / 2 (grading done)" in page and "not graded yet" not in page
    assert "<b>8 / 8</b>" in page  # 6 auto + 1.5 manual + 0.5 extra credit
    assert "SECRET_HIDDEN_ASSERTION" not in page
    rows = {r["student_id"]: r for r in _rows(out / "grades.csv")}
    # the late penalty is recomputed on the score with the manual points: 25 % x 2 days of 8
    expected = {"on_time": (1.5, 0.0, 8.0), "late": (2.0, 4.0, 4.0), "untouched": (0.0, 0.0, 0.0)}
    for student, (manual, penalty, total) in expected.items():
        assert (float(rows[student]["manual_score"]), float(rows[student]["late_penalty"]),
                float(rows[student]["total"])) == (manual, penalty, total), student

    class_csv, canvas = tmp_path / "class.csv", tmp_path / "canvas.csv"
    assert export(db_url=db, out_csv=class_csv, late_config=late_config) == len(records)
    exported = {r["student_id"]: r for r in _rows(class_csv)}
    for student, (manual, penalty, total) in expected.items():
        assert (float(exported[student]["manual_score"]), float(exported[student]["late_penalty"]),
                float(exported[student]["total"])) == (manual, penalty, total)
    assert export(db_url=db, out_csv=canvas, format="canvas", late_config=late_config) == len(records)
    with canvas.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", TINY]
    assert lines[1] == ["Points Possible", "", "", "", "", "8"]
    by_sis = {line[2]: float(line[5]) for line in lines[2:]}
    assert {s: by_sis[s] for s in expected} == {s: t for s, (_, _, t) in expected.items()}
    assert agreement_problems(out_dir=out, assignment=TINY, db_url=db, canvas_csv=canvas) == []
    # the check can fail: a stale feedback page (the penalty changed since) is named
    page = out / "feedback" / "late" / f"{TINY}.html"
    page.write_text(page.read_text().replace('class="late-penalty">4', 'class="late-penalty">3'))
    assert agreement_problems(out_dir=out, assignment=TINY, db_url=db, canvas_csv=canvas) == [
        "late: feedback late penalty 3 != 4"]


def test_feedback_before_manual_grading_says_it_is_pending(term):
    out, *_ = term
    page = (out / "feedback" / "bad_stamp" / f"{TINY}.html").read_text()  # a written answer nobody graded yet
    assert "2 more points are graded by hand, not graded yet" in page
    # the release stub of the answer scores 0 without a grader (nbgrader's rule): nothing is pending there
    assert "graded by hand: 0 / 2 (grading done)" in (out / "feedback" / "untouched" / f"{TINY}.html").read_text()


def test_summary_after_grade_shows_the_columns_of_grades_csv(term, capsys):
    from autograder.grade import summary_table
    from autograder.term import gradebook_totals

    out, records, *_ = term
    table = summary_table(sorted(records.values(), key=lambda r: r["student_id"]), 1.0,
                          gradebook_totals(_db(out), TINY))
    rows = {line.split()[0]: line for line in table.splitlines()[2:-2]}
    header = table.splitlines()[0]
    assert ["auto", "by", "hand", "late", "total"] == header.split()[1:6]
    assert "pending / 2" in rows["bad_stamp"]  # the written answer is not graded yet
    csv_rows = {r["student_id"]: r for r in _rows(out / "grades.csv")}
    for student, line in rows.items():  # the total column is grades.csv's
        row = csv_rows[student]
        assert f"{float(row['total']):g} / {float(row['total_max']):g}" in line, (student, line)
    assert float(csv_rows["late"]["late_penalty"]) > 0 and f"-{float(csv_rows['late']['late_penalty']):g}" in rows["late"]


def test_export_and_feedback_refuse_a_gradebook_that_is_not_there(term, tmp_path, capsys):
    out, *_ = term
    typo = f"sqlite:///{out / 'gradebok.db'}"
    assert cli_main(["export", "--db", typo, "--out", str(tmp_path / "class.csv")]) == 1
    assert "no gradebook at" in capsys.readouterr().err
    assert not (out / "gradebok.db").exists() and not (tmp_path / "class.csv").exists()
    assert cli_main(["feedback", TINY, "--out", str(out), "--db", typo]) == 1
    assert "no gradebook at" in capsys.readouterr().err
    assert not (out / "gradebok.db").exists()
    # a gradebook that exists but holds none of this assignment's grades is refused too
    assert cli_main(["feedback", TINY, "--out", str(out), "--db", _db(out).replace(TINY, TINY)]) == 0
    from autograder.preflight import GradebookMissing, require_gradebook

    with pytest.raises(GradebookMissing, match="no graded submissions of 'gan_basics'"):
        require_gradebook(_db(out), "gan_basics")
    require_gradebook(_db(out), TINY)  # the real one passes


def test_feedback_command_needs_graded_results(tmp_path, capsys):
    assert cli_main(["feedback", "gan_basics", "--out", str(tmp_path)]) == 1
    assert "grade it first" in capsys.readouterr().err


def test_percent_per_day_plugin_counts_started_days_after_the_grace_period():
    from autograder.late import PercentPerDay

    plugin = PercentPerDay(percent_per_day=10.0, grace_minutes=15.0)
    assert plugin.late_submission_penalty("s", 8.0, 10 * 60) == 0.0  # inside the grace period
    assert plugin.late_submission_penalty("s", 8.0, 16 * 60) == pytest.approx(0.8)  # one started day
    assert plugin.late_submission_penalty("s", 8.0, 86400 + 16 * 60) == pytest.approx(1.6)
    assert plugin.late_submission_penalty("s", 8.0, 30 * 86400) == pytest.approx(8.0)  # never more than the score
    assert plugin.late_submission_penalty("s", 0.0, 30 * 86400) == 0.0
