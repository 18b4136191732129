"""Shared fixtures: a tiny nbgrader assignment (no TensorFlow) that grading tests run quickly."""
from __future__ import annotations

import json
import os
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


# The tests' grading secret: fixed, so that every run draws the same inputs for the same student and a failure
# can be repeated; GAN_COURSE_TEST_SECRET (64+ hex digits) draws other inputs (the draw sweep of
# tests/notebooks/test_draws.py does that on purpose: a check must hold for every draw, not for one).
TEST_SECRET = os.environ.get("GAN_COURSE_TEST_SECRET", "5e" * 32)


def pytest_report_header(config):
    return f"grading secret of the tests: {TEST_SECRET[:8]}... (GAN_COURSE_TEST_SECRET)"


@pytest.fixture(scope="session", autouse=True)
def grading_secret_outside_home(tmp_path_factory):
    """Every test's grading secret and answer cache in a folder of the test session, never the user's own."""
    from autograder import inputs

    root = tmp_path_factory.mktemp("instructor")
    (root / "config").mkdir(mode=0o700)
    secret_file = root / "config" / "grading-secret"
    secret_file.write_text(TEST_SECRET + "\n")
    secret_file.chmod(0o600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inputs, "default_secret_path", lambda: root / "config" / "grading-secret")
        patch.setattr(inputs, "default_cache_dir", lambda: root / "cache")
        yield root


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


# --- A tiny assignment with an answer reference: graded on inputs drawn per submission (autograder/inputs.py). ---

DRAWN = "drawn"
DRAWN_NOTEBOOK = "Drawn.ipynb"
DRAWN_FULL = 3.0  # double_values 2 + double_scaled_hidden 1
DRAWN_REFERENCE = '''"""The answer reference of the test assignment `drawn` (NumPy only)."""
import numpy as np

SEED = 7
HIDDEN_KEYS = frozenset({"double_scaled_true"})


def build(seed: int = SEED) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=5)
    return {"double_x": x, "double_true": 2 * x, "double_scaled_true": 3 * x}
'''


def drawn_source_notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom course.checks import load_answers",
                                  metadata=_meta(grade=False, solution=False, locked=True, grade_id="setup")),
        nbformat.v4.new_code_cell(
            'def double(x):\n    """Inputs: an array x. Returns: 2 x."""\n'
            "    ### BEGIN SOLUTION\n    return 2 * np.asarray(x)\n    ### END SOLUTION",
            metadata=_meta(grade=False, solution=True, locked=False, grade_id="double")),
        nbformat.v4.new_code_cell(
            "import numpy as np\nfrom course.checks import check_close, load_answers\n\n"
            'answers = load_answers("drawn")\n'
            'got = np.asarray(double(answers["double_x"]), dtype=np.float64)\n'
            'check_close("double(x)", got, answers["double_true"], 1e-9)',
            metadata=_meta(grade=True, solution=False, locked=True, points=2, grade_id="double_values")),
        nbformat.v4.new_code_cell(
            "import numpy as np\nfrom course.checks import check_close, load_answers\n\n"
            'answers = load_answers("drawn")\n'
            'got = np.asarray(double(1.5 * answers["double_x"]), dtype=np.float64)\n'
            "### BEGIN HIDDEN TESTS\n"
            'check_close("double(1.5 x)", got, answers["double_scaled_true"], 1e-9)\n'
            "### END HIDDEN TESTS",
            metadata=_meta(grade=True, solution=False, locked=True, points=1, grade_id="double_scaled_hidden")),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="session")
def drawn_course(tmp_path_factory) -> Path:
    """source/drawn/Drawn.ipynb, its release, its public and hidden answer files (``build(SEED)``, as
    `autograder answers` writes them) and its reference module in ``references/drawn.py``."""
    import importlib.util

    import numpy as np

    from autograder.release import release

    root = tmp_path_factory.mktemp("drawn-course")
    (root / "source" / DRAWN).mkdir(parents=True)
    nbformat.write(drawn_source_notebook(), root / "source" / DRAWN / DRAWN_NOTEBOOK)
    release(assignments=[DRAWN], release_dir=root / "release", source_dir=root / "source")
    (root / "references").mkdir()
    (root / "references" / f"{DRAWN}.py").write_text(DRAWN_REFERENCE)
    spec = importlib.util.spec_from_file_location("drawn_reference", root / "references" / f"{DRAWN}.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    built = reference.build()
    for folder, keys in (("data", {"double_x", "double_true"}), ("hidden", reference.HIDDEN_KEYS)):
        (root / folder).mkdir()
        np.savez(root / folder / f"{DRAWN}.npz", **{k: v for k, v in built.items() if k in keys})
    return root


@pytest.fixture(scope="module")
def drawn_reference(drawn_course):
    """``autograder.answers`` knows the `drawn` reference for the tests of one module (as it would a reference
    module in ``autograder/answers/``)."""
    import sys

    from autograder import answers

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answers, "__path__", [*answers.__path__, str(drawn_course / "references")])
        yield drawn_course
    sys.modules.pop(f"autograder.answers.{DRAWN}", None)
