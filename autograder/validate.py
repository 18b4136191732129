"""`autograder validate`: the source notebooks follow the conventions, earn every autograded point, and the
release stubs earn none.

Three steps per notebook: ``autograder.judge.lint_notebook`` (probe/judge test cells, imports first, no bare
``assert``, one grading flag, no hidden expected value read by visible code) and
``autograder.specified_names.unspecified_reads`` (locked cells read only what the text names); then both runs go through the
grading worker (sandbox, probe, judge), so validation exercises exactly what grading does: an assignment with
an answer reference is graded on inputs drawn for a pseudo-student (``autograder.inputs.VALIDATE_STUDENT``),
as a real submission's are, so full marks prove the solutions and the reference agree on drawn inputs.
"""
from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder.answers import hidden_keys, reference_names
from autograder.inputs import VALIDATE_STUDENT, GradingInputs
from autograder.judge import lint_notebook
from autograder.nbgrader_api import generate_assignment
from autograder.notebook import autograded_checks, read_notebook
from autograder.paths import DATA_DIR, HIDDEN_DIR, SOURCE_DIR, source_notebooks
from autograder.records import Limits, NotebookResult, SubmissionAnswers
from autograder.specified_names import unspecified_reads
from autograder.submission import prepare_answers, run_notebook


def _run(assignment: str, source_path: Path, submission_path: Path, limits: Limits, answers_dir: Path,
         hidden_dir: Path, answers: SubmissionAnswers | None) -> NotebookResult:
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        kernel_answers, judge_answers = prepare_answers(assignment, answers_dir=answers_dir, hidden_dir=hidden_dir,
                                                        dest=Path(tmp), source_dir=source_path.parent.parent,
                                                        answers=answers)
        return run_notebook(source_path=source_path, submission_path=submission_path, workdir=workdir,
                            limits=limits, assignment=assignment, kernel_answers_dir=kernel_answers,
                            judge_answers=judge_answers)


def validate(*, assignment: str, source_dir: Path = SOURCE_DIR, answers_dir: Path = DATA_DIR,
             hidden_dir: Path = HIDDEN_DIR, limits: Limits | None = None, jobs: int = 2,
             inputs=None) -> tuple[bool, str]:
    """Return (ok, report) for one assignment. ``inputs`` (``autograder.inputs.GradingInputs``, default its
    defaults) holds the secret the pseudo-student's inputs are drawn with."""
    limits = limits if limits is not None else Limits()
    sources = source_notebooks(assignment, source_dir)
    if not sources:
        return False, f"{assignment}: no notebooks in {source_dir / assignment}"
    lines, ok = [], True
    secret_keys = hidden_keys(assignment) if assignment in reference_names() else frozenset()
    for source_path in sources:
        problems = lint_notebook(source_path, hidden_keys=secret_keys)
        unspecified = unspecified_reads(source_path)
        if unspecified:
            ok = False
            lines.append(f"{assignment}/{source_path.name} [locked cells]: {len(unspecified)} names the text "
                         "does not give:")
            lines += [f"    {problem}" for problem in unspecified]
        if problems:
            ok = False
            lines.append(f"{assignment}/{source_path.name} [conventions]: {len(problems)} problems:")
            lines += [f"    {problem}" for problem in problems]
        else:
            lines.append(f"{assignment}/{source_path.name} [conventions]: OK")
    answers = None
    if assignment in reference_names():
        inputs = inputs if inputs is not None else GradingInputs()
        answers = inputs.drawer().draw(assignment, VALIDATE_STUDENT, None)
        lines.append(f"{assignment}: graded on inputs drawn for {VALIDATE_STUDENT!r} (answers_seed {answers.seed}: "
                     f"`autograder.answers.build_answers({assignment!r}, seed={answers.seed})`)")
    with tempfile.TemporaryDirectory(prefix="validate-release-") as tmp:
        release_dir = Path(tmp) / "release"
        generate_assignment(assignment=assignment, release_dir=release_dir,
                            db_url=f"sqlite:///{Path(tmp) / 'gradebook.db'}", source_dir=source_dir)
        runs = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for source_path in sources:
                release_path = release_dir / assignment / source_path.name
                for kind, path, should_pass in (("source", source_path, True), ("release", release_path, False)):
                    runs.append((source_path, kind, should_pass,
                                 pool.submit(_run, assignment, source_path, path, limits, answers_dir, hidden_dir,
                                             answers)))
            for source_path, kind, should_pass, future in runs:
                result = future.result()
                checks = autograded_checks(read_notebook(source_path), source_path.name)
                where = f"{assignment}/{source_path.name} [{kind}]"
                if not checks:
                    ok = False
                    lines.append(f"{assignment}/{source_path.name}: no autograded checks")
                    continue
                wrong = [c.grade_id for c in checks
                         if (result.checks[c.grade_id].passed if c.grade_id in result.checks else False) != should_pass]
                want = "pass on the solutions" if should_pass else "fail on the stubs"
                if result.status != "graded":
                    ok = False
                    lines.append(f"{where}: status {result.status}: {result.message}")
                if should_pass and result.cell_errors:
                    ok = False
                    lines.append(f"{where}: cells that are not checks raised errors:")
                    lines += [f"    {error}" for error in result.cell_errors]
                if wrong:
                    ok = False
                    lines.append(f"{where}: {len(wrong)} of {len(checks)} checks do not {want}:")
                    for gid in wrong:
                        outcome = result.checks.get(gid)
                        lines.append(f"    {gid}: {(outcome.message if outcome else 'not executed')[:300]}")
                else:
                    lines.append(f"{where}: all {len(checks)} checks {want}")
    return ok, "\n".join(lines)
