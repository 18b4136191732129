"""`nbgrader zip_collect` for a Canvas "Download Submissions" zip: the file names Canvas gives, and lateness.

Canvas names each file ``<sortable name>_[LATE_]<user id>_<submission id>_<file name>[-<n>].<ext>`` (the
``-<n>`` when a resubmission kept the name). nbgrader's ``FileNameCollectorPlugin`` needs a ``named_regexp``,
matched against the file's whole path, that yields ``student_id`` and ``file_id``; ``CanvasCollector`` brings
one (student id: Canvas's numeric user id, the one stable and unique part of the name). Must hold: every
notebook of such a download lands in ``submitted/<user id>/<assignment>/<release name>.ipynb``; a file that is
not in Canvas's pattern is skipped with a warning naming it.

Lateness: the download holds no submission time, only Canvas's ``LATE`` mark. A file so marked is collected
and named in a warning that says what to do: write the time Canvas shows into
``submitted/<user id>/<assignment>/timestamp.txt`` before grading (the late penalty then follows
``c.Autograder`` settings), or leave the penalty to Canvas's own late policy. Without a ``timestamp.txt`` a
submission is graded as on time.
"""
from __future__ import annotations

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Unicode

CANVAS_FILE_NAME = (r"^(?:.*/)?(?P<canvas_name>[^/_]+)_(?P<late>LATE_)?(?P<student_id>\d+)_(?P<submission_id>\d+)_"
                    r"(?P<file_id>[^/]+?)(?:-\d+)?(?P<extension>\.[^./]+)$")


class CanvasCollector(FileNameCollectorPlugin):
    """``nbgrader zip_collect A --collector=autograder.canvas_collect.CanvasCollector``."""

    named_regexp = Unicode(
        CANVAS_FILE_NAME,
        help="Canvas's submission file names (see the module docstring); the user id is the student id.",
    ).tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        info = super().collect(submitted_file)
        if info and info.get("late"):
            self.log.warning(
                "Canvas marks student %s (%s) LATE, but its download holds no submission time: write that time "
                "into submitted/%s/<assignment>/timestamp.txt before grading, or apply the late policy in Canvas "
                "(without the file the submission is graded as on time)",
                info["student_id"], info["canvas_name"], info["student_id"])
        return info
