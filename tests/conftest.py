"""Shared fixtures: a tiny nbgrader assignment (no TensorFlow) that grading tests run quickly."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

TINY = "tiny"
TINY_NOTEBOOK = "Tiny.ipynb"


def _meta(**nbgrader):
    return {"nbgrader": {"schema_version": 3, **nbgrader}}


def tiny_source_notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell("# A tiny assignment\nImplement `add` and `scale`."),
        nbformat.v4.new_code_cell("import numpy as np", metadata=_meta(grade=False, solution=False, locked=True,
                                                                      grade_id="setup")),
        nbformat.v4.new_code_cell(
            'def add(a, b):\n    """Inputs: two numbers. Returns: their sum."""\n'
            "    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            metadata=_meta(grade=False, solution=True, locked=False, grade_id="add")),
        nbformat.v4.new_code_cell(
            "from course.checks import check_equal\ncheck_equal('add(1, 2)', add(1, 2), 3)",
            metadata=_meta(grade=True, solution=False, locked=True, points=1, grade_id="add_values")),
        nbformat.v4.new_code_cell(
            "from course.checks import check_true\nimport numpy as np\n"
            "total = add(-2.5, 0.5)\n"
            "### BEGIN HIDDEN TESTS\nSECRET_HIDDEN_ASSERTION = -2.0\n"
            "check_true('add', np.isclose(total, SECRET_HIDDEN_ASSERTION), 'add: wrong result for negative floats')\n"
            "### END HIDDEN TESTS",
            metadata=_meta(grade=True, solution=False, locked=True, points=2, grade_id="add_floats_hidden")),
        nbformat.v4.new_code_cell(
            'def scale(x, factor=2.0):\n    """Inputs: array x. Returns: x * factor as an array."""\n'
            "    ### BEGIN SOLUTION\n    return np.asarray(x) * factor\n    ### END SOLUTION",
            metadata=_meta(grade=False, solution=True, locked=False, grade_id="scale")),
        nbformat.v4.new_code_cell(
            "from course.checks import check_close\nimport numpy as np\n"
            "check_close('scale([1, 2])', scale([1.0, 2.0]), np.array([2.0, 4.0]), 1e-12)",
            metadata=_meta(grade=True, solution=False, locked=True, points=3, grade_id="scale_values")),
        nbformat.v4.new_markdown_cell(
            "Explain `scale` in one sentence.\n\n### BEGIN SOLUTION\nIt multiplies.\n### END SOLUTION",
            metadata=_meta(grade=True, solution=True, locked=False, points=2, grade_id="explain_scale")),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory) -> Path:
    """A course folder with source/tiny/Tiny.ipynb and its generated release."""
    from autograder.release import release

    root = tmp_path_factory.mktemp("course")
    source = root / "source" / TINY
    source.mkdir(parents=True)
    nbformat.write(tiny_source_notebook(), source / TINY_NOTEBOOK)
    release(assignments=[TINY], release_dir=root / "release", source_dir=root / "source")
    return root


def write_submission(submitted: Path, student: str, notebook: nbformat.NotebookNode | str,
                     name: str = TINY_NOTEBOOK, assignment: str = TINY) -> Path:
    folder = submitted / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path


def replace_solution(notebook_path: Path, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of a notebook with one solution cell's source replaced."""
    nb = nbformat.read(notebook_path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
