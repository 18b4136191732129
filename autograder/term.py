"""The instructor's term after `autograder grade`: nbgrader's ``autograded/`` folder for formgrader, due dates
and late penalties, and the per-student totals (auto, manual, extra credit, late penalty) that grades.csv,
the feedback pages and the exports all read from the gradebook, so they agree.

Where things live: ``autograded/<student>/<assignment>/<notebook>.ipynb`` under a course root (by default the
grading output folder OUT), next to the gradebook. ``autograder grade`` writes an ``nbgrader_config.py`` into
that root when it has none, so `jupyter lab` (or `jupyter server`) started there shows formgrader on it.
"""
from __future__ import annotations

import datetime
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets import Dict, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from autograder import untrusted
from autograder.inert import make_inert
from autograder.nbgrader_api import COURSE_ID

TIMESTAMP_FILE = "timestamp.txt"  # what `nbgrader collect` leaves in each submission
GENERATED_CONFIG_MARK = "# Written by `autograder grade`"
# formgrader's grading page needs MathJax 2 (its script calls MathJax.Hub) and asks a CDN for it; offline, Debian's
# libjs-mathjax serves instead when the server runs with --ServerApp.extra_static_paths=/usr/share/javascript.
LOCAL_MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")
LOCAL_MATHJAX_URL = "/static/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
FORMGRADER_TEMPLATES = Path(__file__).resolve().parent / "formgrader_templates"


def _mathjax_lines() -> list[str]:
    """Config lines that choose formgrader's MathJax when the server starts, not when grading wrote the file:
    Debian's copy (``LOCAL_MATHJAX``) if it is installed then, else the CDN with a message on the server's log
    saying what to install. So installing libjs-mathjax after grading needs a server restart, never a regrade.
    nbgrader's template hard-codes the CDN; ours (it extends nbgrader's) takes ``mathjax_url``. Only for the
    config of a grading output folder: `nbgrader generate_feedback` run there would take this template too."""
    static_root = LOCAL_MATHJAX.parent.parent
    return [
        "import os, sys  # noqa: E401",
        f"if os.path.isfile({str(LOCAL_MATHJAX)!r}):  # Debian's libjs-mathjax, checked at each server start",
        f"    # served when the server runs with --ServerApp.extra_static_paths={static_root}",
        f"    c.HTMLExporter.mathjax_url = {LOCAL_MATHJAX_URL!r}",
        "else:",
        "    print('nbgrader_config.py: no offline MathJax; formgrader\\'s grading page asks a CDN for it (raw TeX '",
        "          'offline): `sudo apt-get install libjs-mathjax`, then restart the server with '",
        f"          '--ServerApp.extra_static_paths={static_root} (no regrade needed)', file=sys.stderr)",
    ]


def formgrader_exporter_settings() -> dict:
    """``c.HTMLExporter`` settings that make formgrader's grading page clean what a student wrote
    (`autograder.inert`, layer 2): our template, which cleans every markdown cell (nbgrader's does not), the
    exporter's own ``sanitize_html`` for outputs (no JavaScript or widget output is emitted at all), and
    `autograder.inert.clean_html` as the ``clean_html`` filter both use. Written into every generated config,
    MathJax or not."""
    return {
        "template_name": "formgrade_offline",
        "extra_template_basedirs": [str(FORMGRADER_TEMPLATES), _nbgrader_templates()],
        "extra_template_paths": [str(Path(_nbgrader_templates()).parent)],
        "sanitize_html": True,
        "exclude_anchor_links": True,
        "filters": {"clean_html": "autograder.inert.clean_html"},
    }


def _nbgrader_templates() -> str:
    from nbgrader.server_extensions.formgrader import handlers

    return str(handlers.template_path)


