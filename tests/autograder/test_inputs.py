"""Grading inputs drawn per submission (`autograder/inputs.py`), on the test assignment `drawn` (NumPy only,
with an answer reference): each student's own inputs, the same on a regrade, new ones on a resubmission; a
classmate's `want` earns nothing; the secret (0600, created on first use) reaches no output; the cache."""
from __future__ import annotations

import json
import os
import shutil
import stat

import nbformat
import numpy as np
import pytest

from autograder import inputs as inputs_module
from autograder.answers import build_answers, npz_bytes, read_npz
from autograder.grade import Limits, Submission, grade, prepare_answers
from autograder.inputs import GradingInputs, GradingSecretError, read_or_create_secret
from autograder.paths import REPO_ROOT
from autograder.validate import validate
from conftest import DRAWN, DRAWN_FULL, DRAWN_NOTEBOOK, replace_solution, write_submission

LIMITS = Limits(cell_timeout=30, submission_timeout=120, memory_mb=4096)
T1, T2 = "2026-12-01 10:00:00.000000 UTC", "2026-12-01 11:30:00.000000 UTC"
SHOW_INPUTS = ('print("KERNEL_INPUTS", json.dumps({k: np.asarray(v).tolist() '
               'for k, v in load_answers("drawn").items()}))')


def _instructor(tmp_path) -> GradingInputs:
    return GradingInputs(grading_secret=str(tmp_path / "config" / "grading-secret"),
                         answers_cache=str(tmp_path / "cache"))


