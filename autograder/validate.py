"""`autograder validate`: the source notebooks earn every autograded point, the release stubs earn none.

Both runs go through the grading worker, so validation exercises exactly what grading does.
"""
from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder.grade import Limits, run_notebook
from autograder.nbgrader_api import generate_assignment
from autograder.notebook import autograded_checks, read_notebook
from autograder.paths import DATA_DIR, SOURCE_DIR, source_notebooks


def _run(source_path: Path, submission_path: Path, limits: Limits, answers_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        return run_notebook(source_path=source_path, submission_path=submission_path, workdir=workdir,
                            limits=limits, answers_dir=answers_dir)


def validate(*, assignment: str, source_dir: Path = SOURCE_DIR, answers_dir: Path = DATA_DIR,
             limits: Limits = Limits(), jobs: int = 2) -> tuple[bool, str]:
    """Return (ok, report) for one assignment."""
    sources = source_notebooks(assignment, source_dir)
    if not sources:
        return False, f"{assignment}: no notebooks in {source_dir / assignment}"
    lines, ok = [], True
    with tempfile.TemporaryDirectory(prefix="validate-release-") as tmp:
        release_dir = Path(tmp) / "release"
        generate_assignment(assignment=assignment, release_dir=release_dir,
                            db_url=f"sqlite:///{Path(tmp) / 'gradebook.db'}", source_dir=source_dir)
        runs = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for source_path in sources:
                release_path = release_dir / assignment / source_path.name
                runs.append((source_path, "source", True, pool.submit(_run, source_path, source_path, limits, answers_dir)))
                runs.append((source_path, "release", False, pool.submit(_run, source_path, release_path, limits, answers_dir)))
            for source_path, kind, should_pass, future in runs:
                record = future.result()
                checks = autograded_checks(read_notebook(source_path), source_path.name)
                if not checks:
                    ok = False
                    lines.append(f"{assignment}/{source_path.name}: no autograded checks")
                    continue
                wrong = [c.grade_id for c in checks
                         if record["checks"].get(c.grade_id, {}).get("passed", False) != should_pass]
                want = "pass on the solutions" if should_pass else "fail on the stubs"
                if record["status"] not in ("graded",):
                    ok = False
                    lines.append(f"{assignment}/{source_path.name} [{kind}]: status {record['status']}: {record['message']}")
                if should_pass and record.get("cell_errors"):
                    ok = False
                    lines.append(f"{assignment}/{source_path.name} [{kind}]: cells that are not checks raised errors:")
                    lines += [f"    {error}" for error in record["cell_errors"]]
                if wrong:
                    ok = False
                    lines.append(f"{assignment}/{source_path.name} [{kind}]: {len(wrong)} of {len(checks)} checks "
                                 f"do not {want}:")
                    for gid in wrong:
                        detail = record["checks"].get(gid, {}).get("error", "")
                        lines.append(f"    {gid}: {detail[:300]}")
                else:
                    lines.append(f"{assignment}/{source_path.name} [{kind}]: all {len(checks)} checks {want}")
    return ok, "\n".join(lines)
