"""Resource caps of one submission (issue 20): each cap exceeded by one student, a classmate graded beside it
(same ``grade()`` run, ``jobs=2``) at full marks, and the record naming the cap that stopped or contained it.

Before the caps the sandbox's ``/tmp`` was a tmpfs of half the RAM, the working folder was the host's disk, the
number of processes was unbounded and one huge display was kept whole in the executed notebook the parent read.
"""
from __future__ import annotations

import os
import resource
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.caps import SubmissionGroup, describe_caps, resource_control
from autograder.grade import grade
from autograder.records import Limits
from autograder.sandbox import sandbox_problem
from conftest import TINY, TINY_NOTEBOOK, write_submission

pytestmark = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no sandbox here: {sandbox_problem()}")
needs_cgroup = pytest.mark.skipif(resource_control().version == 0,
                                  reason=f"no cgroup here: {resource_control().reason}")

FULL = 6.0
MB = 1024 * 1024
# Small caps, so that exceeding them is quick; memory large enough for the tiny kernel and one huge message.
LIMITS = Limits(cell_timeout=60, submission_timeout=240, memory_mb=2048, tmp_mb=64, workdir_mb=64,
                max_processes=64, executed_notebook_mb=8)
# The memory cap below the /tmp size: tmpfs pages count in the cgroup's memory.
MEMORY_LIMITS = Limits(cell_timeout=60, submission_timeout=240, memory_mb=1024, tmp_mb=4096, workdir_mb=64,
                       max_processes=64)


def _with_cell(tiny_course, source: str, after: str = "add", markdown: bool = False):
    nb = nbformat.read(tiny_course / "source" / TINY / TINY_NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
    nb.cells.insert(index + 1, nbformat.v4.new_markdown_cell(source) if markdown else nbformat.v4.new_code_cell(source))
    return nb


def _grade(tiny_course, tmp_path_factory, cases: dict, limits: Limits):
    submitted = tmp_path_factory.mktemp("submitted")
    for student, notebook in cases.items():
        write_submission(submitted, student, notebook)
    answers = tmp_path_factory.mktemp("answers")
    np.savez(answers / f"{TINY}.npz", x=np.arange(3))
    out = tmp_path_factory.mktemp("out")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the parent's peak, in bytes
    records = grade(assignment=TINY, submitted_dir=submitted, out_dir=out, jobs=2, limits=limits,
                    source_dir=tiny_course / "source", answers_dir=answers, progress=False)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return out, {r["student_id"]: r for r in records}, growth


@pytest.fixture(scope="module")
def capped(tiny_course, tmp_path_factory):
    reference = nbformat.read(tiny_course / "source" / TINY / TINY_NOTEBOOK, as_version=4)
    huge_source = nbformat.read(tiny_course / "source" / TINY / TINY_NOTEBOOK, as_version=4)
    huge_source.cells[2].source += "\n# " + "z" * (12 * MB)  # the add solution, with a 12 MB comment
    cases = {
        "classmate": reference,
        "fills_tmp": _with_cell(tiny_course, "with open('/tmp/fill', 'wb') as f:\n"
                                "    for _ in range(1024):\n        f.write(b'x' * 1024 * 1024)"),
        "fills_home": _with_cell(tiny_course, "import os\nwith open(os.path.expanduser('~/fill'), 'wb') as f:\n"
                                 "    for _ in range(1024):\n        f.write(b'x' * 1024 * 1024)"),
        "fills_workdir": _with_cell(tiny_course, "for i in range(1024):\n"
                                    "    open(f'fill{i}', 'wb').write(b'x' * 1024 * 1024)"),
        # The one writable folder on the host's disk: 1 MB files (each under RLIMIT_FSIZE) until stopped.
        "fills_channel": _with_cell(tiny_course, "import os, ipykernel.connect\n"
                                    "folder = os.path.dirname(ipykernel.connect.get_connection_file())\n"
                                    "for i in range(4096):\n"
                                    "    open(os.path.join(folder, f'fill{i}'), 'wb').write(b'x' * 1024 * 1024)",
                                    after="scale_values"),
        "many_threads": _with_cell(tiny_course, "import threading, time\nthreads = []\nfor _ in range(1000):\n"
                                   "    threads.append(threading.Thread(target=time.sleep, args=(5,), daemon=True))\n"
                                   "    threads[-1].start()"),
        "many_processes": _with_cell(tiny_course, "import subprocess\nchildren = []\nfor _ in range(1000):\n"
                                     "    children.append(subprocess.Popen(['sleep', '5']))"),
        "huge_display": _with_cell(tiny_course, "from IPython.display import display\n"
                                   "display({'text/plain': 'x' * (200 * 1024 * 1024)}, raw=True)"),
        "huge_update": _with_cell(tiny_course, "from IPython.display import display\n"
                                  "h = display({'text/plain': 'small'}, raw=True, display_id=True)\n"
                                  "h.update({'text/plain': 'y' * (50 * 1024 * 1024)}, raw=True)"),
        "huge_error": _with_cell(tiny_course, "raise ValueError('e' * (50 * 1024 * 1024))"),
        "many_displays": _with_cell(tiny_course, "from IPython.display import display\n"
                                    "for i in range(12):\n    display({'text/plain': 'w' * 1_500_000}, raw=True)"),
        # 1.9 M characters, under the cap per cell and per notebook, that take 6 bytes each in JSON.
        "escaped_display": _with_cell(tiny_course, "from IPython.display import display\n"
                                      "display({'text/plain': chr(1) * 1_900_000}, raw=True)"),
        "huge_source": huge_source,
    }
    # Each huge display in a cell of its own (per cell, every one is under the cap): the notebook's cap decides.
    for i in range(11):
        cases["many_displays"] = _with_cell_nb(cases["many_displays"], "display({'text/plain': 'v' * 1_500_000}, "
                                               "raw=True)")
    return _grade(tiny_course, tmp_path_factory, cases, LIMITS)


def _with_cell_nb(nb, source):
    nb = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "add")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def test_classmate_of_capped_submissions_gets_full_marks(capped):
    _, records, _ = capped
    assert (records["classmate"]["status"], records["classmate"]["score"]) == ("graded", FULL)
    assert records["classmate"]["message"] == ""
    assert "/tmp 64 MB" in records["classmate"]["caps"]


