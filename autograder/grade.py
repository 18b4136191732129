"""`autograder grade`: grade nbgrader's ``submitted/<student_id>/<assignment>/`` layout.

Each submission runs in its own worker process (``autograder.worker``) in a temporary copy of the student's
folder, under a per-cell timeout, a per-submission wall-clock limit and an address-space cap. The parent is
the only writer of the results, the CSV, the gradebook and the feedback.
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
from tqdm import tqdm

from autograder import untrusted
from autograder.answers import AnswerFiles, hidden_keys, npz_bytes, read_npz, reference_names
from autograder.caps import SubmissionGroup, describe_caps
from autograder.judge import answer_key_usage
from autograder.notebook import autograded_checks, manual_points, read_notebook
from autograder.paths import DATA_DIR, HIDDEN_DIR, REPO_ROOT, SOURCE_DIR, source_notebooks, testkit_modules
from autograder.preflight import require_submitted_folder
from autograder.records import GRADED_STATUSES, STATUS_PRECEDENCE, Job, Limits, NotebookResult, Status
from autograder.records import SubmissionAnswers

# score / max_score: the autograded part; manual and extra credit from formgrader; total after the late penalty.
CSV_COLUMNS = ["student_id", "assignment", "score", "max_score", "manual_score", "manual_max_score", "extra_credit",
               "late_penalty", "total", "total_max", "needs_manual_grade", "status", "sandboxed"]
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


def find_submissions(submitted_dir: Path, assignment: str, only: str | None = None) -> list[Submission]:
    submitted_dir = require_submitted_folder(submitted_dir)
    found = []
    for name in untrusted.subfolders(submitted_dir):  # a student folder that is a link is refused when graded
        if only is not None and name != only:
            continue
        found.append(Submission(name, assignment, submitted_dir / name / assignment))
    if only is not None and not found:
        raise FileNotFoundError(f"no submission folder for student {only!r} in {submitted_dir}")
    return found


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


def write_result(out_dir: Path, result: dict) -> Path:
    path = result_path(out_dir, result["student_id"], result["assignment"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)  # a crash of the grader never leaves a half-written record
    return path


def write_csv(out_dir: Path, assignment: str, totals: dict | None = None, unwritten: list[dict] = ()) -> Path:
    """grades.csv from every result record of ``assignment`` under ``out_dir/results`` and the records in
    ``unwritten`` (whose result file could not be written), with the gradebook's ``totals``
    (``autograder.term.gradebook_totals``: manual points, late penalty) where given."""
    rows = []
    paths = sorted((Path(out_dir) / "results").glob(f"*/{assignment}.json"))
    on_disk = [json.loads(path.read_text()) for path in paths]
    for record in on_disk + [r for r in unwritten if r["student_id"] not in {d["student_id"] for d in on_disk}]:
        row = {key: record.get(key, True) if key == "sandboxed" else record.get(key, "") for key in CSV_COLUMNS}
        row.update(manual_score=0.0, manual_max_score=record.get("manual_max_score", 0.0), extra_credit=0.0,
                   late_penalty=0.0, total=record["score"],
                   total_max=record["max_score"] + record.get("manual_max_score", 0.0), needs_manual_grade="")
        found = (totals or {}).get(record["student_id"])
        if found is not None:
            row.update(score=found.auto_score, manual_score=found.manual_score, manual_max_score=found.manual_max,
                       extra_credit=found.extra_credit, late_penalty=found.late_penalty, total=found.total,
                       total_max=found.max_score, needs_manual_grade=found.needs_manual_grade)
        rows.append(row)
    csv_path = Path(out_dir) / "grades.csv"
    existing = []
    if csv_path.is_file():  # keep other assignments' rows
        with csv_path.open(newline="") as handle:
            existing = [r for r in csv.DictReader(handle) if r.get("assignment") != assignment]
    # A student id from a file name that is not UTF-8 must not cost the class its CSV.
    with csv_path.open("w", newline="", encoding="utf-8", errors="backslashreplace") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(sorted(existing + rows, key=lambda r: (r["assignment"], r["student_id"])))
    return csv_path


def record_finished(record: dict, executed: dict, *, submission: Submission, out_dir: Path, book,
                    autograded_dir: Path, late_config, feedback: bool) -> None:
    """Everything the parent writes for one finished submission: the result, nbgrader's autograded/ notebooks,
    the gradebook (auto scores, timestamp, late penalty; never the grader's manual entries) and the feedback."""
    from autograder import feedback as feedback_module
    from autograder import term

    timestamp, note = term.read_timestamp(submission.folder, trusted_root=submission.submitted_dir)
    # Text no file or database can take (a lone surrogate printed by the kernel) is replaced, not fatal.
    cleaned, replaced = untrusted.replace_lone_surrogates({"record": record, "executed": executed})
    if replaced:
        record.update(cleaned["record"])
        executed = cleaned["executed"]
        note = "; ".join(filter(None, (note, f"{replaced} characters that cannot be written (lone surrogates) "
                                       "were replaced by U+FFFD")))
    if note:
        record["message"] = "; ".join(n for n in (record.get("message"), note) if n)
    write_result(out_dir, record)  # the parent is the only writer, one record at a time
    if executed:
        term.write_autograded(autograded_dir, student=record["student_id"], assignment=record["assignment"],
                              executed=executed, submission_folder=submission.folder,
                              trusted_root=submission.submitted_dir)
    book.record(record, executed=executed, timestamp=timestamp, late_config=late_config)
    if feedback:
        totals = term.gradebook_totals(book.db_url, record["assignment"]).get(record["student_id"])
        feedback_module.write_feedback(out_dir, record, totals)


def recording_failed(record: dict, error: Exception, *, out_dir: Path) -> dict:
    """The record of a student whose outputs could not all be written (a write error, text no file takes):
    status ``error`` with the reason, written to results/ again if at all possible. ``unwritten`` is set when
    even that failed (grades.csv then takes the row from memory)."""
    reason = f"recording this submission failed: {_describe(error)}"
    failed, _ = untrusted.replace_lone_surrogates(dict(record))
    failed.update(status=Status.ERROR.value, message="; ".join(filter(None, (failed.get("message"), reason))))
    try:
        write_result(out_dir, failed)
    except Exception as again:  # noqa: BLE001 (the class goes on; the run's summary and exit status tell)
        failed["message"] += f"; its result file could not be written either: {type(again).__name__}: {again}"
        failed["unwritten"] = True
    return failed


def failure_record(submission: Submission, status: str, message: str) -> dict:
    """The record of a submission the grader could not grade (a bug of ours, a worker that kept dying)."""
    return {"student_id": submission.student_id, "assignment": submission.assignment, "score": 0.0,
            "max_score": 0.0, "status": status, "checks": [], "message": message}


def _draw_and_grade(submission: Submission, drawer, **options) -> dict:
    """Grade one submission on the answers ``drawer`` (``autograder.inputs.AnswerDrawer``, None: the answer
    files) draws for it."""
    answers = drawer.for_submission(submission) if drawer is not None else None
    return grade_submission(submission, answers=answers, **options)


def grade_locally(submissions: list[Submission], *, jobs: int, source_dir: Path, limits: Limits,
                  answers_dir: Path, hidden_dir: Path, drawer=None) -> Iterator[tuple[Submission, dict]]:
    """Grade on this machine, ``jobs`` submissions at a time; yield each record as it is done."""
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_draw_and_grade, s, drawer, source_dir=source_dir, limits=limits,
                               answers_dir=answers_dir, hidden_dir=hidden_dir, threads=threads): s
                   for s in submissions}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                record = future.result()
            except Exception as first:  # a bug of ours, or the machine: once more before giving up
                try:
                    record = _draw_and_grade(submission, drawer, source_dir=source_dir, limits=limits,
                                             answers_dir=answers_dir, hidden_dir=hidden_dir, threads=threads)
                    record["message"] = "; ".join(filter(None, (record["message"],
                                                  f"graded again after a grader error: {_describe(first)}")))
                except Exception as error:  # must not lose the rest of the class
                    record = failure_record(submission, "error", f"grader error: {_describe(error)}")
            yield submission, record


