"""Similar solutions across a class, per solution cell: a sign of copied work for the instructor to look at.

What must hold: only the student's own code is compared. Of each solution cell (a code cell whose nbgrader
metadata says ``solution: true``, found by its ``grade_id``) the lines of the release stub (the ``def`` line, the
docstring, ``# YOUR CODE HERE``) are removed, and the release stub's fingerprints are boilerplate; comments,
whitespace, identifiers and string contents do not count (copydetect's pygments filter writes every name as
``V``/``F``/``O`` and every string as ``S``). Cells whose remaining code is shorter than ``min_chars`` are not
compared: a one-line solution is alike in every correct submission. A pair is listed when the share of either
cell's fingerprints found in the other reaches ``threshold``. The fingerprints are copydetect's (the k-grams of
the normalised code, as in winnowing, Schleimer, Wilkerson and Aiken 2003, with every k-gram kept so that the
result does not depend on Python's per-process string hash): reordered statements, renamed variables and added
comments still match.

A listed pair is a lead, never a verdict: nothing here changes a grade.
"""
from __future__ import annotations

import io
import itertools
import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from traitlets import Float, Int
from traitlets.config import Configurable

from autograder.paths import RELEASE_DIR


class SimilaritySettings(Configurable):
    """``c.Autograder.similarity_*`` in nbgrader_config.py: when two solution cells are listed as similar."""

    similarity_threshold = Float(0.8, help="List a pair of solution cells when this share (0-1) of either cell's "
                                 "fingerprints is found in the other. 1.0 lists only cells equal after "
                                 "normalising; independent correct solutions of a short function score below 0.5."
                                 ).tag(config=True)
    similarity_noise_chars = Int(16, help="Length of the fingerprinted k-grams, in characters of normalised code "
                                 "(copydetect's noise threshold; its default 25 suits whole files, solution cells "
                                 "are a few lines). Shorter shared runs do not count: with names normalised, "
                                 "`np.mean(x, axis=0)` and `np.max(x, axis=0)` are the same 12 characters, so "
                                 "12 lets independent NumPy solutions share 65%, 16 only 35%.").tag(config=True)
    similarity_min_chars = Int(40, help="Solution cells whose own code, normalised, is shorter than this are not "
                                "compared: short solutions are alike by necessity.").tag(config=True)

    @classmethod
    def section_name(cls) -> str:
        return "Autograder"

    @classmethod
    def from_config(cls, config) -> "SimilaritySettings":
        section = dict(config.get("Autograder", {})) if config else {}
        names = cls.class_trait_names(config=True)
        return cls(**{k: v for k, v in section.items() if k in names})


@dataclass(frozen=True)
class SimilarPair:
    notebook: str
    grade_id: str
    student_a: str
    student_b: str
    similarity: float  # the larger of the two shares of fingerprints found in the other cell
    code_a: str  # the student's code as submitted (stub lines removed)
    code_b: str


