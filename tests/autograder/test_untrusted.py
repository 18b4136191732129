"""Nothing a student hands in is trusted: only regular files cross (``autograder.untrusted``), and one bad
record never stops the class."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import untrusted
from autograder.grade import Limits, Submission, grade
from autograder.notebook import InvalidNotebook
from conftest import TINY, TINY_NOTEBOOK, read_json, replace_solution, write_submission

LIMITS = Limits(cell_timeout=10, submission_timeout=60, memory_mb=4096, submission_mb=1, submission_files=8)
FULL = 6.0
SECRET = "SECRET-INSTRUCTOR-TEXT-8c1f"


@contextlib.contextmanager
def no_hang(seconds=60):
    """Turn a read that blocks for ever (a FIFO opened for reading) into a failure instead of a stuck run."""
    def stuck(*_):
        raise AssertionError(f"blocked for {seconds} s: a pipe or device was opened")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _secret(tmp_path) -> Path:
    """An instructor's file, in a folder of its own (a link to its folder must not reach the submissions)."""
    path = tmp_path / "instructor" / "instructor-only.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SECRET)
    return path


def _every_output_text(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*")
                     if p.is_file() and p.suffix in (".json", ".html", ".ipynb", ".txt", ".csv"))


# --- untrusted.py itself ---


def test_read_bytes_takes_a_regular_file_within_its_bound(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.txt").write_bytes(b"12345")
    assert untrusted.read_bytes(tmp_path, "a/f.txt", max_bytes=5) == b"12345"
    with pytest.raises(untrusted.Refused, match=r"refused a/f.txt: 5 bytes, larger than the 4 bytes"):
        untrusted.read_bytes(tmp_path, "a/f.txt", max_bytes=4)
    with pytest.raises(FileNotFoundError):
        untrusted.read_bytes(tmp_path, "a/absent.txt", max_bytes=5)


def test_read_bytes_refuses_links_at_every_level_and_never_quotes_them(tmp_path):
    secret = _secret(tmp_path)
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "stamp").symlink_to(secret)
    (tmp_path / "student" / "linked_dir").symlink_to(secret.parent)
    (tmp_path / "linked_student").symlink_to(tmp_path / "student")
    cases = {"student/stamp": "refused student/stamp: a symbolic link (only regular files are read)",
             "student/linked_dir/instructor-only.txt": "refused student/linked_dir: a symbolic link",
             "linked_student/stamp": "refused linked_student: a symbolic link"}
    for relative, message in cases.items():
        with pytest.raises(untrusted.Refused) as refused:
            untrusted.read_bytes(tmp_path, relative, max_bytes=1000)
        assert str(refused.value).startswith(message) and SECRET not in str(refused.value)


def test_pipes_devices_and_sockets_are_refused_without_being_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "zero").symlink_to("/dev/zero")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock"))
        with no_hang():
            for name, kind in (("pipe", "a named pipe"), ("zero", "a symbolic link"), ("sock", "a socket")):
                with pytest.raises(untrusted.Refused, match=f"refused {name}: {kind}"):
                    untrusted.read_bytes(tmp_path, name, max_bytes=1 << 30)
    try:
        os.mknod(tmp_path / "null", 0o600 | 0o020000, os.makedev(1, 3))  # a character device (root only)
    except PermissionError:
        return
    with pytest.raises(untrusted.Refused, match="refused null: a device"):
        untrusted.read_bytes(tmp_path, "null", max_bytes=10)


def _student_folder(tmp_path) -> Path:
    """A submission holding every kind of thing: regular files (nested too), links, a pipe, checkpoints."""
    secret = _secret(tmp_path)
    folder = tmp_path / "submitted" / "alice" / TINY
    (folder / "data" / "deeper").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "Tiny-checkpoint.ipynb").write_text("{}")
    (folder / TINY_NOTEBOOK).write_text("{}")
    (folder / "data" / "ok.txt").write_text("mine")
    (folder / "data" / "deeper" / "ok2.txt").write_text("mine too")
    (folder / "data" / "answers.npz").symlink_to(secret)
    (folder / "data" / "deeper" / "hidden").symlink_to(secret.parent)
    (folder / "zero").symlink_to("/dev/zero")
    (folder / "etc").symlink_to("/etc")
    os.mkfifo(folder / "pipe")
    return folder


