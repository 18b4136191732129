"""The trusted judge: test cells split into a probe (student's kernel) and a judge (here).

An nbgrader test cell of a source notebook reads, top to bottom (``docs/CONVENTIONS.md``):

    imports                       import numpy as np; from course.checks import check_close, load_answers
    probe                         answers = load_answers("a"); got = np.asarray(leaky_relu(answers["x"]))
    judge                         check_close("leaky_relu(x)", got, answers["y_true"], 1e-6)

The judge starts at the first top-level statement that calls a ``check_*`` helper, or at
``### BEGIN HIDDEN TESTS``. While grading, the sandboxed kernel runs imports + probe and publishes the values
the judge reads (``course.probe.send_values``); this module runs the judge code in the grading worker, outside
the sandbox, with the full answers (hidden expected values included) and decides pass or fail. Kernel output
never decides a verdict: no value, no pass.

``lint_notebook`` checks a source notebook against the conventions (``autograder validate`` runs it).
"""
from __future__ import annotations

import ast
import builtins
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.answer_keys import EXPECTED_SUFFIX
from autograder.notebook import HIDDEN_BEGIN, grade_id, is_autograded_test, read_notebook
from course import checks

HIDDEN_END = "### END HIDDEN TESTS"
GRADING_FLAG = "GRADING"
JUDGE_MODULES = {"numpy", "math", "course.checks"}  # what judge code may import
CHECK_PREFIX = "check_"


def judge_namespace_names() -> set[str]:
    """Names the judge code finds without asking the kernel for them."""
    return {"np", "numpy", "math", "answers", *CHECK_HELPERS}


CHECK_HELPERS = {name: getattr(checks, name)
                 for name in ("check_close", "check_equal", "check_true", "check_param_count", "rel_error")}
CHECK_NAMES = {name for name in CHECK_HELPERS if name.startswith(CHECK_PREFIX)}
# check_param_count(model, ...) in a visible cell: the model's count is computed in the kernel.
_COUNT_IN_KERNEL = "__import__('course.checks', fromlist=['count_params']).count_params"


@dataclass(frozen=True)
class CellParts:
    """A test cell cut in three (source text of each part), and the names the judge needs from the probe."""

    imports: str
    probe: str
    judge: str
    probe_names: tuple[str, ...]


class LintError(ValueError):
    """A test cell that does not follow the probe/judge convention."""


def _lines(source) -> list[str]:
    text = "".join(source) if isinstance(source, list) else str(source)
    return text.splitlines()


def split_test_cell(source) -> CellParts:
    """Cut a test cell's source into imports, probe and judge (see the module docstring)."""
    lines = _lines(source)
    marker = next((i for i, line in enumerate(lines) if line.strip() == HIDDEN_BEGIN), None)
    head_end = marker if marker is not None else len(lines)
    head = "\n".join(lines[:head_end])
    try:
        tree = ast.parse(head)
    except SyntaxError as error:
        raise LintError(f"test cell does not parse (line {error.lineno}: {error.msg})") from None
    statements = tree.body
    first_other = next((s for s in statements if not isinstance(s, (ast.Import, ast.ImportFrom))), None)
    import_end = (first_other.lineno - 1) if first_other is not None else head_end
    judge_start = head_end
    if marker is None:
        first_check = next((s for s in statements if _calls_check(s)), None)
        if first_check is not None:
            judge_start = first_check.lineno - 1
            if first_check.decorator_list if hasattr(first_check, "decorator_list") else False:
                judge_start = first_check.decorator_list[0].lineno - 1
    import_end = min(import_end, judge_start)
    judge_lines = [line for line in lines[judge_start:] if line.strip() not in (HIDDEN_BEGIN, HIDDEN_END)]
    probe = "\n".join(lines[import_end:judge_start])
    judge_code, hoisted = "\n".join(judge_lines), []
    if marker is None:  # hidden code never goes to the kernel, not even a hoisted call (the lint says where)
        judge_code, hoisted = hoist_student_calls(judge_code, kernel_modules=_kernel_modules(
            "\n".join(lines[:import_end])))
    if hoisted:
        probe = "\n".join([probe, *hoisted])
    names = _free_names(judge_code)
    if marker is not None:
        # Hidden judge code may read only what the probe defines: asking the kernel for any other name would
        # tell it what the hidden code looks at.
        names &= _defined_names(ast.parse(probe or "pass"))
    return CellParts(imports="\n".join(lines[:import_end]), probe=probe, judge=judge_code,
                     probe_names=tuple(sorted(names)))


