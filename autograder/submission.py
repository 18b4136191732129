"""Grading one submission: each of its notebooks in a worker process of its own (``autograder.worker``), in a
temporary copy of the student's folder, under a per-cell timeout, a per-submission wall-clock limit and the
resource caps of ``records.Limits``; the record of the output contract comes back.

Both ways of grading a class run this code: on this machine (``autograder.grade.grade_locally``) and on a Dask
worker (``autograder.distributed.grade_task``). It writes nothing outside its scratch folder: the parent
(``autograder.grade``) is the only writer of the results, the CSV, the gradebook and the feedback.
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from autograder import untrusted
from autograder.answers import AnswerFiles, hidden_keys, npz_bytes, read_npz, reference_names
from autograder.caps import SubmissionGroup, describe_caps
from autograder.judge import answer_key_usage
from autograder.notebook import autograded_checks, manual_points, read_notebook
from autograder.paths import DATA_DIR, HIDDEN_DIR, SOURCE_DIR, source_notebooks, testkit_modules
from autograder.records import STATUS_PRECEDENCE, Job, Limits, NotebookResult, Status, SubmissionAnswers

UNSANDBOXED_NOTE = "graded WITHOUT a sandbox (--unsafe-no-sandbox)"


@dataclass(frozen=True)
class Submission:
    student_id: str
    assignment: str
    folder: Path  # submitted/<student_id>/<assignment>

    @property
    def submitted_dir(self) -> Path:
        """The instructor's folder above the student's: ``<student_id>/<assignment>`` below it is the student's
        (``autograder.untrusted`` reads it without following links)."""
        return self.folder.parents[1]

    @property
    def relative(self) -> str:
        return "/".join(self.folder.parts[-2:])


def _match_notebooks(folder: Path, names: list[str]) -> tuple[dict[str, Path], list[str]]:
    """Map each source notebook name to the student's file; a single renamed notebook is accepted."""
    present = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    matched = {name: folder / name for name in names if (folder / name).is_file()}
    notes = []
    unmatched = [p for p in present if p.name not in names]
    missing = [n for n in names if n not in matched]
    if len(missing) == 1 and len(unmatched) == 1:
        matched[missing[0]] = unmatched.pop()
        notes.append(f"graded {matched[missing[0]].name} as {missing[0]} (renamed)")
    if unmatched:
        notes.append("ignored extra notebooks: " + ", ".join(p.name for p in unmatched))
    return matched, notes


def _kill_tree(pid: int) -> None:
    """Kill a worker and every process it started (the kernel runs in a session of its own)."""
    try:
        parent = psutil.Process(pid)
        processes = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def prepare_answers(assignment: str, *, answers_dir: Path, hidden_dir: Path, dest: Path, source_dir: Path = SOURCE_DIR,
                    answers: SubmissionAnswers | None = None) -> tuple[Path, list[str]]:
    """The kernel's answer folder and the judge's answer files.

    The kernel gets, of its own assignment only, the keys that code running in the kernel reads (probes, setup
    cells and the assignment's testkit module; by name or through an f-string:
    ``autograder.judge.answer_key_usage``), never a hidden expected value.
    With ``answers`` drawn for this submission (``autograder.inputs``) those come from them and the judge reads
    all of them (``dest/judge/``, never mounted in the sandbox); otherwise from the public file, and the judge
    reads the public and hidden files.
    """
    files = AnswerFiles.of(assignment, data_dir=answers_dir, hidden_dir=hidden_dir)
    kernel_dir = dest / "answers"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    judge_files, inputs_from = [str(files.public), str(files.hidden)], files.public
    if answers is not None:
        inputs_from = dest / "judge" / f"{assignment}.npz"
        inputs_from.parent.mkdir(parents=True, exist_ok=True)
        inputs_from.write_bytes(answers.npz)
        judge_files = [str(inputs_from)]
    if inputs_from.is_file():
        # Only keys that kernel code reads, by name or through an f-string (``answers[f"{name}_x"]``), and never
        # one of the hidden expected values (``lint_notebook`` keeps them out of kernel code).
        usage = answer_key_usage(source_notebooks(assignment, source_dir), testkit_modules(assignment))
        secret = hidden_keys(assignment, source_dir) if assignment in reference_names() else frozenset()
        inputs = {k: v for k, v in read_npz(inputs_from).items() if usage.kernel_reads(k) and k not in secret}
        (kernel_dir / f"{assignment}.npz").write_bytes(npz_bytes(inputs))
    return kernel_dir, judge_files