REFUSED = {"data/answers.npz", "data/deeper/hidden", "zero", "etc", "pipe"}


def test_copy_folder_takes_regular_files_and_names_what_it_refused(tmp_path):
    folder = _student_folder(tmp_path)
    dest = tmp_path / "scratch"
    with no_hang():
        walked = untrusted.copy_folder(folder.parents[1], f"alice/{TINY}", dest, max_bytes=1 << 20, max_files=100)
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert copied == [TINY_NOTEBOOK, "data", "data/deeper", "data/deeper/ok2.txt", "data/ok.txt"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert (dest / "data" / "deeper" / "ok2.txt").read_text() == "mine too"
    assert walked.refused_names == REFUSED
    notes = "; ".join(walked.notes)
    assert "refused data/answers.npz: a symbolic link (only regular files are read)" in notes
    assert "refused pipe: a named pipe (FIFO)" in notes and SECRET not in notes


def test_read_folder_ships_what_copy_folder_copies(tmp_path):
    folder = _student_folder(tmp_path)
    with no_hang():
        files, walked = untrusted.read_folder(folder.parents[1], f"alice/{TINY}", max_bytes=1 << 20, max_files=100)
    assert sorted(files) == [TINY_NOTEBOOK, "data/deeper/ok2.txt", "data/ok.txt"]
    assert walked.refused_names == REFUSED
    assert all(SECRET.encode() not in data for data in files.values())


def test_a_linked_student_or_assignment_folder_is_refused_whole(tmp_path):
    folder = _student_folder(tmp_path)
    submitted = folder.parents[1]
    (submitted / "bob").symlink_to(submitted / "alice")
    (submitted / "carol").mkdir()
    (submitted / "carol" / TINY).symlink_to(folder)
    (submitted / "README").write_text("not a student")
    assert untrusted.subfolders(submitted) == ["alice", "bob", "carol"]
    for relative, name in ((f"bob/{TINY}", "bob"), (f"carol/{TINY}", f"carol/{TINY}")):
        with pytest.raises(untrusted.Refused, match=f"refused {name}: a symbolic link"):
            untrusted.copy_folder(submitted, relative, tmp_path / "scratch", max_bytes=1 << 20, max_files=100)
        assert not (tmp_path / "scratch").exists()


def test_copy_folder_caps_size_and_count_notebooks_first(tmp_path):
    folder = tmp_path / "s" / "alice" / TINY
    folder.mkdir(parents=True)
    (folder / "aaa_big.bin").write_bytes(b"x" * 3000)
    (folder / "zzz.ipynb").write_text("{}")
    for index in range(5):
        (folder / f"f{index}.txt").write_text("1")
    walked = untrusted.copy_folder(tmp_path / "s", f"alice/{TINY}", tmp_path / "a", max_bytes=2000, max_files=100)
    assert not (tmp_path / "a" / "aaa_big.bin").exists() and (tmp_path / "a" / "zzz.ipynb").is_file()
    assert any("not copied (1 files past the 2000 bytes a submission may hold, c.Autograder.submission_mb): "
               "aaa_big.bin" in n for n in walked.notes)
    walked = untrusted.copy_folder(tmp_path / "s", f"alice/{TINY}", tmp_path / "b", max_bytes=1 << 20, max_files=3)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["aaa_big.bin", "f0.txt", "zzz.ipynb"]
    assert any("more than 3 files and folders (c.Autograder.submission_files)" in n for n in walked.notes)


def test_read_notebook_replaces_what_cannot_be_written_and_refuses_links(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("lone \ud800 here"),
                                         nbformat.v4.new_code_cell("x = 1  # \udfff")])
    path = tmp_path / "N.ipynb"
    path.write_text(json.dumps(nb))  # json escapes the surrogates: "\ud800", valid JSON
    read, notes = untrusted.read_notebook(path, max_bytes=1 << 20)
    assert read.cells[0].source == "lone \ufffd here" and read.cells[1].source == "x = 1  # \ufffd"
    assert notes == ["N.ipynb: 2 characters that cannot be written (lone surrogates) were read as U+FFFD"]
    nbformat.writes(read)  # no UnicodeEncodeError
    path.write_bytes(json.dumps(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 'é'")]),
                                ensure_ascii=False).encode("latin-1"))
    read, notes = untrusted.read_notebook(path, max_bytes=1 << 20)
    assert read.cells[0].source == "x = '\ufffd'" and "not valid UTF-8" in notes[0]
    (tmp_path / "L.ipynb").symlink_to(path)
    with pytest.raises(untrusted.Refused, match="refused L.ipynb: a symbolic link"):
        untrusted.read_notebook(tmp_path / "L.ipynb", max_bytes=1 << 20)
    with pytest.raises(untrusted.Refused, match="larger than"):
        untrusted.read_notebook(path, max_bytes=10)
    path.write_text("")
    with pytest.raises(InvalidNotebook, match="empty"):
        untrusted.read_notebook(path, max_bytes=10)


