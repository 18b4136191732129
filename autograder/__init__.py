"""gan-course autograder: the instructor's side (answers, release, validate, grade, feedback, export)."""

from autograder import threadsafe_ast as _threadsafe_ast

_threadsafe_ast.install()
