"""nbgrader configuration for gan-course: plain `nbgrader` commands work from the repository root."""
import os
import sys

c = get_config()  # noqa: F821 (injected by traitlets)

c.CourseDirectory.course_id = "gan-course"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# nbgrader creates a new gradebook by running `alembic` from PATH; make the venv's bin visible.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# Grading limits read by `autograder grade` (its flags override them).
c.Autograder.cell_timeout = 120  # seconds one cell may run
c.Autograder.submission_timeout = 1200  # seconds one whole submission may run
c.Autograder.memory_mb = 8192  # address-space cap of one grading worker and its kernel
# Grading inputs drawn per submission (autograder/inputs.py): the secret that seeds them (made on first use, mode
# 0600; back it up, a regrade draws the same inputs only with it) and the cache of drawn answers. Defaults shown;
# both must stay outside this repository.
# c.Autograder.grading_secret = "~/.config/gan-course/grading-secret"
# c.Autograder.answers_cache = "~/.cache/gan-course/grading-answers"
c.ExecutePreprocessor.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Late work (`autograder grade`, and plain `nbgrader autograde` alike): nbgrader's AssignLatePenalties compares
# each submission's timestamp.txt with the due date and asks this plugin for the penalty.
c.AssignLatePenalties.plugin_class = "autograder.late.PercentPerDay"
c.PercentPerDay.percent_per_day = 10.0
c.PercentPerDay.grace_minutes = 15.0
# Due dates, written into the gradebook at grading (else the gradebook's own: `nbgrader db assignment add
# NAME --duedate=...` or formgrader's "Manage Assignments" page), in nbgrader's timestamp format.
c.Autograder.due_dates = {}  # e.g. {"gan_basics": "2026-10-05 23:59:00 UTC"}
