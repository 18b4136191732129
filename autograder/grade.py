"""`autograder grade`: grade nbgrader's ``submitted/<student_id>/<assignment>/`` layout.

Each submission is graded by ``autograder.submission.grade_submission`` (each notebook in its own worker
process, ``autograder.worker``, in a temporary copy of the student's folder, under a per-cell timeout, a
per-submission wall-clock limit and the resource caps), on this machine or on a Dask cluster
(``autograder.distributed``). This process is the only writer of the results, the CSV (``autograder.results``),
the gradebook and the feedback.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from autograder import feedback as feedback_module
from autograder import gradebook, term, untrusted
from autograder.answers import reference_names
from autograder.distributed import grade_on_cluster
from autograder.inputs import GradingInputs
from autograder.paths import DATA_DIR, HIDDEN_DIR, REPO_ROOT, SOURCE_DIR, source_notebooks
from autograder.preflight import require_submitted_folder
from autograder.records import GRADED_STATUSES, Limits, Status
from autograder.results import result_path, write_csv, write_result
from autograder.sandbox import require_sandbox
from autograder.submission import prepare_answers, run_notebook  # noqa: F401 (validate's and the tests' names)
from autograder.submission import Submission, failure_record, grade_submission


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


def record_finished(record: dict, executed: dict, *, submission: Submission, out_dir: Path, book,
                    autograded_dir: Path, late_config, feedback: bool) -> None:
    """Everything the parent writes for one finished submission: the result, nbgrader's autograded/ notebooks,
    the gradebook (auto scores, timestamp, late penalty; never the grader's manual entries) and the feedback."""
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
    inputs = inputs if inputs is not None else GradingInputs.from_config(config)
    drawer = inputs.drawer() if assignment in reference_names() else None  # a bad secret stops before grading
    where = dict(source_dir=source_dir, limits=limits, answers_dir=answers_dir, hidden_dir=hidden_dir, drawer=drawer)
    if scheduler is not None:
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
