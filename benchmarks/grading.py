"""`make bench-grading`: our grader (jobs 1 and 2, and on a local Dask scheduler with 1 and 2 single-threaded
workers) against plain `nbgrader autograde`, side by side.

All of them grade the same K copies of an assignment's reference submission in one run; the floor is the
cost of starting one kernel and importing TensorFlow, which no grader can avoid per submission.
Prints seconds per submission, the speed-up ratios and the ratio to the floor, and the cost of drawing one
submission's grading answers (``autograder.inputs``: the NumPy reference, cold and from the cache, already
inside every grading row), and writes benchmarks/results/grading.md.
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


def time_dask(assignment: str, submitted: Path, workers: int, out: Path) -> float:
    """Grading through a local Dask scheduler with ``workers`` single-threaded worker processes (nannies).

    Starting the cluster is not timed (a cluster is a long-lived service); the workers' check is.
    """
    import dask
    from distributed import LocalCluster

    # One task per worker thread at a time, as `docs`/README recommend for grading clusters.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        started = time.perf_counter()
        records = grade(assignment=assignment, submitted_dir=submitted, out_dir=out, progress=False, feedback=True,
                        scheduler=cluster.scheduler_address, limits=Limits(cell_timeout=600, submission_timeout=3600))
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


def time_answers(assignment: str, cache_dir: Path, students: int = 3) -> tuple[float, float]:
    """Seconds to draw one submission's answers: cold (the NumPy reference runs) and cached (a regrade), the
    median over ``students`` pseudo-students."""
    from statistics import median

    from autograder.inputs import AnswerDrawer

    drawer = AnswerDrawer(os.urandom(32), cache_dir=cache_dir)
    timings = {"cold": [], "cached": []}
    for kind in timings:
        for i in range(students):
            started = time.perf_counter()
            drawer.draw(assignment, f"student{i:02d}", None)
            timings[kind].append(time.perf_counter() - started)
    return median(timings["cold"]), median(timings["cached"])


def answers_line(assignment: str, cold: float, cached: float, per_submission: float) -> str:
    """The report line of the drawn answers' cost, beside the grading time per submission it is part of."""
    return (f"- drawing one submission's grading answers (`{assignment}` NumPy reference, included in every row "
            f"above): {cold:.3f} s cold, {cached * 1000:.1f} ms cached "
            f"({100 * cold / per_submission:.1f}% of `--jobs 1` per submission)")


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
    parser.add_argument("--only-ours", action="store_true",
                        help="skip the floor, the plain notebook run and nbgrader: only our local and Dask rows")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        submitted = make_class(tmp, args.assignment, args.copies)
        from autograder.answers import build_answers

        build_answers(args.assignment)  # the reference imported: its import is not a per-submission cost
        answers_cold, answers_cached = time_answers(args.assignment, tmp / "answers-cache")
        if not args.only_ours:
            floor = time_floor(repeats=3)
            notebook = time_notebook(args.assignment)
        ours_1 = time_ours(args.assignment, submitted, 1, tmp / "out1")
        unsandboxed_1 = time_ours(args.assignment, submitted, 1, tmp / "out1-unsafe", sandbox=False)
        ours_2 = time_ours(args.assignment, submitted, 2, tmp / "out2")
        dask_1 = time_dask(args.assignment, submitted, 1, tmp / "dask1")
        dask_2 = time_dask(args.assignment, submitted, 2, tmp / "dask2")
        if not args.only_ours:
            plain = time_nbgrader(args.assignment, submitted, tmp / "course")
    k = args.copies
    rows = [] if args.only_ours else [
        ("kernel start + import TensorFlow (floor)", floor),
        ("executing the notebook once, no grading (nbclient)", notebook),
        ("nbgrader autograde", plain / k),
    ]
    rows += [
        ("autograder grade --jobs 1", ours_1 / k),
        ("autograder grade --jobs 1 --unsafe-no-sandbox", unsandboxed_1 / k),
        ("autograder grade --jobs 2", ours_2 / k),
        ("autograder grade --scheduler (local Dask, 1 worker x 1 thread)", dask_1 / k),
        ("autograder grade --scheduler (local Dask, 2 workers x 1 thread)", dask_2 / k),
    ]
    lines = [f"Grading {k} reference submissions of `{args.assignment}` on {os.cpu_count()} cores "
             f"({time.strftime('%Y-%m-%d')}; load average {load:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end)",
             "", "| what | seconds per submission |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in rows]
    lines.append("")
    if not args.only_ours:
        lines += [
            f"- speed-up of `--jobs 2` over nbgrader autograde: **{plain / ours_2:.2f}x** (target >= 1.8x)",
            f"- `--jobs 1` per submission over the floor: {ours_1 / k / floor:.2f}x;"
            f" nbgrader autograde over the floor: {plain / k / floor:.2f}x",
            f"- `--jobs 1` per submission over executing the notebook once: {ours_1 / k / notebook:.2f}x"
            " (the grader's own overhead; the rest is the notebook's own work)",
        ]
    lines += [
        f"- speed-up of `--jobs 2` over `--jobs 1`: {ours_1 / ours_2:.2f}x",
        f"- cost of the sandbox per submission (`--jobs 1` over `--unsafe-no-sandbox`): "
        f"{100 * (ours_1 / unsandboxed_1 - 1):+.1f}% (target <= 5%)",
        f"- Dask with 2 workers over local `--jobs 2`, per submission: **{dask_2 / ours_2:.2f}x** (target <= 1.10x);"
        f" Dask with 1 worker over `--jobs 1`: {dask_1 / ours_1:.2f}x",
        answers_line(args.assignment, answers_cold, answers_cached, ours_1 / k),
    ]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    # A reduced run (--only-ours) does not overwrite the full table.
    (RESULTS / ("grading-ours.md" if args.only_ours else "grading.md")).write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
