"""One grading job, run in its own process: ``python -m autograder.worker JOB.json``.

The worker is the trusted side of grading one notebook. It runs outside the sandbox; the kernel that runs
the student's code runs inside one (``autograder.sandbox``) and talks to it only through the Jupyter protocol
on IPC sockets. For each autograded test cell the kernel runs just the cell's imports and probe, then sends
the values the judge needs (``course.probe``); the worker's judge (``autograder.judge``) decides pass or fail
with the expected values, which the kernel never sees. What the kernel prints, the status it replies and the
files it writes decide nothing.

Each verdict is appended to the progress file the moment it is known, so when the parent has to kill a
runaway submission the checks already decided keep their points. Job, progress and result files live beside
the scratch folder, outside the sandbox.
"""
from __future__ import annotations

import ast
import json
import os
import re
import resource
import sys
import threading
import time
from pathlib import Path
from queue import Empty

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async

from autograder import judge as judging
from autograder import untrusted
from autograder.notebook import (
    MISSING_SOLUTION,
    InvalidNotebook,
    assemble,
    autograded_checks,
    grade_id,
    is_autograded_test,
    is_hidden,
    is_solution,
    read_notebook,
)
from autograder.records import CheckOutcome, Job, NotebookResult, Status
from autograder.caps import SubmissionGroup
from autograder.sandbox import kernel_environment, kernel_manager
from course.probe import MIME_TYPE, ProbeError, decode

MAX_OUTPUT_CHARS = 2_000_000  # output kept per cell (figures included); past it only a stream tail is kept
STREAM_TAIL_CHARS = 20_000
CHANNEL_FILES = 1000  # files the kernel may have in its channel folder (it makes a handful of sockets)
CHANNEL_POLL_SECONDS = 0.5


class KernelUnresponsive(Exception):
    """The kernel stayed busy after a cell timed out and was interrupted (it ignores SIGINT)."""


class _BoundedClient(NotebookClient):
    """nbclient with caps on kept output, measured on each message as it arrives (a cell's outputs, one message,
    the notebook as a whole), so neither a flood of prints nor one huge display can exhaust the worker's or the
    parent's memory; and that stops at once when an interrupted kernel does not come back (rather than timing out
    every later cell)."""

    interrupt_grace = 10  # seconds an interrupted kernel has to become responsive again
    notebook_chars = 0  # output the whole notebook may keep (0: no cap); ``kept`` counts what it keeps

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)
        # An empty execution is answered only once the shell is idle again (kernel_info is not: ipykernel 7
        # answers it while busy).
        msg_id = self.kc.execute("", silent=True, store_history=False)
        deadline = time.monotonic() + self.interrupt_grace
        while time.monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic())))
            except Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                return reply
        raise KernelUnresponsive(f"a cell ran over {timeout} s and the kernel ignored the interrupt")

    def _room(self, outs) -> int:
        """Characters this cell may still keep: its own cap, and what is left of the notebook's."""
        room = MAX_OUTPUT_CHARS - _size(outs)
        if self.notebook_chars:
            room = min(room, self.notebook_chars - getattr(self, "kept", 0))
        return room

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        content = msg.get("content", {})
        if msg_type == "display_data" and MIME_TYPE in content.get("data", {}):
            # The probe's values: kept apart from the capped outputs (the last one of a cell counts).
            self.probes[cell_index] = content["data"][MIME_TYPE]
            return None
        if msg_type not in ("stream", "display_data", "execute_result", "error"):
            return super().output(outs, msg, display_id, cell_index)
        incoming, room = _chars(content), self._room(outs)
        if incoming <= room:
            self.kept = getattr(self, "kept", 0) + incoming
            return super().output(outs, msg, display_id, cell_index)
        if msg_type == "stream":  # past the cap only a tail of the stream is kept
            name, text = content.get("name", "stdout"), str(content.get("text", ""))
            last = outs[-1] if outs else None
            if last is not None and last.get("output_type") == "stream" and last.get("name") == name:
                last["text"] = (last["text"] + text[-STREAM_TAIL_CHARS:])[-STREAM_TAIL_CHARS:]
            else:
                outs.append(nbformat.v4.new_output("stream", name=name, text=text[-STREAM_TAIL_CHARS:]))
            return None
        if msg_type == "error":  # kept, cut short: the student's own error is still shown as such
            outs.append(nbformat.v4.new_output(
                "error", ename=str(content.get("ename", "Error"))[:200], evalue=str(content.get("evalue", ""))[:2000],
                traceback=[str(line)[:2000] for line in list(content.get("traceback", []))[-20:]]))
            return None
        # Rich output past the cap is dropped, with a note in its place (once per cell) and in the record.
        self.dropped = True
        note = f"[outputs dropped: over the cap of {MAX_OUTPUT_CHARS:,} characters per cell"
        note += f" or {self.notebook_chars:,} per notebook (c.Autograder.executed_notebook_mb)]\n" \
            if self.notebook_chars else "]\n"
        if not any(o.get("output_type") == "stream" and o.get("text") == note for o in outs):
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
        return None

    def _update_display_id(self, display_id, msg):
        # An update replaces a kept display in place: no larger than what one new display could be.
        if _chars(msg.get("content", {})) > MAX_OUTPUT_CHARS:
            return None
        return super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        # Widget state ends up in the notebook's metadata: the same cap as one output.
        if _chars(msg.get("content", {})) > MAX_OUTPUT_CHARS:
            return None
        return super().handle_comm_msg(outs, msg, cell_index)


