"""`autograder export`: the class's grades from the gradebook, after manual grading.

``csv`` (default): one row per student and assignment with the autograded and hand-graded points, extra
credit, the late penalty and the total (nbgrader's rule: max(0, score - penalty)).
``canvas``: Canvas's gradebook import file: Student, ID, SIS User ID, SIS Login ID, Section, then one column
per assignment holding the total, and a "Points Possible" row first. Our student id (nbgrader's) goes into
SIS User ID and SIS Login ID, which Canvas matches when the Canvas ID column is empty.
Late penalties are recomputed from the current scores first (nbgrader's AssignLatePenalties), so the export
agrees with `autograder feedback` and grades.csv.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

from nbgrader.api import Gradebook

from autograder import term
from autograder.nbgrader_api import COURSE_ID
from autograder.preflight import require_gradebook

EXPORT_COLUMNS = ["student_id", "assignment", "auto_score", "auto_max", "manual_score", "manual_max",
                  "extra_credit", "late_penalty", "total", "max_score", "timestamp", "seconds_late",
                  "needs_manual_grade"]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
FORMATS = ("csv", "canvas")


def class_totals(db_url: str, *, late_config=None) -> tuple[dict, dict]:
    """(assignment -> student -> Totals, student id -> display name) for every assignment in the gradebook."""
    with warnings.catch_warnings(), Gradebook(db_url, course_id=COURSE_ID) as book:
        warnings.simplefilter("ignore")
        names = [a.name for a in book.assignments]
        students = {s.id: ", ".join(p for p in (s.last_name, s.first_name) if p) or s.id for s in book.students}
    totals = {}
    for name in names:
        if late_config is not None:
            term.refresh_late_penalties(db_url, name, late_config)
        totals[name] = term.gradebook_totals(db_url, name)
    return totals, students


def export(*, db_url: str, out_csv: Path, format: str = "csv", late_config=None) -> int:
    """Write the file; returns the number of student rows. Refuses (``GradebookMissing``) a gradebook that does
    not exist or holds no graded submission, before writing anything: an empty file must never reach the LMS."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    require_gradebook(db_url)
    totals, students = class_totals(db_url, late_config=late_config)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as handle:
        if format == "canvas":
            return _write_canvas(handle, totals, students)
        writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        rows = 0
        for assignment in sorted(totals):
            for student in sorted(totals[assignment]):
                t = totals[assignment][student]
                writer.writerow({
                    "student_id": student, "assignment": assignment, "auto_score": t.auto_score,
                    "auto_max": t.auto_max, "manual_score": t.manual_score, "manual_max": t.manual_max,
                    "extra_credit": t.extra_credit, "late_penalty": t.late_penalty, "total": t.total,
                    "max_score": t.max_score, "timestamp": t.timestamp, "seconds_late": t.seconds_late,
                    "needs_manual_grade": t.needs_manual_grade,
                })
                rows += 1
        return rows


def _write_canvas(handle, totals: dict, students: dict) -> int:
    assignments = sorted(totals)
    writer = csv.writer(handle)
    writer.writerow(CANVAS_COLUMNS + assignments)
    possible = []
    for assignment in assignments:
        maxima = [t.max_score for t in totals[assignment].values()]
        possible.append(f"{max(maxima):g}" if maxima else "")
    writer.writerow(["Points Possible", "", "", "", ""] + possible)
    graded = sorted({s for per_student in totals.values() for s in per_student})
    for student in graded:
        scores = [f"{totals[a][student].total:g}" if student in totals[a] else "" for a in assignments]
        writer.writerow([students.get(student, student), "", student, student, ""] + scores)
    return len(graded)
