"""Grading on a Dask cluster: ``autograder grade A SUBMITTED --out OUT --scheduler tcp://HOST:8786``.

One Dask task per submission. The task runs ``autograder.submission.grade_submission`` on a Dask worker, the code
path of local grading: the worker process starts ``python -m autograder.worker`` per notebook, whose kernel
runs in the same bubblewrap sandbox under the same limits, and returns the submission's record (the dict of
the output contract, ``executed`` notebooks included). This process stays the only writer of ``results/``,
``grades.csv``, the gradebook and feedback, and writes each record as its future completes.

**How workers get the course**: they need only the installed ``gan-course`` package (same version, same
code) and bubblewrap. Each task carries the assignment's source notebooks, its answer files (the
instructor-only ones too: the worker's judge reads them; its kernel gets only the inputs, as locally), the
answers drawn for that submission on this machine (``autograder.inputs``: the grading secret never leaves
it) and the student's submitted folder, as bytes (``autograder.records.GradingTask``). No shared filesystem
is needed and no worker reads a course checkout of its own. At start, ``client.run`` asks every worker for its package
version, a digest of its installed ``autograder``/``course`` code, its Python version, whether a sandbox can
start there, and the digest of the course files it was sent; grading refuses (``ClusterRefused``, naming the
worker) if any differs from this machine's.

**Faults**: a worker that dies mid-task (its nanny restarts it) has the task rerun elsewhere by the scheduler;
after ``distributed.scheduler.allowed-failures`` deaths (a scheduler setting, default 3) the scheduler gives up
with ``KilledWorker`` and the submission is recorded as ``crashed``; the rest of the class goes on. Each future
completes once, so each submission is recorded once. A scheduler that goes away stops the run with
``SchedulerLost``; the records written so far stay, and ``--resume`` grades only the missing ones.
"""
from __future__ import annotations

import os
import platform
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import CancelledError
from importlib import metadata
from pathlib import Path

import autograder
import course as course_package
from autograder import untrusted
from autograder.answers import AnswerFiles
from autograder.records import (
    CourseFiles,
    GradingTask,
    Limits,
    Status,
    SubmissionFiles,
    WorkerDescription,
    bytes_digest,
)
from autograder.sandbox import sandbox_problem
from autograder.submission import Submission, failure_record, grade_submission

PACKAGE = "gan-course"
CONNECT_TIMEOUT = 30  # seconds to reach the scheduler and to see a first worker
TASKS_PER_THREAD = 2  # tasks in flight per worker thread: workers never idle, the scheduler holds little data


class ClusterRefused(RuntimeError):
    """The cluster cannot grade this run: unreachable, no workers, or workers that differ from this machine."""


class SchedulerLost(RuntimeError):
    """The scheduler went away during the run (the records written so far are kept)."""


# --- what travels ---


def collect_course(assignment: str, *, source_dir: Path, answers_dir: Path, hidden_dir: Path) -> CourseFiles:
    """The source notebooks and answer files of ``assignment``, as the task ships them."""
    files = {f"source/{assignment}/{p.name}": p.read_bytes()
             for p in sorted((Path(source_dir) / assignment).glob("*.ipynb"))}
    answer_files = AnswerFiles.of(assignment, data_dir=answers_dir, hidden_dir=hidden_dir)
    for key, path in (("data", answer_files.public), ("hidden", answer_files.hidden)):
        if path.is_file():
            files[f"{key}/{path.name}"] = path.read_bytes()
    return CourseFiles(assignment=assignment, files=files, digest=bytes_digest(files))


