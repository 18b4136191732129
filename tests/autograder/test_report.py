"""The class report (`autograder report`) and the similarity of solution cells (`autograder.similarity`).

The tests build OUT/results/<student>/<a>.json and autograded/ notebooks by hand (fast); the report of a real
grading run is tested in test_grade.py (`test_class_report_of_a_graded_class`, on its graded class).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main as cli_main
from autograder.report import check_stats, normalise_message, write_report
from autograder.similarity import SimilaritySettings, find_similar, similar_pairs

A = "hw"
NB = "Hw.ipynb"


def _check(grade_id, passed, message="", points=1.0):
    return {"grade_id": grade_id, "notebook": NB, "score": points if passed else 0.0, "max_score": points,
            "passed": passed, "hidden": False, "message": "" if passed else message}


def _record(student, checks, status="graded", message="", **extra):
    return {"student_id": student, "assignment": A, "score": sum(c["score"] for c in checks),
            "max_score": sum(c["max_score"] for c in checks), "status": status, "message": message,
            "manual_max_score": 0.0, "sandboxed": True, "checks": checks, **extra}


def _write(out: Path, record: dict) -> None:
    path = out / "results" / record["student_id"] / f"{record['assignment']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


@pytest.fixture
def known_class(tmp_path):
    """Four students: `shape` passes for 3 of 4; `values` fails for 3 with messages differing only in numbers."""
    out = tmp_path / "out"
    records = [
        _record("ann", [_check("shape", True), _check("values", True)], grading_seconds=3.5,
                graded_at="2026-12-03T10:00:00+00:00"),
        _record("ben", [_check("shape", True), _check("values", False, "values: expected 3.0, got 4.25")]),
        _record("cat", [_check("shape", True), _check("values", False, "values: expected 3.0, got -1e-05")]),
        _record("dan", [_check("shape", False, "not executed"), _check("values", False, "not executed")],
                status="timeout", message="stopped after the 60 s limit for a submission"),
        _record("eve", [_check("shape", False, "not executed"), _check("values", False, "not executed")],
                status="crashed", message="the grading worker died: out of memory"),
    ]
    records[4]["checks"] = []  # a crash before any check: the record carries none
    for record in records:
        _write(out, record)
    return out


def _cells_of(page: str, row_label: str) -> list[str]:
    row = re.search(r"<tr[^>]*><td>" + re.escape(row_label) + r"</td>(.*?)</tr>", page, re.S)
    assert row, f"no table row for {row_label}"
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)


def test_pass_rate_per_check(known_class):
    page = write_report(out_dir=known_class, assignment=A).read_text()
    assert "75% (3/4)" in _cells_of(page, "shape")[2]
    assert "25% (1/4)" in _cells_of(page, "values")[2]


def test_failure_messages_grouped_with_numbers_normalised(known_class):
    assert normalise_message("expected 3.0, got 4.25") == normalise_message("expected 3.0, got -1e-05")
    assert normalise_message("shape (2, 3)") != normalise_message("dtype float32 expected")
    stats = {s["grade_id"]: s for s in check_stats([json.loads(p.read_text())
                                                    for p in known_class.glob("results/*/*.json")])}
    groups = stats["values"]["failures"]
    assert sorted(groups.values()) == [1, 2]  # ben and cat in one group, dan's "not executed" in another
    page = write_report(out_dir=known_class, assignment=A).read_text()
    failures = _cells_of(page, "values")[3]
    assert "2&times;" in failures and "ben, cat" in failures


def test_statuses_marked(known_class):
    page = write_report(out_dir=known_class, assignment=A).read_text()
    assert _cells_of(page, "dan")[0] == "timeout" and "stopped after the 60 s" in _cells_of(page, "dan")[-1]
    assert _cells_of(page, "eve")[0] == "crashed"
    assert re.search(r'<tr class="bad"><td>dan</td>', page) and re.search(r'<tr class="bad"><td>eve</td>', page)
    assert not re.search(r'<tr class="bad"><td>ann</td>', page)
    assert "3.5" in _cells_of(page, "ann")[7]  # the grading wall time
    assert "1 crashed, 3 graded, 1 timeout" in page


def test_page_is_self_contained(known_class):
    page = write_report(out_dir=known_class, assignment=A).read_text()
    assert page.count('src="data:image/png;base64,') >= 3  # scores, pass rates, grading times
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page


def test_student_text_is_escaped(tmp_path):
    out = tmp_path / "out"
    evil = "<script>alert(1)</script>"
    _write(out, _record("<img src=x onerror=alert('id')>", [_check("shape", False, f"got {evil}")],
                        message=f"note {evil}"))
    _write(out, _record("ok", [_check("shape", True)]))
    page = write_report(out_dir=out, assignment=A).read_text()
    assert page.count("<script>") == 1  # ours: the table sorting, at the end
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&#x27;id&#x27;)&gt;" in page and "<img src=x" not in page


def test_overview_over_all_assignments(known_class):
    _write(known_class, {**_record("ann", [_check("q1", True)]), "assignment": "hw2"})
    assert cli_main(["report", "--all", "--out", str(known_class)]) == 0
    index = (known_class / "report" / "index.html").read_text()
    assert 'href="hw.html"' in index and 'href="hw2.html"' in index
    assert (known_class / "report" / "hw2.html").is_file()
    assert cli_main(["report", "--out", str(known_class / "nothing")]) == 1  # nothing graded there: says so


# ---- similarity --------------------------------------------------------------------------------------------

STUB = ('def standardise(x, eps=1e-8):\n    """Inputs: 2-D array x. Returns: (z, low, high): x standardised per column,\n'
        '    and each column\'s minimum and maximum."""\n    # YOUR CODE HERE\n    raise NotImplementedError()')
