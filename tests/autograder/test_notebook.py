"""Rebuilding a submission on its source notebook's skeleton."""
from __future__ import annotations

import nbformat
import pytest

from autograder.notebook import FROM_SOURCE, InvalidNotebook, assemble, autograded_checks, grade_id, read_notebook
from conftest import tiny_source_notebook


def _ids(nb):
    return [grade_id(c) or c.source for c in nb.cells]


def test_locked_and_test_cells_come_from_source():
    source = tiny_source_notebook()
    student = tiny_source_notebook()
    for cell in student.cells:
        if grade_id(cell) in ("add_values", "setup"):
            cell.source = "pass  # edited by the student"
    rebuilt = assemble(source, student).notebook
    by_id = {grade_id(c): c for c in rebuilt.cells if grade_id(c)}
    assert by_id["add_values"].source == next(c.source for c in source.cells if grade_id(c) == "add_values")
    assert by_id["setup"].source == "import numpy as np"


def test_solution_cells_come_from_the_student_and_extra_cells_keep_their_place():
    source = tiny_source_notebook()
    student = tiny_source_notebook()
    index = next(i for i, c in enumerate(student.cells) if grade_id(c) == "add")
    student.cells[index].source = "def add(a, b):\n    return helper(a, b)"
    student.cells.insert(index, nbformat.v4.new_code_cell("def helper(a, b):\n    return a + b"))
    rebuilt = assemble(source, student)
    ids = _ids(rebuilt.notebook)
    assert ids.index("def helper(a, b):\n    return a + b") == ids.index("setup") + 1 < ids.index("add")
    assert rebuilt.missing == [] and rebuilt.duplicated == []


def test_reordered_cells_run_in_source_order():
    source = tiny_source_notebook()
    student = tiny_source_notebook()
    student.cells.reverse()
    ids = [grade_id(c) for c in assemble(source, student).notebook.cells if grade_id(c)]
    assert ids == [grade_id(c) for c in source.cells if grade_id(c)]


def test_missing_and_duplicated_cells_are_reported():
    source = tiny_source_notebook()
    student = tiny_source_notebook()
    student.cells = [c for c in student.cells if grade_id(c) != "scale"]
    add = next(c for c in student.cells if grade_id(c) == "add")
    student.cells.append(nbformat.from_dict(dict(add, source="def add(a, b):\n    return 0")))
    rebuilt = assemble(source, student)
    assert rebuilt.missing == ["scale"]
    assert rebuilt.duplicated == ["add"]
    first_add = next(c for c in rebuilt.notebook.cells if grade_id(c) == "add")
    assert "return a + b" in first_add.source
    stub = next(c for c in rebuilt.notebook.cells if grade_id(c) == "scale")
    assert "NotImplementedError" in stub.source


def test_autograded_checks_know_hidden_cells():
    checks = {c.grade_id: c for c in autograded_checks(tiny_source_notebook(), "Tiny.ipynb")}
    assert set(checks) == {"add_values", "add_floats_hidden", "scale_values"}
    assert checks["add_floats_hidden"].hidden and not checks["add_values"].hidden
    assert checks["scale_values"].max_score == 3


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("{not json", "not valid JSON"), ('{"cells": 3}', "not a Jupyter notebook"),
])
def test_unreadable_notebooks_raise_a_clear_error(tmp_path, text, reason):
    path = tmp_path / "Broken.ipynb"
    path.write_text(text)
    with pytest.raises(InvalidNotebook, match=reason):
        read_notebook(path)


def test_old_nbformat_is_upgraded(tmp_path):
    old = tmp_path / "Old.ipynb"
    nb3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
           "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": [], "language": "python"}]}]}
    import json
    old.write_text(json.dumps(nb3))
    assert read_notebook(old).cells[0].source == "x = 1"


def _texts(nb, kind="markdown"):
    return [c.source for c in nb.cells if c.cell_type == kind]


def _with_prompt():
    """The tiny source with a narrative question prompt before the written answer (as in the course)."""
    source = tiny_source_notebook()
    index = next(i for i, c in enumerate(source.cells) if grade_id(c) == "explain_scale")
    source.cells.insert(index, nbformat.v4.new_markdown_cell("**Inline question 2**: what does `scale` do?"))
    return source


def test_every_markdown_cell_of_the_source_stays_in_its_place_once():
    source = _with_prompt()
    student = _with_prompt()  # the release: narrative cells without nbgrader metadata, copied by the student
    rebuilt = assemble(source, student).notebook
    assert _texts(rebuilt) == _texts(source)
    ids = _ids(rebuilt)
    assert ids.index("**Inline question 2**: what does `scale` do?") == ids.index("explain_scale") - 1
    assert ids[0].startswith("# A tiny assignment")
    # the same code cells in the same order as before markdown was kept: grading is unchanged
    assert [c.source for c in rebuilt.cells if c.cell_type == "code"] == \
        [c.source for c in source.cells if c.cell_type == "code"]


def test_narrative_text_comes_from_source_and_an_edited_copy_is_the_students_own():
    source = _with_prompt()
    student = _with_prompt()
    student.cells[0].source = "# A tiny assignment\n<img src=x onerror=alert(1)> edited by the student"
    rebuilt = assemble(source, student).notebook
    texts = _texts(rebuilt)
    assert texts[0] == source.cells[0].source and texts.count(source.cells[0].source) == 1
    assert "edited by the student" in texts[1]  # kept, after the source's text, as the student's markdown
    edited = next(c for c in rebuilt.cells if "edited by the student" in c.source)
    assert FROM_SOURCE not in edited.metadata and FROM_SOURCE in rebuilt.cells[0].metadata


def test_student_markdown_is_kept_after_the_graded_cell_it_followed():
    source = tiny_source_notebook()
    student = tiny_source_notebook()
    index = next(i for i, c in enumerate(student.cells) if grade_id(c) == "add")
    note = nbformat.v4.new_markdown_cell("My note on add", metadata={FROM_SOURCE: True, "tags": ["x"]})
    student.cells.insert(index + 1, note)
    student.cells.insert(index + 2, nbformat.v4.new_raw_cell("<script>raw</script>"))
    rebuilt = assemble(source, student).notebook
    ids = _ids(rebuilt)
    assert ids.index("My note on add") == ids.index("add") + 1
    added = rebuilt.cells[ids.index("My note on add")]
    assert dict(added.metadata) == {}  # rebuilt: a student cannot claim to be the source
    assert not any(c.cell_type == "raw" for c in rebuilt.cells)
def test_deeply_nested_json_is_an_invalid_notebook_not_a_grader_error(tmp_path):
    from autograder.notebook import MAX_JSON_DEPTH, InvalidNotebook, read_notebook

    path = tmp_path / "deep.ipynb"
    for depth in (100_000, MAX_JSON_DEPTH + 1):  # past the parser's recursion limit, and just past ours
        path.write_text('{"cells": [], "metadata": {"a": ' + "[" * depth + "]" * depth + '}, "nbformat": 4, '
                        '"nbformat_minor": 5}')
        with pytest.raises(InvalidNotebook, match="nested too deeply"):
            read_notebook(path)
    path.write_text('{"cells": [], "metadata": {"a": ' + "[" * 20 + "]" * 20 + '}, "nbformat": 4, '
                    '"nbformat_minor": 5}')
    assert read_notebook(path).cells == []
