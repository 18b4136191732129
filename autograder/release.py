"""`autograder release`: student notebooks into ``release/`` with nbgrader's generate_assignment."""
from __future__ import annotations

import filecmp
import json
import shutil
import tempfile
from pathlib import Path

from autograder.nbgrader_api import generate_assignment
from autograder.paths import RELEASE_DIR, SOURCE_DIR


def _normalised(path: Path) -> str:
    """A notebook's JSON without what changes from run to run (nothing else is ignored)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("widgets", None)
    return json.dumps(nb, sort_keys=True, indent=1)


def compare_trees(expected: Path, actual: Path) -> list[str]:
    """Differences between a freshly generated release and the committed one."""
    problems = []
    expected_files = {p.relative_to(expected) for p in expected.rglob("*") if p.is_file()}
    actual_files = {p.relative_to(actual) for p in actual.rglob("*") if p.is_file()} if actual.is_dir() else set()
    problems += [f"{f}: missing from {actual}" for f in sorted(expected_files - actual_files)]
    problems += [f"{f}: not produced by regeneration" for f in sorted(actual_files - expected_files)]
    for rel in sorted(expected_files & actual_files):
        if rel.suffix == ".ipynb":
            same = _normalised(expected / rel) == _normalised(actual / rel)
        else:
            same = filecmp.cmp(expected / rel, actual / rel, shallow=False)
        if not same:
            problems.append(f"{rel}: differs from regeneration")
    return problems


def release(*, assignments: list[str], release_dir: Path = RELEASE_DIR, source_dir: Path = SOURCE_DIR,
            check: bool = False) -> list[str]:
    """Regenerate (or with ``check`` compare) ``release_dir/<assignment>``; returns the problems found."""
    problems = []
    for assignment in assignments:
        with tempfile.TemporaryDirectory(prefix="release-") as tmp:
            fresh = Path(tmp) / "release"
            generate_assignment(assignment=assignment, release_dir=fresh,
                                db_url=f"sqlite:///{Path(tmp) / 'gradebook.db'}", source_dir=source_dir)
            target = Path(release_dir) / assignment
            if check:
                problems += [f"{assignment}/{p}" for p in compare_trees(fresh / assignment, target)]
            else:
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(fresh / assignment, target)
    return problems