HEAD = STUB.split("    # YOUR CODE HERE")[0]
ORIGINAL = HEAD + """    x = np.asarray(x, dtype=float)
    mean = np.mean(x, axis=0)
    spread = np.std(x, axis=0) + eps
    low = np.min(x, axis=0)
    high = np.max(x, axis=0)
    z = (x - mean) / spread
    return z, low, high
"""
# The same code, renamed, commented and with its independent statements reordered.
COPY_RENAMED = HEAD + """    # standardise each column (my own derivation)
    data = np.asarray(x, dtype=float)
    smallest = np.min(data, axis=0)   # column minimum
    largest = np.max(data, axis=0)
    centre = np.mean(data, axis=0)
    scale = np.std(data, axis=0) + eps
    standard = (data - centre) / scale
    return standard, smallest, largest
"""
COPY_REORDERED = HEAD + """    arr = np.asarray(x, dtype=float)
    hi = np.max(arr, axis=0)
    lo = np.min(arr, axis=0)
    sd = np.std(arr, axis=0) + eps

    mu = np.mean(arr, axis=0)
    result = (arr - mu) / sd
    return result, lo, hi
"""
# Independent correct solutions: the same function written differently.
INDEPENDENT = [
    HEAD + """    x = np.asarray(x, dtype=float)
    centred = x - x.mean(axis=0, keepdims=True)
    return centred / (x.std(axis=0, keepdims=True) + eps), x.min(axis=0), x.max(axis=0)
""",
    HEAD + """    rows, cols = len(x), len(x[0])
    z = np.zeros((rows, cols))
    low, high = [], []
    for j in range(cols):
        column = [float(x[i][j]) for i in range(rows)]
        m = sum(column) / rows
        s = (sum((v - m) ** 2 for v in column) / rows) ** 0.5 + eps
        for i in range(rows):
            z[i, j] = (column[i] - m) / s
        low.append(min(column))
        high.append(max(column))
    return z, np.array(low), np.array(high)
""",
    HEAD + """    from scipy import stats
    x = np.asarray(x, dtype=float)
    z = stats.zscore(x, axis=0) * np.std(x, axis=0) / (np.std(x, axis=0) + eps)
    return np.nan_to_num(z), np.amin(x, axis=0), np.amax(x, axis=0)
""",
]


def _solution_notebook(code: str) -> nbformat.NotebookNode:
    meta = {"nbgrader": {"schema_version": 3, "grade": False, "solution": True, "locked": False,
                         "grade_id": "standardise"}}
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Implement `standardise`."),
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell(code, metadata=meta),
        nbformat.v4.new_code_cell(ORIGINAL),  # not a solution cell: never compared
    ])


