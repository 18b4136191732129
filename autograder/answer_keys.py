"""What an answer key's name says: every expected value ends in ``_true`` (``docs/CONVENTIONS.md``), every other
key is an input. The references (``autograder.answers``) and the judge (``autograder.judge``) both rely on it."""
from __future__ import annotations

EXPECTED_SUFFIX = "_true"


def is_input(key: str) -> bool:
    return not key.endswith(EXPECTED_SUFFIX)
