"""A generic forger against every real assignment: at most a quarter of the marks without any work.

The forger is what a student who has read the grader would write once and paste into every assignment: an
IPython AST transformer, installed from a cell of their own, that rewrites every test cell the kernel later
receives so that no statement of the probe can stop it (each one wrapped in ``try``), and that sends the
judge ``True`` for every value the probe did not compute or computed as a boolean, and an empty one for every
list, tuple or dict (so that a judge looping over a probe value would run no check). Every solution cell is
left as the release stub. Whatever a check's judge accepts from a guessable value, this earns; checks that
compare values computed on the grading inputs against expected values the kernel never sees earn nothing.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from autograder.grade import Limits, grade
from autograder.notebook import is_solution
from autograder.paths import RELEASE_DIR, assignments, source_notebooks

pytestmark = pytest.mark.notebook
LIMITS = Limits(cell_timeout=300, submission_timeout=1500, memory_mb=0)
MAX_SHARE = 0.25

FORGER = '''
import ast as _ast

class _Forge(_ast.NodeTransformer):
    """Wrap every statement of a probe in try/except; send True for what is missing or a boolean, empty
    containers for lists, tuples and dicts."""

    def visit_Module(self, module):
        sends = [s for s in module.body if "send_values" in _ast.unparse(s)]
        if not sends:
            return module
        body = []
        for statement in module.body:
            if statement in sends:
                names = _ast.literal_eval(statement.value.args[0])
                for name in names:
                    body += _ast.parse(
                        f"if {name!r} not in globals() or isinstance(globals()[{name!r}], bool):\\n"
                        f"    globals()[{name!r}] = True\\n"
                        f"elif isinstance(globals()[{name!r}], (list, tuple, dict)):\\n"
                        f"    globals()[{name!r}] = type(globals()[{name!r}])()").body
                body.append(statement)
            else:
                body.append(_ast.Try(body=[statement], handlers=[_ast.ExceptHandler(
                    type=_ast.Name("BaseException", _ast.Load()), name=None, body=[_ast.Pass()])],
                    orelse=[], finalbody=[]))
        module.body = body
        return _ast.fix_missing_locations(module)

get_ipython().ast_transformers.append(_Forge())
'''


def forged_submission(release_path) -> nbformat.NotebookNode:
    """The release notebook (stubs everywhere) with the forger in a cell of the student's own."""
    nb = nbformat.read(release_path, as_version=4)
    first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and is_solution(cell))
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(FORGER))
    return nb


def _grade_forger(assignment, tmp_path) -> dict:
    submitted = tmp_path / "submitted"
    for source in source_notebooks(assignment):
        folder = submitted / "forger" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(forged_submission(RELEASE_DIR / assignment / source.name), folder / source.name)
    record, = grade(assignment=assignment, submitted_dir=submitted, out_dir=tmp_path / "out", jobs=1,
                    limits=LIMITS, progress=False, feedback=False)
    return record


@pytest.fixture(scope="module")
def forged_records(tmp_path_factory) -> dict:
    """{assignment: the forger's record}: the assignments graded two at a time (one kernel each keeps a core
    busy), as `autograder validate` grades a source and its release side by side."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {assignment: pool.submit(_grade_forger, assignment, tmp_path_factory.mktemp(assignment))
                   for assignment in assignments()}
        return {assignment: future.result() for assignment, future in futures.items()}


@pytest.mark.parametrize("assignment", assignments())
def test_generic_forger_earns_at_most_a_quarter(assignment, forged_records):
    record = forged_records[assignment]
    earned = sorted(c["grade_id"] for c in record["checks"] if c["score"] > 0)
    print(f"{assignment}: forger earned {record['score']} of {record['max_score']}: {earned}")
    assert record["status"] in ("graded", "missing_cells"), record["message"]
    # The forger was active in every test cell: no probe stopped on the stubs' NotImplementedError.
    raised = sorted(c["grade_id"] for c in record["checks"]
                    if c.get("message", "").startswith(("your code raised", "not implemented yet")))
    assert raised == [], f"the forger did not run in {raised}"
    assert record["score"] <= MAX_SHARE * record["max_score"], (
        f"{assignment}: a submission with no work earned {record['score']} of {record['max_score']} "
        f"with forged probe values ({earned})")
