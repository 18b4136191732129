"""`autograder demo` (what `make demo` runs): regenerate answers and release, grade three demo students.

For each assignment the demo class is: ``reference`` (the source solutions), ``untouched`` (the release as a
student receives it) and ``typical_bug`` (the reference with one typical mistake). It checks the outcome
it expects (full marks, zero, points lost on the buggy function) and prints the score table.
Each submission carries nbgrader collect's ``timestamp.txt``: ``typical_bug`` came in a day late against the demo
due date, so its row shows the course's late penalty; the gradebook, grades.csv, the Canvas export and the
feedback pages must agree on every student's total (``autograder.term.agreement_problems``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from autograder import term
from autograder.answers import reference_names, write_answers
from autograder.export import export
from autograder.grade import grade
from autograder.notebook import grade_id
from autograder.paths import RELEASE_DIR, SOURCE_DIR, source_notebooks
from autograder.release import release

# One typical mistake per assignment: (solution grade_id, replacement cell source, what is wrong).
TYPICAL_BUGS = {
    "gan_basics": (
        "leaky_relu",
        "def leaky_relu(x, alpha=0.2):\n    return tf.maximum(alpha * x, x)\n",
        "leaky_relu with the slope 0.2 instead of 0.01",
    ),
    "keras_model_gan": (
        "make_dataset",
        "def make_dataset(images, labels=None, batch_size=64, seed=0, num_classes=NUM_CLASSES):\n"
        "    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)\n"
        "    if labels is None:\n"
        "        dataset = tf.data.Dataset.from_tensor_slices(images)\n"
        "    else:\n"
        "        one_hot = np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]\n"
        "        dataset = tf.data.Dataset.from_tensor_slices((images, one_hot))\n"
        "    return dataset.shuffle(len(images), seed=seed).batch(batch_size, drop_remainder=True)\n",
        "make_dataset that forgets to scale the images to [-1, 1]",
    ),
    "keras_sequential_gan": (
        "make_generator",
        "def make_generator(codings_size=30):\n"
        "    return keras.Sequential([keras.Input((codings_size,)), layers.Dense(100, activation='relu'),\n"
        "        layers.Dense(150, activation='relu'), layers.Dense(28 * 28, activation='sigmoid'),\n"
        "        layers.Reshape((28, 28))])\n",
        "a dense generator with ReLU instead of SELU",
    ),
    "dcgan_cifar": (
        "make_labels",
        "def make_labels(batch_size, noise=0.05, rng=None):\n"
        "    d_labels = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))]).astype(np.float32)\n"
        "    return d_labels, np.zeros((batch_size, 1), dtype=np.float32)\n",
        "make_labels without the label noise",
    ),
    "gan_1d_conditional": (
        "g_loss",
        "def g_loss(d_fake):\n"
        "    return tf.reduce_mean(tf.math.log(1.0 - tf.sigmoid(d_fake)))\n",
        "the saturating generator loss log(1 - D(G(z)))",
    ),
}


def buggy_copy(notebook_path: Path, solution_id: str, source: str):
    nb = nbformat.read(notebook_path, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == solution_id:
            cell.source = source
            return nb
    raise KeyError(f"{notebook_path.name} has no solution cell {solution_id!r} for the demo bug")


DEMO_DUE = "2026-10-05 23:59:00 UTC"
DEMO_SUBMITTED_AT = {"reference": "2026-10-05 20:00:00.000000 UTC", "untouched": "2026-10-05 23:00:00.000000 UTC",
                     "typical_bug": "2026-10-06 18:30:00.000000 UTC"}  # typical_bug: a day late


def write_demo_class(*, assignment: str, submitted: Path) -> None:
    for source_path in source_notebooks(assignment):
        for student, path in (("reference", source_path), ("untouched", RELEASE_DIR / assignment / source_path.name)):
            target = submitted / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / source_path.name)
        target = submitted / "typical_bug" / assignment
        target.mkdir(parents=True, exist_ok=True)
        nb = nbformat.read(source_path, as_version=4)
        solution_id, source, _ = TYPICAL_BUGS[assignment]
        if any(grade_id(cell) == solution_id for cell in nb.cells):
            nb = buggy_copy(source_path, solution_id, source)
        nbformat.write(nb, target / source_path.name)
    for student, when in DEMO_SUBMITTED_AT.items():
        (submitted / student / assignment / "timestamp.txt").write_text(when)


def demo(*, workdir: Path, assignments: list[str]) -> int:
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    print("1. answer files:", ", ".join(reference_names()))
    write_answers(assignments=reference_names())
    print("2. release:", ", ".join(assignments))
    release(assignments=assignments, source_dir=SOURCE_DIR)
    submitted, out = workdir / "submitted", workdir / "graded"
    problems = []
    for assignment in assignments:
        write_demo_class(assignment=assignment, submitted=submitted)
        print(f"\n3. grading {assignment} ({TYPICAL_BUGS[assignment][2]} in typical_bug)", flush=True)
        db_url = f"sqlite:///{(out / 'gradebook.db').resolve()}"
        out.mkdir(parents=True, exist_ok=True)
        term.set_due_date(db_url, assignment, DEMO_DUE)
        records = {r["student_id"]: r for r in grade(assignment=assignment, submitted_dir=submitted, out_dir=out)}
        export(db_url=db_url, out_csv=out / "canvas.csv", format="canvas")
        problems += [f"{assignment}: {p}" for p in term.agreement_problems(
            out_dir=out, assignment=assignment, db_url=db_url, canvas_csv=out / "canvas.csv")]
        expected = {
            "reference": records["reference"]["score"] == records["reference"]["max_score"] > 0,
            "untouched": records["untouched"]["score"] == 0,
            "typical_bug": 0 < records["typical_bug"]["score"] < records["typical_bug"]["max_score"],
        }
        problems += [f"{assignment}: {student} did not score as expected" for student, ok in expected.items() if not ok]
    print("\nAll assignments (grades.csv):")
    print((out / "grades.csv").read_text().replace(",", "\t"))
    print(f"class CSV: {out / 'grades.csv'}\nfeedback:  {out / 'feedback'}/<student>/<assignment>.html"
          f"\ngradebook: {out / 'gradebook.db'}\nCanvas:    {out / 'canvas.csv'}"
          f"\nformgrader: cd {out} && jupyter lab --ServerApp.extra_static_paths=/usr/share/javascript")
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0