def solution_cells(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The source of each code cell with nbgrader ``solution: true``, by grade_id."""
    found = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            found[str(meta["grade_id"])] = str(cell.get("source", ""))
    return found


def own_code(source: str, stub: str) -> str:
    """A solution cell without the lines it shares with its release stub (signature, docstring, markers)."""
    stub_lines = {line.strip() for line in stub.splitlines() if line.strip()}
    kept = "\n".join(line for line in source.splitlines() if line.strip() and line.strip() not in stub_lines)
    return textwrap.dedent(kept)


def read_class_cells(*, notebooks_dir: Path, assignment: str) -> dict[tuple[str, str], dict[str, str]]:
    """``{(notebook, grade_id): {student: source}}`` from ``<notebooks_dir>/<student>/<assignment>/*.ipynb`` (the
    grader's autograded/ folder, or nbgrader's submitted/). An unreadable notebook is skipped, with a warning."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted(Path(notebooks_dir).glob(f"*/{assignment}/*.ipynb")):
        student = path.parent.parent.name
        try:
            notebook = nbformat.read(str(path), as_version=4)
        except Exception as error:  # one broken notebook must not hide the rest of the class
            logging.warning("similarity: skipped %s (%s)", path, error)
            continue
        for grade_id, source in solution_cells(notebook).items():
            cells.setdefault((path.name, grade_id), {})[student] = source
    return cells


def read_stubs(*, release_dir: Path, assignment: str) -> dict[tuple[str, str], str]:
    """``{(notebook, grade_id): stub source}`` of the released notebooks."""
    stubs = {}
    for path in sorted((Path(release_dir) / assignment).glob("*.ipynb")):
        for grade_id, source in solution_cells(nbformat.read(str(path), as_version=4)).items():
            stubs[(path.name, grade_id)] = source
    return stubs


def _fingerprint(code: str, settings: SimilaritySettings, boilerplate=None):
    from copydetect import CodeFingerprint

    # Window 1: every k-gram is a fingerprint. Winnowing's choice in a larger window follows Python's string
    # hash, which changes with every process (PYTHONHASHSEED), so the shares would change from run to run; a
    # solution cell is a few hundred characters, all of its k-grams are cheap.
    return CodeFingerprint("cell.py", settings.similarity_noise_chars, 1, boilerplate=boilerplate,
                           language="python", fp=io.StringIO(code))


def similar_pairs(cells: dict[tuple[str, str], dict[str, str]], stubs: dict[tuple[str, str], str],
                  settings: SimilaritySettings | None = None) -> list[SimilarPair]:
    """Every pair of students whose code in the same solution cell is at least ``similarity_threshold`` alike,
    most similar first."""
    from copydetect import compare_files

    settings = settings or SimilaritySettings()
    pairs = []
    for (notebook, grade_id), by_student in sorted(cells.items()):
        stub = stubs.get((notebook, grade_id), "")
        boilerplate = np.array(sorted(_fingerprint(stub, settings).hashes)) if stub.strip() else None
        prints = {}
        for student, source in sorted(by_student.items()):
            code = own_code(source, stub)
            fingerprint = _fingerprint(code, settings, boilerplate)
            if len(fingerprint.filtered_code) >= settings.similarity_min_chars and len(fingerprint.hashes):
                prints[student] = (code, fingerprint)
        for (a, (code_a, fp_a)), (b, (code_b, fp_b)) in itertools.combinations(prints.items(), 2):
            # A quick look first (a set intersection, microseconds) spares copydetect's slice comparison (about
            # a millisecond) for the many pairs that share few fingerprints; half the threshold leaves margin.
            shared = len(fp_a.hashes & fp_b.hashes) / min(len(fp_a.hashes), len(fp_b.hashes))
            if shared < settings.similarity_threshold / 2:
                continue
            _, (share_a, share_b), _ = compare_files(fp_a, fp_b)
            similarity = float(max(share_a, share_b))
            if similarity >= settings.similarity_threshold:
                pairs.append(SimilarPair(notebook, grade_id, a, b, round(similarity, 3), code_a, code_b))
    return sorted(pairs, key=lambda p: (-p.similarity, p.grade_id, p.student_a, p.student_b))


def find_similar(*, out_dir: Path, assignment: str, release_dir: Path = RELEASE_DIR,
                 settings: SimilaritySettings | None = None, notebooks_dir: Path | None = None) -> list[SimilarPair]:
    """Similar solution cells of ``assignment`` in the executed notebooks under ``OUT/autograded`` (or
    ``notebooks_dir``, e.g. nbgrader's submitted/), the stubs taken from ``release_dir``."""
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else Path(out_dir) / "autograded"
    cells = read_class_cells(notebooks_dir=notebooks_dir, assignment=assignment)
    return similar_pairs(cells, read_stubs(release_dir=release_dir, assignment=assignment), settings)