class TermSettings(Configurable):
    """``c.Autograder.*`` options of the term (late work); the late penalty itself is nbgrader's plugin
    (``c.AssignLatePenalties.plugin_class``)."""

    due_dates = Dict(value_trait=Unicode(), default_value={},
                     help="Due date per assignment, e.g. {'gan_basics': '2026-10-05 23:59:00 UTC'} (nbgrader's "
                     "timestamp format). Written into the gradebook at grading; without an entry the gradebook's "
                     "own due date (`nbgrader db assignment add --duedate`, formgrader) applies.").tag(config=True)

    @classmethod
    def section_name(cls) -> str:
        return "Autograder"


def load_config(path: Path | None) -> Config:
    """The whole traitlets config of an nbgrader_config.py (empty when there is none)."""
    if path is None or not Path(path).is_file():
        return Config()
    return PyFileConfigLoader(Path(path).name, path=str(Path(path).parent)).load_config()


def term_settings(config: Config) -> TermSettings:
    section = dict(config.get("Autograder", {}))
    names = TermSettings.class_trait_names(config=True)
    return TermSettings(**{k: v for k, v in section.items() if k in names})


def _timestamp_bytes(folder: Path, trusted_root: Path | None) -> tuple[bytes | None, str]:
    """The student's ``timestamp.txt`` (a regular file, no link followed below ``trusted_root``, default the
    folder's parent; at most ``untrusted.TIMESTAMP_MAX_BYTES``) and a note naming why it was refused."""
    folder = Path(folder)
    root = Path(trusted_root) if trusted_root is not None else folder.parent
    relative = folder.relative_to(root) / TIMESTAMP_FILE
    try:
        return untrusted.read_bytes(root, relative.as_posix(), max_bytes=untrusted.TIMESTAMP_MAX_BYTES), ""
    except (FileNotFoundError, NotADirectoryError):
        return None, ""
    except untrusted.Refused as refusal:
        if not refusal.name.endswith(TIMESTAMP_FILE):  # the folder itself: its refusal is in the record already
            return None, ""
        return None, f"refused {TIMESTAMP_FILE}: {refusal.reason}: graded as on time"


def read_timestamp(folder: Path, *, trusted_root: Path | None = None) -> tuple[datetime.datetime | None, str]:
    """The submission time from ``timestamp.txt`` (nbgrader collect's format) and a note if it is unreadable
    or refused (``autograder.untrusted``; the note says what is wrong, never what the file says)."""
    from nbgrader.utils import parse_utc

    data, note = _timestamp_bytes(folder, trusted_root)
    if data is None:
        return None, note
    try:
        return parse_utc(data.decode("utf-8").strip()), ""
    except (ValueError, OverflowError, TypeError, UnicodeDecodeError):
        return None, (f"{TIMESTAMP_FILE} is not a time (nbgrader collect writes one like "
                      "2026-10-05 23:59:00.000000 UTC): graded as on time")


def set_due_date(db_url: str, assignment: str, due: str) -> None:
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    try:
        duedate = parse_utc(due)
    except ValueError as error:
        raise ValueError(f"c.Autograder.due_dates[{assignment!r}] = {due!r} is not a date: {error}") from None
    with Gradebook(db_url, course_id=COURSE_ID) as book:
        book.update_or_create_assignment(assignment, duedate=duedate)


def write_autograded(autograded_dir: Path, *, student: str, assignment: str, executed: dict,
                     submission_folder: Path, trusted_root: Path | None = None) -> list[Path]:
    """nbgrader's ``autograded/<student>/<assignment>/``: the executed notebooks (instructor-only: test cells
    keep their source, hidden tests included), made inert for the grader's browser (`autograder.inert`:
    only text and valid images from the student's kernel, sanitised student markdown), and the
    submission's ``timestamp.txt`` (a regular file only, read as ``read_timestamp`` reads it)."""
    autograded_dir = Path(autograded_dir)
    autograded_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(autograded_dir, 0o700)  # hidden test source: the instructor's eyes only
    folder = autograded_dir / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, notebook_json in executed.items():
        path = folder / name
        tmp = path.with_suffix(".ipynb.tmp")
        try:
            shown = make_inert(notebook_json)
        except Exception as error:  # a bug of ours: show nothing of this notebook rather than stop the class
            shown = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
                f"This notebook could not be made safe to show ({type(error).__name__}); grade it from "
                f"the submission itself.")])
        nbformat.write(shown, str(tmp))
        tmp.replace(path)
        written.append(path)
    stamp, _ = _timestamp_bytes(submission_folder, trusted_root)
    if stamp is not None:
        (folder / TIMESTAMP_FILE).write_text(stamp.decode("utf-8", errors="replace"), encoding="utf-8")
    return written