HOISTED_PREFIX = "_probe_value_"


def _kernel_modules(imports: str) -> set[str]:
    """Names the cell's imports bind to modules the judge does not have (tensorflow, keras, testkits)."""
    try:
        tree = ast.parse(imports or "pass")
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name not in JUDGE_MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module not in JUDGE_MODULES:
            names.update(a.asname or a.name for a in node.names)
    return names


def hoist_student_calls(judge_source: str, kernel_modules: set[str] = frozenset()) -> tuple[str, list[str]]:
    """Move calls of student code out of judge code into the probe: ``check_equal("add", add(1, 2), 3)``
    becomes the probe line ``_probe_value_0 = add(1, 2)`` and ``check_equal("add", _probe_value_0, 3)``.

    A call is student code when the judge cannot make it itself: a plain name that is neither a judge helper,
    a builtin nor defined in the judge code. Calls whose arguments use names
    the judge code defines cannot move (they stay, and fail; ``lint_notebook`` says so).
    """
    try:
        tree = ast.parse(judge_source)
    except SyntaxError:
        return judge_source, []
    defined = _defined_names(tree)
    known = judge_namespace_names() | set(dir(builtins)) | defined
    hoisted: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check_param_count"
                and node.args):
            name = f"{HOISTED_PREFIX}{len(hoisted)}"
            hoisted.append(f"{name} = {_COUNT_IN_KERNEL}({ast.unparse(node.args[0])})")
            node.args[0] = ast.Name(id=name, ctx=ast.Load())

    class Hoister(ast.NodeTransformer):
        def visit_Call(self, node):
            # Only plain calls of unknown names (the student's functions and classes): a method of a probe
            # value (``z.mean()``) runs in the judge on the value that crossed.
            func = node.func
            while isinstance(func, ast.Attribute):
                func = func.value
            root = func.id if isinstance(func, ast.Name) else None
            if isinstance(node.func, ast.Attribute) and root not in kernel_modules:
                root = None  # a method of a value that crossed
            if root is not None and root not in known:
                used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                if not used & defined:
                    name = f"{HOISTED_PREFIX}{len(hoisted)}"
                    hoisted.append(f"{name} = {ast.unparse(node)}")
                    return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
            return self.generic_visit(node)

    new_tree = ast.fix_missing_locations(Hoister().visit(tree))
    if not hoisted:
        return judge_source, []
    return ast.unparse(new_tree), hoisted


def _calls_check(node) -> bool:
    return any(isinstance(n, ast.Call) and _call_name(n) in CHECK_NAMES for n in ast.walk(node))


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _free_names(judge_source: str) -> set[str]:
    """Names the judge code reads but neither defines nor finds in its own namespace: the probe's values.

    Scope-aware: a helper's parameter or local variable, or a comprehension's loop variable, is bound only in
    its own scope, so sharing a probe value's name there neither stops that value being sent nor asks for it.
    """
    try:
        tree = ast.parse(judge_source)
    except SyntaxError:
        return set()
    free: set[str] = set()
    _collect_free(tree, frozenset(), free)
    return free - judge_namespace_names() - set(dir(builtins))


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)


