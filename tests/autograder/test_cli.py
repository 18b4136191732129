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