def test_independent_solutions_are_correct():
    """The independent solutions really are solutions (else the test below proves nothing about them)."""
    import numpy as np

    x = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 11.0]])
    expected = None
    for code in [ORIGINAL, COPY_RENAMED, COPY_REORDERED, *INDEPENDENT]:
        scope = {"np": np}
        exec(code, scope)
        z, low, high = scope["standardise"](x)
        if expected is None:
            expected = (z, low, high)
        for got, want in zip((z, low, high), expected):
            np.testing.assert_allclose(got, want, atol=1e-6)


def test_copies_found_and_independent_solutions_not(tmp_path):
    out, release = tmp_path / "out", tmp_path / "release"
    (release / A).mkdir(parents=True)
    nbformat.write(_solution_notebook(STUB), release / A / NB)
    class_ = {"orig": ORIGINAL, "renamer": COPY_RENAMED, "reorderer": COPY_REORDERED, "stub_only": STUB}
    class_.update({f"indep{i}": code for i, code in enumerate(INDEPENDENT)})
    for student, code in class_.items():
        folder = out / "autograded" / student / A
        folder.mkdir(parents=True)
        nbformat.write(_solution_notebook(code), folder / NB)
    pairs = find_similar(out_dir=out, assignment=A, release_dir=release)
    found = {frozenset((p.student_a, p.student_b)) for p in pairs}
    assert {frozenset(("orig", "renamer")), frozenset(("orig", "reorderer"))} <= found
    assert not any(s.startswith("indep") or s == "stub_only" for pair in found for s in pair), pairs
    pair = next(p for p in pairs if {p.student_a, p.student_b} == {"orig", "renamer"})
    assert "my own derivation" in (pair.code_a + pair.code_b) and "YOUR CODE HERE" not in pair.code_a
    # The report shows the pair side by side, escaped.
    _write(out, _record("orig", [_check("standardise_values", True)]))
    page = write_report(out_dir=out, assignment=A, release_dir=release).read_text()
    assert "orig / renamer" in page and "(x - mean) / spread" in page
    assert "<b>renamer</b><pre>" in page or "<b>orig</b><pre>" in page


def test_threshold_is_a_setting():
    cells = {(NB, "standardise"): {"a": ORIGINAL, "b": INDEPENDENT[0]}}
    stubs = {(NB, "standardise"): STUB}
    assert similar_pairs(cells, stubs) == []
    assert similar_pairs(cells, stubs, SimilaritySettings(similarity_threshold=0.0))



def test_record_carries_grading_time(tmp_path):
    """`grade_submission` stamps when and how long (a submission with no notebook: no kernel, fast)."""
    from autograder.grade import Limits, Submission, grade_submission
    from conftest import TINY, TINY_NOTEBOOK, tiny_source_notebook

    (tmp_path / "source" / TINY).mkdir(parents=True)
    nbformat.write(tiny_source_notebook(), tmp_path / "source" / TINY / TINY_NOTEBOOK)
    record = grade_submission(Submission("nobody", TINY, tmp_path / "submitted" / "nobody" / TINY),
                              source_dir=tmp_path / "source", limits=Limits(), answers_dir=tmp_path,
                              hidden_dir=tmp_path)
    assert record["status"] == "missing"
    assert record["grading_seconds"] >= 0 and record["graded_at"].endswith("+00:00")


def test_release_scaffold_is_not_similarity():
    """Code the release gave every student (a scaffold in the stub) does not make two solutions alike."""
    scaffold = ("def batches(data, size):\n    \"\"\"Yield the batches of data.\"\"\"\n"
                "    order = np.random.default_rng(0).permutation(len(data))\n"
                "    for start in range(0, len(data), size):\n        chunk = order[start:start + size]\n"
                "        # YOUR CODE HERE\n        raise NotImplementedError()\n")
    one = scaffold.replace("        raise NotImplementedError()\n", "        yield np.take(data, chunk, axis=0)\n")
    two = scaffold.replace("        raise NotImplementedError()\n", "        yield [data[i] for i in chunk]\n")
    cells = {(NB, "batches"): {"one": one, "two": two}}
    assert similar_pairs(cells, {(NB, "batches"): scaffold}) == []
    assert similar_pairs(cells, {})  # had the scaffold counted, they would be listed
