"""Locked code reads from the student's code only what the notebook's text tells the student to provide.

A locked cell (the notebook's own code: training runs, plots) that reads an attribute of an object built from a
student's class, ``grids.noise`` after ``grids = SampleGridCallback(...)``, works only if every honest solution
names that attribute the same way. Must hold, for each source notebook: every attribute a locked cell reads on
an instance of a class the student writes is named, as a word, in what the student sees of the notebook: the
markdown cells and the solution cells outside their ``### BEGIN SOLUTION`` blocks (signature and docstring), as
code (```noise```, ``self.noise``, ``.noise``, or a docstring entry ``noise: ...``; the plain word "noise" in a
sentence does not say what to call it), or is an attribute of one of that class's bases outside the notebook (``keras.Model.fit``). `autograder validate`
fails on each one that is not, naming the cell, the line and the class.

Not covered (said in issue 27's note): keys of returned dicts, attributes of what a student's *function*
returns, and names passed through containers.
"""
from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.notebook import grade_id, is_autograded_test, is_solution, read_notebook

SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.DOTALL)


@dataclass(frozen=True)
class StudentClass:
    name: str
    cell: str  # grade id of the solution cell that defines it
    bases: tuple[str, ...]  # dotted names, as written


def visible_text(nb) -> str:
    """What the student sees of the notebook's words: markdown, and solution cells without their solutions."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        elif cell.cell_type == "code" and is_solution(cell):
            parts.append(SOLUTION_BLOCK.sub("", cell.source))
    return "\n".join(parts)


def student_classes(nb) -> dict[str, StudentClass]:
    classes = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_solution(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = StudentClass(node.name, grade_id(cell) or "?",
                                                  tuple(ast.unparse(base) for base in node.bases))
    return classes


def _base_attributes(bases: tuple[str, ...], imports: dict[str, str]) -> set[str] | None:
    """Attributes the external bases provide; None when a base cannot be resolved (then nothing is excused)."""
    names: set[str] = set()
    for base in bases:
        head, _, rest = base.partition(".")
        module_name = imports.get(head)
        if module_name is None:
            return None
        try:
            value = importlib.import_module(module_name)
            for part in rest.split(".") if rest else []:
                value = getattr(value, part)
        except (ImportError, AttributeError):
            return None
        names |= set(dir(value))
    return names


def _imports(nb) -> dict[str, str]:
    """``{name: module}`` bound by the notebook's ``import`` statements (``import keras``, ``from x import y``
    binds y only when y is a module)."""
    bound = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def named_in_text(name: str, text: str) -> bool:
    """``name`` written as code in ``text``: after a dot, between backticks, or opening a docstring entry."""
    word = re.escape(name)
    return re.search(rf"(?:\.|`){word}\b|^\s*{word}\s*(?:\(|:)", text, re.MULTILINE) is not None


def unspecified_reads(path: Path) -> list[str]:
    """One line per attribute a locked cell reads on a student's object that the text never names."""
    nb = read_notebook(path)
    classes = student_classes(nb)
    if not classes:
        return []
    text = visible_text(nb)
    imports = _imports(nb)
    problems, excused = [], {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_solution(cell) or is_autograded_test(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        instances: dict[str, StudentClass] = {}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name) and node.value.func.id in classes):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        instances[target.id] = classes[node.value.func.id]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in instances and not named_in_text(node.attr, text)):
                continue
            owner = instances[node.value.id]
            if owner.name not in excused:
                excused[owner.name] = _base_attributes(owner.bases, imports) or set()
            if node.attr in excused[owner.name]:
                continue
            problems.append(f"{Path(path).name} cell {index} ({grade_id(cell) or 'locked'}): line {node.lineno}: "
                            f"reads `{node.value.id}.{node.attr}` of the student's {owner.name} (cell "
                            f"{owner.cell}), but no text or docstring names `{node.attr}`: a solution that calls "
                            "it otherwise passes every check and then crashes here; name it in the docstring")
    return problems
