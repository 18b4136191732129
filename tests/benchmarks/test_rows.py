"""Every benchmark row is built from its assignment's source notebook and trains (tiny budgets: a couple of
steps each; the speed and quality goals live in `make bench`)."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from benchmarks import gans, notebook_code, rows

ROOT = Path(__file__).resolve().parents[2]


def _notebook(path: Path, cells) -> Path:
    """A notebook of (grade_id, source, solution) code cells."""
    nb = nbformat.v4.new_notebook()
    for grade_id, source, solution in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
            "grade_id": grade_id, "solution": solution, "grade": False, "locked": not solution}}))
    nbformat.write(nb, str(path))
    return path


# --- extracting the notebook's own code (no TensorFlow) -----------------------------------------------------

def test_run_until_call_follows_the_interactive_branch_and_evaluates_the_driver_arguments(tmp_path):
    path = _notebook(tmp_path / "n.ipynb", [
        ("setup", "GRADING = False\nimport math", False),
        ("model", "def build(width):\n    return {'width': width}", True),
        ("driver", "def fit(model, steps, batch=32):\n    raise AssertionError('the driver must not run')", False),
        ("train", "model = build(7)\nif GRADING:\n    fit(model, 2)\nelse:\n    steps = 10 * 30\n"
                  "    history = fit(model, steps, batch=64)\nprint('after the driver: not run')", False),
    ])
    namespace = notebook_code.load_namespace(path, extra_ids=("driver",))
    assert "fit" in namespace and "build" in namespace and "model" not in namespace
    call = notebook_code.run_until_call(namespace, path, "train", "fit")
    arguments = notebook_code.call_arguments(namespace, call, namespace["fit"])
    assert arguments == {"model": {"width": 7}, "steps": 300, "batch": 64}
    assert "history" not in namespace  # stopped before the driver's statement

    namespace["GRADING"] = True
    call = notebook_code.run_until_call(namespace, path, "train", "fit")
    assert notebook_code.call_arguments(namespace, call, namespace["fit"])["steps"] == 2


def test_missing_cells_and_calls_are_named(tmp_path):
    path = _notebook(tmp_path / "n.ipynb", [("setup", "x = 1", False), ("train", "y = x + 1", False)])
    with pytest.raises(notebook_code.NotebookCodeError, match="train_helpers"):
        notebook_code.load_namespace(path, extra_ids=("train_helpers",))
    namespace = notebook_code.load_namespace(path)
    with pytest.raises(notebook_code.NotebookCodeError, match=r"no longer calls fit\(\)"):
        notebook_code.run_until_call(namespace, path, "train", "fit")
    with pytest.raises(notebook_code.NotebookCodeError, match="'nowhere'"):
        notebook_code.run_until_call(namespace, path, "nowhere", "fit")


def test_the_stand_in_conditional_gan_is_gone():
    assert "cgan" not in rows.ROWS and "cgan" not in gans.GAN_NAMES
    source = (ROOT / "benchmarks" / "gans.py").read_text()
    assert "def cgan_generator" not in source and "def _cgan" not in source
    # Every row belongs to an assignment, and every assignment has at least one row.
    assert {assignment for assignment, _, _ in rows.ROWS.values()} == set(notebook_code.NOTEBOOKS)
    with pytest.raises(ValueError, match="unknown benchmark row"):
        rows.build_row("cgan")


# --- the rows, each from its notebook, a couple of steps --------------------------------------------------

tf = pytest.importorskip("tensorflow")

#: row -> (notebook function whose code built the generator, batch override for speed)
NEW_ROWS = {"model_gan": None, "model_cgan": None, "seq_gan": None, "seq_dcgan": None, "cifar_dcgan": 2,
            "gan_1d": 16, "fashion_cgan": None}


@pytest.mark.parametrize("name", list(NEW_ROWS))
def test_row_builds_from_its_notebook_and_trains_two_steps(name):
    row = rows.build_row(name, batch_size=NEW_ROWS[name])
    assert row.assignment == rows.ROWS[name][0] and row.notebook_steps > 0 and row.flops_per_step > 0
    before = [np.array(w) for w in row.G.trainable_weights]
    d_losses, g_losses = row.train(2)
    assert len(d_losses) == len(g_losses) == 2 and np.all(np.isfinite(d_losses + g_losses))
    assert any(not np.array_equal(b, np.array(w)) for b, w in zip(before, row.G.trainable_weights))
    generated = row.sample(30, seed=0)
    if row.kind == "1d":
        assert generated.shape == (30,)
    else:
        images, labels = generated if row.kind == "conditional" else (generated, None)
        if row.dataset is not None:  # scored with a 28x28 classifier: images in its form
            assert images.shape == (30, 28, 28, 1) and 0.0 <= images.min() and images.max() <= 1.0
        if labels is not None:
            assert list(labels[:10]) == list(range(10))


def test_rows_take_their_models_and_length_from_the_notebook(tmp_path, monkeypatch):
    """Change the notebook and the row changes: no copy of the model or of the training length here."""
    source = notebook_code.NOTEBOOKS["gan_1d_conditional"]
    nb = nbformat.read(str(source), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "build_generator_1d":
            assert "layers.Dense(64, activation=\"relu\")(noise)" in cell.source
            cell.source = cell.source.replace("layers.Dense(64, activation=\"relu\")(noise)",
                                              "layers.Dense(5, activation=\"relu\")(noise)")
        if grade_id == "train_1d":
            assert "else 3000" in cell.source
            cell.source = cell.source.replace("else 3000", "else 1234")
    changed = tmp_path / "gan_1d_conditional.ipynb"
    nbformat.write(nb, str(changed))
    monkeypatch.setitem(notebook_code.NOTEBOOKS, "gan_1d_conditional", changed)
    row = rows.build_row("gan_1d")
    assert row.notebook_steps == 1234
    assert row.G.layers[1].units == 5


def test_eager_context_runs_the_same_step_op_by_op():
    from benchmarks import worker

    row = rows.build_row("fashion_cgan")  # its step once failed eagerly (NumPy arguments reach Keras unconverted)
    with worker.eagerly():
        assert tf.config.functions_run_eagerly()
        d_losses, _ = row.train(2)
    assert not tf.config.functions_run_eagerly() and len(d_losses) == 2


def test_quality_reports_the_targets_of_a_conditional_row(tmp_path):
    from benchmarks import worker

    result = worker.quality("fashion_cgan", budget=60, samples=100, png_dir=tmp_path, clock="wall", max_steps=2)
    assert result["steps"] == 2 and result["notebook_steps"] > 2
    assert 0.0 <= result["conditional_accuracy"] <= 1.0 and result["conditional_accuracy_real"] > 0.8
    assert set(result["targets"]) == {"is_fraction", "conditional_accuracy"}
    assert "conditional accuracy" in result["score_line"]
    assert (tmp_path / "samples_fashion_cgan.png").exists() and (tmp_path / "losses_fashion_cgan.png").exists()
    json.dumps(result)  # crosses the process boundary as JSON


@pytest.mark.parametrize("name", ["dcgan", "seq_gan"])
def test_rows_train_the_cells_solvers_and_sample_from_the_weight_average(name):
    """The row trains with the optimizer the notebook's cell set up (it keeps the generator's weight average),
    and its finish runs the cell's use_weight_average, which copies the average into G before sampling."""
    row = rows.build_row(name)
    solver = row.extra["G_solver"] if name == "dcgan" else row.extra["sequential_gan"].optimizer
    assert solver.use_ema
    row.train(3)
    assert int(solver.iterations) == 3  # the row's steps went through the cell's own solver
    live = [np.array(w) for w in row.G.trainable_weights]
    row.finish()
    after = [np.array(w) for w in row.G.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(live, after)), "finish did not copy the average into G"
    assert row.sample(8, seed=0).shape == (8, 28, 28, 1)