@pytest.mark.parametrize("student", ["fills_tmp", "fills_home"])
def test_tmp_and_home_are_capped(capped, student):
    _, records, _ = capped
    record = records[student]
    assert (record["status"], record["score"]) == ("graded", FULL)  # contained: the write failed, nothing more
    assert "the sandbox's /tmp filled its cap of 64 MB (c.Autograder.tmp_mb)" in record["message"]


def test_working_folder_is_capped(capped):
    _, records, _ = capped
    record = records["fills_workdir"]
    assert (record["status"], record["score"]) == ("graded", FULL)
    assert "the kernel's working folder filled its cap of 64 MB (c.Autograder.workdir_mb)" in record["message"]


def test_channel_folder_on_the_host_disk_is_capped(capped):
    _, records, _ = capped
    record = records["fills_channel"]
    assert record["status"] == "crashed" and record["score"] == FULL  # every check was decided before it
    assert "into its channel folder, over the cap of 64 MB (c.Autograder.workdir_mb)" in record["message"]


@needs_cgroup
@pytest.mark.parametrize("student", ["many_threads", "many_processes"])
def test_processes_and_threads_are_capped(capped, student):
    _, records, _ = capped
    record = records[student]
    assert (record["status"], record["score"]) == ("graded", FULL)
    assert "processes beyond the cap of 64 (c.Autograder.max_processes) were refused" in record["message"]


@pytest.mark.parametrize("student", ["huge_display", "huge_update", "huge_error"])
def test_one_huge_message_is_cut_on_arrival(capped, student):
    out, records, growth = capped
    assert (records[student]["status"], records[student]["score"]) == ("graded", FULL)
    autograded = out / "autograded" / student / TINY / TINY_NOTEBOOK
    assert autograded.stat().st_size < 4 * MB
    assert growth < 150 * MB  # the parent's peak: it never held a 200 MB notebook (it peaked at 740 MB before)


def test_huge_display_is_named_in_the_record(capped):
    _, records, _ = capped
    assert "outputs past the cap of 2,000,000 characters per cell" in records["huge_display"]["message"]


def test_notebook_cap_drops_outputs_as_they_arrive(capped):
    out, records, _ = capped
    record = records["many_displays"]
    assert (record["status"], record["score"]) == ("graded", FULL)
    assert "8 MB per notebook (c.Autograder.executed_notebook_mb) were dropped" in record["message"]
    assert (out / "autograded" / "many_displays" / TINY / TINY_NOTEBOOK).stat().st_size < 10 * MB


