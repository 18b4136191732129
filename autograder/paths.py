"""Where things live in a course checkout."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = REPO_ROOT / "source"
RELEASE_DIR = REPO_ROOT / "release"
DATA_DIR = REPO_ROOT / "data"
# Instructor-only expected values (hidden checks): never released, never mounted in a sandbox.
HIDDEN_DIR = REPO_ROOT / "autograder" / "hidden"


TESTKIT_DIR = REPO_ROOT / "course" / "testkit"


def testkit_modules(assignment: str) -> list[Path]:
    """The kernel-side helper module of an assignment's test cells (``course/testkit/<a>.py``), if it has one."""
    path = TESTKIT_DIR / f"{assignment}.py"
    return [path] if path.is_file() else []


def assignments() -> list[str]:
    """Assignment names, one per folder of ``source/``."""
    return sorted(p.name for p in SOURCE_DIR.iterdir() if p.is_dir() and not p.name.startswith("."))


def source_notebooks(assignment: str, source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The source notebooks of an assignment, with a clear error if the assignment does not exist."""
    folder = source_dir / assignment
    if not folder.is_dir():
        known = ", ".join(assignments()) or "none"
        raise FileNotFoundError(f"no assignment {assignment!r} in {source_dir} (known: {known})")
    return sorted(folder.glob("*.ipynb"))
