"""Locked cells read from a student's object only attributes the text names (issue 27: `grids.noise`)."""
from __future__ import annotations

import nbformat

from autograder.specified_names import named_in_text, unspecified_reads


def _meta(**nbgrader) -> dict:
    return {"nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **nbgrader}}


def _notebook(tmp_path, docstring: str, locked: str):
    cells = [
        nbformat.v4.new_code_cell("import keras"),
        nbformat.v4.new_markdown_cell("Write a callback that keeps its noise fixed."),
        nbformat.v4.new_code_cell(
            "class Grid(keras.callbacks.Callback):\n"
            f'    """{docstring}"""\n'
            "    def __init__(self, latent_dim):\n"
            "        ### BEGIN SOLUTION\n"
            "        super().__init__()\n        self.noise = keras.random.normal((4, latent_dim))\n"
            "        self.paths = []\n"
            "        ### END SOLUTION\n",
            metadata=_meta(solution=True, grade_id="grid")),
        nbformat.v4.new_code_cell(locked, metadata=_meta(locked=True, grade_id="train")),
    ]
    path = tmp_path / "a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_an_attribute_only_the_solution_names_is_found(tmp_path):
    locked = "grids = Grid(8)\nprint(grids.noise.shape, grids.paths)\ngrids.set_model(None)\n"
    problems = unspecified_reads(_notebook(tmp_path, "Keeps ``paths``, the files written.", locked))
    # `noise` is a word of the markdown but never code; `paths` is in the docstring; set_model is Keras's
    assert len(problems) == 1 and "reads `grids.noise`" in problems[0] and "cell 3 (train): line 2" in problems[0]


def test_a_docstring_that_names_it_passes(tmp_path):
    locked = "grids = Grid(8)\nprint(grids.noise.shape, grids.paths)\n"
    docstring = "Attributes:\n      noise: the fixed noise (4, latent_dim).\n      paths: the files written."
    assert unspecified_reads(_notebook(tmp_path, docstring, locked)) == []


def test_named_in_text_wants_code_not_a_word():
    assert not named_in_text("noise", "the noise stays fixed")
    assert named_in_text("noise", "keep it in ``self.noise``") and named_in_text("noise", "`noise` is fixed")
    assert named_in_text("noise", "Attributes:\n    noise: fixed")
