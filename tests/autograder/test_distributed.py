"""Grading the tiny class on a real Dask cluster on localhost: a `dask scheduler` and `dask worker`s (with
nannies, one thread each) started from the venv; same scores as local grading; faults (a worker killed
mid-batch, a submission that keeps killing its worker, a scheduler that goes away, workers that differ)."""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import psutil
import pytest

from autograder import grade as grade_module
from autograder import submission as submission_module
from autograder.distributed import (
    ClusterRefused,
    SchedulerLost,
    check_workers,
    collect_course,
    collect_submission,
    describe_worker,
    grade_on_cluster,
    grade_task,
)
from autograder.grade import Limits, Submission, grade
from autograder.inputs import GradingInputs
from autograder.records import GradingTask
from conftest import DRAWN, DRAWN_FULL, DRAWN_NOTEBOOK, TINY, TINY_NOTEBOOK, replace_solution, write_submission

LIMITS = Limits(cell_timeout=10, submission_timeout=60, memory_mb=4096)
DASK = Path(sys.executable).parent / "dask"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and nanny-managed workers as subprocesses; every process is stopped by ``stop``."""

    def __init__(self, folder: Path, workers: int = 2, allowed_failures: int = 1):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        # One task per single-threaded worker (no queued task shares a worker's death), and a low retry budget.
        self.env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=str(allowed_failures),
                        DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.log = (folder / "cluster.log").open("ab")
        self.scheduler = self._start(["scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                                      "--no-dashboard"])
        self.workers = [self._start(["worker", self.address, "--nthreads", "1", "--nworkers", "1", "--host",
                                     "127.0.0.1", "--no-dashboard", "--name", f"w{i}",
                                     "--local-directory", str(folder / f"w{i}")]) for i in range(workers)]
        from distributed import Client

        self.client = Client(self.address, timeout=60, set_as_default=False)
        self.client.wait_for_workers(workers, timeout=120)

    def _start(self, args):
        return subprocess.Popen([str(DASK), *args], stdout=self.log, stderr=subprocess.STDOUT, env=self.env)

    def worker_pids(self) -> set[int]:
        """The worker processes (children of the nannies) that run the tasks."""
        pids = set()
        for nanny in self.workers:
            try:
                pids |= {child.pid for child in psutil.Process(nanny.pid).children()}
            except psutil.NoSuchProcess:
                continue
        return pids

    def stop(self):
        self.client.close(timeout=10)
        for process in self.workers + [self.scheduler]:
            submission_module._kill_tree(process.pid)
            process.wait(timeout=30)
        self.log.close()


def _grading_processes(worker_pids: set[int], student: str | None = None) -> list[psutil.Process]:
    """``autograder.worker`` processes started by these Dask workers (for ``student`` only, if given)."""
    found = []
    for pid in worker_pids:
        try:
            children = psutil.Process(pid).children()
        except psutil.NoSuchProcess:
            continue
        for child in children:
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if "autograder.worker" in cmdline and (student is None or f"grade-{student}-" in cmdline):
                found.append(child)
    return found


class WorkerKiller(threading.Thread):
    """SIGKILLs a Dask worker process (not its nanny) while it grades ``student`` (any student if None),
    ``times`` times; remembers what it killed and the grading processes those workers had started."""

    def __init__(self, cluster: Cluster, student: str | None, times: int):
        super().__init__(daemon=True)
        self.cluster, self.student, self.times = cluster, student, times
        self.killed: list[str] = []  # the command lines of the grading processes running when their worker died
        self.orphans: list[psutil.Process] = []
        self.done = threading.Event()

    def run(self):
        while len(self.killed) < self.times and not self.done.is_set():
            for grading in _grading_processes(self.cluster.worker_pids(), self.student):
                try:
                    worker = grading.parent()
                    time.sleep(0.5)  # mid-task: the kernel has started
                    self.killed.append(" ".join(grading.cmdline()))
                    self.orphans.append(grading)
                    os.kill(worker.pid, signal.SIGKILL)
                except (psutil.NoSuchProcess, ProcessLookupError, AttributeError):
                    continue
                time.sleep(2)  # let the nanny notice before looking again
                break
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    running = Cluster(folder)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tiny_class(tiny_course, tmp_path_factory):
    """Six students of mixed outcomes, and their records from local grading (jobs=2)."""
    submitted = tmp_path_factory.mktemp("submitted")
    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    cases = {
        "reference": nbformat.read(solution, as_version=4),
        "untouched": nbformat.read(tiny_course / "release" / TINY / TINY_NOTEBOOK, as_version=4),
        "wrong_add": replace_solution(solution, "add", "def add(a, b):\n    return a - b"),
        "slow_add": replace_solution(solution, "add", "import time\ntime.sleep(2)\ndef add(a, b):\n    return a + b"),
        "invalid_json": '{"cells": [',
    }
    for student, notebook in cases.items():
        write_submission(submitted, student, notebook)
    write_submission(submitted, "renamed", nbformat.read(solution, as_version=4), name="Tiny-mine.ipynb")
    answers = tmp_path_factory.mktemp("answers")
    np.savez(answers / f"{TINY}.npz", x=np.arange(3))
    local = grade(assignment=TINY, submitted_dir=submitted, out_dir=tmp_path_factory.mktemp("local"), jobs=2,
                  limits=LIMITS, source_dir=tiny_course / "source", answers_dir=answers, progress=False)
    return submitted, answers, {r["student_id"]: r for r in local}


def _outcome(record: dict) -> tuple:
    return (record["status"], record["score"], record["max_score"],
            tuple((c["grade_id"], c["score"]) for c in record["checks"]))


@pytest.fixture
def written(monkeypatch):
    """Every record the parent writes, in order (to tell a submission recorded twice)."""
    calls = []
    original = grade_module.write_result

    def counting(out_dir, record):
        calls.append(record["student_id"])
        return original(out_dir, record)

    monkeypatch.setattr(grade_module, "write_result", counting)
    return calls


def _grade_on(cluster, tiny_course, tiny_class, out, **options):
    submitted, answers, _ = tiny_class
    return grade(assignment=TINY, submitted_dir=submitted, out_dir=out, limits=LIMITS, scheduler=cluster.address,
                 source_dir=tiny_course / "source", answers_dir=answers, progress=False, **options)


@pytest.mark.slow  # the default run compares with local grading in the killed-worker test below
def test_cluster_grades_every_student_as_local_grading_does(cluster, tiny_course, tiny_class, tmp_path, written):
    _, _, local = tiny_class
    records = _grade_on(cluster, tiny_course, tiny_class, tmp_path)
    assert {r["student_id"]: _outcome(r) for r in records} == {s: _outcome(r) for s, r in local.items()}
    assert sorted(written) == sorted(local)  # each student written once
    assert (tmp_path / "grades.csv").read_text().count("\n") == len(local) + 1
    assert (tmp_path / "feedback" / "wrong_add" / f"{TINY}.html").is_file()


@pytest.mark.slow  # `make test` budget; .ci/run runs it after `make test`
def test_a_task_returns_the_local_record_with_the_executed_notebook(cluster, tiny_course, tiny_class, tmp_path):
    submitted, answers, _ = tiny_class
    submission = Submission("wrong_add", TINY, submitted / "wrong_add" / TINY)
    course = collect_course(TINY, source_dir=tiny_course / "source", answers_dir=answers,
                            hidden_dir=tmp_path / "no-hidden")
    task = GradingTask(submission=collect_submission(submission), course=course, limits=LIMITS.as_dict(),
                       threads_by_host={})
    remote = cluster.client.submit(grade_task, task, pure=False).result()
    assert list(remote["executed"]) == [TINY_NOTEBOOK]
    assert nbformat.validate(nbformat.from_dict(remote.pop("executed")[TINY_NOTEBOOK])) is None
    local = dict(tiny_class[2]["wrong_add"])
    for when in ("graded_at", "grading_seconds"):  # when and how long each run took: the only fields that differ
        assert remote.pop(when) and local.pop(when)
    assert remote == local  # the local record, field for field (grade() popped executed)


@pytest.mark.slow  # `make test` budget; .ci/run runs it after `make test`
def test_worker_killed_mid_batch_loses_and_duplicates_nothing(cluster, tiny_course, tiny_class, tmp_path, written):
    _, _, local = tiny_class
    killer = WorkerKiller(cluster, student=None, times=1)
    killer.start()
    try:
        records = _grade_on(cluster, tiny_course, tiny_class, tmp_path)
    finally:
        killer.done.set()
        killer.join()
    assert len(killer.killed) == 1, "no worker was killed mid-task: the test proved nothing"
    assert sorted(written) == sorted(local)  # every student recorded, none twice
    assert {r["student_id"]: _outcome(r) for r in records} == {s: _outcome(r) for s, r in local.items()}
    # The grading process of the killed worker died with it (nothing grades on for a dead parent).
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in killer.orphans)
    cluster.client.wait_for_workers(2, timeout=120)  # the nanny restarted it


@pytest.mark.slow
def test_submission_that_keeps_killing_its_worker_ends_crashed(cluster, tiny_course, tiny_class, tmp_path,
                                                              written):
    _, _, local = tiny_class
    killer = WorkerKiller(cluster, student="slow_add", times=2)  # allowed-failures=1: the second death is final
    killer.start()
    try:
        records = {r["student_id"]: r for r in _grade_on(cluster, tiny_course, tiny_class, tmp_path)}
    finally:
        killer.done.set()
        killer.join()
    assert len(killer.killed) == 2 and all("grade-slow_add-" in k for k in killer.killed)
    assert records["slow_add"]["status"] == "crashed"
    assert "died" in records["slow_add"]["message"]
    others = {s: _outcome(r) for s, r in records.items() if s != "slow_add"}
    assert others == {s: _outcome(r) for s, r in local.items() if s != "slow_add"}
    assert sorted(written) == sorted(local)
    cluster.client.wait_for_workers(2, timeout=120)


@pytest.mark.slow
def test_lost_scheduler_stops_the_run_keeps_records_and_resume_grades_the_rest(
        cluster, tiny_course, tiny_class, tmp_path, written):
    _, _, local = tiny_class
    doomed = Cluster(tmp_path / "doomed", workers=1)
    out = tmp_path / "out"

    def kill_scheduler_after_first_record():
        while not list((out / "results").glob(f"*/{TINY}.json")):
            time.sleep(0.1)
        os.kill(doomed.scheduler.pid, signal.SIGKILL)

    threading.Thread(target=kill_scheduler_after_first_record, daemon=True).start()
    try:
        with pytest.raises(SchedulerLost, match="--resume"):
            _grade_on(doomed, tiny_course, tiny_class, out)
    finally:
        doomed.stop()
    kept = sorted(p.parent.name for p in (out / "results").glob(f"*/{TINY}.json"))
    assert kept and len(kept) < len(local)
    assert sorted(written) == kept
    assert (out / "grades.csv").read_text().count("\n") == len(kept) + 1  # the CSV of what was written
    written.clear()
    records = _grade_on(cluster, tiny_course, tiny_class, out, resume=True)
    assert sorted(written) == sorted(set(local) - set(kept))  # only the missing ones were graded
    assert {r["student_id"]: _outcome(r) for r in records} == {s: _outcome(r) for s, r in local.items()}


def test_unreachable_scheduler_is_refused_clearly(tiny_course, tiny_class, tmp_path):
    submitted, answers, _ = tiny_class
    address = f"tcp://127.0.0.1:{_free_port()}"
    graded = grade_on_cluster([Submission("reference", TINY, submitted / "reference" / TINY)], scheduler=address,
                              source_dir=tiny_course / "source", limits=LIMITS, answers_dir=answers,
                              hidden_dir=tmp_path, connect_timeout=2)
    with pytest.raises(ClusterRefused, match=f"cannot reach the Dask scheduler at {address}"):
        next(graded)


def test_workers_that_differ_are_refused_by_name(tiny_course, tmp_path):
    course = collect_course(TINY, source_dir=tiny_course / "source", answers_dir=tmp_path, hidden_dir=tmp_path)
    here = describe_worker(course)
    same = dataclasses.replace(here, address="tcp://10.0.0.1:4000")
    check_workers([same], here=here, sandbox=True)  # an identical worker passes
    old_code = dataclasses.replace(here, address="tcp://10.0.0.2:4000", code_digest="0" * 64)
    other_course = dataclasses.replace(here, address="tcp://10.0.0.3:4000", course_digest="f" * 64)
    no_sandbox = dataclasses.replace(here, address="tcp://10.0.0.4:4000", sandbox_problem="bwrap is missing")
    with pytest.raises(ClusterRefused) as refused:
        check_workers([same, old_code, other_course, no_sandbox], here=here, sandbox=True)
    message = str(refused.value)
    assert "tcp://10.0.0.1:4000" not in message
    assert "worker tcp://10.0.0.2:4000: gan-course" in message and "install the same version" in message
    assert "worker tcp://10.0.0.3:4000: course files" in message
    assert "worker tcp://10.0.0.4:4000: cannot start a sandbox: bwrap is missing" in message
    check_workers([no_sandbox], here=here, sandbox=False)  # --unsafe-no-sandbox needs no bubblewrap
    with pytest.raises(ClusterRefused, match="no workers"):
        check_workers([], here=here, sandbox=True)


@pytest.mark.slow  # `make test` budget; .ci/run runs it after `make test`
def test_local_resume_grades_only_missing_students(tiny_course, tiny_class, tmp_path, written):
    submitted, answers, local = tiny_class
    students = ("reference", "invalid_json")
    for student in students:
        shutil.copytree(submitted / student, tmp_path / "submitted" / student)
    options = dict(assignment=TINY, submitted_dir=tmp_path / "submitted", out_dir=tmp_path / "out", limits=LIMITS,
                   jobs=1, source_dir=tiny_course / "source", answers_dir=answers, progress=False)
    grade(only="invalid_json", **options)
    written.clear()
    records = grade(resume=True, **options)
    assert written == ["reference"]
    assert {r["student_id"]: _outcome(r) for r in records} == {s: _outcome(local[s]) for s in students}


def test_cluster_grades_on_answers_drawn_here_and_no_task_holds_the_secret(cluster, drawn_reference, tmp_path):
    """Each task carries its submission's answers, drawn on this machine (the workers know neither the secret nor
    the `drawn` reference): the reference earns full marks on them, a copy of the public `want` earns nothing."""
    import cloudpickle

    course = drawn_reference
    instructor = GradingInputs(grading_secret=str(tmp_path / "config" / "grading-secret"),
                               answers_cache=str(tmp_path / "cache"))
    solution = course / "source" / DRAWN / DRAWN_NOTEBOOK
    public_want = np.load(course / "data" / f"{DRAWN}.npz")["double_true"]
    submitted = tmp_path / "submitted"
    notebooks = {"alice": nbformat.read(solution, as_version=4), "bob": nbformat.read(solution, as_version=4),
                 "copier": replace_solution(solution, "double",
                                            f"def double(x):\n    return np.array({public_want.tolist()!r})")}
    for student, notebook in notebooks.items():
        write_submission(submitted, student, notebook, name=DRAWN_NOTEBOOK, assignment=DRAWN)
    records = {r["student_id"]: r for r in grade(
        assignment=DRAWN, submitted_dir=submitted, out_dir=tmp_path / "out", limits=LIMITS,
        scheduler=cluster.address, source_dir=course / "source", answers_dir=course / "data",
        hidden_dir=course / "hidden", progress=False, inputs=instructor)}
    drawer = instructor.drawer()
    for student in ("alice", "bob"):
        assert records[student]["score"] == DRAWN_FULL, records[student]["message"]
        assert records[student]["answers_seed"] == drawer.seed(DRAWN, student, None)
    assert records["alice"]["answers_seed"] != records["bob"]["answers_seed"]
    assert records["copier"]["score"] == 0
    secret_hex = (tmp_path / "config" / "grading-secret").read_text().strip()
    submission = Submission("alice", DRAWN, submitted / "alice" / DRAWN)
    task = GradingTask(submission=collect_submission(submission), limits=LIMITS.as_dict(), threads_by_host={},
                       course=collect_course(DRAWN, source_dir=course / "source", answers_dir=course / "data",
                                             hidden_dir=course / "hidden"),
                       answers=drawer.for_submission(submission))
    blob = cloudpickle.dumps(task)
    assert task.answers.seed == records["alice"]["answers_seed"]
    assert secret_hex.encode() not in blob and bytes.fromhex(secret_hex) not in blob
