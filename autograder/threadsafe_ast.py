"""``ast.parse`` behind one process-wide lock.

CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state (see
python/cpython#106905). When a garbage collection inside one thread's ``ast.parse`` lets another thread
run and parse too, the first one ends with the other's depth and raises
``SystemError: AST constructor recursion depth mismatch``. The grader parses test cells in one thread per
submission (``grade_locally``, ``validate``), and the standard library parses too (``traceback`` finds its
caret anchors with ``ast.parse``), so the lock replaces ``ast.parse`` itself rather than our calls alone.
"""
from __future__ import annotations

import ast
import threading

# Reentrant: a finalizer run by a collection inside a parse may itself format a traceback on this thread.
_LOCK = threading.RLock()
_unlocked_parse = getattr(ast.parse, "__wrapped__", ast.parse)


def parse(source, filename="<unknown>", mode="exec", **kwargs):
    """``ast.parse`` with the same arguments, one thread at a time."""
    with _LOCK:
        return _unlocked_parse(source, filename, mode, **kwargs)


parse.__wrapped__ = _unlocked_parse
parse.__doc__ = f"{parse.__doc__}\n\n{_unlocked_parse.__doc__}"


def install() -> None:
    """Make ``ast.parse`` (and so ``ast.literal_eval`` and ``traceback``) take the lock. Idempotent."""
    ast.parse = parse