def write_formgrader_config(*, autograded_dir: Path, db_url: str, source_dir: Path,
                            submitted_dir: Path | None = None) -> Path | None:
    """Make ``autograded_dir``'s parent a course root formgrader can open (``nbgrader_config.py``).

    An nbgrader_config.py there that we did not write (the repository's own) is left alone; returns the path
    written, or None.
    """
    root = Path(autograded_dir).resolve().parent
    path = root / "nbgrader_config.py"
    if path.is_file() and not path.read_text().startswith(GENERATED_CONFIG_MARK):
        return None
    lines = [
        f"{GENERATED_CONFIG_MARK}: start `jupyter lab` here for nbgrader's formgrader on these grades.",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.CourseDirectory.db_url = {db_url!r}",
        f"c.CourseDirectory.autograded_directory = {Path(autograded_dir).name!r}",
        f"c.CourseDirectory.source_directory = {os.path.relpath(Path(source_dir).resolve(), root)!r}",
    ]
    lines.append("# the grading page cleans what students wrote (autograder.inert): keep these settings")
    lines += [f"c.HTMLExporter.{name} = {value!r}" for name, value in formgrader_exporter_settings().items()]
    lines += _mathjax_lines()
    if submitted_dir is not None:
        lines.append(f"c.CourseDirectory.submitted_directory = "
                     f"{os.path.relpath(Path(submitted_dir).resolve(), root)!r}")
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)  # the gradebook URL may carry a database password
    return path


@dataclass
class CellGrade:
    """One grade cell of a submission as the gradebook has it now."""

    grade_id: str
    notebook: str
    manual: bool  # a written answer (or solution code) graded by hand
    points: float  # the grader's score if entered, else the auto score (0 when none)
    max_points: float
    extra_credit: float
    needs_manual_grade: bool
    comment: str = ""  # the grader's comment (formgrader) or nbgrader's automatic one


@dataclass
class Totals:
    """A student's points on one assignment; total = max(0, auto + manual + extra credit - late penalty),
    nbgrader's own export rule."""

    student_id: str
    assignment: str
    auto_score: float = 0.0
    auto_max: float = 0.0
    manual_score: float = 0.0
    manual_max: float = 0.0
    extra_credit: float = 0.0
    late_penalty: float = 0.0
    seconds_late: float = 0.0
    timestamp: str = ""
    duedate: str = ""
    needs_manual_grade: bool = False
    cells: list[CellGrade] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return self.auto_max + self.manual_max

    @property
    def total(self) -> float:
        return max(0.0, self.auto_score + self.manual_score + self.extra_credit - self.late_penalty)


