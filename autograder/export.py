"""`autograder export`: the class CSV from the gradebook (one row per student and assignment)."""
from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.nbgrader_api import COURSE_ID

EXPORT_COLUMNS = ["student_id", "assignment", "score", "max_score"]


def export(*, db_url: str, out_csv: Path) -> int:
    """Write the CSV; returns the number of rows."""
    rows = []
    with Gradebook(db_url, course_id=COURSE_ID) as book:
        for assignment in book.assignments:
            for submission in assignment.submissions:
                rows.append({"student_id": submission.student.id, "assignment": assignment.name,
                             "score": submission.score, "max_score": submission.max_score})
    rows.sort(key=lambda r: (r["assignment"], r["student_id"]))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