def run_notebook(*, source_path: Path, submission_path: Path, workdir: Path, limits: Limits, assignment: str,
                 kernel_answers_dir: Path, judge_answers: list[str], threads: int | None = None) -> NotebookResult:
    """Grade one notebook in a worker process (``autograder.worker``) and return its result."""
    stem = source_path.stem
    job = Job(
        assignment=assignment, notebook=source_path.name, source_path=str(source_path),
        submission_path=str(submission_path), workdir=str(workdir),
        channel_dir=str(workdir.parent / f"{stem}.channel"), kernel_answers_dir=str(kernel_answers_dir),
        judge_answers=list(judge_answers), result_path=str(workdir.parent / f"{stem}.result.json"),
        progress_path=str(workdir.parent / f"{stem}.progress.jsonl"), cell_timeout=limits.cell_timeout,
        memory_mb=limits.memory_mb, sandbox=limits.sandbox, submission_mb=limits.submission_mb,
        tmp_mb=limits.tmp_mb, workdir_mb=limits.workdir_mb,
        max_processes=limits.max_processes, executed_notebook_mb=limits.executed_notebook_mb,
    )
    # The kernel's own cgroup, made here so that it is removed (whatever is left in it killed) even when the
    # worker is killed.
    group = SubmissionGroup.create(memory_mb=limits.memory_mb, max_processes=limits.max_processes)
    try:
        return _run_worker(replace(job, group=group.to_dict() if group else None), limits=limits, stem=stem,
                           threads=threads, workdir=workdir)
    finally:
        if group is not None:
            group.remove()


def _run_worker(job: Job, *, limits: Limits, stem: str, threads: int | None, workdir: Path) -> NotebookResult:
    source_path = Path(job.source_path)
    job_path = workdir.parent / f"{stem}.job.json"
    job.write(job_path)
    env = dict(os.environ, NBGRADER_EXECUTION="autograde", PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2",
               MPLBACKEND="Agg")
    if threads:  # parallel workers share the cores instead of each kernel claiming all of them
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=str(threads))
    log_path = workdir.parent / f"{stem}.worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "autograder.worker", str(job_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        try:
            process.wait(timeout=limits.submission_timeout)
            killed = None
        except subprocess.TimeoutExpired:
            killed = f"stopped after the {limits.submission_timeout} s limit for a submission"
        # Whatever happened, nothing the worker started outlives it (the sandbox's PID namespace dies with it).
        _kill_tree(process.pid)
    result_path = Path(job.result_path)
    if killed is None and result_path.is_file():
        return NotebookResult.from_dict(json.loads(result_path.read_text()))
    # The worker was killed or died: keep the verdicts it reported before that.
    result = NotebookResult(notebook=source_path.name, sandboxed=limits.sandbox)
    progress_path = Path(job.progress_path)
    if progress_path.is_file():
        for line in progress_path.read_text().splitlines():
            try:
                record = json.loads(line)
                result.checks[record["grade_id"]] = NotebookResult.from_dict(
                    {"notebook": "", "checks": {record["grade_id"]: record}}).checks[record["grade_id"]]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by the kill
    if killed:
        result.status, result.message = Status.TIMEOUT.value, killed
    else:
        tail = log_path.read_bytes()[-400:].decode(errors="replace").strip().splitlines()
        reason = tail[-1] if tail else f"exit code {process.returncode}"
        if "MemoryError" in reason or process.returncode in (-9, 137):
            reason = f"out of memory (limit {limits.memory_mb} MB, c.Autograder.memory_mb): {reason}"
        result.status, result.message = Status.CRASHED.value, f"the grading worker died: {reason}"
    return result


