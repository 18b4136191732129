"""The course's late-work rule, as an nbgrader late-submission plugin (``c.AssignLatePenalties.plugin_class``).

nbgrader's ``AssignLatePenalties`` calls it per notebook with the notebook's score and how late the submission
was (``timestamp.txt`` against the assignment's due date, extensions included); it caps the penalty at the score.
"""
from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PercentPerDay(LateSubmissionPlugin):
    """A share of the score off per started day late, after a grace period."""

    percent_per_day = Float(10.0, help="Percent of the notebook's score taken off per started day late."
                            ).tag(config=True)
    grace_minutes = Float(15.0, help="Minutes after the due date that still count as on time (uploads are slow)."
                          ).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        late = total_seconds_late - 60.0 * self.grace_minutes
        if late <= 0 or not score:
            return 0.0
        days = math.ceil(late / 86400.0)
        return round(score * min(100.0, days * self.percent_per_day) / 100.0, 6)
