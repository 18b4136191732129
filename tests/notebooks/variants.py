"""What the variant tests of every assignment share: rewrite solution bodies, grade, read what was lost."""
from __future__ import annotations

import html
from pathlib import Path

import nbformat

from autograder.grade import Limits, grade
from autograder.notebook import grade_id
from autograder.records import GRADED_STATUSES

# Generous limits: CI machines are shared; one submission grades in well under a minute.
LIMITS = Limits(cell_timeout=300, submission_timeout=1500, memory_mb=0)


def with_bodies(notebook: Path, bodies: dict[str, str]) -> nbformat.NotebookNode:
    """The source notebook with the solution bodies of some cells replaced (header and docstring kept)."""
    nb = nbformat.read(notebook, as_version=4)
    seen = set()
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in bodies:
            header = cell.source.split("### BEGIN SOLUTION")[0].rstrip() + "\n"
            cell.source = header + "".join(f"    {line}\n" for line in bodies[gid].strip("\n").splitlines())
            seen.add(gid)
    assert seen == set(bodies), f"no solution cells {set(bodies) - seen} in {Path(notebook).name}"
    return nb


def bundle_bodies(wrong: dict, members) -> dict[str, str]:
    """The solution bodies of several wrong variants (``wrong[name] = (bodies, checks)``) graded as one
    submission; no two members may rewrite the same function."""
    bodies: dict[str, str] = {}
    for member in members:
        clash = set(bodies) & set(wrong[member][0])
        assert not clash, f"{member} rewrites {clash} again"
        bodies.update(wrong[member][0])
    return bodies


def grade_submissions(tmp_path: Path, assignment: str, notebook: Path,
                      submissions: dict[str, nbformat.NotebookNode], feedback: bool = False) -> dict[str, dict]:
    """Grade each ``{student: notebook}`` through the real grader; ``{student: record}``."""
    for student, nb in submissions.items():
        folder = tmp_path / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / Path(notebook).name)
    records = grade(assignment=assignment, submitted_dir=tmp_path / "submitted", out_dir=tmp_path / "out",
                    jobs=2, limits=LIMITS, progress=False, feedback=feedback)
    return {r["student_id"]: r for r in records}


def lost_checks(record) -> set[str]:
    """The checks a graded record failed; a record the grader could not grade fails the test, naming why
    (its empty list of checks would otherwise read as "lost nothing")."""
    assert record["status"] in GRADED_STATUSES and record["checks"], (record["status"], record["message"])
    return {c["grade_id"] for c in record["checks"] if not c["passed"]}


def hidden_source_lines(notebook: Path) -> list[str]:
    """Every line between the hidden-tests markers of a source notebook (every such block of every cell)."""
    lines = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        for block in cell.source.split("### BEGIN HIDDEN TESTS")[1:]:
            lines += block.split("### END HIDDEN TESTS")[0].splitlines()
    return lines


def assert_no_hidden_line_in_feedback(out_dir: Path, assignment: str, notebook: Path, students, *,
                                      at_least: int) -> None:
    """No line of hidden test code (instructor notes included) reaches any student's feedback page, even where
    hidden checks failed; ``at_least`` long hidden lines must exist, so the search is not vacuous."""
    hidden = {html.escape(line.strip()) for line in hidden_source_lines(notebook) if len(line.strip()) > 25}
    assert len(hidden) > at_least
    for student in students:
        page = (Path(out_dir) / "feedback" / student / f"{assignment}.html").read_text()
        assert not [line for line in hidden if line in page], student