def grade_submission(submission: Submission, *, source_dir: Path, limits: Limits,
                     answers_dir: Path = DATA_DIR, hidden_dir: Path = HIDDEN_DIR,
                     threads: int | None = None, answers: SubmissionAnswers | None = None) -> dict:
    """Grade every notebook of one submission; returns the result record of the output contract.

    ``answers``: drawn for this submission (``autograder.inputs.AnswerDrawer``); the record then names their
    seed. Without them the answer files in ``answers_dir``/``hidden_dir`` serve.

    The record's ``executed`` maps each notebook's file name to the executed notebook (for nbgrader's
    ``autograded/`` folder); the parent takes it out before writing the record.
    """
    started = time.monotonic()
    sources = source_notebooks(submission.assignment, source_dir)
    names = [p.name for p in sources]
    statuses, checks, manual, executed = [], [], 0.0, {}
    # A scratch folder that cannot be removed (a file still being written as the kernel dies) must not throw
    # away the verdicts already decided.
    with tempfile.TemporaryDirectory(prefix=f"grade-{submission.student_id}-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp) / "work"
        notes, refused = _copy_submission(submission, workdir, limits)
        # Matched in the scratch copy: only regular files are there, and the worker reads its notebook there.
        matched, matching_notes = _match_notebooks(workdir, names)
        notes += matching_notes
        # The kernel reads a private copy of its answer inputs: code that overwrites them can only
        # hurt its own run, and the expected values stay with the judge.
        kernel_answers, judge_answers = prepare_answers(submission.assignment, answers_dir=answers_dir,
                                                        hidden_dir=hidden_dir, dest=Path(tmp), source_dir=source_dir,
                                                        answers=answers)
        for source_path in sources:
            source_nb = read_notebook(source_path)
            manual += manual_points(source_nb)
            if source_path.name in matched:
                result = run_notebook(source_path=source_path, submission_path=matched[source_path.name],
                                      workdir=workdir, limits=limits, assignment=submission.assignment,
                                      kernel_answers_dir=kernel_answers, judge_answers=judge_answers,
                                      threads=threads)
            else:
                result = NotebookResult(notebook=source_path.name, status=Status.MISSING.value,
                                        message=refused.get(source_path.name, f"{source_path.name} was not submitted"),
                                        sandboxed=limits.sandbox)
            statuses.append(result.status)
            if result.message:
                notes.append(result.message)
            if result.executed is not None:
                executed[source_path.name] = result.executed
            for info in autograded_checks(source_nb, source_path.name):
                checks.append(_check_entry(info, result.checks.get(info.grade_id)))
    status = next((s for s in STATUS_PRECEDENCE if s in statuses), Status.GRADED.value)
    if not limits.sandbox:
        notes.insert(0, UNSANDBOXED_NOTE)
    return _with_grading_time({
        "student_id": submission.student_id,
        "assignment": submission.assignment,
        "score": sum(c["score"] for c in checks),
        "max_score": sum(c["max_score"] for c in checks),
        "status": status,
        "message": "; ".join(dict.fromkeys(n for n in notes if n)),
        "manual_max_score": manual,
        "sandboxed": bool(limits.sandbox),
        "caps": describe_caps(limits),
        "checks": checks,
        **(answers.record_fields() if answers is not None else {}),
        "executed": executed,
    }, started)


def _with_grading_time(record: dict, started: float) -> dict:
    """The record with when it was graded (``graded_at``, UTC) and the wall time it took (``grading_seconds``),
    for the class report (``autograder.report``)."""
    record["graded_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record["grading_seconds"] = round(time.monotonic() - started, 2)
    return record


def _copy_submission(submission: Submission, workdir: Path, limits: Limits) -> tuple[list[str], dict[str, str]]:
    """Copy the student's folder into the new scratch folder ``workdir``: regular files only, within
    ``limits.submission_mb`` and ``limits.submission_files`` (``autograder.untrusted``). Returns the notes
    (what was refused or left out) and the refusal of each top-level file by name."""
    try:
        walked = untrusted.copy_folder(submission.submitted_dir, submission.relative, workdir,
                                       max_bytes=limits.submission_mb * untrusted.MB,
                                       max_files=limits.submission_files)
    except untrusted.Refused as refusal:  # the student's or the assignment's folder is a link: nothing is read
        workdir.mkdir(exist_ok=True)
        return [str(refusal)], {}
    except (FileNotFoundError, NotADirectoryError):
        workdir.mkdir(exist_ok=True)
        return [], {}
    return walked.notes, {r.name: str(r) for r in walked.refused if "/" not in r.name}


def _check_entry(info, outcome) -> dict:
    """One check of the output contract: the judge's verdict and words (hidden checks: the check's message)."""
    passed = bool(outcome is not None and outcome.passed)
    message = "" if passed else (outcome.message if outcome is not None else "not executed") or "failed"
    return {
        "grade_id": info.grade_id,
        "notebook": info.notebook,
        "score": info.max_score if passed else 0.0,
        "max_score": info.max_score,
        "passed": passed,
        "hidden": info.hidden,
        "message": message[-4000:],
    }


def failure_record(submission: Submission, status: str, message: str) -> dict:
    """The record of a submission the grader could not grade (a bug of ours, a worker that kept dying)."""
    return {"student_id": submission.student_id, "assignment": submission.assignment, "score": 0.0,
            "max_score": 0.0, "status": status, "checks": [], "message": message}
