"""`autograder release` and its --check against a committed release."""
from __future__ import annotations

import json

import nbformat

from autograder.release import release
from conftest import TINY, TINY_NOTEBOOK


def test_release_replaces_solutions_and_hides_tests(tiny_course):
    nb = nbformat.read(tiny_course / "release" / TINY / TINY_NOTEBOOK, as_version=4)
    text = json.dumps(nb)
    assert "raise NotImplementedError()" in text
    assert "return a + b" not in text
    assert "SECRET_HIDDEN_ASSERTION" not in text
    assert "YOUR ANSWER HERE" in text


def test_check_passes_on_a_fresh_release_and_names_each_difference(tiny_course, tmp_path):
    kwargs = dict(assignments=[TINY], source_dir=tiny_course / "source")
    assert release(release_dir=tiny_course / "release", check=True, **kwargs) == []

    stale = tmp_path / "release"
    release(release_dir=stale, **kwargs)
    path = stale / TINY / TINY_NOTEBOOK
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\nedited by hand"
    nbformat.write(nb, path)
    (stale / TINY / "stray.txt").write_text("left over")
    problems = release(release_dir=stale, check=True, **kwargs)
    assert problems == [f"{TINY}/stray.txt: not produced by regeneration",
                        f"{TINY}/{TINY_NOTEBOOK}: differs from regeneration"]