def _describe(error: BaseException) -> str:
    """The error and where in our code it was raised (so that a report of it can be acted on)."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(error).__name__}: {error} (at {where})" if where else f"{type(error).__name__}: {error}"


def result_path(out_dir: Path, student_id: str, assignment: str) -> Path:
    return Path(out_dir) / "results" / student_id / f"{assignment}.json"


def grade(*, assignment: str, submitted_dir: Path, out_dir: Path, jobs: int | None = None,
          db_url: str | None = None, only: str | None = None, limits: Limits = Limits(),
          source_dir: Path = SOURCE_DIR, answers_dir: Path = DATA_DIR, hidden_dir: Path = HIDDEN_DIR,
          feedback: bool = True, progress: bool = True, scheduler: str | None = None,
          resume: bool = False, autograded_dir: Path | None = None,
          config_file: Path | None = REPO_ROOT / "nbgrader_config.py", inputs=None) -> list[dict]:
    """Grade a class; write results, grades.csv, the gradebook, nbgrader's autograded/ and feedback; return
    the records.

    Grades on this machine (``jobs`` at a time), or with ``scheduler`` (``tcp://host:8786``) on that Dask
    cluster (``autograder.distributed``); either way this process is the only writer of the outputs.
    ``resume`` skips students whose record is already in ``out_dir/results`` (their records are returned too).
    ``autograded_dir`` (default OUT/autograded) is where formgrader finds the executed notebooks; its parent
    becomes a course root (``autograder.term.write_formgrader_config``). ``config_file`` gives the due dates
    (``c.Autograder.due_dates``) and the late penalty plugin (``c.AssignLatePenalties.plugin_class``).
    Refuses (``SandboxUnavailable``, naming the fix) when ``limits.sandbox`` and no sandbox can be started
    here (local grading) or on a worker (``distributed.ClusterRefused``).
    An assignment with an answer reference is graded on inputs drawn per submission (``autograder.inputs``;
    ``inputs``, a ``GradingInputs``, says where the secret and the cache are; default ``c.Autograder.*``).
    """
    from autograder import gradebook, term
    from autograder.sandbox import require_sandbox

    if limits.sandbox and scheduler is None:
        require_sandbox()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source_notebooks(assignment, source_dir)  # fails early, naming the assignment, if it does not exist
    submissions = find_submissions(submitted_dir, assignment, only)
    records = []
    if resume:  # a rerun after a stop grades only what is missing
        done = [s for s in submissions if result_path(out_dir, s.student_id, assignment).is_file()]
        records = [json.loads(result_path(out_dir, s.student_id, assignment).read_text()) for s in done]
        submissions = [s for s in submissions if s not in done]
    db_url = db_url or f"sqlite:///{(out_dir / 'gradebook.db').resolve()}"
    book = gradebook.Recorder(db_url=db_url, assignment=assignment, source_dir=source_dir)
    config = term.load_config(config_file)
    due = term.term_settings(config).due_dates.get(assignment)
    if due:
        term.set_due_date(db_url, assignment, due)
    autograded_dir = Path(autograded_dir) if autograded_dir else out_dir / "autograded"
    term.write_formgrader_config(autograded_dir=autograded_dir, db_url=db_url, source_dir=source_dir,
                                 submitted_dir=submitted_dir)
    from autograder.inputs import GradingInputs

    inputs = inputs if inputs is not None else GradingInputs.from_config(config)
    drawer = inputs.drawer() if assignment in reference_names() else None  # a bad secret stops before grading
    where = dict(source_dir=source_dir, limits=limits, answers_dir=answers_dir, hidden_dir=hidden_dir, drawer=drawer)
    if scheduler is not None:
        from autograder.distributed import grade_on_cluster

        graded = grade_on_cluster(submissions, scheduler=scheduler, **where)
    else:
        graded = grade_locally(submissions, jobs=jobs or os.cpu_count() or 1, **where)
    started = time.monotonic()
    try:
        with tqdm(total=len(submissions), unit="submission", disable=not progress, file=sys.stderr) as bar:
            for submission, record in graded:
                executed = record.pop("executed", {})  # instructor-only: never in results/ or feedback
                try:
                    record_finished(record, executed, submission=submission, out_dir=out_dir, book=book,
                                    autograded_dir=autograded_dir, late_config=config, feedback=feedback)
                except Exception as error:  # one student's bad record never stops the class
                    record = recording_failed(record, error, out_dir=out_dir)
                records.append(record)
                bar.set_postfix_str(f"{submission.student_id}: {record['status']}")
                bar.update()
    finally:  # a run stopped half-way (a lost scheduler) still leaves a CSV of every record written
        graded.close()
        try:
            totals = term.gradebook_totals(db_url, assignment)
        except Exception as error:  # noqa: BLE001 (the CSV of the scores is still written)
            print(f"autograder grade: the gradebook could not be read for grades.csv ({_describe(error)}); "
                  "its rows carry the autograded scores only", file=sys.stderr)
            totals = None
        write_csv(out_dir, assignment, totals, unwritten=[r for r in records if r.get("unwritten")])
    records.sort(key=lambda r: r["student_id"])
    if progress:
        print(summary_table(records, time.monotonic() - started, totals), file=sys.stderr)
    return records


def summary_table(records: list[dict], seconds: float, totals: dict | None = None) -> str:
    """The table `grade` prints: per student the columns of grades.csv (auto, by hand, late penalty, total),
    from the gradebook's ``totals`` where a student has them, so the two never tell different stories."""
    graded = [r for r in records if r["status"] in GRADED_STATUSES]
    counts = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    mean = sum(r["score"] for r in graded) / len(graded) if graded else 0.0
    width = max([len(r["student_id"]) for r in records] + [10])
    header = f"{'student':<{width}}  {'auto':>11}  {'by hand':>17}  {'late':>6}  {'total':>13}  status"
    lines = [header, "-" * len(header)]
    for r in records:
        found = (totals or {}).get(r["student_id"])
        manual_max = found.manual_max if found else r.get("manual_max_score", 0.0)
        if not manual_max:
            by_hand = "-"
        elif found is None or found.needs_manual_grade:
            by_hand = f"pending / {manual_max:g}"
        else:
            by_hand = f"{found.manual_score:g} / {manual_max:g}"
        penalty = found.late_penalty if found else 0.0
        total = found.total if found else r["score"]
        total_max = found.max_score if found else r["max_score"] + (r.get("manual_max_score") or 0.0)
        auto = f"{r['score']:g} / {r['max_score']:g}"
        lines.append(f"{r['student_id']:<{width}}  {auto:>11}  {by_hand:>17}  {-penalty if penalty else 0:>6g}  "
                     f"{f'{total:g} / {total_max:g}':>13}  {r['status']}"
                     + (f"  ({r['message'][:80]})" if r.get("message") else ""))
    lines.append("-" * len(header))
    lines.append(f"{len(records)} submissions in {seconds:.0f} s: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                 + f"; mean score of graded {mean:.2f}")
    return "\n".join(lines)
