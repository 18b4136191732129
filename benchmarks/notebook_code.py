"""Run the reference code of a source notebook into a namespace, so the benchmark measures the very code the
course ships (no copy of it here).

``load_namespace`` executes the setup cells named in ``setup_ids`` (imports, constants), every code cell whose
nbgrader metadata has ``solution: true`` (the reference solutions) and the locked helper cells named in
``extra_ids`` (helpers the notebook gives, such as its data loader or a training driver it defines). Skipped:
everything else - training drivers, check cells. IPython magics (``%...``, ``!...``) are dropped.

``run_until_call`` then runs a locked *training* cell the way an interactive session does (``GRADING`` false),
statement by statement, and stops just before the statement that calls the training driver (``run_a_gan``,
``gan.fit``, ``train_gan``...). Inside ``if GRADING: ... else: ...`` it follows the branch the namespace
selects. The caller gets the driver's call node and evaluates its arguments with ``call_arguments``: the models,
data, batch size and training length the notebook would use, without naming any of them here.
"""
from __future__ import annotations

import ast
import contextlib
import inspect
import io
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
GAN_BASICS = SOURCE / "gan_basics" / "GANs-TensorFlow.ipynb"
NOTEBOOKS = {
    "gan_basics": GAN_BASICS,
    "keras_model_gan": SOURCE / "keras_model_gan" / "keras_model_gan.ipynb",
    "keras_sequential_gan": SOURCE / "keras_sequential_gan" / "keras_sequential_gan.ipynb",
    "dcgan_cifar": SOURCE / "dcgan_cifar" / "dcgan_cifar.ipynb",
    "gan_1d_conditional": SOURCE / "gan_1d_conditional" / "gan_1d_conditional.ipynb",
}


class NotebookCodeError(RuntimeError):
    """The notebook no longer has the cell or the driver call the benchmark expects."""


def _without_magics(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def cells_by_id(path) -> dict[str, str]:
    """grade_id -> source (magics dropped) of every code cell that has a grade_id."""
    notebook = nbformat.read(str(path), as_version=4)
    return {cell.metadata.get("nbgrader", {}).get("grade_id"): _without_magics(cell.source)
            for cell in notebook.cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id")}


def code_cells(path, setup_ids=("setup",), extra_ids=()) -> list[tuple[str, str]]:
    """(grade_id, source) of the cells to run, in notebook order."""
    notebook = nbformat.read(str(path), as_version=4)
    chosen, found = [], set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        if meta.get("solution") or grade_id in setup_ids or grade_id in extra_ids:
            chosen.append((grade_id, _without_magics(cell.source)))
            found.add(grade_id)
    missing = [g for g in (*setup_ids, *extra_ids) if g not in found]
    if missing:
        raise NotebookCodeError(f"{Path(path).name} has no code cell with grade_id {', '.join(missing)}")
    return chosen


def _run(source, filename: str, namespace: dict, quiet: bool) -> None:
    """exec source (text or an ast.Module) in namespace; what it prints goes to namespace["__output__"]."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output) if quiet else contextlib.nullcontext():
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 (the course's own notebooks)
    namespace.setdefault("__output__", []).append(output.getvalue())


def load_namespace(path=GAN_BASICS, setup_ids=("setup",), extra_ids=(), quiet=True) -> dict:
    """A dict holding what the chosen cells define (functions, constants, imported modules).

    What the cells print is kept in ``namespace["__output__"]`` (a list of strings, one per cell).
    """
    namespace: dict = {"__name__": "notebook_code"}
    for grade_id, source in code_cells(path, setup_ids, extra_ids):
        _run(source, f"{Path(path).name}:{grade_id}", namespace, quiet)
    return namespace


def _calls(node: ast.AST, callee: str) -> list[ast.Call]:
    """Calls of `callee` in node: a plain name (``train_gan(...)``) or a method name (``gan.fit(...)``)."""
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name == callee:
                found.append(child)
    return found


def run_until_call(namespace: dict, path, grade_id: str, callee: str, quiet=True) -> ast.AST:
    """Run cell `grade_id` of notebook `path` in `namespace` up to the statement that calls `callee`.

    Returns the call node (``ast.Call``) when that statement is a call (possibly assigned), else the statement
    itself (a ``for`` loop whose body calls `callee`). Raises NotebookCodeError when the cell or the call is missing.
    """
    cells = cells_by_id(path)
    if grade_id not in cells:
        raise NotebookCodeError(f"{Path(path).name} has no code cell with grade_id {grade_id!r}")
    filename = f"{Path(path).name}:{grade_id}"

    def walk(statements):
        for statement in statements:
            if not _calls(statement, callee):
                _run(ast.Module(body=[statement], type_ignores=[]), filename, namespace, quiet)
                continue
            if isinstance(statement, ast.If):
                test = eval(compile(ast.Expression(statement.test), filename, "eval"), namespace)  # noqa: S307
                return walk(statement.body if test else statement.orelse)
            value = statement.value if isinstance(statement, (ast.Assign, ast.Expr)) else None
            return value if isinstance(value, ast.Call) else statement
        return None

    node = walk(ast.parse(cells[grade_id], filename).body)
    if node is None:
        raise NotebookCodeError(f"{Path(path).name}:{grade_id} no longer calls {callee}() (in the branch an "
                                "interactive run takes)")
    return node


def run_after_call(namespace: dict, path, grade_id: str, callee: str, only: tuple[str, ...] = (),
                   quiet=True) -> None:
    """Run the top-level statements of cell `grade_id` after the one that calls `callee` (what the notebook does
    once its training driver returns, such as copying a weight average into the generator); with `only`, just
    those of them that call one of these names (not the plots of a history the caller never made)."""
    cells = cells_by_id(path)
    if grade_id not in cells:
        raise NotebookCodeError(f"{Path(path).name} has no code cell with grade_id {grade_id!r}")
    filename = f"{Path(path).name}:{grade_id}"
    body = ast.parse(cells[grade_id], filename).body
    calling = [index for index, statement in enumerate(body) if _calls(statement, callee)]
    if not calling:
        raise NotebookCodeError(f"{Path(path).name}:{grade_id} no longer calls {callee}()")
    rest = [statement for statement in body[calling[-1] + 1:]
            if not only or any(_calls(statement, name) for name in only)]
    if rest:
        _run(ast.Module(body=rest, type_ignores=[]), filename, namespace, quiet)


def call_arguments(namespace: dict, call: ast.Call, function=None) -> dict:
    """The arguments of `call` evaluated in `namespace`, by parameter name when `function` is given (defaults
    filled in), else {"args": [...], **keywords}. ``"__self__"`` holds the object of a method call."""
    def value(node):
        return eval(compile(ast.Expression(node), "<driver call>", "eval"), namespace)  # noqa: S307

    args = [value(a) for a in call.args]
    kwargs = {k.arg: value(k.value) for k in call.keywords if k.arg is not None}
    if function is None:
        result = {"args": args, **kwargs}
    else:
        bound = inspect.signature(function).bind(*args, **kwargs)
        bound.apply_defaults()
        result = dict(bound.arguments)
    if isinstance(call.func, ast.Attribute):
        result["__self__"] = value(call.func.value)
    return result
