"""`make bench-grading`: our grader (jobs 1 and 2) against plain `nbgrader autograde`, side by side.

All three grade the same K copies of an assignment's reference submission in one run; the floor is the
cost of starting one kernel and importing TensorFlow, which no grader can avoid per submission.
Prints seconds per submission, the speed-up ratios and the ratio to the floor, and writes
benchmarks/results/grading.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.grade import Limits, grade
from autograder.nbgrader_api import ensure_alembic_on_path
from autograder.paths import DATA_DIR, SOURCE_DIR, source_notebooks

RESULTS = Path(__file__).resolve().parent / "results"


def make_class(folder: Path, assignment: str, copies: int) -> Path:
    submitted = folder / "submitted"
    for i in range(copies):
        target = submitted / f"student{i:02d}" / assignment
        target.mkdir(parents=True)
        for notebook in source_notebooks(assignment):
            shutil.copy(notebook, target / notebook.name)
    return submitted


def time_ours(assignment: str, submitted: Path, jobs: int, out: Path, sandbox: bool = True) -> float:
    started = time.perf_counter()
    records = grade(assignment=assignment, submitted_dir=submitted, out_dir=out, jobs=jobs, progress=False,
                    feedback=True, limits=Limits(cell_timeout=600, submission_timeout=3600, sandbox=sandbox))
    elapsed = time.perf_counter() - started
    assert all(r["score"] == r["max_score"] for r in records), [r["message"] for r in records]
    return elapsed


def time_nbgrader(assignment: str, submitted: Path, course: Path) -> float:
    """Plain `nbgrader autograde` on a course folder laid out the way nbgrader expects."""
    shutil.copytree(SOURCE_DIR / assignment, course / "source" / assignment)
    shutil.copytree(submitted, course / "submitted")
    ensure_alembic_on_path()
    env = dict(os.environ, GAN_COURSE_ANSWERS=str(DATA_DIR), TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    common = [f"--CourseDirectory.root={course}", "--CourseDirectory.course_id=gan-course",
              f"--db=sqlite:///{course / 'gradebook.db'}"]
    subprocess.run(nbgrader + ["generate_assignment", assignment, "--force"] + common,
                   check=True, capture_output=True, env=env, cwd=course)
    started = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", assignment, "--force", "--ExecutePreprocessor.timeout=600"] + common,
                   check=True, capture_output=True, env=env, cwd=course)
    return time.perf_counter() - started


def time_floor(repeats: int) -> float:
    """Seconds to start a kernel and import TensorFlow (the per-submission cost no grader avoids)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import tensorflow as tf\nimport course.checks")])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        NotebookClient(nbformat.from_dict(nb), kernel_name="python3", timeout=600).execute()
        times.append(time.perf_counter() - started)
    return min(times)


def time_notebook(assignment: str) -> float:
    """Seconds to execute the source notebooks once in fast mode with plain nbclient, without any grading."""
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        started = time.perf_counter()
        for path in source_notebooks(assignment):
            NotebookClient(nbformat.read(path, as_version=4), kernel_name="python3", timeout=600,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        return time.perf_counter() - started
    finally:
        del os.environ["NBGRADER_EXECUTION"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="gan_basics")
    parser.add_argument("--copies", type=int, default=6)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        submitted = make_class(tmp, args.assignment, args.copies)
        floor = time_floor(repeats=3)
        notebook = time_notebook(args.assignment)
        ours_1 = time_ours(args.assignment, submitted, 1, tmp / "out1")
        unsandboxed_1 = time_ours(args.assignment, submitted, 1, tmp / "out1-unsafe", sandbox=False)
        ours_2 = time_ours(args.assignment, submitted, 2, tmp / "out2")
        plain = time_nbgrader(args.assignment, submitted, tmp / "course")
    k = args.copies
    rows = [
        ("kernel start + import TensorFlow (floor)", floor),
        ("executing the notebook once, no grading (nbclient)", notebook),
        ("nbgrader autograde", plain / k),
        ("autograder grade --jobs 1", ours_1 / k),
        ("autograder grade --jobs 1 --unsafe-no-sandbox", unsandboxed_1 / k),
        ("autograder grade --jobs 2", ours_2 / k),
    ]
    lines = [f"Grading {k} reference submissions of `{args.assignment}` on {os.cpu_count()} cores "
             f"({time.strftime('%Y-%m-%d')})", "", "| what | seconds per submission |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in rows]
    lines += [
        "",
        f"- speed-up of `--jobs 2` over nbgrader autograde: **{plain / ours_2:.2f}x** (target >= 1.8x)",
        f"- speed-up of `--jobs 2` over `--jobs 1`: {ours_1 / ours_2:.2f}x",
        f"- cost of the sandbox per submission (`--jobs 1` over `--unsafe-no-sandbox`): "
        f"{100 * (ours_1 / unsandboxed_1 - 1):+.1f}% (target <= 5%)",
        f"- `--jobs 1` per submission over the floor: {ours_1 / k / floor:.2f}x;"
        f" nbgrader autograde over the floor: {plain / k / floor:.2f}x",
        f"- `--jobs 1` per submission over executing the notebook once: {ours_1 / k / notebook:.2f}x"
        " (the grader's own overhead; the rest is the notebook's own work)",
    ]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grading.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