def _chars(value, limit: int = 1 << 62) -> int:
    """Characters of the text in an output or message (strings in nested dicts and lists), counted up to a little
    past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    total = 0
    if isinstance(value, dict):
        for key, item in value.items():
            total += len(str(key)) + _chars(item, limit - total)
            if total > limit:
                break
    elif isinstance(value, (list, tuple)):
        for item in value:
            total += _chars(item, limit - total)
            if total > limit:
                break
    else:
        total = len(str(value)) if value is not None else 0
    return total


def _size(outs) -> int:
    return sum(_chars(o.get("text", "")) + _chars(o.get("data", {})) + _chars(o.get("traceback", []))
               + _chars(o.get("evalue", "")) for o in outs)


def _cap_executed(nb, cap_mb: int) -> tuple[bool, str]:
    """Keep the executed notebook under ``cap_mb``: past it code cells lose their outputs and cells their
    attachments (test cells keep their verdict); still past it, it is not kept at all. Returns whether to keep
    it and a note ("" when nothing was removed)."""
    if not cap_mb:
        return True, ""
    cap = cap_mb * 1024 * 1024
    size = len(nbformat.writes(nb))
    if size <= cap:
        return True, ""
    note = (f"[outputs removed by the grader: the executed notebook was {size / 2**20:.0f} MB, over the cap of "
            f"{cap_mb} MB (c.Autograder.executed_notebook_mb)]\n")
    for cell in nb.cells:
        cell.pop("attachments", None)
        if cell.cell_type == "code" and not is_autograded_test(cell) and cell.get("outputs"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=note)]
    stripped = len(nbformat.writes(nb))
    if stripped > cap:
        return False, (f"the executed notebook ({stripped / 2**20:.0f} MB without outputs) was not kept: over the "
                       f"cap of {cap_mb} MB (c.Autograder.executed_notebook_mb)")
    return True, (f"the executed notebook's outputs were removed: it was {size / 2**20:.0f} MB, over the cap of "
                  f"{cap_mb} MB (c.Autograder.executed_notebook_mb)")


class _ChannelWatch(threading.Thread):
    """Stops the kernel when it writes more than ``cap`` bytes (or ``CHANNEL_FILES`` files) into its channel folder,
    the one writable folder of the sandbox on the host's disk (it must be: the ZMQ sockets are made there)."""

    def __init__(self, folder: Path, cap: int, km):
        super().__init__(daemon=True, name="channel-watch")
        self.folder, self.cap, self.km = folder, cap, km
        self.stopped, self.tripped = threading.Event(), ""

    def run(self) -> None:
        while not self.stopped.wait(CHANNEL_POLL_SECONDS):
            size = files = 0
            for root, _, names in os.walk(self.folder):
                for name in names:
                    files += 1
                    try:
                        size += os.lstat(os.path.join(root, name)).st_size
                    except OSError:
                        pass
            if size > self.cap or files > CHANNEL_FILES:
                self.tripped = f"{size / 2**20:.0f} MB in {files} files"
                process = getattr(getattr(self.km, "provisioner", None), "process", None)
                if process is not None:
                    process.kill()  # the sandbox dies with its bwrap (--die-with-parent)
                return


