"""One grading job, run in its own process: ``python -m autograder.worker JOB.json``.

The parent writes a job file, starts this worker with resource limits in a new process group, and reads
back ``result.json``. Each test cell's outcome is also appended to ``progress.jsonl`` the moment it is
known, so when the parent has to kill a runaway submission the checks that already passed keep their points.

Test cells are instrumented before execution:
- a prelude restores ``numpy``, ``course.checks``, ``builtins`` and ``sys.modules`` entries from a snapshot
  taken before any student code ran, so monkeypatching them in a solution cell gains nothing;
- an epilogue prints a per-run random marker; a check passes only if its cell printed the marker, the
  kernel replied ``ok`` and no error output appeared, so silencing tracebacks gains nothing either.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async

from autograder.notebook import (
    InvalidNotebook,
    assemble,
    autograded_checks,
    grade_id,
    is_autograded_test,
    read_notebook,
)

# Names the guard snapshots and restores before every test cell.
GUARDED_MODULES = ("builtins", "numpy", "numpy.testing", "math", "course.checks", "sys")
MAX_OUTPUT_CHARS = 2_000_000  # output kept per cell (figures included); past it only a stream tail is kept
STREAM_TAIL_CHARS = 20_000


def guard_install_source(token: str) -> str:
    """Code of the cell the grader runs first: snapshot what the checks rely on."""
    return f"""\
def _install_guard():
    import builtins, importlib, sys
    modules = {{name: importlib.import_module(name) for name in {GUARDED_MODULES!r}}}

    def restore():
        for name, module in modules.items():
            sys.modules[name] = module
            vars(module).update(attributes[name])

    setattr(builtins, {token!r}, restore)
    attributes = {{name: dict(vars(module)) for name, module in modules.items()}}


_install_guard()
del _install_guard
"""


def instrument(source: str, token: str, marker: str) -> str:
    """Wrap a test cell: restore the guarded modules first, print the pass marker last."""
    prelude = f"__import__('builtins').{token}()"
    return f"{prelude}\n{source}\nprint({marker!r})"


class KernelUnresponsive(Exception):
    """The kernel stayed busy after a cell timed out and was interrupted (it ignores SIGINT)."""


class _BoundedClient(NotebookClient):
    """nbclient with a per-cell cap on kept output, so a flood of prints cannot exhaust memory, and that
    stops at once when an interrupted kernel does not come back (rather than timing out every later cell)."""

    interrupt_grace = 10  # seconds an interrupted kernel has to become responsive again

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

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        if msg_type in ("stream", "display_data", "execute_result") and _size(outs) > MAX_OUTPUT_CHARS:
            if msg_type != "stream":
                return None  # rich output past the cap is dropped
            # Stream text past the cap keeps only its tail: the pass marker is printed last.
            name, text = msg["content"].get("name", "stdout"), msg["content"].get("text", "")
            last = outs[-1] if outs else None
            if last is not None and last.get("output_type") == "stream" and last.get("name") == name:
                last["text"] = (last["text"] + text)[-STREAM_TAIL_CHARS:]
            else:
                outs.append(nbformat.v4.new_output("stream", name=name, text=text[-STREAM_TAIL_CHARS:]))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _size(outs) -> int:
    return sum(len(str(o.get("text", ""))) + len(str(o.get("data", ""))) for o in outs)


def _outcome(cell, reply, marker: str) -> dict:
    """Score one executed test cell from its reply and outputs."""
    content = (reply or {}).get("content", {})
    status = content.get("status", "error")
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    stdout = "".join(o.get("text", "") for o in cell.get("outputs", [])
                     if o.get("output_type") == "stream" and o.get("name") == "stdout")
    passed = status == "ok" and not errors and marker in stdout
    if content.get("ename") == "CellTimeoutError":
        error = f"CellTimeoutError: {content.get('evalue', '')}"
    elif errors:
        error = f"{errors[0].get('ename', 'Error')}: {errors[0].get('evalue', '')}".strip()
    elif status != "ok":
        error = f"cell did not finish ({status})"
    elif not passed:
        error = "the check's completion marker was not printed (output suppressed?)"
    else:
        error = ""
    return {"passed": passed, "error": error, "stdout": stdout.replace(marker, "").strip()}


def run_job(job: dict) -> dict:
    """Assemble, instrument and execute one submission notebook; return its result record."""
    workdir = Path(job["workdir"])
    progress_path = Path(job["progress_path"])
    source_nb = read_notebook(Path(job["source_path"]))
    checks = autograded_checks(source_nb, job["notebook"])
    result = {"notebook": job["notebook"], "status": "graded", "message": "", "checks": {}, "cell_errors": []}
    try:
        student_nb = read_notebook(Path(job["submission_path"]))
    except InvalidNotebook as error:
        result.update(status="invalid", message=str(error))
        return result

    assembled = assemble(source_nb, student_nb)
    notes = []
    if assembled.missing:
        result["status"] = "missing_cells"
        notes.append("missing solution cells graded as unanswered: " + ", ".join(assembled.missing))
    if assembled.duplicated:
        notes.append("duplicated cells, the first copy was graded: " + ", ".join(assembled.duplicated))

    nb = assembled.notebook
    token, marker = job["guard_token"], job["marker"]
    test_ids = set()
    for cell in nb.cells:
        if is_autograded_test(cell):
            test_ids.add(grade_id(cell))
            cell.source = instrument(cell.source, token, marker)
    nb.cells.insert(0, nbformat.v4.new_code_cell(source=guard_install_source(token)))

    def on_cell_executed(cell, cell_index, execute_reply):
        gid = grade_id(cell)
        if gid not in test_ids:
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:  # not scored, but validate insists that the source notebook runs clean
                where = gid or f"cell {cell_index}"
                result["cell_errors"].append(f"{where}: {errors[0].get('ename')}: {errors[0].get('evalue', '')[:200]}")
        if gid in test_ids:
            outcome = _outcome(cell, execute_reply, marker)
            result["checks"][gid] = outcome
            with progress_path.open("a") as progress:
                progress.write(json.dumps({"grade_id": gid, **outcome}) + "\n")

    client = _BoundedClient(
        nb,
        timeout=job["cell_timeout"],
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"cell exceeded {job['cell_timeout']} s"},
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        on_cell_executed=on_cell_executed,
    )
    try:
        client.execute(cwd=str(workdir))
    except KernelUnresponsive as error:
        result["status"] = "timeout"
        notes.append(str(error))
    except DeadKernelError:
        result["status"] = "crashed"
        notes.append("the kernel died (os._exit, a crash or the memory limit)")
    except Exception as error:  # nbclient errors we cannot recover from
        result["status"] = "crashed"
        notes.append(f"execution stopped: {type(error).__name__}: {str(error)[:300]}")
    for check in checks:
        result["checks"].setdefault(check.grade_id, {"passed": False, "error": "not executed", "stdout": ""})
    result["message"] = "; ".join(notes)
    return result


def main(argv: list[str]) -> int:
    job_path = Path(argv[0])
    job = json.loads(job_path.read_text())
    if job.get("memory_mb"):  # set here rather than in the parent's fork: the kernel inherits it
        limit = job["memory_mb"] * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        result = run_job(job)
    except InvalidNotebook as error:  # the source itself: an instructor problem, said plainly
        result = {"notebook": job["notebook"], "status": "error", "message": str(error), "checks": {}}
    Path(job["result_path"]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
