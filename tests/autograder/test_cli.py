"""The command line: exit codes and clear errors (the work itself is tested per verb)."""
from __future__ import annotations

import pytest

from autograder.cli import build_parser, main
from autograder.records import Limits


def test_unknown_assignment_is_named(capsys):
    with pytest.raises(SystemExit, match="unknown assignment 'nope'"):
        main(["release", "nope", "--check"])


def test_answers_check_passes_on_the_committed_files(capsys):
    assert main(["answers", "gan_basics", "--check"]) == 0
    assert "answers match: gan_basics" in capsys.readouterr().out


def test_grade_missing_folder_exits_1_with_a_reason(tmp_path, capsys):
    assert main(["grade", "gan_basics", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_limits_come_from_nbgrader_config_and_flags_override(tmp_path):
    config = tmp_path / "nbgrader_config.py"
    config.write_text("c = get_config()\nc.Autograder.cell_timeout = 7\nc.Autograder.memory_mb = 0\n")
    # Items, not the whole dict: Limits has more traits (the submission caps, ...) than these.
    assert Limits.from_config_file(config).as_dict().items() >= {"cell_timeout": 7, "submission_timeout": 1200,
                                                                 "memory_mb": 0, "sandbox": True}.items()
    assert Limits.from_config_file(tmp_path / "absent.py").as_dict().items() >= {
        "cell_timeout": 120, "submission_timeout": 1200, "memory_mb": 8192, "sandbox": True,
        "submission_mb": 200, "submission_files": 2000}.items()
    flagged = Limits.from_config_file(config, cell_timeout=3, memory_mb=None, sandbox=False)
    assert (flagged.cell_timeout, flagged.memory_mb, flagged.sandbox) == (3, 0, False)


def test_every_limit_is_a_documented_trait():
    for name, trait in Limits.class_traits(config=True).items():
        assert trait.help, name


def test_grade_flags_map_onto_the_traits():
    from autograder.cli import _limits

    args = build_parser().parse_args(["grade", "gan_basics", "x", "--out", "y", "--cell-timeout", "9",
                                      "--unsafe-no-sandbox"])
    limits = _limits(args)
    assert (limits.cell_timeout, limits.sandbox) == (9, False)


HEAVY = ("nbgrader", "nbformat", "nbconvert", "nbclient", "jupyter_client", "tensorflow", "matplotlib")


def _fresh_process_run(argv: list[str]) -> tuple[int, list[str], str]:
    """Run the CLI in a new interpreter: its exit status, which heavy packages it imported, its stderr."""
    import json
    import subprocess
    import sys

    code = ("import json, sys\nfrom autograder import cli\nrc = cli.main(sys.argv[1:])\n"
            f"print(json.dumps([rc, sorted(m for m in {HEAVY!r} if m in sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300)
    rc, imported = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, imported, done.stderr


@pytest.mark.parametrize("argv, says", [
    (["grade", "gan_basics", "{tmp}/absent", "--out", "{tmp}/out"], "submitted folder"),
    (["export", "--db", "sqlite:///{tmp}/gradebok.db", "--out", "{tmp}/grades.csv"], "no gradebook at"),
    (["feedback", "gan_basics", "--out", "{tmp}/out"], "no results of 'gan_basics'"),
    (["feedback", "tiny", "--out", "{tmp}/graded"], "no gradebook at"),
])
def test_a_mistyped_path_is_refused_before_any_heavy_import(tmp_path, argv, says):
    """Issue 22: such a mistake took 16-40 s to report, behind the imports of nbgrader and TensorFlow."""
    (tmp_path / "graded" / "results" / "ada").mkdir(parents=True)
    (tmp_path / "graded" / "results" / "ada" / "tiny.json").write_text("{}")  # results, but no gradebook
    rc, imported, err = _fresh_process_run([a.format(tmp=tmp_path) for a in argv])
    assert (rc, imported) == (1, []) and says in err, err
    assert not (tmp_path / "gradebok.db").exists()  # and nothing was created


def test_no_process_builds_the_iri_grammar_and_no_notebook_schema_needs_it():
    """``autograder/__init__`` treats rfc3987_syntax as absent (2 s of every process): jsonschema then skips
    the "iri" formats, so no schema we validate against may use them."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import nbformat

    code = "import autograder, nbformat, sys; print('rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is not None)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300).stdout.strip() == "False"
    formats = set()
    for schema in Path(nbformat.__file__).parent.rglob("*.schema.json"):
        text = schema.read_text()
        formats |= {value for key, value in _pairs(json.loads(text)) if key == "format" and isinstance(value, str)}
    assert not {f for f in formats if f.startswith("iri")}, formats


def _pairs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _pairs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pairs(value)
