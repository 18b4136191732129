"""What a command checks before it imports anything heavy, so that a mistyped path is reported at once.

Must hold: this module imports only the standard library and SQLAlchemy (never nbgrader, nbformat, nbconvert,
jupyter or TensorFlow, each of which costs seconds before the first line of work); every check raises a
``FileNotFoundError`` whose message names what is missing and the command that makes it, and creates nothing
(opening a mistyped SQLite path with nbgrader would create an empty gradebook and report "0 students" as if
that were the class). The verbs call these checks themselves, so a caller of the Python functions gets the same
errors; the CLI calls them before importing the verb's module.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool


class GradebookMissing(FileNotFoundError):
    """A gradebook URL that names no gradebook, or one that holds no grades of what was asked for."""


def default_db_url(out_dir: Path) -> str:
    """The gradebook `autograder grade --out OUT` writes when no --db is given."""
    return f"sqlite:///{(Path(out_dir) / 'gradebook.db').resolve()}"


def require_submitted_folder(submitted_dir: Path) -> Path:
    submitted_dir = Path(submitted_dir)
    if not submitted_dir.is_dir():
        raise FileNotFoundError(f"submitted folder {submitted_dir} does not exist")
    return submitted_dir


def require_results(out_dir: Path, assignment: str) -> list[Path]:
    """The result records of ``assignment`` that `autograder grade --out OUT` wrote (at least one)."""
    results = sorted((Path(out_dir) / "results").glob(f"*/{assignment}.json"))
    if not results:
        raise FileNotFoundError(f"no results of {assignment!r} under {Path(out_dir) / 'results'}: grade it first")
    return results


def require_gradebook(db_url: str, assignment: str | None = None) -> None:
    """Refuse, naming the fix, a gradebook that does not exist or holds no graded submission (of ``assignment``,
    when given); never creates one. Commands that read grades call this first."""
    url = make_url(db_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise GradebookMissing(f"no gradebook at {shown}: check the path (`autograder grade A SUBMITTED --out "
                                   "OUT` writes sqlite:///OUT/gradebook.db)")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if "submitted_assignment" not in inspect(connection).get_table_names():
                raise GradebookMissing(f"{shown} is not an nbgrader gradebook (no submitted_assignment table)")
            query = "SELECT count(*) FROM submitted_assignment"
            if assignment is not None:
                query += (" JOIN assignment ON submitted_assignment.assignment_id = assignment.id"
                          " WHERE assignment.name = :name")
            count = connection.execute(text(query), {"name": assignment}).scalar()
    except DBAPIError as error:
        raise GradebookMissing(f"cannot open the gradebook {shown}: {str(error.orig).strip()[:200]}") from None
    finally:
        engine.dispose()
    if not count:
        what = f"of {assignment!r}" if assignment is not None else "at all"
        raise GradebookMissing(f"the gradebook {shown} holds no graded submissions {what}: grade first "
                               "(`autograder grade`), or check --db")
