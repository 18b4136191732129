"""Recording results in nbgrader's gradebook (SQLite by default, PostgreSQL or any URL nbgrader supports).

Only the grading parent writes, one record at a time. Two grading runs against the same database (two
instructors, or a regrade while a batch runs) can still collide on a new row; such a write is retried.
"""
from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, InvalidEntry, MissingEntry
from sqlalchemy.exc import DBAPIError, SAWarning

from autograder.nbgrader_api import COURSE_ID, generate_assignment
from autograder.paths import SOURCE_DIR

ATTEMPTS = 5


def _retry(action, what: str):
    """Run ``action`` again after a write conflict or a locked database; give up after ATTEMPTS."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return action()
        except (InvalidEntry, DBAPIError, RuntimeError) as error:
            if attempt == ATTEMPTS:
                raise RuntimeError(f"gradebook: {what} failed {ATTEMPTS} times: {error}") from error
            time.sleep(0.2 * attempt)


class Recorder:
    """Writes result records into the gradebook."""

    def __init__(self, *, db_url: str, assignment: str, source_dir: Path = SOURCE_DIR):
        self.db_url = db_url
        self.assignment = assignment

        def register():
            # nbgrader's own generate_assignment registers the assignment, notebooks and grade cells.
            with tempfile.TemporaryDirectory(prefix="gradebook-release-") as tmp:
                generate_assignment(assignment=assignment, release_dir=Path(tmp), db_url=db_url,
                                    source_dir=source_dir)

        _retry(register, f"registering {assignment}")

    def record(self, result: dict) -> None:
        """Store one student's auto scores; re-recording the same student updates the same rows."""
        _retry(lambda: self._write(result), f"recording {result['student_id']}")

    def _write(self, result: dict) -> None:
        with warnings.catch_warnings(), Gradebook(self.db_url, course_id=COURSE_ID) as book:
            # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless there
            warnings.simplefilter("ignore", category=SAWarning)
            book.update_or_create_student(result["student_id"])
            book.update_or_create_submission(self.assignment, result["student_id"])
            for check in result["checks"]:
                notebook = Path(check["notebook"]).stem
                try:
                    grade = book.find_grade(check["grade_id"], notebook, self.assignment, result["student_id"])
                except MissingEntry:
                    continue  # a check the gradebook does not know (source changed since): the JSON has it
                grade.auto_score = check["score"]
                grade.needs_manual_grade = False
            book.db.commit()
