"""`nbgrader zip_collect` with ``CanvasCollector`` on a Canvas download, as README's recipe runs it."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from autograder.canvas_collect import CANVAS_FILE_NAME

from conftest import TINY, TINY_NOTEBOOK


def test_canvas_names_match_and_others_do_not():
    import re

    match = re.match(CANVAS_FILE_NAME, "/c/downloaded/tiny/extracted/submissions/hoppergrace_LATE_102_9002_Tiny-1.ipynb")
    assert match and match.group("student_id", "file_id", "extension", "late") == ("102", "Tiny", ".ipynb", "LATE_")
    assert re.match(CANVAS_FILE_NAME, "/c/x/lovelaceada_101_9001_Tiny.ipynb").group("late") is None
    assert re.match(CANVAS_FILE_NAME, "/c/x/Tiny.ipynb") is None  # not Canvas's pattern


def test_zip_collect_files_a_canvas_download_under_submitted(tiny_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(tiny_course / "release", course / "release")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.root = %r\n"
        "c.ZipCollectApp.collector_plugin = 'autograder.canvas_collect.CanvasCollector'\n" % str(course))
    archive = course / "downloaded" / TINY / "archive"
    archive.mkdir(parents=True)
    release = (tiny_course / "release" / TINY / TINY_NOTEBOOK).read_bytes()
    with zipfile.ZipFile(archive / "submissions.zip", "w") as download:  # as Canvas's "Download Submissions"
        download.writestr(f"lovelaceada_101_9001_{TINY_NOTEBOOK}", release)
        download.writestr(f"hoppergrace_LATE_102_9002_{Path(TINY_NOTEBOOK).stem}-1.ipynb", release)
        download.writestr("README.txt", "not a submission")
    done = subprocess.run([str(Path(sys.executable).with_name("nbgrader")), "zip_collect", TINY],
                          cwd=course, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    submitted = course / "submitted"
    assert sorted(p.relative_to(submitted).as_posix() for p in submitted.rglob("*") if p.is_file()) == [
        f"101/{TINY}/{TINY_NOTEBOOK}", f"102/{TINY}/{TINY_NOTEBOOK}"]
    assert (submitted / "102" / TINY / TINY_NOTEBOOK).read_bytes() == release
    assert "Canvas marks student 102 (hoppergrace) LATE" in done.stderr and "timestamp.txt" in done.stderr
    assert "student 101" not in done.stderr  # the one on time is not named
    assert "README.txt" in done.stderr  # skipped, and said so
