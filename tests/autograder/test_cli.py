"""The command line: exit codes and clear errors (the work itself is tested per verb)."""
from __future__ import annotations

import pytest

from autograder.cli import _config_limits, main


def test_unknown_assignment_is_named(capsys):
    with pytest.raises(SystemExit, match="unknown assignment 'nope'"):
        main(["release", "nope", "--check"])


def test_answers_check_passes_on_the_committed_files(capsys):
    assert main(["answers", "gan_basics", "--check"]) == 0
    assert "answers match: gan_basics" in capsys.readouterr().out


def test_grade_missing_folder_exits_1_with_a_reason(tmp_path, capsys):
    assert main(["grade", "gan_basics", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_limits_come_from_nbgrader_config(tmp_path):
    config = tmp_path / "nbgrader_config.py"
    config.write_text("c = get_config()\nc.Autograder.cell_timeout = 7\nc.Autograder.memory_mb = 0\n")
    assert _config_limits(config) == {"cell_timeout": 7, "submission_timeout": 1200, "memory_mb": 0}
    assert _config_limits(tmp_path / "absent.py") == {"cell_timeout": 120, "submission_timeout": 1200,
                                                      "memory_mb": 8192}
