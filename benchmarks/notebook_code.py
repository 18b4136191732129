"""Run the reference code of a source notebook into a namespace, so the benchmark measures the very code the
course ships (no copy of it here).

Executed: the setup cells named in ``setup_ids`` (imports, constants) and every code cell whose nbgrader
metadata has ``solution: true`` (the reference solutions). Skipped: everything else - data loading, training
drivers, check cells. IPython magics (``%...``, ``!...``) are dropped.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GAN_BASICS = ROOT / "source" / "gan_basics" / "GANs-TensorFlow.ipynb"


def code_cells(path, setup_ids=("setup",)) -> list[tuple[str, str]]:
    """(grade_id, source) of the cells to run, in notebook order."""
    notebook = nbformat.read(str(path), as_version=4)
    chosen = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        if meta.get("solution") or grade_id in setup_ids:
            lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            chosen.append((grade_id, "\n".join(lines)))
    return chosen


def load_namespace(path=GAN_BASICS, setup_ids=("setup",), quiet=True) -> dict:
    """A dict holding what the chosen cells define (functions, constants, imported modules)."""
    namespace: dict = {"__name__": "notebook_code"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output) if quiet else contextlib.nullcontext():
        for grade_id, source in code_cells(path, setup_ids):
            exec(compile(source, f"{Path(path).name}:{grade_id}", "exec"), namespace)
    return namespace