def collect_submission(submission, limits: Limits | None = None) -> SubmissionFiles:
    """A student's submitted folder as bytes, as local grading copies it (``autograder.untrusted``: regular
    files only, no link followed, within ``limits.submission_mb`` and ``submission_files``, no checkpoints);
    what was refused or left out travels in ``notes``."""
    limits = limits if limits is not None else Limits()
    files, notes = {}, []
    try:
        files, walked = untrusted.read_folder(submission.submitted_dir, submission.relative,
                                              max_bytes=limits.submission_mb * untrusted.MB,
                                              max_files=limits.submission_files)
        notes = walked.notes
    except untrusted.Refused as refusal:
        notes = [str(refusal)]
    except (FileNotFoundError, NotADirectoryError):
        pass
    return SubmissionFiles(student_id=submission.student_id, assignment=submission.assignment, files=files,
                           notes=tuple(notes))


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = (root / name).resolve()
        if not target.is_relative_to(root.resolve()):
            raise ValueError(f"file name {name!r} points outside its folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# --- this machine and each worker ---


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_digest() -> str:
    """sha256 of the installed ``autograder`` and ``course`` packages' Python files (the code that grades)."""
    files = {}
    for package in (autograder, course_package):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            files[f"{package.__name__}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return bytes_digest(files)


def describe_worker(course: CourseFiles, dask_worker=None) -> WorkerDescription:
    """What one worker has (run there by ``client.run``, which passes ``dask_worker``)."""
    from distributed.comm import get_address_host

    address = dask_worker.address if dask_worker is not None else "local"
    return WorkerDescription(
        address=address, host=get_address_host(address) if dask_worker is not None else platform.node(),
        package_version=package_version(), code_digest=code_digest(), course_digest=bytes_digest(course.files),
        python=platform.python_version(), cpu_count=os.cpu_count() or 1,
        nthreads=dask_worker.state.nthreads if dask_worker is not None else 1, sandbox_problem=sandbox_problem(),
    )


def check_workers(workers: list[WorkerDescription], *, here: WorkerDescription, sandbox: bool) -> None:
    """Refuse (``ClusterRefused``, naming each worker and what differs) unless every worker can grade as here."""
    if not workers:
        raise ClusterRefused("the scheduler has no workers: start some with `dask worker tcp://HOST:8786`")
    problems = []
    for worker in workers:
        differs = []
        if worker.package_version != here.package_version or worker.code_digest != here.code_digest:
            differs.append(f"{PACKAGE} {worker.package_version} (code {worker.code_digest[:12]}) where this machine "
                           f"has {here.package_version} (code {here.code_digest[:12]}): install the same version")
        if worker.python.rsplit(".", 1)[0] != here.python.rsplit(".", 1)[0]:
            differs.append(f"Python {worker.python} where this machine has {here.python}")
        if worker.course_digest != here.course_digest:
            differs.append(f"course files arrived with digest {worker.course_digest[:12]}, sent "
                           f"{here.course_digest[:12]}")
        if sandbox and worker.sandbox_problem:
            differs.append(f"cannot start a sandbox: {worker.sandbox_problem}")
        problems += [f"worker {worker.address}: {d}" for d in differs]
    if problems:
        raise ClusterRefused("refusing to grade on this cluster:\n  " + "\n  ".join(problems))


def thread_budget(workers: list[WorkerDescription]) -> dict[str, int]:
    """TensorFlow threads per kernel on each host: its cores shared by all task slots of its workers."""
    slots: dict[str, int] = {}
    cores: dict[str, int] = {}
    for worker in workers:
        slots[worker.host] = slots.get(worker.host, 0) + worker.nthreads
        cores[worker.host] = worker.cpu_count
    return {host: max(1, cores[host] // slots[host]) for host in slots}


# --- on a worker ---


def grade_task(task: GradingTask) -> dict:
    """Grade one submission on this Dask worker; return its record (run by the worker, not by the caller)."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    task.course.verify()
    worker = get_worker()
    cores = os.cpu_count() or 1
    threads = task.threads_by_host.get(get_address_host(worker.address), max(1, cores // worker.state.nthreads))
    assignment, student = task.submission.assignment, task.submission.student_id
    with tempfile.TemporaryDirectory(prefix=f"dask-grade-{student}-") as tmp:
        course_root = Path(tmp) / "course"
        _write_files(course_root, task.course.files)
        folder = Path(tmp) / "submitted" / student / assignment
        folder.mkdir(parents=True)
        _write_files(folder, task.submission.files)
        record = grade_submission(Submission(student, assignment, folder), source_dir=course_root / "source",
                                  limits=Limits(**task.limits), answers_dir=course_root / "data",
                                  hidden_dir=course_root / "hidden", threads=None if threads >= cores else threads,
                                  answers=task.answers)
    # What the submitting machine refused, first, as local grading words it.
    record["message"] = "; ".join(dict.fromkeys(n for n in (*task.submission.notes, record["message"]) if n))
    return record


# --- on the submitting machine ---


def grade_on_cluster(submissions: list, *, scheduler: str, source_dir: Path, limits: Limits, answers_dir: Path,
                     hidden_dir: Path, connect_timeout: float = CONNECT_TIMEOUT,
                     drawer=None) -> Iterator[tuple[object, dict]]:
    """Grade ``submissions`` on the Dask cluster at ``scheduler``; yield ``(submission, record)`` as each is done.

    ``drawer`` (``autograder.inputs.AnswerDrawer``) draws each submission's answers here, before its task leaves.

    Raises ``ClusterRefused`` before grading anything if the cluster cannot be used, ``SchedulerLost`` if the
    scheduler goes away during the run.
    """
    from distributed import Client, as_completed
    from distributed.scheduler import KilledWorker

    if not submissions:
        return
    assignment = submissions[0].assignment
    course = collect_course(assignment, source_dir=source_dir, answers_dir=answers_dir, hidden_dir=hidden_dir)
    try:
        client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterRefused(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=connect_timeout)
        except TimeoutError:
            raise ClusterRefused(f"the scheduler at {scheduler} has had no worker for {connect_timeout} s: "
                                 f"start some with `dask worker {scheduler}`") from None
        workers = list(client.run(describe_worker, course).values())
        check_workers(workers, here=describe_worker(course), sandbox=limits.sandbox)
        budget = thread_budget(workers)
        run_id = uuid.uuid4().hex[:8]  # keys unique per run: never a result cached from an earlier run

        def submit(submission):
            key = f"grade-{assignment}-{submission.student_id}-{run_id}"
            try:
                answers = drawer.for_submission(submission) if drawer is not None else None
            except Exception as error:  # recorded as this student's grader error, the class goes on
                return client.submit(_not_drawn, f"{type(error).__name__}: {error}", key=key, pure=False, retries=0)
            task = GradingTask(submission=collect_submission(submission, limits), course=course,
                               limits=limits.as_dict(), threads_by_host=budget, answers=answers)
            return client.submit(grade_task, task, key=key, pure=False, retries=0)

        # A bounded window of tasks in flight: the scheduler never holds a whole class of notebooks at once.
        window = max(2, TASKS_PER_THREAD * sum(w.nthreads for w in workers))
        pending = list(submissions)
        futures = {}
        for submission in pending[:window]:
            futures[submit(submission)] = submission
        pending = pending[window:]
        running = as_completed(list(futures), loop=client.loop)
        for future in running:
            submission = futures.pop(future)
            try:
                record = future.result()
            except KilledWorker as error:  # the scheduler's retry budget for worker deaths is spent
                record = failure_record(submission, Status.CRASHED.value,
                                        f"its grading worker died every time it was tried ({error})")
            except (CancelledError, OSError, TimeoutError) as error:
                if client.status not in ("running", "newly-created"):
                    raise SchedulerLost(_lost_message(scheduler)) from error
                record = failure_record(submission, Status.ERROR.value,
                                        f"grader error on the cluster: {type(error).__name__}: {error}")
            except Exception as error:  # a bug of ours must not lose the rest of the class
                record = failure_record(submission, Status.ERROR.value,
                                        f"grader error on the cluster: {type(error).__name__}: {error}")
            if pending:
                following = pending.pop(0)
                future = submit(following)
                futures[future] = following
                running.add(future)
            yield submission, record
    finally:
        client.close()


def _not_drawn(reason: str) -> dict:
    raise RuntimeError(f"could not draw this submission's grading answers: {reason}")


def _lost_message(scheduler: str) -> str:
    return (f"lost the Dask scheduler at {scheduler}; every record received so far is written. Start the "
            "scheduler again and rerun the same command with --resume to grade only the missing submissions")
