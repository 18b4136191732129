"""`make bench-grading`'s line on the cost of drawing a submission's grading answers (no grading run)."""
from __future__ import annotations

from benchmarks.grading import answers_line, time_answers


def test_answers_cost_is_timed_cold_and_cached_and_reported(tmp_path):
    cold, cached = time_answers("gan_1d_conditional", tmp_path / "cache", students=2)
    assert cold > 0 and cached > 0
    assert len(list((tmp_path / "cache" / "gan_1d_conditional").rglob("*.npz"))) == 2  # the cached run read these
    line = answers_line("gan_1d_conditional", 0.125, 0.0008, 20.0)
    assert line == ("- drawing one submission's grading answers (`gan_1d_conditional` NumPy reference, included in "
                    "every row above): 0.125 s cold, 0.8 ms cached (0.6% of `--jobs 1` per submission)")