def test_oversized_executed_notebook_is_stripped_with_a_note(capped):
    out, records, _ = capped
    record = records["escaped_display"]
    assert (record["status"], record["score"]) == ("graded", FULL)
    assert "outputs were removed: it was 11 MB, over the cap of 8 MB (c.Autograder.executed_notebook_mb)" \
        in record["message"]
    autograded = out / "autograded" / "escaped_display" / TINY / TINY_NOTEBOOK
    assert autograded.stat().st_size < 1 * MB
    assert "outputs removed by the grader" in autograded.read_text()


def test_executed_notebook_still_too_big_is_not_kept(capped):
    out, records, _ = capped
    record = records["huge_source"]
    assert (record["status"], record["score"]) == ("graded", FULL)
    assert "the executed notebook (12 MB without outputs) was not kept: over the cap of 8 MB " \
        "(c.Autograder.executed_notebook_mb)" in record["message"]
    assert not (out / "autograded" / "huge_source" / TINY / TINY_NOTEBOOK).exists()


@pytest.fixture(scope="module")
def memory_capped(tiny_course, tmp_path_factory):
    reference = nbformat.read(tiny_course / "source" / TINY / TINY_NOTEBOOK, as_version=4)
    cases = {
        "classmate": reference,
        # 2 GiB in /tmp: under its size cap, but its pages are memory the submission holds.
        "tmpfs_hog": _with_cell(tiny_course, "with open('/tmp/hog', 'wb') as f:\n"
                                "    for _ in range(2048):\n        f.write(b'x' * 1024 * 1024)",
                                after="add_floats_hidden"),
        # Four processes of 400 MB each: every one under the address-space cap, together over the memory cap.
        "forked_hogs": _with_cell(tiny_course, "import subprocess, sys\n"
                                  "hog = 'import time; b = bytearray(400 * 2**20); "
                                  "time.sleep(20)'\nchildren = [subprocess.Popen([sys.executable, '-c', hog]) "
                                  "for _ in range(4)]\nfor child in children:\n    child.wait()",
                                  after="add_floats_hidden"),
    }
    return _grade(tiny_course, tmp_path_factory, cases, MEMORY_LIMITS)


@needs_cgroup
def test_memory_cap_counts_tmpfs_pages_and_stops_the_kernel(memory_capped):
    _, records, _ = memory_capped
    assert (records["classmate"]["status"], records["classmate"]["score"]) == ("graded", FULL)
    record = records["tmpfs_hog"]
    assert record["status"] == "crashed"
    assert "the kernel was killed at the memory cap of 1024 MB (c.Autograder.memory_mb)" in record["message"]
    assert {c["grade_id"]: c["score"] for c in record["checks"]} == {"add_values": 1, "add_floats_hidden": 2,
                                                                     "scale_values": 0}


@needs_cgroup
def test_memory_cap_is_for_all_the_kernels_processes_together(memory_capped):
    _, records, _ = memory_capped
    record = records["forked_hogs"]
    assert "killed at the memory cap of 1024 MB (c.Autograder.memory_mb)" in record["message"]
    assert record["score"] >= 3  # the checks decided before it keep their points


@needs_cgroup
def test_groups_are_removed_after_grading(capped, memory_capped):
    control = resource_control()
    mine = [p for parent in control.parents.values() for p in Path(parent).glob(f"gan-course-{os.getpid()}-*")]
    assert mine == []


@needs_cgroup
def test_groups_of_a_dead_grader_are_removed(tmp_path):
    control = resource_control()
    group = SubmissionGroup.create(memory_mb=64, max_processes=8, control=control)
    dead = {key: folder.replace(f"gan-course-{os.getpid()}-", "gan-course-999999999-")
            for key, folder in group.folders.items()}
    for folder, stale in zip(group.folders.values(), dead.values()):
        os.rename(folder, stale)
    resource_control.cache_clear()
    try:
        resource_control()
    finally:
        resource_control.cache_clear()
    assert not any(os.path.exists(folder) for folder in dead.values())


def test_unsandboxed_grading_says_which_caps_do_not_apply():
    words = describe_caps(Limits(sandbox=False))
    assert "no /tmp or working-folder size caps (no sandbox)" in words


@needs_cgroup
def test_parallel_graders_detect_the_cgroups_alike():
    """``--jobs 2`` asks from two threads at once: both must find the cgroups (a shared probe group failed one)."""
    import threading

    resource_control.cache_clear()
    found = []
    threads = [threading.Thread(target=lambda: found.append(resource_control().version)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [resource_control().version] * 8 and found[0] > 0
