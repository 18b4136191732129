"""nbgrader's own machinery, configured for this repository."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets.config import Config

from autograder.paths import SOURCE_DIR

COURSE_ID = "gan-course"


def ensure_alembic_on_path() -> None:
    """nbgrader runs `alembic` from PATH for a new gradebook: make the running venv's bin visible."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def generate_assignment(*, assignment: str, release_dir: Path, db_url: str, source_dir: Path = SOURCE_DIR) -> None:
    """Run nbgrader's generate_assignment: student version into ``release_dir``, cells into the gradebook."""
    from nbgrader.apps import NbGraderAPI

    ensure_alembic_on_path()
    config = Config()
    source_dir = Path(source_dir).resolve()
    config.CourseDirectory.root = str(source_dir.parent)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.source_directory = source_dir.name
    config.CourseDirectory.release_directory = str(release_dir)
    config.CourseDirectory.db_url = db_url
    config.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    api = NbGraderAPI(config=config)
    outcome = api.generate_assignment(assignment, force=True, create=True)
    if not outcome.get("success"):
        detail = "\n".join(part for part in (outcome.get("log"), outcome.get("error")) if part) or "no detail"
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{detail[-4000:]}")
