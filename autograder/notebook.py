"""Reading nbgrader cell metadata and rebuilding a submission from its source notebook.

The grader never trusts a submission's locked cells: every cell that has an nbgrader ``grade_id`` in the
source notebook is taken from ``source/`` (tests, hidden tests, setup and driver cells), except solution
cells, which come from the student. Cells the student added (no ``grade_id``) are kept after the graded
cell they followed, so helper code a student wrote still runs.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
MISSING_SOLUTION = "this solution cell is missing from the submission"  # the stub a missing answer is graded as


class InvalidNotebook(Exception):
    """A submitted file that is not a readable Jupyter notebook."""


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_autograded_test(cell) -> bool:
    """A code cell worth points that the autograder scores (not a manually graded answer)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_manual_grade(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and bool(meta.get("solution"))


def is_hidden(cell) -> bool:
    return HIDDEN_BEGIN in "".join(cell.get("source", ""))


def points(cell) -> float:
    return float(nbgrader_meta(cell).get("points", 0))


def read_notebook(path: Path):
    """Read a notebook of any nbformat 4 minor version (or older, upgraded), or raise InvalidNotebook.

    For the instructor's files; a student's notebook is read by ``autograder.untrusted.read_notebook``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidNotebook(f"{path.name}: cannot be read ({error})") from None
    return parse_notebook(text, path.name)[0]


def parse_notebook(text: str, name: str):
    """The notebook in ``text`` (upgraded to nbformat 4) and how many lone surrogates in it were replaced by
    U+FFFD (``"\\ud800"`` is valid JSON, but no file or database can take the string it makes); raises
    InvalidNotebook naming what is wrong."""
    if not text.strip():
        raise InvalidNotebook(f"{name}: the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"{name}: not valid JSON (line {error.lineno}: {error.msg})") from None
    except RecursionError:
        raise InvalidNotebook(f"{name}: nested too deeply to be a notebook (more than {MAX_JSON_DEPTH} levels)"
                              ) from None
    if json_depth(data) > MAX_JSON_DEPTH:  # every later step (validation, copies, writing) recurses too
        raise InvalidNotebook(f"{name}: nested too deeply to be a notebook (more than {MAX_JSON_DEPTH} levels)")
    replaced = 0
    if "\\u" in text or _LONE_SURROGATE.search(text):  # a JSON escape, or the text itself, can carry one
        data, replaced = replace_lone_surrogates(data)
        if replaced:
            text = json.dumps(data)
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises several types for bad structure
        raise InvalidNotebook(f"{name}: not a Jupyter notebook ({type(error).__name__}: {error})") from None
    if not isinstance(nb.get("cells"), list):
        raise InvalidNotebook(f"{name}: has no list of cells")
    return nb, replaced


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_JSON_DEPTH = 64  # a real notebook nests about 8 levels (widget state a few more)


def json_depth(value) -> int:
    """How deeply lists and dicts nest in ``value``, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                stack.extend((child, depth + 1) for child in item)
    return deepest


def replace_lone_surrogates(value):
    """``value`` (JSON-like: dicts, lists, strings) with every lone surrogate replaced by U+FFFD, and how many
    were (a string holding one cannot be encoded, so no file or database could take it)."""
    count = 0

    def clean(item):
        nonlocal count
        if isinstance(item, str):
            fixed, found = _LONE_SURROGATE.subn("\ufffd", item)
            count += found
            return fixed
        if isinstance(item, dict):
            return {clean(k): clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        return item

    cleaned = clean(value)
    return cleaned, count


@dataclass
class Assembled:
    """A notebook ready to execute, and what was wrong with the submission's structure."""

    notebook: nbformat.NotebookNode
    missing: list[str] = field(default_factory=list)  # solution grade_ids the student's notebook lacks
    duplicated: list[str] = field(default_factory=list)  # grade_ids that appear more than once


def assemble(source_nb, student_nb) -> Assembled:
    """Rebuild ``student_nb`` on the skeleton of ``source_nb`` (see module docstring)."""
    student_cells = [cell for cell in student_nb.cells if isinstance(cell, dict)]
    by_id: dict[str, dict] = {}
    duplicated: list[str] = []
    followers: dict[str | None, list] = {}
    anchor: str | None = None
    for cell in student_cells:
        gid = grade_id(cell)
        if gid is None:
            followers.setdefault(anchor, []).append(cell)
            continue
        if gid in by_id:
            duplicated.append(gid)  # the first copy counts, later copies are dropped
        else:
            by_id[gid] = cell
        anchor = gid

    source_ids = {grade_id(cell) for cell in source_nb.cells if grade_id(cell)}
    cells = list(_student_code(followers.get(None, [])))
    missing = []
    for source_cell in source_nb.cells:
        gid = grade_id(source_cell)
        if gid is None:
            continue  # narrative without metadata: the student's copy (a follower) is used
        if is_solution(source_cell):
            student_cell = by_id.get(gid)
            if student_cell is None or student_cell.get("cell_type") != source_cell.cell_type:
                missing.append(gid)
                cells.append(_stub_like(source_cell))
            else:
                cells.append(_clean(student_cell, source_cell))
        else:
            cells.append(copy.deepcopy(source_cell))
        if gid in by_id:
            cells.extend(_student_code(followers.get(gid, [])))
    # cells that followed grade_ids unknown to the source (renamed or invented) are kept at the end
    for gid, extra in followers.items():
        if gid is not None and gid not in source_ids:
            cells.extend(_student_code(extra))

    notebook = nbformat.v4.new_notebook(metadata=copy.deepcopy(source_nb.metadata))
    notebook.cells = cells
    return Assembled(notebook=notebook, missing=missing, duplicated=sorted(set(duplicated)))


def _student_code(cells):
    """The student's extra cells that execute (markdown and raw cells are left out of grading)."""
    for cell in cells:
        if cell.get("cell_type") == "code":
            yield nbformat.v4.new_code_cell(source=_text(cell.get("source", "")))


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _clean(student_cell, source_cell):
    """The student's answer with the source cell's metadata and no stale outputs."""
    cell = copy.deepcopy(source_cell)
    cell.source = _text(student_cell.get("source", ""))
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def _stub_like(source_cell):
    """What a missing solution cell is graded as: the release stub."""
    cell = copy.deepcopy(source_cell)
    if cell.cell_type == "code":
        cell.source = f"raise NotImplementedError({MISSING_SOLUTION!r})"
        cell.outputs = []
        cell.execution_count = None
    else:
        cell.source = ""
    return cell


@dataclass(frozen=True)
class CheckInfo:
    """An autograded test cell of a source notebook."""

    notebook: str
    grade_id: str
    max_score: float
    hidden: bool


def autograded_checks(source_nb, notebook_name: str) -> list[CheckInfo]:
    return [
        CheckInfo(notebook_name, grade_id(cell), points(cell), is_hidden(cell))
        for cell in source_nb.cells
        if is_autograded_test(cell)
    ]


def manual_points(source_nb) -> float:
    return sum(points(cell) for cell in source_nb.cells if is_manual_grade(cell))
