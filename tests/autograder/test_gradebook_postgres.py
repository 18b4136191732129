"""The gradebook on a real PostgreSQL server that the test starts: two grading runs at once, regrading."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.nbgrader_api import COURSE_ID
from conftest import TINY, TINY_NOTEBOOK, replace_solution, write_submission

def _pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _as_postgres(command: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as the `postgres` system user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing: .ci/run installs the `postgresql` package")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    # not under pytest's tmp folder: that one is private to root, and the server runs as `postgres`
    base = Path(tempfile.mkdtemp(prefix="gan-course-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                 f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow  # `make test` budget; .ci/run runs it after `make test`
def test_two_grading_runs_at_once_then_a_regrade(postgres_url, tiny_course, tmp_path):
    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    classes = {}
    for run in ("a", "b"):
        submitted = tmp_path / f"submitted_{run}"
        for i in range(2):
            write_submission(submitted, f"{run}{i}", nbformat.read(solution, as_version=4))
        write_submission(submitted, "shared", replace_solution(solution, "add", "def add(a, b):\n    return a - b"))
        classes[run] = submitted
    # Both runs grade their class into the same PostgreSQL gradebook at the same time.
    script = ("import sys; from pathlib import Path; from autograder.grade import grade, Limits; "
              "grade(assignment=sys.argv[1], submitted_dir=Path(sys.argv[2]), out_dir=Path(sys.argv[3]), "
              "jobs=1, db_url=sys.argv[4], source_dir=Path(sys.argv[5]), progress=False, "
              "limits=Limits(cell_timeout=20, submission_timeout=120))")
    runs = [subprocess.Popen([sys.executable, "-c", script, TINY, str(classes[run]), str(tmp_path / f"out_{run}"),
                              postgres_url, str(tiny_course / "source")], stderr=subprocess.PIPE, text=True)
            for run in classes]
    for process in runs:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err

    def totals():
        with Gradebook(postgres_url, course_id=COURSE_ID) as book:
            return {s.student.id: s.score for s in book.find_assignment(TINY).submissions}

    first = totals()
    assert first == {"a0": 6.0, "a1": 6.0, "b0": 6.0, "b1": 6.0, "shared": 3.0}
    # Regrading the same class changes nothing and adds no rows.
    subprocess.run([sys.executable, "-c", script, TINY, str(classes["a"]), str(tmp_path / "out_again"),
                    postgres_url, str(tiny_course / "source")], check=True, capture_output=True, timeout=300)
    assert totals() == first
    with Gradebook(postgres_url, course_id=COURSE_ID) as book:
        assert len(book.find_assignment(TINY).submissions) == 5


def test_a_registration_does_not_delete_a_submission_stored_meanwhile(postgres_url, tiny_course, monkeypatch):
    from test_gradebook import registration_racing_a_write

    with Gradebook(postgres_url, course_id=COURSE_ID) as book:
        for submission in list(book.find_assignment(TINY).submissions) if book.assignments else []:
            book.remove_submission(TINY, submission.student.id)
    assert registration_racing_a_write(postgres_url, tiny_course / "source", monkeypatch) == {"b0": 6.0}


def test_the_postgres_lock_excludes_another_process(postgres_url):
    from test_gradebook import lock_excludes_another_process

    lock_excludes_another_process(postgres_url)