def _scope_nodes(scope):
    """The nodes that belong to ``scope`` itself (nested scopes are yielded, their insides are not)."""
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        roots = scope.body
    elif isinstance(scope, ast.Lambda):
        roots = [scope.body]
    elif isinstance(scope, ast.ClassDef):
        roots = scope.body
    elif isinstance(scope, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        roots = [scope.elt, *scope.generators]
    elif isinstance(scope, ast.DictComp):
        roots = [scope.key, scope.value, *scope.generators]
    else:
        roots = list(ast.iter_child_nodes(scope))
    stack = list(roots)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _collect_free(scope, enclosing: frozenset, free: set) -> None:
    nodes = list(_scope_nodes(scope))
    bound = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = scope.args
        bound.update(a.arg for a in args.args + args.kwonlyargs + args.posonlyargs)
        bound.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    visible = enclosing | bound
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in visible:
            free.add(node.id)
        elif isinstance(node, _SCOPES):
            _collect_free(node, visible, free)


def kernel_source(parts: CellParts) -> str:
    """What the kernel runs for a test cell while grading: imports, probe, then publish the judge's inputs."""
    send = (f"__import__('course.probe', fromlist=['send_values']).send_values({list(parts.probe_names)!r})")
    return "\n".join(p for p in (parts.imports, parts.probe, send) if p.strip())


# ----------------------------------------------------------------------------------------------------------
# Judging
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str  # for the feedback: the check's own words; for hidden checks never the expected value


def judge(parts: CellParts, *, values: dict, problems: dict[str, str], missing: list[str], answers: dict,
          hidden: bool) -> Verdict:
    """Run the judge code of one test cell on the probe's values; pass means it raised nothing."""
    namespace = {"__builtins__": builtins, "np": np, "numpy": np, "math": math, "answers": dict(answers),
                 **CHECK_HELPERS}
    for name in parts.probe_names:
        if name in values:
            namespace[name] = values[name]
    import contextlib
    import io

    quiet = io.StringIO()  # the helpers print their report for notebooks; here the verdict carries it
    text = _judge_imports(parts) + "\n" + parts.judge
    ran: set[int] = set()

    def listen(frame) -> None:
        if frame.f_code.co_filename == JUDGE_FILENAME:
            ran.add(frame.f_lineno)

    checks._check_listeners.append(listen)
    try:
        code = compile(text, JUDGE_FILENAME, "exec")
        with contextlib.redirect_stdout(quiet):
            exec(code, namespace)  # trusted code: the instructor's source notebook
    except checks.CheckFailed as failure:
        return Verdict(False, failure.hidden_message() if hidden else str(failure))
    except NameError as error:
        name = getattr(error, "name", None) or str(error)
        if name in problems:
            return Verdict(False, f"`{name}` could not be sent to the grader: {problems[name]}")
        if name in missing or name in parts.probe_names:
            return Verdict(False, f"`{name}` was not computed (did the code above stop early?)")
        return Verdict(False, f"grader error in this check: NameError: {error}")
    except AssertionError as error:
        text = str(error).strip() or "assertion failed"
        return Verdict(False, text.splitlines()[0][:300] if hidden else text[:2000])
    except Exception as error:  # a probe value of the wrong kind makes the judge code fail: the check fails
        return Verdict(False, f"{type(error).__name__}: {str(error)[:300]}")
    finally:
        checks._check_listeners.remove(listen)
    skipped = check_call_lines(text) - ran
    if skipped:  # an empty value to loop over, or a value that steered around a check: no pass unseen
        return Verdict(False, f"{len(skipped)} of this cell's checks did not run on the values your code produced "
                              "(an empty result, or one of the wrong kind)")
    return Verdict(True, "")


JUDGE_FILENAME = "<judge>"


def check_call_lines(code: str) -> set[int]:
    """Lines of ``code`` where a check_* helper is called: each must run at least once for a pass."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return {n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) in CHECK_NAMES}


def _judge_imports(parts: CellParts) -> str:
    """The cell's own imports that the judge may run (numpy, math, course.checks); others are the probe's."""
    kept = []
    try:
        tree = ast.parse(parts.imports)
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, ast.Import) and all(a.name in JUDGE_MODULES for a in node.names):
            kept.append(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom) and node.module in JUDGE_MODULES and node.level == 0:
            kept.append(ast.unparse(node))
    return "\n".join(kept)


# ----------------------------------------------------------------------------------------------------------
# Lint
# ----------------------------------------------------------------------------------------------------------
def lint_notebook(path: Path, *, hidden_keys: frozenset[str] = frozenset()) -> list[str]:
    """Problems of a source notebook against ``docs/CONVENTIONS.md`` (empty when it follows them), the
    trusted-comparison problems (``lint_trusted_comparisons``) of every notebook included."""
    nb = read_notebook(path)
    problems: list[str] = []
    visible_keys: set[str] = set()
    hidden_used: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        where = f"{Path(path).name} cell {index} ({grade_id(cell) or 'no grade_id'})"
        source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
        if _uses_name(source, "FAST"):
            problems.append(f"{where}: uses `FAST`; the one grading flag is `{GRADING_FLAG}`")
        if not is_autograded_test(cell):
            continue
        try:
            parts = split_test_cell(source)
        except LintError as error:
            problems.append(f"{where}: {error}")
            continue
        problems += [f"{where}: {p}" for p in _lint_parts(parts, source)]
        problems += [f"{where}: {p}" for p in lint_trusted_comparisons(source)]
        hidden = HIDDEN_BEGIN in source
        if hidden:
            unbound = sorted(_free_names(parts.judge) - set(parts.probe_names))
            if unbound:
                problems.append(f"{where}: hidden code reads {unbound}, which the probe does not define "
                                "(assign them before the marker)")
            raw_hidden = "\n".join(_lines(source)[[l.strip() for l in _lines(source)].index(HIDDEN_BEGIN) + 1:])
            _, moved = hoist_student_calls("\n".join(l for l in raw_hidden.splitlines() if l.strip() != HIDDEN_END))
            problems += [f"{where}: hidden code calls student code (`{m.split(' = ', 1)[1][:60]}`): call it before "
                         f"`{HIDDEN_BEGIN}` and judge its result" for m in moved]
        visible_keys |= _answer_keys(parts.imports + "\n" + parts.probe + ("" if hidden else "\n" + parts.judge))
        if hidden:
            hidden_used |= _answer_keys(parts.judge)
    leaked = sorted(visible_keys & hidden_keys)
    if leaked:
        problems.append(f"{Path(path).name}: visible code reads hidden expected values {leaked} (absent from "
                        "the release's answer file)")
    unlisted = sorted(k for k in hidden_used - visible_keys - hidden_keys if k.endswith("_true"))
    if unlisted:
        problems.append(f"{Path(path).name}: {unlisted} are read only by hidden checks but are not in the "
                        "reference's HIDDEN_KEYS, so they would be published in data/")
    return problems


def _lint_parts(parts: CellParts, source: str) -> list[str]:
    problems = []
    try:
        whole = ast.parse("\n".join(_lines(source)))
    except SyntaxError as error:
        return [f"does not parse (line {error.lineno}: {error.msg})"]
    if any(isinstance(n, ast.Assert) for n in ast.walk(whole)):
        problems.append("uses a bare `assert`; use the course.checks helpers (check_true, ...)")
    probe_tree = ast.parse(parts.probe or "pass")
    if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in probe_tree.body):
        problems.append("imports must come first, before the probe code")
    judge_tree = ast.parse(parts.judge or "pass")
    if not any(isinstance(n, ast.Call) and _call_name(n) in CHECK_NAMES for n in ast.walk(judge_tree)):
        problems.append("has no check_* call in its judge part")
    for node in ast.walk(judge_tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if module not in JUDGE_MODULES:
                problems.append(f"judge code imports {module}; it may import only {sorted(JUDGE_MODULES)}")
    judge_defined = _defined_names(judge_tree)
    allowed_calls = judge_namespace_names() | set(dir(builtins)) | judge_defined
    for node in ast.walk(judge_tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in allowed_calls:
            problems.append(f"judge code calls `{node.func.id}` (student code or a probe value): call it in the "
                            "probe, before the first check / the hidden-tests marker, and judge its result")
    if not parts.probe.strip():
        problems.append("has no probe: a test cell must call the student's code before judging it")
    # While grading the judge finds np, the helpers and answers by itself; a student running the notebook
    # does not: the cell must bind them.
    bound = _defined_names(whole)
    needed = {n.id for n in ast.walk(judge_tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    unbound = sorted((needed & judge_namespace_names()) - bound - {"numpy"})
    if unbound:
        problems.append(f"uses {unbound} without importing or defining them (the notebook itself would fail)")
    return problems


def _defined_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _uses_name(source: str, name: str) -> bool:
    try:
        tree = ast.parse("\n".join(line for line in _lines(source) if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(tree))


def _answer_subscripts(source: str) -> list[ast.expr]:
    """The key expressions of ``answers[...]`` subscripts in some code."""
    try:
        tree = ast.parse(source or "pass")
    except SyntaxError:
        return []
    return [n.slice for n in ast.walk(tree)
            if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "answers"]


def _answer_keys(source: str) -> set[str]:
    """Constant keys of ``answers[...]`` subscripts in some code."""
    return {key.value for key in _answer_subscripts(source) if isinstance(key, ast.Constant) and isinstance(key.value, str)}


def _answer_key_patterns(source: str) -> set[str]:
    """Keys built with f-strings (``answers[f"{name}_x"]``), as regular expressions (each ``{...}`` any text)."""
    patterns = set()
    for key in _answer_subscripts(source):
        if isinstance(key, ast.JoinedStr):
            patterns.add("".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
                                 for part in key.values))
    return patterns


@dataclass(frozen=True)
class KeyUsage:
    """Which answer keys a source notebook's code reads, and where (``answers[...]`` subscripts)."""

    kernel: frozenset[str]  # read by code that runs in the kernel while grading (probes, setup cells)
    visible: frozenset[str]  # read by code a student sees (the kernel's, and visible judges)
    hidden_only: frozenset[str]  # read only by hidden judge code: instructor-only values
    kernel_patterns: frozenset[str] = frozenset()  # f-string keys of kernel code, as regular expressions

    def kernel_reads(self, key: str) -> bool:
        """Whether code running in the kernel may read ``key`` (by name or through an f-string)."""
        if key in self.kernel:
            return True
        # An f-string never grants an expected value: those the kernel may read it reads by name.
        return not key.endswith(EXPECTED_SUFFIX) and any(re.fullmatch(p, key) for p in self.kernel_patterns)


def answer_key_usage(notebooks, kernel_modules=()) -> KeyUsage:
    """Answer keys read by the notebooks' code and by ``kernel_modules`` (Python files of helpers that run in the
    kernel, such as the assignment's testkit: all of their code counts as kernel code)."""
    kernel, visible, hidden, patterns = set(), set(), set(), set()
    for path in kernel_modules:
        code = Path(path).read_text()
        kernel |= _answer_keys(code)
        patterns |= _answer_key_patterns(code)
    for path in notebooks:
        notebook = read_notebook(path)
        for cell in notebook.cells:
            if cell.get("cell_type") != "code":
                continue
            source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
            if not is_autograded_test(cell):
                code = "\n".join(l for l in _lines(source) if not l.lstrip().startswith(("%", "!")))
                kernel |= _answer_keys(code)
                patterns |= _answer_key_patterns(code)
                continue
            try:
                parts = split_test_cell(source)
            except LintError:
                continue
            kernel |= _answer_keys(parts.imports + "\n" + parts.probe)
            patterns |= _answer_key_patterns(parts.imports + "\n" + parts.probe)
            (hidden if HIDDEN_BEGIN in source else visible).update(_answer_keys(parts.judge))
    visible |= kernel
    return KeyUsage(frozenset(kernel), frozenset(visible), frozenset(hidden - visible), frozenset(patterns))


# ----------------------------------------------------------------------------------------------------------
# Lint: what a check compares with comes from the trusted side; what it loops over is counted
# ----------------------------------------------------------------------------------------------------------
# The checked value of each helper (positional index, keyword) may come from the kernel; every other argument
# that decides the verdict (expected value, threshold) may not. Names and explanations are only words.
_CHECKED_ARG = {"check_close": (1, "got"), "check_equal": (1, "got"), "check_true": (1, "condition"),
                "check_param_count": (0, "model")}
_TRUSTED_ARGS = {"check_close": ((2, "want"), (3, "threshold")), "check_equal": ((2, "want"),),
                 "check_param_count": ((1, "want"),)}
_SIZE_CALLS = {"len", "shape", "size"}  # len(v), np.shape(v), np.size(v); and the attributes v.shape, v.size
_WRAPPERS = {"asarray", "array", "tuple", "list", "float", "int", "bool"}  # still the same value, for a count
_REDUCTIONS = {"all", "any"}  # all()/any(), np.all/np.any, v.all()/v.any(): true on an empty value


def _loads(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _stores(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


def _roots(target) -> set[str]:
    """Names a binding target writes into: ``x``, and ``x`` of ``x[k] = ...`` or ``x.attr = ...``."""
    names = _stores(target)
    for node in ast.walk(target):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(node.ctx, ast.Load):
            value = node.value
            while isinstance(value, (ast.Subscript, ast.Attribute)):
                value = value.value
            if isinstance(value, ast.Name):
                names.add(value.id)
    return names


def _flows(tree):
    """(targets, source expression) of every binding in ``tree``, nested scopes included; ``x.append(v)`` and
    the like count as writing ``v`` into ``x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            yield set().union(*map(_roots, node.targets)), node.value
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            yield _roots(node.target), node.value
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Attribute)):
            yield _roots(ast.Subscript(value=node.value.func.value, slice=ast.Constant(0), ctx=ast.Store())), \
                node.value
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            yield _stores(node.target), node.iter
        elif isinstance(node, ast.NamedExpr):
            yield _stores(node.target), node.value
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            yield _stores(node.optional_vars), node.context_expr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            # a helper that reads a probe value returns one
            yield ({node.name} if not isinstance(node, ast.Lambda) else set()), node


def _taint(tree, seeds: set[str]) -> set[str]:
    """``seeds`` and every name ``tree`` assigns from them, directly or through other such names (flow- and
    scope-insensitive: a name once assigned from a seed counts everywhere)."""
    tainted = set(seeds)
    flows = list(_flows(tree))
    changed = True
    while changed:
        changed = False
        for targets, value in flows:
            if targets - tainted and _loads(value) & tainted:
                tainted |= targets
                changed = True
    return tainted


def _call_arg(call: ast.Call, index: int, keyword: str):
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _judge_start_line(lines: list[str], tree) -> int:
    """The 1-based line where a test cell's judge starts (the marker, or the first top-level check)."""
    marker = next((i for i, line in enumerate(lines) if line.strip() == HIDDEN_BEGIN), None)
    if marker is not None:
        return marker + 1
    first = next((s for s in tree.body if _calls_check(s)), None)
    if first is None:
        return len(lines) + 1
    return min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])


def _student_results(probe_tree, imports_tree) -> set[str]:
    """Probe names computed from the notebook's own names (the student's functions, and whatever else the
    notebook defines), as opposed to names the probe computes from imports, answers and literals alone."""
    known = _defined_names(imports_tree) | _defined_names(probe_tree) | set(dir(builtins))
    student = _loads(probe_tree) - known
    calls = [n for n in ast.walk(probe_tree) if isinstance(n, ast.Call)]
    while True:
        before = len(student)
        student = _taint(probe_tree, student)
        # An object handed to the student's code may come back changed (a model it trained, a spy it called):
        # what the probe reads from it afterwards is the student's result too.
        for call in calls:
            if _loads(call.func) & student:
                for arg in [*call.args, *(k.value for k in call.keywords)]:
                    called = {n.func.id for n in ast.walk(arg) if isinstance(n, ast.Call)
                              and isinstance(n.func, ast.Name)}
                    student |= _loads(arg) - called  # str(folder) too, not a stand-in made on the spot
        if len(student) == before:
            return student


def trust_warnings(path: Path) -> list[str]:
    """``lint_trusted_comparisons`` problems of every test cell of a notebook (the part of ``lint_notebook`` that
    says whether a forged probe value could pass a check)."""
    problems = []
    for index, cell in enumerate(read_notebook(path).cells):
        if cell.get("cell_type") == "code" and is_autograded_test(cell):
            source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
            where = f"{Path(path).name} cell {index} ({grade_id(cell) or 'no grade_id'})"
            problems += [f"{where}: {p}" for p in lint_trusted_comparisons(source)]
    return problems


def lint_trusted_comparisons(source) -> list[str]:
    """Problems of one test cell's judge against docs/CONVENTIONS.md's "what a check compares with":

    - an expected value or threshold (``check_close``'s ``want`` and ``threshold``, ``check_equal``'s ``want``,
      ``check_param_count``'s ``want``) that depends on a probe value: the kernel would choose it;
    - a ``check_true`` condition that reads a probe value the probe computed without the student's code
      (a reference result computed in the kernel);
    - a loop or comprehension over a probe value, or ``all``/``any`` of one, before a check of its length or
      shape (``check_equal("...", len(v), n)``, ``v.shape``, ``np.shape(v)``, or a ``check_equal`` of the value
      itself): an empty or short forged value would skip or satisfy what follows.

    A name the judge assigns from probe values counts as a probe value. Each problem names its cell line.
    """
    lines = _lines(source)
    try:
        whole = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    start = _judge_start_line(lines, whole)
    judge_body = [s for s in whole.body if s.lineno >= start]
    head = [s for s in whole.body if s.lineno < start]
    imports_tree = ast.Module(body=[s for s in head if isinstance(s, (ast.Import, ast.ImportFrom))], type_ignores=[])
    probe_tree = ast.Module(body=[s for s in head if not isinstance(s, (ast.Import, ast.ImportFrom))],
                            type_ignores=[])
    judge_tree = ast.Module(body=judge_body, type_ignores=[])
    own = judge_namespace_names() | set(dir(builtins))
    judge_bound = set()
    for node in ast.walk(judge_tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            judge_bound.update(a.arg for a in args.args + args.kwonlyargs + args.posonlyargs)
    # Probe values: what the judge reads and does not define itself (the cell's imports are judge-side only
    # for numpy, math and course.checks; a name imported from elsewhere is the kernel's).
    seeds = (_loads(judge_tree) - own - _stores(judge_tree) - judge_bound
             - {n for n in _defined_names(imports_tree) if n in own})
    seeds |= {n for n in _defined_names(imports_tree) if n not in own and n in _loads(judge_tree)}
    probe_values = _taint(judge_tree, seeds)
    sources: dict[str, set[str]] = {}  # judge name -> the probe values it is computed from directly
    for targets, value in _flows(judge_tree):
        for target in targets:
            sources.setdefault(target, set()).update(_loads(value) & probe_values - {target})

    def counted(name, seen=frozenset()) -> bool:
        """Whether a check sized ``name``, or every probe value it is computed from (z -> its histogram)."""
        if name in sized:
            return True
        direct = sources.get(name, set()) - seen
        return bool(direct) and name not in seeds and all(counted(d, seen | {name}) for d in direct)
    student = _student_results(probe_tree, imports_tree)
    kernel_made = _taint(judge_tree, {s for s in seeds if s in _defined_names(probe_tree) and s not in student})

    problems = []
    sized: set[str] = set()  # probe values whose length or shape an earlier check compared
    events = []  # (line, order, kind, node): checks size values; loops and reductions need them sized
    for node in ast.walk(judge_tree):
        # A check sizes what its own condition reduces (``len(v) == 3 and all(v)``): checks come first on a line.
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CHECKED_ARG:
            events.append((node.lineno, 0, "check", node))
        # A loop over a tuple or list written out has the count of the text, whatever its items hold.
        if isinstance(node, (ast.For, ast.AsyncFor)) and not isinstance(node.iter, (ast.Tuple, ast.List)):
            events.append((node.lineno, 1, "loop", node.iter))
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            events += [(node.lineno, 1, "loop", g.iter) for g in node.generators
                       if not isinstance(g.iter, (ast.Tuple, ast.List))]
        elif isinstance(node, ast.Call) and _call_name(node) in _REDUCTIONS:
            if isinstance(node.func, ast.Attribute) and not (isinstance(node.func.value, ast.Name)
                                                             and node.func.value.id in ("np", "numpy")):
                events.append((node.lineno, 1, "reduction", node.func.value))  # v.all()
            elif node.args and not isinstance(node.args[0], (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
                events.append((node.lineno, 1, "reduction", node.args[0]))  # a comprehension is a loop
    for line, _, kind, node in sorted(events, key=lambda e: (e[0], e[1], e[3].col_offset)):
        if kind == "check":
            helper = node.func.id
            for index, keyword in _TRUSTED_ARGS.get(helper, ()):
                arg = _call_arg(node, index, keyword)
                used = sorted(_loads(arg) & probe_values) if arg is not None else []
                if used:
                    problems.append(f"line {line}: {helper}'s `{keyword}` ({ast.unparse(arg)[:60]}) depends on "
                                    f"probe values {used}, which the kernel chooses: compare with answers[...], "
                                    "a literal, or what the judge computes from those")
            checked = _call_arg(node, *_CHECKED_ARG[helper])
            if checked is None:
                continue
            if helper == "check_true":
                used = sorted(_loads(checked) & kernel_made)
                if used:
                    problems.append(f"line {line}: check_true's condition reads {used}, computed in the kernel "
                                    "without your code (a reference result the kernel chooses): put the "
                                    "reference in the answer file or compute it in the judge")
            sized |= _sized_names(checked, whole_value=helper in ("check_equal", "check_close")) & probe_values
        else:
            # a name the judge computed from probe values is counted when they all were (z -> its histogram)
            unsized = sorted(n for n in _loads(node) & probe_values if not counted(n))
            if unsized:
                what = "loops over" if kind == "loop" else "takes all()/any() of"
                problems.append(f"line {line}: {what} probe values {unsized} before any check of their length "
                                "or shape: check_equal(..., len(v) or v.shape, <the count the text implies>) "
                                "first (a forged empty or short value would skip or satisfy the rest)")
    return problems


def _sized_names(checked, *, whole_value: bool) -> set[str]:
    """Names whose length or shape a check's checked argument compares: inside len(), np.shape(), np.size(),
    ``.shape``, ``.size``; and, for check_equal/check_close (which compare shapes), the value itself."""
    names = set()
    for node in ast.walk(checked):
        if isinstance(node, ast.Call) and _call_name(node) in _SIZE_CALLS and node.args:
            names |= _loads(node.args[0])
        elif isinstance(node, ast.Attribute) and node.attr in ("shape", "size"):
            names |= _loads(node.value)
    if whole_value:
        value = checked
        while isinstance(value, ast.Call) and _call_name(value) in _WRAPPERS and value.args:
            value = value.args[0]
        while isinstance(value, (ast.Subscript, ast.Attribute)):
            value = value.value
        if isinstance(value, ast.Name):
            names.add(value.id)
    return names
