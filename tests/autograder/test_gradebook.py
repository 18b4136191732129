"""The gradebook lock: a registration by one grading run never deletes what another run stored meanwhile."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

from nbgrader.api import Gradebook

from autograder import gradebook
from autograder.nbgrader_api import COURSE_ID
from conftest import TINY, TINY_NOTEBOOK

# What a thread blocked on the lock gets to do meanwhile if the lock does not hold it.
RACE_WINDOW = 0.5


def full_marks(student: str) -> dict:
    checks = [{"notebook": TINY_NOTEBOOK, "grade_id": grade_id, "score": points}
              for grade_id, points in (("add_values", 1.0), ("add_floats_hidden", 2.0), ("scale_values", 3.0))]
    return {"student_id": student, "assignment": TINY, "status": "graded", "checks": checks}


def registration_racing_a_write(db_url: str, source_dir, monkeypatch) -> dict:
    """Run A registers again: nbgrader's SaveCells, seeing no submissions, deletes and re-adds the notebook
    (each step its own commit), then adds its grade cells. Run B records a student while A pauses before the
    first grade cell: without the lock its submission gets no grade rows, so its scores go nowhere.
    Returns the totals in the gradebook."""
    gradebook.Recorder(db_url=db_url, assignment=TINY, source_dir=source_dir)
    paused, resume = threading.Event(), threading.Event()
    unpatched = Gradebook.update_or_create_grade_cell

    def grade_cell_after_a_pause(self, *args, **kwargs):
        if not paused.is_set():
            paused.set()
            resume.wait(timeout=30)
        return unpatched(self, *args, **kwargs)

    monkeypatch.setattr(Gradebook, "update_or_create_grade_cell", grade_cell_after_a_pause)
    errors = []

    def run(action):
        try:
            action()
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    register = threading.Thread(target=run, args=(
        lambda: gradebook.Recorder(db_url=db_url, assignment=TINY, source_dir=source_dir),))
    register.start()
    assert paused.wait(timeout=60), "the registration never reached its grade cells"
    writer = gradebook.Recorder.__new__(gradebook.Recorder)
    writer.db_url, writer.assignment = db_url, TINY
    write = threading.Thread(target=run, args=(lambda: writer.record(full_marks("b0")),))
    write.start()
    write.join(timeout=RACE_WINDOW)
    resume.set()
    register.join(timeout=60)
    write.join(timeout=60)
    assert not errors, errors
    with Gradebook(db_url, course_id=COURSE_ID) as book:
        return {s.student.id: s.score for s in book.find_assignment(TINY).submissions}


def test_a_registration_does_not_delete_a_submission_stored_meanwhile_sqlite(tiny_course, tmp_path, monkeypatch):
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert registration_racing_a_write(db_url, tiny_course / "source", monkeypatch) == {"b0": 6.0}


HOLDER = """
import sys
from autograder.gradebook import gradebook_lock
with gradebook_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def lock_excludes_another_process(db_url: str) -> None:
    """Another process holds the lock: this one waits for it, and gets it once that one lets go."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        acquired = threading.Event()

        def take():
            with gradebook.gradebook_lock(db_url):
                acquired.set()

        taker = threading.Thread(target=take, daemon=True)
        taker.start()
        time.sleep(RACE_WINDOW)
        assert not acquired.is_set(), "the lock was taken while another process held it"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert acquired.wait(timeout=30), "the lock was never released"
    finally:
        holder.kill()
        holder.wait()


def test_the_sqlite_lock_excludes_another_process(tmp_path):
    lock_excludes_another_process(f"sqlite:///{tmp_path / 'gradebook.db'}")


def test_a_database_without_a_lock_still_lets_writes_through():
    with gradebook.gradebook_lock("sqlite://"):  # in memory: nothing to share, nothing to lock
        pass
