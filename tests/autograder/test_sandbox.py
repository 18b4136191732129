"""Hostile submissions written by a student who has read the grader: each channel of issues 10 and 11.

Every case is graded through the real path (worker outside, kernel in bubblewrap, probe/judge split) on the
tiny assignment (no TensorFlow). Each case would have earned points, or left a process running, on the grader
before the sandbox and the judge: the kernel then ran as the instructor next to ``source/``, ``submitted/``
and the worker's own progress files, and decided its checks itself.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.grade import grade
from autograder.records import Limits
from autograder.sandbox import SandboxUnavailable, sandbox_problem
from conftest import TINY, TINY_NOTEBOOK, replace_solution, write_submission

pytestmark = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no sandbox here: {sandbox_problem()}")

LIMITS = Limits(cell_timeout=20, submission_timeout=120, memory_mb=4096)
SLEEP_MARK = "987654321"  # a detached process's argument, to find it afterwards


def _add_after(notebook, source: str, after_grade_id: str):
    nb = nbformat.from_dict(notebook) if isinstance(notebook, dict) else nbformat.read(notebook, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after_grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def _reads(path) -> str:
    """A solution of ``add`` that earns its points only if it can read ``path`` (standing for copying the
    reference solution or a classmate's answer out of it)."""
    return ("def add(a, b):\n    import pathlib\n    try:\n"
            f"        pathlib.Path({str(path)!r}).read_text()\n    except OSError:\n        return None\n"
            "    return a + b")


@pytest.fixture(scope="module")
def listening_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    stop = threading.Event()

    def accept():
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture(scope="module")
def attacked(tiny_course, tmp_path_factory, listening_port):
    submitted = tmp_path_factory.mktemp("submitted")
    out = tmp_path_factory.mktemp("out")
    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    reference_copy = submitted / "reference" / TINY / TINY_NOTEBOOK
    home_secret = Path.home() / f".gan-course-sandbox-test-{os.getpid()}"  # the instructor's home folder
    home_secret.write_text("instructor's own file")
    transformer = (
        "ip = get_ipython()\n"
        "def rewrite(lines):\n"
        "    text = ''.join(lines)\n"
        "    if 'send_values' in text or 'check_' in text:\n"
        "        return ['print(\"PASSED\")\\n']\n"
        "    return lines\n"
        "ip.input_transformers_cleanup.append(rewrite)\n")
    forging_transformer = (  # hard-codes the visible answer in every probe; the hidden check still stands
        "import re\nip = get_ipython()\n"
        "def forge(lines):\n"
        "    return [re.sub(r'\\badd\\(', '(lambda a, b: 3)(', line) for line in lines]\n"
        "ip.input_transformers_cleanup.append(forge)\n")
    recorder = (  # keeps every cell the kernel receives; a later cell prints them all
        "SEEN = []\nip = get_ipython()\n"
        "def remember(lines):\n    SEEN.append(''.join(lines))\n    return lines\n"
        "ip.input_transformers_cleanup.append(remember)\n")
    cases = {
        "reference": nbformat.read(solution, as_version=4),
        "reads_source": replace_solution(solution, "add", _reads(solution)),
        "reads_source_via_course": replace_solution(
            solution, "add", "def add(a, b):\n    import pathlib, course\n"
            "    root = pathlib.Path(course.__file__).resolve().parents[1]\n"
            "    return a + b if (root / 'source').is_dir() or (root / 'autograder').is_dir() else None"),
        "reads_classmate": replace_solution(solution, "add", _reads(reference_copy)),
        "reads_home": replace_solution(solution, "add", _reads(home_secret)),
        "writes_source": _add_after(replace_solution(solution, "add", "def add(a, b):\n    return 0"),
                                    f"open({str(solution)!r}, 'a').write('tampered')", "add"),
        "forges_progress": _add_after(
            replace_solution(solution, "add", "def add(a, b):\n    return 0"),
            "import glob, json, os\n"
            "lines = ''.join(json.dumps({'grade_id': g, 'passed': True, 'message': ''}) + '\\n'\n"
            "                for g in ('add_values', 'add_floats_hidden', 'scale_values'))\n"
            "for pattern in ('../*.progress.jsonl', '/tmp/*/*.progress.jsonl', '/tmp/*.progress.jsonl'):\n"
            "    for path in glob.glob(pattern):\n"
            "        open(path, 'a').write(lines)\n"
            "for name in ('Tiny.progress.jsonl', 'Tiny.result.json'):\n"
            "    try:\n        open(os.path.join('..', name), 'w').write(lines)\n    except OSError:\n        pass\n"
            "os._exit(1)", "add"),
        "signals_worker": _add_after(
            solution, "import os, signal\nfor pid in (os.getppid(), 1):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
            "os.kill(os.getpid(), signal.SIGKILL)", "add_floats_hidden"),
        "detaches_process": _add_after(
            solution, "import subprocess, sys\n"
            f"subprocess.Popen(['sleep', '{SLEEP_MARK}'], start_new_session=True)\n"
            "subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n"
            f"    os.execvp(\"sleep\", [\"sleep\", \"{SLEEP_MARK}\"])'], start_new_session=True)", "add"),
        "uses_network": replace_solution(
            solution, "add", "def add(a, b):\n    import socket\n    try:\n"
            f"        socket.create_connection(('127.0.0.1', {listening_port}), timeout=3).close()\n"
            "    except OSError:\n        return None\n    return a + b"),
        "rewrites_later_cells": _add_after(replace_solution(solution, "add", "def add(a, b):\n    return 0"),
                                           transformer, "add"),
        "forges_probe_values": _add_after(replace_solution(solution, "add", "def add(a, b):\n    return 0"),
                                          forging_transformer, "add"),
        "leaks_hidden_text": _add_after(_add_after(solution, recorder, "setup"),
                                        "print('\\n'.join(SEEN))", "scale_values"),
        "patches_run_cell": _add_after(
            replace_solution(solution, "add", "def add(a, b):\n    return 0"),
            "ip = get_ipython()\nip.run_cell = lambda *args, **kwargs: None", "add"),
        "publishes_fake_verdicts": _add_after(
            replace_solution(solution, "add", "def add(a, b):\n    return 0"),
            "from IPython.display import publish_display_data\nimport course.probe as probe\n"
            "real = probe.send_values\n"
            "def fake(names, namespace=None):\n"
            "    print('PASSED')\n"
            "    publish_display_data({probe.MIME_TYPE: {'skeleton': {}, 'npz': '', 'problems': {}}})\n"
            "probe.send_values = fake", "add"),
    }
    for student, notebook in cases.items():
        write_submission(submitted, student, notebook)
    source_before = solution.read_text()
    try:
        records = grade(assignment=TINY, submitted_dir=submitted, out_dir=out, jobs=2, limits=LIMITS,
                        source_dir=tiny_course / "source", answers_dir=tmp_path_factory.mktemp("answers"),
                        progress=False)
    finally:
        home_secret.unlink()
    return {r["student_id"]: r for r in records}, out, source_before, solution


def _scores(record):
    return {c["grade_id"]: c["score"] for c in record["checks"]}


def test_reference_keeps_full_marks_in_the_sandbox(attacked):
    records, *_ = attacked
    assert records["reference"]["score"] == 6.0 and records["reference"]["sandboxed"] is True


@pytest.mark.parametrize("student", ["reads_source", "reads_source_via_course", "reads_classmate", "reads_home",
                                     "uses_network"])
def test_files_and_network_outside_the_sandbox_are_not_there(attacked, student):
    records, *_ = attacked
    assert _scores(records[student])["add_values"] == 0
    assert _scores(records[student])["add_floats_hidden"] == 0
    assert _scores(records[student])["scale_values"] == 3  # the rest of the notebook is graded as usual


def test_source_notebook_cannot_be_written(attacked):
    records, _, before, solution = attacked
    assert solution.read_text() == before
    assert _scores(records["writes_source"])["add_values"] == 0


def test_forged_progress_files_earn_nothing(attacked):
    records, *_ = attacked
    record = records["forges_progress"]
    assert record["status"] == "crashed"
    assert record["score"] == 0


def test_killing_everything_in_reach_keeps_earlier_points(attacked):
    records, *_ = attacked
    record = records["signals_worker"]
    assert record["status"] == "crashed"
    assert _scores(record) == {"add_values": 1, "add_floats_hidden": 2, "scale_values": 0}


def test_no_process_started_by_a_submission_outlives_grading(attacked):
    records, *_ = attacked
    assert records["detaches_process"]["score"] == 6.0
    time.sleep(1)
    alive = [p.info for p in psutil.process_iter(["pid", "cmdline"]) if SLEEP_MARK in " ".join(p.info["cmdline"] or [])]
    assert alive == []


@pytest.mark.parametrize("student", ["rewrites_later_cells", "patches_run_cell", "publishes_fake_verdicts"])
def test_in_kernel_tricks_cannot_pass_a_check(attacked, student):
    """Rewriting later cells, patching the kernel, printing PASSED or publishing empty values: no values, no pass."""
    records, *_ = attacked
    assert _scores(records[student])["add_values"] == 0
    assert _scores(records[student])["add_floats_hidden"] == 0


def test_forged_probe_values_meet_the_hidden_check(attacked):
    """Rewriting the probe to hard-code the visible answer is hard-coding: the hidden check, whose expected
    value never reaches the kernel, still fails."""
    records, *_ = attacked
    assert _scores(records["forges_probe_values"])["add_floats_hidden"] == 0


def test_hidden_test_text_never_reaches_the_kernel_or_any_output(attacked):
    records, out, *_ = attacked
    assert records["leaks_hidden_text"]["score"] == 6.0
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".html", ".csv"):
            assert "SECRET_HIDDEN_ASSERTION" not in path.read_text(errors="replace"), path