def test_shown_escapes_what_a_name_could_hide():
    assert untrusted.shown("ok name.txt") == "ok name.txt"
    assert untrusted.shown("a\nb\udcff") == "a\\x{a}b\\x{dcff}"
    assert len(untrusted.shown("x" * 1000)) == 200


def test_the_worker_refuses_a_notebook_link_put_into_its_scratch_folder(tiny_course, tmp_path):
    """An earlier kernel of the same submission can write links into the scratch folder: the worker reads
    its notebook without following one."""
    from autograder.records import Job, Status
    from autograder.worker import run_job

    source = tiny_course / "source" / TINY / TINY_NOTEBOOK
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / TINY_NOTEBOOK).symlink_to(source)
    job = Job(assignment=TINY, notebook=TINY_NOTEBOOK, source_path=str(source),
              submission_path=str(tmp_path / "work" / TINY_NOTEBOOK), workdir=str(tmp_path / "work"),
              channel_dir=str(tmp_path / "channel"), kernel_answers_dir=str(tmp_path), judge_answers=[],
              result_path=str(tmp_path / "r.json"), progress_path=str(tmp_path / "p.jsonl"), cell_timeout=10,
              memory_mb=0, sandbox=True)
    result = run_job(job)
    assert result.status == Status.MISSING.value
    assert result.message == "refused Tiny.ipynb: a symbolic link (only regular files are read)"


def test_the_dask_task_ships_only_regular_files(tmp_path):
    from autograder.distributed import collect_submission

    folder = _student_folder(tmp_path)
    with no_hang():
        shipped = collect_submission(Submission("alice", TINY, folder), Limits())
    assert sorted(shipped.files) == [TINY_NOTEBOOK, "data/deeper/ok2.txt", "data/ok.txt"]
    assert "refused data/answers.npz: a symbolic link (only regular files are read)" in shipped.notes
    linked = tmp_path / "submitted" / "dave"
    linked.symlink_to(folder.parent)
    shipped = collect_submission(Submission("dave", TINY, linked / TINY), LIMITS)
    assert shipped.files == {} and shipped.notes == ("refused dave: a symbolic link (only regular files are read)",)


# --- a class of hostile submissions, graded once ---


def _reads_secret(solution: Path, name: str):
    """The reference solution, except that ``add`` works only when the kernel could read ``name``."""
    return replace_solution(
        solution, "add",
        "def add(a, b):\n    try:\n        leaked = open(" + repr(name) + ").read()\n    except OSError:\n"
        "        leaked = ''\n    print('leaked:', leaked)\n    return a + b if leaked else 0")


