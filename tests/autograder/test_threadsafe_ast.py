"""Threads that parse at once: the CPython 3.11 race behind the SystemError that failed CI in validate."""
from __future__ import annotations

import ast
import gc
import sys
import threading
import time

import autograder  # noqa: F401  (installs the lock)
from autograder import judge, threadsafe_ast

TEST_CELL = "\n".join(
    f"check_close('value {i}', f{i}(x_{i}), want_{i}, rel_tol=1e-6)\ncheck_true('kind {i}', isinstance(z, list), f'got {{z!r}}')"
    for i in range(20))


def _nested(depth, fn):
    return fn() if depth == 0 else _nested(depth - 1, fn)


def _parse_in_threads(parse, *, threads=4, rounds=40):
    """Errors raised by `parse` called from threads at different stack depths, with a collection that
    yields the GIL: the interleaving that makes one thread's parse end at another's recursion depth."""
    errors = []

    def work(depth):
        for _ in range(rounds):
            try:
                _nested(depth, parse)
            except SystemError as error:
                errors.append(error)

    def yield_gil(phase, info):
        time.sleep(0)

    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.callbacks.append(yield_gil)
    gc.set_threshold(50)
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=work, args=(5 * i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        gc.callbacks.remove(yield_gil)
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
    return errors


def test_importing_the_grader_puts_ast_parse_behind_the_lock():
    assert ast.parse is threadsafe_ast.parse
    assert ast.parse("x = 1", mode="exec").body[0].targets[0].id == "x"
    assert ast.literal_eval("[1, 2]") == [1, 2]


def test_judge_parses_test_cells_from_many_threads_without_system_error():
    errors = _parse_in_threads(lambda: judge.split_test_cell(TEST_CELL))
    assert not errors, errors[:3]


def test_the_race_is_real_without_the_lock():
    """Proves the test above can fail: the unlocked parse raises here (CPython 3.11)."""
    if sys.version_info >= (3, 12):
        return
    for _attempt in range(3):  # a race: almost always on the first attempt here, but never promised
        errors = _parse_in_threads(lambda: threadsafe_ast._unlocked_parse(TEST_CELL))
        if errors:
            break
    assert errors and "recursion depth mismatch" in str(errors[0])
