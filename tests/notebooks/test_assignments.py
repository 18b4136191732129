"""Every assignment: solutions earn full marks, stubs earn none, committed answers and release are current."""
from __future__ import annotations

import pytest

from autograder.answers import reference_names, write_answers
from autograder.grade import Limits
from autograder.paths import assignments
from autograder.release import release
from autograder.validate import validate

pytestmark = pytest.mark.notebook
ASSIGNMENTS = assignments()
# Generous limits: CI machines are shared; the notebooks themselves run in well under a minute.
LIMITS = Limits(cell_timeout=300, submission_timeout=1500, memory_mb=0)


def test_every_assignment_has_an_answer_reference():
    assert set(ASSIGNMENTS) <= set(reference_names())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_answers_match_the_reference(assignment):
    assert write_answers(assignments=[assignment], check=True) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_matches_regeneration(assignment):
    assert release(assignments=[assignment], check=True) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate(assignment):
    ok, report = validate(assignment=assignment, limits=LIMITS)
    print(report)
    assert ok, report