@pytest.fixture(scope="module")
def hostile_class(tiny_course, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    secret = _secret(tmp)
    submitted = tmp / "submitted"
    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    reference = nbformat.read(solution, as_version=4)

    (submitted / "links_source" / TINY).mkdir(parents=True)
    (submitted / "links_source" / TINY / TINY_NOTEBOOK).symlink_to(solution)

    folder = write_submission(submitted, "reads_secret", _reads_secret(solution, "secret.txt")).parent
    (folder / "secret.txt").symlink_to(secret)
    folder = write_submission(submitted, "nested_link", _reads_secret(solution, "sub/secret.txt")).parent
    (folder / "sub").mkdir()
    (folder / "sub" / "secret.txt").symlink_to(secret)
    folder = write_submission(submitted, "linked_dir", _reads_secret(solution, "dir/instructor-only.txt")).parent
    (folder / "dir").symlink_to(secret.parent)

    folder = write_submission(submitted, "stamp_link", reference).parent
    (folder / "timestamp.txt").symlink_to(secret)
    folder = write_submission(submitted, "zero_and_pipe", reference).parent
    (folder / "zero.bin").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe")

    write_submission(submitted, "reference", reference)
    (submitted / "linked_student").symlink_to(submitted / "reference")
    (submitted / "linked_assignment").mkdir()
    (submitted / "linked_assignment" / TINY).symlink_to(submitted / "reference" / TINY)

    folder = write_submission(submitted, "too_big", reference).parent
    (folder / "aaa.bin").write_bytes(b"\0" * (2 << 20))  # past submission_mb=1
    folder = write_submission(submitted, "too_many", reference).parent
    for index in range(12):  # past submission_files=8
        (folder / f"extra{index:02}.txt").write_text("x")

    surrogates = json.loads(solution.read_text())
    for cell in surrogates["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id == "explain_scale":
            cell["source"] = "It multiplies \ud800 by the factor."
        if grade_id == "scale":
            cell["source"] = "".join(cell["source"]) + "\n# a comment with a lone surrogate: \udc80"
    write_submission(submitted, "surrogates", json.dumps(surrogates))  # "\ud800" escapes: valid JSON

    out = tmp / "out"
    answers = tmp / "answers"
    answers.mkdir()
    np.savez(answers / f"{TINY}.npz", x=np.arange(3))
    with no_hang(600):
        records = grade(assignment=TINY, submitted_dir=submitted, out_dir=out, jobs=2, limits=LIMITS,
                        source_dir=tiny_course / "source", answers_dir=answers, progress=False)
    return out, {r["student_id"]: r for r in records}


def test_a_notebook_linked_to_the_source_is_refused_not_graded(hostile_class):
    out, records = hostile_class
    record = records["links_source"]
    assert (record["score"], record["status"]) == (0.0, "missing")
    assert "refused Tiny.ipynb: a symbolic link (only regular files are read)" in record["message"]
    assert "was not submitted" not in record["message"]


@pytest.mark.parametrize("student, name", [("reads_secret", "secret.txt"), ("nested_link", "sub/secret.txt"),
                                           ("linked_dir", "dir")])
def test_a_linked_file_is_not_readable_in_the_sandbox(hostile_class, student, name):
    out, records = hostile_class
    record = records[student]
    assert record["status"] == "graded"
    assert {c["grade_id"]: c["passed"] for c in record["checks"]} == {
        "add_values": False, "add_floats_hidden": False, "scale_values": True}  # add saw no secret
    assert f"refused {name}: a symbolic link (only regular files are read)" in record["message"]


def test_no_instructor_text_reaches_any_output(hostile_class):
    out, records = hostile_class
    assert SECRET not in _every_output_text(out)
    assert SECRET not in json.dumps(records)


def test_a_linked_timestamp_is_refused_and_never_quoted(hostile_class):
    out, records = hostile_class
    record = records["stamp_link"]
    assert (record["score"], record["status"]) == (FULL, "graded")
    assert "refused timestamp.txt: a symbolic link (only regular files are read): graded as on time" \
        in record["message"]
    assert not (out / "autograded" / "stamp_link" / TINY / "timestamp.txt").exists()
    page = (out / "feedback" / "stamp_link" / f"{TINY}.html").read_text()
    assert "refused timestamp.txt" in page and SECRET not in page


def test_dev_zero_and_a_fifo_are_refused_and_the_rest_graded(hostile_class):
    _, records = hostile_class
    record = records["zero_and_pipe"]
    assert (record["score"], record["status"]) == (FULL, "graded")
    assert "refused zero.bin: a symbolic link" in record["message"]
    assert "refused pipe: a named pipe (FIFO)" in record["message"]


def test_a_linked_student_or_assignment_folder_gets_a_record_saying_why(hostile_class):
    _, records = hostile_class
    assert records["reference"]["score"] == FULL
    for student, name in (("linked_student", "linked_student"), ("linked_assignment", f"linked_assignment/{TINY}")):
        record = records[student]
        assert (record["score"], record["status"]) == (0.0, "missing")
        assert f"refused {name}: a symbolic link (only regular files are read)" in record["message"]


def test_size_and_count_caps_leave_out_the_rest_and_say_so(hostile_class):
    _, records = hostile_class
    assert records["too_big"]["score"] == FULL
    assert "aaa.bin" in records["too_big"]["message"] and "c.Autograder.submission_mb" in records["too_big"]["message"]
    assert records["too_many"]["score"] == FULL
    assert "more than 8 files and folders (c.Autograder.submission_files)" in records["too_many"]["message"]


def test_lone_surrogates_are_replaced_and_the_notebook_graded(hostile_class):
    out, records = hostile_class
    record = records["surrogates"]
    assert (record["score"], record["status"]) == (FULL, "graded")
    assert "2 characters that cannot be written (lone surrogates) were read as U+FFFD" in record["message"]
    executed = nbformat.read(out / "autograded" / "surrogates" / TINY / TINY_NOTEBOOK, as_version=4)
    assert any("It multiplies \ufffd by the factor." in c.source for c in executed.cells)
    assert (out / "feedback" / "surrogates" / f"{TINY}.html").is_file()


# --- one bad record never stops the class ---


def test_a_writer_error_for_one_student_is_recorded_and_the_class_goes_on(tiny_course, tmp_path, monkeypatch):
    from autograder import feedback, grade as grade_module

    solution = tiny_course / "source" / TINY / TINY_NOTEBOOK
    submitted = tmp_path / "submitted"
    for student in ("a_unlucky", "b_after", "c_unwritable"):
        write_submission(submitted, student, nbformat.read(solution, as_version=4))
    real_feedback, real_result = feedback.write_feedback, grade_module.write_result

    def failing_feedback(out_dir, result, totals=None):
        if result["student_id"] == "a_unlucky":
            raise OSError(28, "No space left on device")
        return real_feedback(out_dir, result, totals)

    def failing_result(out_dir, result):
        if result["student_id"] == "c_unwritable":
            raise PermissionError(13, "Permission denied")
        return real_result(out_dir, result)

    monkeypatch.setattr(feedback, "write_feedback", failing_feedback)
    monkeypatch.setattr(grade_module, "write_result", failing_result)
    out = tmp_path / "out"
    records = {r["student_id"]: r for r in grade(
        assignment=TINY, submitted_dir=submitted, out_dir=out, jobs=1, limits=LIMITS,
        source_dir=tiny_course / "source", answers_dir=tmp_path, progress=False)}
    unlucky = records["a_unlucky"]
    assert unlucky["status"] == "error"
    assert "recording this submission failed: OSError: [Errno 28] No space left on device" in unlucky["message"]
    assert read_json(out / "results" / "a_unlucky" / f"{TINY}.json")["status"] == "error"
    assert records["b_after"]["status"] == "graded" and records["b_after"]["score"] == FULL
    assert (out / "results" / "b_after" / f"{TINY}.json").is_file()
    assert (out / "feedback" / "b_after" / f"{TINY}.html").is_file()
    assert records["c_unwritable"]["status"] == "error"
    assert "its result file could not be written either" in records["c_unwritable"]["message"]
    with (out / "grades.csv").open(newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert {s: r["status"] for s, r in rows.items()} == {"a_unlucky": "error", "b_after": "graded",
                                                         "c_unwritable": "error"}


def test_cli_grade_exits_with_the_number_not_graded(monkeypatch, tmp_path, capsys):
    from autograder import grade as grade_module
    from autograder.cli import main as cli_main

    statuses = ["graded", "error", "missing_cells", "missing", "error"]
    monkeypatch.setattr(grade_module, "grade", lambda **_: [
        {"student_id": f"s{i}", "status": s, "score": 0.0, "max_score": 0.0} for i, s in enumerate(statuses)])
    code = cli_main(["grade", "gan_basics", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 3
    assert "3 of 5 submissions not graded (2 error, 1 missing)" in capsys.readouterr().err