def _showing_inputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with a student cell after the setup that prints every answer the kernel can read."""
    nb = nbformat.from_dict(json.loads(json.dumps(notebook)))
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell("import json\n" + SHOW_INPUTS))
    return nb


def _submit(submitted, student, notebook, timestamp):
    path = write_submission(submitted, student, notebook, name=DRAWN_NOTEBOOK, assignment=DRAWN)
    (path.parent / "timestamp.txt").write_text(timestamp)


def _kernel_inputs(out, student) -> dict:
    """What the student's kernel read from its answer file during grading (from the executed notebook)."""
    nb = nbformat.read(out / "autograded" / student / DRAWN / DRAWN_NOTEBOOK, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if text.startswith("KERNEL_INPUTS "):
                return json.loads(text.split(" ", 1)[1])
    raise AssertionError(f"{student}'s kernel printed no inputs")


def _grade(course, submitted, out, instructor, jobs=2, **options):
    records = grade(assignment=DRAWN, submitted_dir=submitted, out_dir=out, jobs=jobs, limits=LIMITS,
                    source_dir=course / "source", answers_dir=course / "data", hidden_dir=course / "hidden",
                    progress=False, inputs=instructor, **options)
    return {r["student_id"]: r for r in records}


def _scores(record):
    return {c["grade_id"]: c["score"] for c in record["checks"]}


@pytest.fixture(scope="module")
def graded(drawn_reference, tmp_path_factory):
    """alice and bob submit the reference solution at the same time; mallory hard-codes the public `want` (what
    every student's feedback showed when all were graded on the same inputs), trudy the `want` on alice's inputs
    (what a failed check of alice's would show her)."""
    course = drawn_reference
    root = tmp_path_factory.mktemp("drawn-class")
    instructor = _instructor(root)
    solution = course / "source" / DRAWN / DRAWN_NOTEBOOK
    reference = _showing_inputs(nbformat.read(solution, as_version=4))
    seen = read_npz_bytes(instructor.drawer().draw(DRAWN, "alice", _parse(T1)).npz)
    alices_want = seen["double_true"]
    public_want = read_npz(course / "data" / f"{DRAWN}.npz")["double_true"]

    def copying(want):
        return _showing_inputs(replace_solution(solution, "double",
                                                f"def double(x):\n    return np.array({want.tolist()!r})"))

    submitted = root / "submitted"
    for student, notebook in (("alice", reference), ("bob", reference), ("mallory", copying(public_want)),
                              ("trudy", copying(alices_want))):
        _submit(submitted, student, notebook, T1)
    records = _grade(course, submitted, root / "out", instructor)
    return course, root, instructor, records, alices_want


def read_npz_bytes(data: bytes) -> dict:
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _parse(text):
    from nbgrader.utils import parse_utc

    return parse_utc(text)


def test_two_students_get_their_own_inputs_and_the_reference_full_marks(graded):
    _, root, _, records, _ = graded
    alice, bob = records["alice"], records["bob"]
    assert (alice["score"], bob["score"]) == (DRAWN_FULL, DRAWN_FULL), (alice["message"], bob["message"])
    assert alice["answers_seed"] != bob["answers_seed"]
    seen = {student: _kernel_inputs(root / "out", student) for student in ("alice", "bob")}
    assert seen["alice"]["double_x"] != seen["bob"]["double_x"]
    public = read_npz(graded[0] / "data" / f"{DRAWN}.npz")
    assert seen["alice"]["double_x"] != public["double_x"].tolist()
    # The kernel got only the inputs its code reads: no expected value, visible or hidden.
    assert set(seen["alice"]) == {"double_x"}
    # The record says how to draw them again, without the secret.
    drawn = build_answers(DRAWN, seed=alice["answers_seed"])
    np.testing.assert_array_equal(drawn["double_x"], seen["alice"]["double_x"])
    assert alice["answers_drawn_for"]["student_id"] == "alice"
    assert alice["answers_drawn_for"]["timestamp"].startswith("2026-12-01T10:00:00")


def test_a_regrade_draws_the_same_inputs_and_a_resubmission_new_ones(graded, tmp_path):
    course, root, instructor, records, _ = graded
    again = _grade(course, root / "submitted", tmp_path / "regrade", instructor, only="alice", jobs=1)
    assert again["alice"]["answers_seed"] == records["alice"]["answers_seed"]
    assert _kernel_inputs(tmp_path / "regrade", "alice") == _kernel_inputs(root / "out", "alice")
    # Resubmitted later (nbgrader collect writes the new time): other inputs.
    resubmitted = tmp_path / "resubmitted" / "alice" / DRAWN
    shutil.copytree(root / "submitted" / "alice" / DRAWN, resubmitted)
    (resubmitted / "timestamp.txt").write_text(T2)
    later = instructor.drawer().for_submission(Submission("alice", DRAWN, resubmitted))
    assert later.seed != records["alice"]["answers_seed"]
    assert read_npz_bytes(later.npz)["double_x"].tolist() != _kernel_inputs(root / "out", "alice")["double_x"]


def test_hard_coding_a_classmates_want_loses_those_points(graded):
    _, root, _, records, alices_want = graded
    assert _scores(records["mallory"]) == {"double_values": 0, "double_scaled_hidden": 0}
    assert _scores(records["trudy"]) == {"double_values": 0, "double_scaled_hidden": 0}
    check = next(c for c in records["mallory"]["checks"] if c["grade_id"] == "double_values")
    assert "want:" in check["message"]  # her own want: a failed visible check shows it, it helps nobody else
    page = (root / "out" / "feedback" / "mallory" / f"{DRAWN}.html").read_text()
    assert "double(x)" in page


def test_the_secret_is_made_once_0600_and_reaches_no_output(graded, tmp_path):
    _, root, instructor, records, _ = graded
    path = root / "config" / "grading-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret_hex = path.read_text().strip()
    assert read_or_create_secret(path) == bytes.fromhex(secret_hex)  # not made again
    secret = bytes.fromhex(secret_hex)
    for file in (root / "out").rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert secret_hex.encode() not in data and secret not in data, file
    assert secret_hex not in json.dumps(records)
    assert secret_hex not in repr(instructor.drawer())


def test_a_secret_others_can_read_or_one_in_the_repository_is_refused(tmp_path):
    loose = tmp_path / "loose"
    loose.write_text("ab" * 32 + "\n")
    loose.chmod(0o644)
    with pytest.raises(GradingSecretError, match="chmod 600"):
        read_or_create_secret(loose)
    short = tmp_path / "short"
    short.write_text("abcd\n")
    short.chmod(0o600)
    with pytest.raises(GradingSecretError, match="hex digits"):
        read_or_create_secret(short)
    with pytest.raises(GradingSecretError, match="inside the course repository"):
        read_or_create_secret(REPO_ROOT / "grading-secret")
    assert not (REPO_ROOT / "grading-secret").exists()


def test_the_cache_is_used_the_second_time(drawn_reference, tmp_path, monkeypatch):
    built = []
    original = inputs_module.build_answers

    def counting(assignment, seed=None):
        built.append(seed)
        return original(assignment, seed=seed)

    monkeypatch.setattr(inputs_module, "build_answers", counting)
    drawer = _instructor(tmp_path).drawer()
    first = drawer.draw(DRAWN, "alice", None)
    second = _instructor(tmp_path).drawer().draw(DRAWN, "alice", None)  # another run, same instructor
    assert built == [first.seed] and second.npz == first.npz
    cached = drawer.cache_path(DRAWN, first.seed)
    assert cached.is_file() and cached.read_bytes() == npz_bytes(original(DRAWN, seed=first.seed))
    cached.write_bytes(b"truncated")  # a damaged cache entry is rebuilt, never trusted
    assert drawer.draw(DRAWN, "alice", None).npz == first.npz and built == [first.seed, first.seed]


def test_prepare_answers_gives_the_kernel_the_drawn_inputs_and_the_judge_all(drawn_reference, tmp_path):
    course = drawn_reference
    drawn = _instructor(tmp_path).drawer().draw(DRAWN, "alice", None)
    kernel_dir, judge = prepare_answers(DRAWN, answers_dir=course / "data", hidden_dir=course / "hidden",
                                        dest=tmp_path / "scratch", source_dir=course / "source", answers=drawn)
    full = build_answers(DRAWN, seed=drawn.seed)
    kernel = read_npz(kernel_dir / f"{DRAWN}.npz")
    assert set(kernel) == {"double_x"}
    np.testing.assert_array_equal(kernel["double_x"], full["double_x"])
    assert read_npz(judge[0]).keys() == full.keys() and len(judge) == 1
    assert not os.path.commonpath([judge[0], kernel_dir]) == str(kernel_dir)  # the judge's file is not mounted


def test_validate_grades_the_source_and_release_on_drawn_inputs(drawn_reference, tmp_path):
    """No answer files at all: validation draws inputs for a pseudo-student and passes only if the reference
    and the source agree on them (the source full marks, the release zero)."""
    course = drawn_reference
    ok, report = validate(assignment=DRAWN, source_dir=course / "source", answers_dir=tmp_path / "no-data",
                          hidden_dir=tmp_path / "no-hidden", limits=LIMITS, jobs=2, inputs=_instructor(tmp_path))
    assert ok, report
    assert "answers_seed" in report and "[source]: all 2 checks pass" in report
    assert "[release]: all 2 checks fail" in report


@pytest.mark.slow  # two real gan_basics submissions (TensorFlow): about a minute on 2 idle cores
def test_two_students_of_a_real_assignment_get_their_own_inputs_and_full_marks(tmp_path):
    from autograder.answers import key_usage
    from autograder.paths import source_notebooks

    assignment = "gan_basics"
    for student in ("alice", "bob"):
        folder = tmp_path / "submitted" / student / assignment
        folder.mkdir(parents=True)
        for notebook in source_notebooks(assignment):
            shutil.copy(notebook, folder / notebook.name)
        (folder / "timestamp.txt").write_text(T1)
    records = grade(assignment=assignment, submitted_dir=tmp_path / "submitted", out_dir=tmp_path / "out", jobs=2,
                    limits=Limits(cell_timeout=600, submission_timeout=1800), progress=False, feedback=False,
                    inputs=_instructor(tmp_path))
    by_student = {r["student_id"]: r for r in records}
    for record in records:
        assert record["score"] == record["max_score"] > 0, [c for c in record["checks"] if not c["passed"]]
    seeds = {s: r["answers_seed"] for s, r in by_student.items()}
    assert seeds["alice"] != seeds["bob"]
    alice, bob = (build_answers(assignment, seed=seeds[s]) for s in ("alice", "bob"))
    read = [k for k in key_usage(assignment).kernel if k in alice and alice[k].dtype.kind == "f"]
    assert read and all(not np.array_equal(alice[k], bob[k]) for k in read)