def gradebook_totals(db_url: str, assignment: str) -> dict[str, Totals]:
    """Every submission of ``assignment`` in the gradebook, by student id."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with warnings.catch_warnings(), Gradebook(db_url, course_id=COURSE_ID) as book:
        warnings.simplefilter("ignore")
        try:
            record = book.find_assignment(assignment)
        except MissingEntry:
            return {}
        for submission in record.submissions:
            totals = Totals(student_id=submission.student.id, assignment=assignment,
                            late_penalty=float(submission.late_submission_penalty or 0.0),
                            seconds_late=float(submission.total_seconds_late),
                            timestamp=str(submission.timestamp or ""),
                            duedate=str(submission.duedate or ""))
            for notebook in submission.notebooks:
                manual_names = {cell.name for cell in notebook.notebook.solution_cells}
                comments = {}
                for comment in notebook.comments:
                    text = comment.manual_comment if comment.manual_comment is not None else comment.auto_comment
                    comments[comment.cell.name] = text or ""
                for grade in notebook.grades:
                    cell = grade.cell
                    points = grade.manual_score if grade.manual_score is not None else (grade.auto_score or 0.0)
                    entry = CellGrade(grade_id=cell.name, notebook=notebook.notebook.name,
                                      manual=cell.name in manual_names, points=float(points),
                                      max_points=float(cell.max_score), extra_credit=float(grade.extra_credit or 0),
                                      needs_manual_grade=bool(grade.needs_manual_grade),
                                      comment=comments.get(cell.name, ""))
                    totals.cells.append(entry)
                    if entry.manual:
                        totals.manual_score += entry.points
                        totals.manual_max += entry.max_points
                    else:
                        totals.auto_score += entry.points
                        totals.auto_max += entry.max_points
                    totals.extra_credit += entry.extra_credit
                    totals.needs_manual_grade |= entry.needs_manual_grade
            totals.cells.sort(key=lambda c: (c.notebook, c.grade_id))
            found[totals.student_id] = totals
    return found


def refresh_late_penalties(db_url: str, assignment: str, late_config: Config) -> None:
    """Recompute every submission's late penalty from its current score (after manual grading)."""
    # Deferred: nbgrader's gradebook and SQLAlchemy, which reading a timestamp or the config (while grading) does
    # not need.
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.gradebook import assign_late_penalties

    with warnings.catch_warnings(), Gradebook(db_url, course_id=COURSE_ID) as book:
        warnings.simplefilter("ignore")
        try:
            submissions = [(s.student.id, [n.notebook.name for n in s.notebooks])
                           for s in book.find_assignment(assignment).submissions]
        except MissingEntry:
            return
    for student, notebooks in submissions:
        assign_late_penalties(db_url, assignment, student, notebooks, late_config)


def agreement_problems(*, out_dir: Path, assignment: str, db_url: str, canvas_csv: Path) -> list[str]:
    """Where the gradebook, ``OUT/grades.csv``, a Canvas export and the feedback pages disagree on a student's
    manual points, late penalty or total (an empty list when they all agree)."""
    import csv
    import re

    problems = []
    totals = gradebook_totals(db_url, assignment)
    with open(Path(out_dir) / "grades.csv", newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle) if r["assignment"] == assignment}
    with open(canvas_csv, newline="") as handle:
        lines = list(csv.reader(handle))
    column = lines[0].index(assignment) if lines and assignment in lines[0] else None
    canvas = {line[2]: line[column] for line in lines[2:]} if column is not None else {}
    for student, t in sorted(totals.items()):
        row = rows.get(student)
        if row is None:
            problems.append(f"{student}: not in grades.csv")
        else:
            for name, want in (("manual_score", t.manual_score), ("late_penalty", t.late_penalty), ("total", t.total)):
                if abs(float(row[name] or 0) - want) > 1e-9:
                    problems.append(f"{student}: grades.csv {name} {row[name]} != gradebook {want:g}")
        if not canvas.get(student) or abs(float(canvas[student]) - t.total) > 1e-9:
            problems.append(f"{student}: Canvas total {canvas.get(student)} != gradebook {t.total:g}")
        page = Path(out_dir) / "feedback" / student / f"{assignment}.html"
        text = page.read_text() if page.is_file() else ""
        found = re.search(r'class="total"><b>([-0-9.e]+) /', text)
        penalty = re.search(r'class="late-penalty">([-0-9.e]+)', text)
        if not found or abs(float(found.group(1)) - t.total) > 1e-9:
            problems.append(f"{student}: feedback total {found.group(1) if found else 'missing'} != {t.total:g}")
        if not penalty or abs(float(penalty.group(1)) - t.late_penalty) > 1e-9:
            problems.append(f"{student}: feedback late penalty {penalty.group(1) if penalty else 'missing'} "
                            f"!= {t.late_penalty:g}")
    return problems