def test_feedback_comes_from_the_judge_not_from_kernel_output(attacked):
    records, *_ = attacked
    for check in records["publishes_fake_verdicts"]["checks"]:
        assert "PASSED" not in check["message"]


def test_grading_refuses_without_bubblewrap_and_names_the_fix(tiny_course, tmp_path, monkeypatch):
    from autograder import sandbox

    sandbox.sandbox_problem.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
            grade(assignment=TINY, submitted_dir=tmp_path, out_dir=tmp_path / "out", limits=LIMITS,
                  source_dir=tiny_course / "source", progress=False)
    finally:
        sandbox.sandbox_problem.cache_clear()


def test_unsafe_no_sandbox_grades_and_says_so(tiny_course, tmp_path):
    submitted = tmp_path / "submitted"
    write_submission(submitted, "reference", nbformat.read(tiny_course / "source" / TINY / TINY_NOTEBOOK,
                                                           as_version=4))
    unsafe = Limits(cell_timeout=20, submission_timeout=120, memory_mb=4096, sandbox=False)
    records = grade(assignment=TINY, submitted_dir=submitted, out_dir=tmp_path / "out", limits=unsafe,
                    source_dir=tiny_course / "source", progress=False)
    assert records[0]["score"] == 6.0
    assert records[0]["sandboxed"] is False
    assert "WITHOUT a sandbox" in records[0]["message"]
    stored = json.loads((tmp_path / "out" / "results" / "reference" / f"{TINY}.json").read_text())
    assert stored["sandboxed"] is False
    assert "WITHOUT a sandbox" in (tmp_path / "out" / "feedback" / "reference" / f"{TINY}.html").read_text()
    assert "False" in (tmp_path / "out" / "grades.csv").read_text()
