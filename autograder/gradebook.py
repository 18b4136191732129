"""Recording results in nbgrader's gradebook (SQLite by default, PostgreSQL or any URL nbgrader supports).

Only the grading parent writes, one record at a time. Two grading runs against the same database (two
instructors, or a regrade while a batch runs) take turns through ``gradebook_lock``: nbgrader's
registration (``SaveCells``) deletes and re-adds a notebook it saw without submissions, then adds its grade
cells, each step its own commit, so a submission another run stored in between would get no grade rows (and
its scores nowhere). A write that still collides on a new row is retried.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import time
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbgrader import utils as nbgrader_utils
from nbgrader.api import Gradebook, InvalidEntry, MissingEntry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SAWarning
from sqlalchemy.pool import NullPool
from traitlets.config import Config

from autograder.nbgrader_api import COURSE_ID, generate_assignment
from autograder.paths import SOURCE_DIR

ATTEMPTS = 5


@contextmanager
def gradebook_lock(db_url: str):
    """Hold the gradebook for one registration or one student's write, across processes and threads.

    PostgreSQL: a session-level advisory lock keyed on the course. SQLite: ``flock`` on the folder holding
    the database file (SQLite's own locks are POSIX record locks, which ``flock`` leaves alone, and the
    folder is there before nbgrader creates the file). Other databases: no lock; the retries remain.
    nbgrader's own commands do not take this lock: do not run ``nbgrader generate_assignment`` on the same
    gradebook while a grading run writes.
    """
    url = make_url(db_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        key = zlib.crc32(f"gan-course gradebook {COURSE_ID}".encode())
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            engine.dispose()
    elif backend == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = os.open(Path(url.database).resolve().parent, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            yield
        finally:
            os.close(folder)  # closing releases the flock
    else:
        yield


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
            with tempfile.TemporaryDirectory(prefix="gradebook-release-") as tmp, gradebook_lock(db_url):
                generate_assignment(assignment=assignment, release_dir=Path(tmp), db_url=db_url,
                                    source_dir=source_dir)

        _retry(register, f"registering {assignment}")

    def record(self, result: dict, *, executed: dict | None = None, timestamp=None,
               late_config: Config | None = None) -> None:
        """Store one student's auto scores; re-recording the same student updates the same rows.

        Inputs:
        - result: the result record (its checks carry the auto scores).
        - executed: notebook file name -> the executed notebook; its manually graded cells get nbgrader's own
          verdict (``nbgrader.utils.determine_grade``: 0 when the answer is the unchanged release stub, else
          ``needs_manual_grade``).
        - timestamp: the submission time (``timestamp.txt``), a datetime or nbgrader's string; None keeps the old.
        - late_config: traitlets config for nbgrader's ``AssignLatePenalties`` (``plugin_class`` and the
          plugin's options), run on every notebook after the scores are stored.

        Never touches what a grader entered in formgrader: manual scores, extra credit, comments.
        """
        _retry(lambda: self._write(result, executed or {}, timestamp), f"recording {result['student_id']}")
        if "checks" in result:
            notebooks = sorted({Path(c["notebook"]).stem for c in result["checks"]} |
                               {Path(name).stem for name in (executed or {})})
            assign_late_penalties(self.db_url, self.assignment, result["student_id"], notebooks, late_config)

    def _write(self, result: dict, executed: dict, timestamp) -> None:
        with gradebook_lock(self.db_url), warnings.catch_warnings(), \
                Gradebook(self.db_url, course_id=COURSE_ID) as book:
            # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless there
            warnings.simplefilter("ignore", category=SAWarning)
            book.update_or_create_student(result["student_id"])
            extra = {"timestamp": timestamp} if timestamp is not None else {}
            book.update_or_create_submission(self.assignment, result["student_id"], **extra)
            for check in result["checks"]:
                notebook = Path(check["notebook"]).stem
                try:
                    grade = book.find_grade(check["grade_id"], notebook, self.assignment, result["student_id"])
                except MissingEntry:
                    continue  # a check the gradebook does not know (source changed since): the JSON has it
                grade.auto_score = check["score"]
                # nbgrader's rule (SaveAutoGrades): a score a grader overrode by hand is flagged for review again
                grade.needs_manual_grade = grade.manual_score is not None
            for name, notebook_json in executed.items():
                self._manual_cells(book, result["student_id"], Path(name).stem, notebook_json)
            book.db.commit()

    def _manual_cells(self, book: Gradebook, student: str, notebook: str, notebook_json: dict) -> None:
        nb = nbformat.from_dict(notebook_json)
        for cell in nb.cells:
            if not (nbgrader_utils.is_grade(cell) and nbgrader_utils.is_solution(cell)):
                continue
            name = cell.metadata["nbgrader"]["grade_id"]
            try:
                grade = book.find_grade(name, notebook, self.assignment, student)
                source_cell = book.find_source_cell(name, notebook, self.assignment)
            except MissingEntry:
                continue
            # determine_grade compares the answer with the released cell's checksum (kept in the gradebook)
            cell.metadata["nbgrader"]["checksum"] = source_cell.checksum
            grade.auto_score, _ = nbgrader_utils.determine_grade(cell)
            if grade.manual_score is None:  # a grader's resolved verdict stands across regrades
                grade.needs_manual_grade = grade.auto_score is None


def assign_late_penalties(db_url: str, assignment: str, student: str, notebooks: list[str],
                          late_config: Config | None) -> None:
    """Run nbgrader's ``AssignLatePenalties`` on each notebook of one submission (its plugin decides)."""
    from nbgrader.preprocessors import AssignLatePenalties

    for notebook in notebooks:
        resources = {"nbgrader": {"notebook": notebook, "assignment": assignment, "student": student,
                                  "db_url": db_url}}
        preprocessor = AssignLatePenalties(config=late_config or Config())

        def run():
            with gradebook_lock(db_url), warnings.catch_warnings():
                warnings.simplefilter("ignore", category=SAWarning)
                preprocessor.preprocess(nbformat.v4.new_notebook(), resources)

        try:
            _retry(run, f"late penalty of {student}/{notebook}")
        except MissingEntry:
            continue  # a notebook the gradebook does not know (source changed since)
