"""gan-course autograder: the instructor's side (answers, release, validate, grade, feedback, export)."""
import sys as _sys

from autograder import threadsafe_ast as _threadsafe_ast

_threadsafe_ast.install()

# jsonschema (under nbformat, so under every command and grading worker) imports `rfc3987_syntax`, when it is
# installed, only to check the "iri" string formats, which no notebook schema uses; building that package's
# grammar costs about 2 s of every process. Here it counts as not installed (jsonschema then skips the "iri"
# formats, as it does without the package). Nothing of ours checks IRIs: tests/autograder/test_cli.py fails if
# a notebook schema ever uses the format.
_sys.modules.setdefault("rfc3987_syntax", None)
