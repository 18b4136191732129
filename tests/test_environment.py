"""One environment per term, and the layers as a contract.

- ``requirements.lock`` (``make lock``: uv over pyproject.toml's ranges, with hashes) pins every package that
  ``make install`` installs; it must satisfy every range of ``pyproject.toml`` (dependencies and the ``test``
  extra), and the environment the tests run in must hold exactly the locked versions.
- ``lint-imports`` (import-linter, contracts in ``[tool.importlinter]`` of pyproject.toml) keeps ``course``, which
  a student's kernel imports, free of the instructor's package and the benchmarks, and the modules of
  ``autograder`` free of import circles (imports inside functions included).
"""
from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def locked_versions(text: str) -> dict[str, str]:
    return {canonicalize_name(name): version
            for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, re.MULTILINE)}


def lock_problems(pyproject: dict, locked: dict[str, str]) -> list[str]:
    """Ranges of pyproject.toml that the lock does not satisfy (or does not pin at all)."""
    project = pyproject["project"]
    wanted = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("test", []))
    problems = []
    for line in wanted:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements.lock: run `make lock`")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} in requirements.lock is outside {requirement.specifier} "
                            "in pyproject.toml: run `make lock`")
    return problems


def test_the_lock_satisfies_every_range_of_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locked = locked_versions(LOCK.read_text())
    assert lock_problems(pyproject, locked) == []
    # the check can fail: a range the pin is outside of, and a dependency the lock lacks
    changed = {"project": {"dependencies": ["numpy>=99", "no-such-package>=1"], "optional-dependencies": {}}}
    assert [p.split(" ")[0] for p in lock_problems(changed, locked)] == [f"numpy=={locked['numpy']}",
                                                                        "no-such-package"]


def test_every_hash_pinned_and_the_environment_holds_exactly_the_locked_versions():
    text = LOCK.read_text()
    locked = locked_versions(text)
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text.split("\n", 2)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    if not (Path(sys.prefix) / ".installed").is_file():
        pytest.skip("not the virtual environment `make install` made from requirements.lock")
    # Only what is installed in the environment's site-packages: setuptools, once imported, puts the packages it
    # vendors (older importlib-metadata, packaging, wheel, zipp...) on sys.path, and they are not installed.
    import setuptools  # noqa: F401  (as in the whole suite, where some test has imported it already)
    site_packages = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=site_packages)}
    differ = {name: (version, installed.get(name)) for name, version in locked.items()
              if installed.get(name) != version}
    assert differ == {}, "installed versions differ from requirements.lock (locked, installed): run `make install`"


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("lint-imports")
    if not executable.is_file() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (make install installs the test extra)")
    command = [str(executable) if executable.is_file() else "lint-imports", "--config", str(root / "pyproject.toml")]
    return subprocess.run(command, cwd=root, capture_output=True, text=True,
                          env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(root)}, timeout=300)


def _copy_project(dest: Path) -> Path:
    """The packages and pyproject.toml, which is all ``lint-imports`` reads."""
    for package in ("course", "autograder", "benchmarks"):
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("results", "hidden"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_layers_contract_holds_and_can_fail(tmp_path):
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    # a copy in which course imports the instructor's side breaks the contract
    _copy_project(tmp_path)
    viz = tmp_path / "course" / "viz.py"
    viz.write_text(viz.read_text() + "\nfrom autograder import judge  # noqa\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0 and "BROKEN" in broken.stdout, broken.stdout + broken.stderr


def test_an_import_circle_in_autograder_breaks_the_contract(tmp_path):
    """Also one hidden in a function: a copy in which feedback imports grade (which imports feedback) inside a
    function breaks the acyclic contract and only it (``test_layers_contract_holds_and_can_fail`` shows the
    checkout keeps it)."""
    _copy_project(tmp_path)
    feedback = tmp_path / "autograder" / "feedback.py"
    feedback.write_text(feedback.read_text() + "\n\ndef _circle():\n    from autograder.grade import grade  # noqa\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0, broken.stdout + broken.stderr
    assert "Contracts: 2 kept, 1 broken." in broken.stdout, broken.stdout + broken.stderr
    assert "No cycles are allowed in autograder." in broken.stdout and ".feedback" in broken.stdout, broken.stdout