def load_judge_answers(paths: list[str]) -> dict[str, np.ndarray]:
    answers: dict[str, np.ndarray] = {}
    for path in paths:
        if Path(path).is_file():
            with np.load(path, allow_pickle=False) as archive:
                answers.update({key: archive[key] for key in archive.files})
    return answers


def _kernel_error(cell) -> str:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return ""
    # The student's own exception, which the student's kernel reported: shown as such, never as a verdict.
    return f"{errors[0].get('ename', 'Error')}: {str(errors[0].get('evalue', ''))[:300]}".strip()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def solution_definitions(source_nb) -> dict[str, str]:
    """Name -> grade_id of the solution cell of ``source_nb`` that defines it at top level (defs, classes)."""
    found = {}
    for cell in source_nb.cells:
        if cell.get("cell_type") != "code" or not is_solution(cell):
            continue
        try:
            tree = ast.parse("\n".join(line for line in "".join(cell.source).splitlines()
                                       if not line.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, grade_id(cell))
    return found


def _unfinished_cell_message(cell, solutions: dict[str, str]) -> str:
    """For a check that stopped on a release stub's NotImplementedError: which solution cell to fill in."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors or errors[0].get("ename") != "NotImplementedError":
        return ""
    if MISSING_SOLUTION in str(errors[0].get("evalue", "")):
        return "a solution cell this check calls is missing from your notebook: restore it from the release"
    trace = _ANSI.sub("", "\n".join(str(line) for line in errors[0].get("traceback", [])))
    # IPython names each frame "..., in name(args)": the innermost one that a solution cell defines is the stub.
    called = [name for name in re.findall(r", in (\w+)", trace) if name in solutions]
    if not called:
        return ("not implemented yet: the code this check calls raises NotImplementedError; fill in the solution "
                "cells above it and run this check again")
    return (f"not implemented yet: fill in the solution cell `{solutions[called[-1]]}` (`{called[-1]}` still "
            "raises NotImplementedError), then run this check again")


def run_job(job: Job) -> NotebookResult:
    """Assemble, execute (probes in the sandboxed kernel) and judge one submission notebook."""
    workdir = Path(job.workdir)
    progress_path = Path(job.progress_path)
    source_nb = read_notebook(Path(job.source_path))
    checks = autograded_checks(source_nb, job.notebook)
    result = NotebookResult(notebook=job.notebook, sandboxed=job.sandbox)
    try:
        # No-follow and bounded: an earlier kernel of the same submission could have put a link in its place.
        student_nb, notes = untrusted.read_notebook(Path(job.submission_path),
                                                    max_bytes=job.submission_mb * untrusted.MB)
    except untrusted.Refused as error:
        result.status, result.message = Status.MISSING.value, str(error)
        return result
    except FileNotFoundError:
        result.status, result.message = Status.MISSING.value, f"{job.notebook} was not submitted"
        return result
    except InvalidNotebook as error:
        result.status, result.message = Status.INVALID.value, str(error)
        return result

    assembled = assemble(source_nb, student_nb)
    if assembled.missing:
        result.status = Status.MISSING_CELLS.value
        notes.append("missing solution cells graded as unanswered: " + ", ".join(assembled.missing))
    if assembled.duplicated:
        notes.append("duplicated cells, the first copy was graded: " + ", ".join(assembled.duplicated))

    answers = load_judge_answers(job.judge_answers)
    solutions = solution_definitions(source_nb)
    nb = assembled.notebook
    tests: dict[int, tuple[str, judging.CellParts, bool, str]] = {}
    for index, cell in enumerate(nb.cells):
        if is_autograded_test(cell):
            original = cell.source
            try:
                parts = judging.split_test_cell(original)
            except judging.LintError as error:  # a source problem: every grading of it fails the same way
                parts = judging.CellParts("", "raise RuntimeError('this check cannot run')", "", ())
                notes.append(f"{grade_id(cell)}: {error}")
            cell.source = judging.kernel_source(parts)
            tests[index] = (grade_id(cell), parts, is_hidden(cell), original)

    def on_cell_executed(cell, cell_index, execute_reply):
        if cell_index not in tests:
            error = _kernel_error(cell)
            if error:  # not scored, but validate insists that the source notebook runs clean
                result.cell_errors.append(f"{grade_id(cell) or f'cell {cell_index}'}: {error[:200]}")
            return
        gid, parts, hidden, _ = tests[cell_index]
        outcome = _judge_cell(cell, execute_reply, client.probes.pop(cell_index, None), parts, hidden, answers,
                              solutions)
        result.checks[gid] = outcome
        with progress_path.open("a") as progress:
            progress.write(json.dumps({"grade_id": gid, "passed": outcome.passed, "message": outcome.message}) + "\n")

    def after_cell(cell, cell_index, execute_reply):
        try:
            on_cell_executed(cell, cell_index, execute_reply)
        finally:  # a full folder is noticed while the kernel still runs: its tmpfs dies with it
            filled.update(km.full_folders())

    group = SubmissionGroup.from_dict(job.group)
    filled: set[str] = set()
    too_big = _files_too_big(workdir, job.workdir_mb) if job.sandbox else ""
    if too_big:
        result.status = Status.CRASHED.value
        result.message = too_big
        for check in checks:
            result.checks.setdefault(check.grade_id, CheckOutcome(False, "not executed"))
        return result
    env = kernel_environment(dict(os.environ, GAN_COURSE_ANSWERS=job.kernel_answers_dir))
    km = kernel_manager(workdir=workdir, channel_dir=Path(job.channel_dir), sandbox=job.sandbox,
                        read_only=(Path(job.kernel_answers_dir),), env=env, tmp_mb=job.tmp_mb,
                        workdir_mb=job.workdir_mb, max_processes=job.max_processes, group=group)
    client = _BoundedClient(
        nb,
        km=km,
        timeout=job.cell_timeout,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"cell exceeded {job.cell_timeout} s"},
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
        on_cell_executed=after_cell,
    )
    client.probes = {}
    client.notebook_chars = job.executed_notebook_mb * 1024 * 1024
    watch = _ChannelWatch(Path(job.channel_dir), job.workdir_mb * 1024 * 1024, km) \
        if job.sandbox and job.workdir_mb else None
    if watch is not None:
        watch.start()
    try:
        client.execute(cwd=str(workdir))
    except KernelUnresponsive as error:
        result.status = Status.TIMEOUT.value
        notes.append(str(error))
    except DeadKernelError:
        result.status = Status.CRASHED.value
        if not (group is not None and group.memory_kills()) and not (watch is not None and watch.tripped):
            notes.append("the kernel died (os._exit, a crash or the memory limit)")
    except Exception as error:  # nbclient errors we cannot recover from
        result.status = Status.CRASHED.value
        notes.append(f"execution stopped: {type(error).__name__}: {str(error)[:300]}")
    if watch is not None:
        watch.stopped.set()
        if watch.tripped:
            notes.append(f"the kernel was stopped for writing {watch.tripped} into its channel folder, over the cap "
                         f"of {job.workdir_mb} MB (c.Autograder.workdir_mb) or {CHANNEL_FILES} files")
    notes += _caps_hit(job, group, filled, died=result.status == Status.CRASHED.value)
    if getattr(client, "dropped", False):
        notes.append(f"outputs past the cap of {MAX_OUTPUT_CHARS:,} characters per cell or "
                     f"{job.executed_notebook_mb} MB per notebook (c.Autograder.executed_notebook_mb) were dropped")
    for check in checks:
        result.checks.setdefault(check.grade_id, CheckOutcome(False, "not executed"))
    # The executed notebook for nbgrader's autograded/ folder: test cells show their source and the verdict.
    for index, (gid, _, _, source) in tests.items():
        cell = nb.cells[index]
        cell.source = source
        outcome = result.checks[gid]
        cell.outputs = [nbformat.v4.new_output(
            "stream", name="stdout", text=("PASSED" if outcome.passed else f"FAILED\n{outcome.message}") + "\n")]
    keep, note = _cap_executed(nb, job.executed_notebook_mb)
    notes.append(note)
    result.executed = nb if keep else None
    result.message = "; ".join(n for n in notes if n)
    return result


def _files_too_big(workdir: Path, workdir_mb: int) -> str:
    """Why the submission's files cannot fill the kernel's working folder ("" when they fit)."""
    if not workdir_mb:
        return ""
    total = sum(p.stat().st_size for p in workdir.rglob("*") if p.is_file() and not p.is_symlink())
    if total <= workdir_mb * 1024 * 1024 * 0.9:  # room for the folder's own blocks and the kernel's first writes
        return ""
    return (f"the submission's files ({total / 2**20:.0f} MB) do not fit in the kernel's working folder of "
            f"{workdir_mb} MB (c.Autograder.workdir_mb)")


def _caps_hit(job: Job, group, filled: set[str], *, died: bool) -> list[str]:
    """The record's words for each cap the kernel reached (the cap's size and its setting)."""
    notes = []
    if group is not None and group.memory_kills():
        who = "the kernel was killed" if died else "a process of the kernel was killed"
        notes.append(f"{who} at the memory cap of {job.memory_mb} MB (c.Autograder.memory_mb)")
    if group is not None and group.processes_refused():
        notes.append(f"processes beyond the cap of {job.max_processes} (c.Autograder.max_processes) were refused")
    if "tmp" in filled:
        notes.append(f"the sandbox's /tmp filled its cap of {job.tmp_mb} MB (c.Autograder.tmp_mb); "
                     "writes past it failed")
    if "workdir" in filled:
        notes.append(f"the kernel's working folder filled its cap of {job.workdir_mb} MB (c.Autograder.workdir_mb); "
                     "writes past it failed")
    return notes


def _judge_cell(cell, reply, payload, parts, hidden: bool, answers: dict,
                solutions: dict[str, str] | None = None) -> CheckOutcome:
    """The verdict on one test cell: the judge's, on the values the probe sent; nothing else passes.

    ``solutions`` maps each name a solution cell of the source defines to that cell's grade_id (so that a
    release stub's NotImplementedError can say which cell to fill in)."""
    content = (reply or {}).get("content", {})
    if content.get("ename") == "CellTimeoutError":
        return CheckOutcome(False, f"the code this check calls ran too long ({content.get('evalue', '')})")
    unfinished = _unfinished_cell_message(cell, solutions or {})
    if unfinished:
        return CheckOutcome(False, unfinished)
    error = _kernel_error(cell)
    if error:
        return CheckOutcome(False, f"your code raised {error}")
    if payload is None:
        return CheckOutcome(False, "the values this check needs never reached the grader")
    try:
        values, problems = decode(payload)
        missing = [str(name) for name in payload.get("missing", [])]
    except (ProbeError, ValueError, KeyError, TypeError, OSError) as problem:
        return CheckOutcome(False, f"the values this check needs could not be read ({type(problem).__name__})")
    verdict = judging.judge(parts, values=values, problems=problems, missing=missing, answers=answers,
                            hidden=hidden)
    return CheckOutcome(verdict.passed, verdict.message)


def _die_with_parent() -> None:
    """Be killed when the process that started this worker dies (a Dask worker killed mid-task, a grader
    stopped with SIGKILL): nothing goes on grading for a parent that can no longer read the result, and the
    sandboxed kernel dies with this process."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main(argv: list[str]) -> int:
    _die_with_parent()
    job = Job.read(Path(argv[0]))
    if job.memory_mb:  # set here rather than in the parent's fork: the kernel inherits it
        limit = job.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        result = run_job(job)
    except InvalidNotebook as error:  # the source itself: an instructor problem, said plainly
        result = NotebookResult(notebook=job.notebook, status=Status.ERROR.value, message=str(error),
                                sandboxed=job.sandbox)
    Path(job.result_path).write_text(result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
