"""The benchmark code on tiny budgets (speed goals live in `make bench`, never in these tests)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from benchmarks import gans, notebook_code, run, worker  # noqa: E402
from benchmarks.rows import build_row  # noqa: E402


@pytest.fixture(scope="module")
def vanilla():
    return gans.build_gan("vanilla")


def test_notebook_code_runs_solutions_and_setup_only():
    cells = dict(notebook_code.code_cells(notebook_code.GAN_BASICS))
    assert {"setup", "discriminator", "generator", "make_train_step", "dc_generator"} <= set(cells)
    assert not {"train_vanilla_gan", "load_data", "discriminator_param_count"} & set(cells)
    assert not any(line.lstrip().startswith("%") for source in cells.values() for line in source.splitlines())


def test_dense_gan_flops_match_the_hand_count(vanilla):
    g = 2 * (96 * 1024 + 1024 * 1024 + 1024 * 784)
    d = 2 * (784 * 256 + 256 * 256 + 256 * 1)
    assert gans.model_flops(vanilla.G) == g and gans.model_flops(vanilla.D) == d
    assert gans.train_step_flops(vanilla) == 128 * (4 * g + 9 * d)


def test_conv_flops_count_kernels_and_positions():
    dcgan = gans.build_gan("dcgan")
    # dc_discriminator: conv 5x5 1->32 on 24x24 outputs, conv 5x5 32->64 on 8x8, dense 1024->1024, 1024->1
    want_d = 2 * (24 * 24 * 32 * 25 + 8 * 8 * 64 * 25 * 32 + 1024 * 1024 + 1024)
    assert gans.model_flops(dcgan.D) == want_d
    # dc_generator: transposed conv 4x4 128->64 from a 7x7 input, then 64->1 from 14x14
    want_g = 2 * (96 * 1024 + 1024 * 6272 + 7 * 7 * 128 * 16 * 64 + 14 * 14 * 64 * 16 * 1)
    assert gans.model_flops(dcgan.G) == want_g


def test_compiled_train_step_does_not_retrace(vanilla):
    step = vanilla.compiled_step
    batches = iter(vanilla.pipeline())
    step(*next(batches))
    after_first = step.experimental_get_tracing_count()
    for size in (128, 64, 17, 128):  # new batch sizes and new tensors: the input_signature covers them
        real = tf.constant(vanilla.images[:size])
        step(real, vanilla.sample_noise(size))
    for _ in range(3):
        step(*next(batches))
    assert step.experimental_get_tracing_count() == after_first


def test_pipeline_yields_fixed_size_batches(vanilla):
    real, noise = next(iter(vanilla.pipeline()))
    assert real.shape == (128, 784) and noise.shape == (128, 96)
    assert float(tf.reduce_min(real)) >= -1.0 and float(tf.reduce_max(real)) <= 1.0
    (numpy_real,) = next(vanilla.numpy_batches())
    assert numpy_real.shape == (128, 784)


def test_compiled_step_trains(vanilla):
    before = [w.numpy().copy() for w in vanilla.G.trainable_variables]
    d_loss, g_loss = vanilla.compiled_step(*next(iter(vanilla.pipeline())))
    assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, vanilla.G.trainable_variables))


def test_gemm_measurement_is_positive():
    rows = run.measure_gemm(((64, 128, 128),), chain=2, repeats=1)
    assert rows[0]["flop_per_s"] > 0


@pytest.mark.slow  # `make test` budget; .ci/run runs it after `make test`
def test_quick_bench_writes_table_and_plots(tmp_path, monkeypatch):
    # Workers run in this process (the real run starts one subprocess each, for its peak memory).
    def in_process(gan, args, out_dir):
        out = out_dir / "raw" / f"{gan}.json"
        worker.main(["--gan", gan, "--budget-seconds", "300", "--throughput-seconds", "0.2", "--samples", "200",
                     "--clock", "wall", "--max-steps", str(args.max_steps), "--png-dir", str(out_dir),
                     "--out", str(out)])
        return json.loads(out.read_text())

    monkeypatch.setattr(run, "run_worker", in_process)
    summary = run.main(["--quick", "--gans", "vanilla", "--out-dir", str(tmp_path)])
    result = summary["results"][0]
    assert result["speedup"] > 0 and result["steps"] >= 1 and result["peak_rss_mb"] > 0
    assert 1.0 <= result["score"]["inception_score"] <= 10.0
    table = (tmp_path / "results.md").read_text()
    assert "| Vanilla GAN (dense, MNIST) |" in table and "GEMM ceiling" in table
    assert result["notebook_steps"] == 3000 and result["steps"] == 3  # --quick: 3 of the notebook's 3000 steps
    assert "is_fraction" in result["targets"] and result["eager_images_per_s"] > 0
    # The quality curve: --quick's 3 steps give points after steps 1 and 2, then the end (the final score).
    assert [point["steps"] for point in result["curve"]] == [1, 2, 3]
    assert result["curve"][-1]["is_fraction"] == result["score"]["is_fraction"]
    assert "## Quality curve" in table and "| Vanilla GAN (dense, MNIST) | 1: " in table
    for name in ("throughput.png", "quality.png", "quality_curve.png", "samples_vanilla.png", "losses_vanilla.png",
                 "results.json"):
        assert (tmp_path / name).exists(), name


def test_curve_steps_are_evenly_spaced_before_the_end():
    assert worker.curve_steps(3000, 4) == [750, 1500, 2250]
    assert worker.curve_steps(3, 4) == [1, 2]
    assert worker.curve_steps(10, 1) == [] and worker.curve_steps(1, 4) == []


def test_curve_trend_says_rising_flat_or_falling_and_where_the_best_was():
    def curve(*shares):
        return [{"steps": 100 * (i + 1), "is_fraction": share} for i, share in enumerate(shares)]

    assert run.curve_trend(curve(0.3, 0.4, 0.5)).startswith("rising (+10 points from 200 to 300 steps")
    assert run.curve_trend(curve(0.5, 0.61, 0.6)).startswith("flat (-1 points")
    falling = run.curve_trend(curve(0.5, 0.87, 0.8))
    assert falling.startswith("falling (-7 points") and "best 87% at 200 steps" in falling
    assert "best" not in run.curve_trend(curve(0.5, 0.6, 0.7))


def test_a_curve_point_scores_the_weight_average_and_training_goes_on_from_the_live_weights():
    """The point scores what the notebook would sample there (the cell's use_weight_average), then puts the
    live weights back: the next steps train on from them, not from the average."""
    row = build_row("seq_gan")
    row.train(3)
    live_g, live_d = row.G.get_weights(), row.D.get_weights()
    scored = {}

    def sample(n, seed=0, original=row.sample):
        scored["weights"] = row.G.get_weights()
        return original(n, seed)

    row.sample = sample
    point = worker.curve_point(row, 3, samples=100)
    assert point["steps"] == 3 and 0.0 < point["is_fraction"] and point["fid"] > 0
    assert any(not np.allclose(a, b) for a, b in zip(live_g, scored["weights"])), "scored the live weights"
    assert all(np.array_equal(a, b) for a, b in zip(live_g, row.G.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(live_d, row.D.get_weights()))


def test_scoring_the_curve_is_not_counted_as_training_time(monkeypatch):
    pause = 3.0

    def slow_point(row, steps, samples):
        time.sleep(pause)
        return {"steps": steps, "is_fraction": 0.5, "inception_score": 5.0, "fid": 1.0}

    monkeypatch.setattr(worker, "curve_point", slow_point)
    result = worker.quality("seq_gan", budget=300, samples=100, png_dir=None, clock="wall", max_steps=3)
    assert [point["steps"] for point in result["curve"]] == [1, 2, 3]
    # Counted, the two points alone would make 6 s; three dense steps (tracing included) took about 1 s here.
    assert result["train_seconds"] < 2 * pause


def test_a_run_stopped_by_its_budget_scores_its_end_once():
    """The budget runs out after the first step, when a point was due: only the end is scored."""
    result = worker.quality("seq_gan", budget=1e-3, samples=100, png_dir=None, clock="wall", max_steps=3)
    assert result["stopped_by_budget"] and [point["steps"] for point in result["curve"]] == [1]


def test_the_report_keeps_one_point_per_step_count():
    curve = [{"steps": 100, "is_fraction": 0.4}, {"steps": 200, "is_fraction": 0.5}, {"steps": 200, "is_fraction": 0.6}]
    assert run.distinct_steps(curve) == [{"steps": 100, "is_fraction": 0.4}, {"steps": 200, "is_fraction": 0.6}]


def test_step_time_is_shown_beside_what_its_flops_take_at_the_ceiling():
    # 100 images at 1,000 images/s: 100 ms a step; 1 GFLOP at a 100 GFLOP/s ceiling: 10 ms.
    assert run._step_ms({"batch_size": 100, "compiled_images_per_s": 1000.0, "flops_per_step": 1e9}, 1e11) == \
        "100.00 (10.000)"
