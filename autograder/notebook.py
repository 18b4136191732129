"""Reading nbgrader cell metadata and rebuilding a submission from its source notebook.

The grader never trusts a submission's locked cells: every cell that has an nbgrader ``grade_id`` in the
source notebook is taken from ``source/`` (tests, hidden tests, setup and driver cells), except solution
cells, which come from the student. Cells the student added (no ``grade_id``) are kept after the graded
cell they followed, so helper code a student wrote still runs.

The rebuilt notebook is also what formgrader shows the grader, so it is the whole notebook: every markdown
cell of the source stays in its place, its text taken from ``source/`` and marked ``FROM_SOURCE`` (the only
markdown `autograder.inert` shows unsanitised). The student's copies of those narrative cells (the release
gives them no nbgrader metadata) are matched to the source's by text and not shown twice; an edited copy
counts as the student's own markdown, kept like any added cell. Markdown does not execute: code cells run in
the same order with or without it.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
# Cell metadata that `assemble` alone sets, on cells it copied from source/ as they are (a student's cell is
# always rebuilt without its metadata, so it cannot carry this).
FROM_SOURCE = "autograder_from_source"
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

    # the source's narrative markdown, by the graded cell it follows (None: before the first one)
    narrative: dict[str | None, list] = {}
    anchor = None
    for source_cell in source_nb.cells:
        gid = grade_id(source_cell)
        if gid is not None:
            anchor = gid
        elif source_cell.get("cell_type") == "markdown":
            narrative.setdefault(anchor, []).append(source_cell)
    narrative_texts = {_text(c.get("source", "")).strip() for cells in narrative.values() for c in cells}

    source_ids = {grade_id(cell) for cell in source_nb.cells if grade_id(cell)}
    cells = _with_narrative(narrative.get(None, []), followers.get(None, []), narrative_texts)
    missing = []
    for source_cell in source_nb.cells:
        gid = grade_id(source_cell)
        if gid is None:
            continue  # narrative: markdown placed by _with_narrative; code: the student's copy (a follower) is used
        if is_solution(source_cell):
            student_cell = by_id.get(gid)
            if student_cell is None or student_cell.get("cell_type") != source_cell.cell_type:
                missing.append(gid)
                cells.append(_stub_like(source_cell))
            else:
                cells.append(_clean(student_cell, source_cell))
        else:
            cells.append(_from_source(source_cell))
        cells.extend(_with_narrative(narrative.get(gid, []), followers.get(gid, []) if gid in by_id else [],
                                     narrative_texts))
    # cells that followed grade_ids unknown to the source (renamed or invented) are kept at the end
    for gid, extra in followers.items():
        if gid is not None and gid not in source_ids:
            cells.extend(_student_cells(extra, narrative_texts))

    notebook = nbformat.v4.new_notebook(metadata=copy.deepcopy(source_nb.metadata))
    notebook.cells = cells
    return Assembled(notebook=notebook, missing=missing, duplicated=sorted(set(duplicated)))


def _with_narrative(narrative: list, followers: list, narrative_texts: set[str]) -> list:
    """The source's narrative cells of one stretch (between two graded cells) and the student's cells that
    followed the stretch's graded cell: a narrative cell goes where the student's copy of it is (the cells
    before it in the source with it), the rest after the last copy found (first when none was). Code cells
    keep their order relative to the graded cells either way."""
    out: list = []
    pending = list(narrative)
    for cell in followers:
        text = _text(cell.get("source", "")).strip()
        if cell.get("cell_type") == "markdown" and text in narrative_texts:
            place = next((i for i, n in enumerate(pending) if _text(n.source).strip() == text), None)
            if place is not None:  # the student's copy of this stretch's text: the source's, up to here
                out.extend(_from_source(n) for n in pending[:place + 1])
                del pending[:place + 1]
            continue  # a copy of the source's text (here or elsewhere) is never shown twice
        out.extend(_student_cells([cell], narrative_texts))
    # the text the student's notebook had no copy of goes after the last copy that was found (else first)
    placed = [i for i, c in enumerate(out) if c.metadata.get(FROM_SOURCE)]
    cut = placed[-1] + 1 if placed else 0
    return out[:cut] + [_from_source(n) for n in pending] + out[cut:]


def _student_cells(cells, narrative_texts: set[str] = frozenset()):
    """The student's extra cells, rebuilt without their metadata or outputs: code (it executes) and markdown
    that is not a copy of the source's text (shown to the grader; `autograder.inert` sanitises it). Raw cells
    are left out."""
    for cell in cells:
        text = _text(cell.get("source", ""))
        if cell.get("cell_type") == "code":
            yield nbformat.v4.new_code_cell(source=text)
        elif cell.get("cell_type") == "markdown" and text.strip() not in narrative_texts:
            yield _with_attachments(nbformat.v4.new_markdown_cell(source=text), cell)


def _with_attachments(cell, student_cell):
    """A student's pasted images stay with the markdown (`autograder.inert` keeps only valid PNG/JPEG)."""
    if isinstance(student_cell.get("attachments"), dict):
        cell["attachments"] = copy.deepcopy(student_cell["attachments"])
    return cell


def _from_source(source_cell):
    cell = copy.deepcopy(source_cell)
    cell.metadata[FROM_SOURCE] = True
    return cell


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _clean(student_cell, source_cell):
    """The student's answer with the source cell's metadata and no stale outputs."""
    cell = copy.deepcopy(source_cell)
    cell.source = _text(student_cell.get("source", ""))
    cell.metadata.pop(FROM_SOURCE, None)
    cell.pop("attachments", None)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    else:
        _with_attachments(cell, student_cell)
    return cell


def _stub_like(source_cell):
    """What a missing solution cell is graded as: the release stub."""
    cell = copy.deepcopy(source_cell)
    cell.metadata.pop(FROM_SOURCE, None)
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
