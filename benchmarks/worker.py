"""One benchmark row, run in its own process so its peak memory is its own (``benchmarks.run`` starts it).

    python -m benchmarks.worker --gan vanilla --budget-seconds 600 --throughput-seconds 15 --out result.json

1. Throughput: images/s of the row's compiled step (``Row.train``: the notebook's own step or driver), then of
   the same code with ``tf.config.run_functions_eagerly(True)`` (fresh models for each). Per-step time is the
   difference of two timed calls of different lengths divided by the extra steps, so per-call costs (a driver
   that retraces or writes a checkpoint per call) cancel; a short GEMM run right after gives the sustained
   ceiling in the same conditions.
2. Quality: fresh seeded models trained for the notebook's own length (``Row.notebook_steps``, or
   ``--max-steps``), stopped early when the CPU budget runs out, then ``--samples`` samples scored: classifier
   FID / KID / IS beside the real floor for image rows, plus the conditional accuracy for conditional rows,
   the fitted mean and spread for the 1-D GAN; each against its target. A sample grid (histogram for 1-D)
   and the loss curves are saved as PNG. The quality curve: the same scores at ``--curve-points`` - 1 evenly
   spaced steps before the end (of the weights the notebook would sample there, its weight average included;
   the live weights are restored and training goes on), so a missed target shows whether more steps would help.
3. Peak resident memory of this process (``ru_maxrss``) and the compiled step's tracing count where known.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.notebook_code import NotebookCodeError  # noqa: E402 (no TensorFlow import)


def _notebook_feed(gan):
    """Batches fed like gan_basics' run_a_gan: NumPy permutation and slicing, tf.constant, fresh noise."""
    import tensorflow as tf

    for (real,) in gan.numpy_batches():
        yield tf.constant(real), gan.sample_noise(len(real))


@contextlib.contextmanager
def eagerly():
    """Every tf.function (the notebook's and Keras') runs op by op inside this block."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(False)


def step_seconds(train, seconds: float, max_steps: int = 100_000) -> tuple[float, int]:
    """(seconds per step, steps run) of train(n) (n more steps): one warm-up call, then the difference of a
    1-step call and an n-step call (n fills about `seconds`), so per-call overhead cancels."""
    def timed(n):
        start = time.perf_counter()
        train(n)
        return time.perf_counter() - start

    timed(1)  # tracing, optimizer state, Keras' build
    one = timed(1)
    probe = timed(4)
    # probe / 4 over-estimates the step (it carries the per-call cost): n never overshoots `seconds`
    n = int(min(max(4, seconds / max(probe / 4, 1e-4)), max_steps))
    many, total = timed(n), 6 + n
    for _ in range(2):  # when the per-call cost dominated, the n-step call was short: lengthen it
        per_step = (many - one) / (n - 1) if many > one else many / n
        if many - one >= seconds / 2 or n >= max_steps:
            break
        n = int(min(max(2 * n, seconds / max(per_step, 1e-5)), max_steps))
        many = timed(n)
        total += n
    per_step = (many - one) / (n - 1) if many > one else many / n
    return per_step, total


def throughput(name: str, seconds: float) -> dict:
    from benchmarks.rows import build_row
    from benchmarks.run import measure_gemm

    row = build_row(name)
    flops = row.flops_per_step
    per_step, steps = step_seconds(row.train, seconds)
    compiled = row.batch_size / per_step
    traces = row.traces()
    gemm = measure_gemm(((128, 1024, 1024),), seconds=seconds)[0]["flop_per_s"]  # right after, same conditions
    notebook = None
    if "gan" in row.extra:  # gan_basics: the same compiled step fed like run_a_gan (a starved pipeline?)
        gan = row.extra["gan"]
        feed = _notebook_feed(gan)

        def notebook_loop(n):
            for _ in range(n):
                d_loss, g_loss = gan.compiled_step(*next(feed))
                float(d_loss), float(g_loss)

        notebook = row.batch_size / step_seconds(notebook_loop, seconds)[0]
    eager_row = build_row(name)
    with eagerly():
        eager_per_step, eager_steps = step_seconds(eager_row.train, seconds)
    eager = row.batch_size / eager_per_step
    return {"batch_size": row.batch_size, "flops_per_step": flops, "flops_how": row.flops_how,
            "compiled_images_per_s": compiled, "compiled_steps": steps, "eager_images_per_s": eager,
            "notebook_loop_images_per_s": notebook, "eager_steps": eager_steps,
            "speedup": compiled / eager, "compiled_flop_per_s": flops / per_step,
            "gemm_flop_per_s_after": gemm, "throughput_traces": traces}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _score(row, samples: int, seed: int = 1):
    """(score, conditional score or None, images, labels) of `samples` samples of the row's generator now;
    score is None for a row no classifier of the course applies to."""
    from course.metrics import score_conditional, score_samples

    generated = row.sample(samples, seed=seed)
    images, labels = generated if row.kind == "conditional" else (generated, None)
    if row.dataset is None:
        return None, None, images, labels
    if labels is None:
        return score_samples(images, dataset=row.dataset, value_range=(0.0, 1.0)), None, images, labels
    conditional = score_conditional(images, labels, row.dataset, (0.0, 1.0))
    return conditional.score, conditional, images, labels


def curve_point(row, steps: int, samples: int) -> dict:
    """Scores of the weights the notebook would sample after `steps` steps: `row.finish()` (the cell's
    use_weight_average) runs on a copy of the models' state, which is then put back, so training continues
    from the live weights as if nothing had happened."""
    models = [model for model in (row.G, row.D) if model is not None]
    saved = [model.get_weights() for model in models]
    try:
        row.finish()
        score, conditional, _, _ = _score(row, samples)
    finally:
        for model, weights in zip(models, saved):
            model.set_weights(weights)
    return _point(steps, score, conditional)


def _point(steps: int, score, conditional) -> dict:
    """One point of the quality curve."""
    point = {"steps": steps, "is_fraction": score.is_fraction, "inception_score": score.inception_score,
             "fid": score.fid}
    if conditional is not None:
        point["conditional_accuracy"] = conditional.accuracy
    return point


def curve_steps(goal: int, points: int) -> list[int]:
    """The steps before the end (`goal`) at which the quality curve is scored: `points` - 1 evenly spaced."""
    return sorted({round(goal * k / points) for k in range(1, max(points, 1))} - {0, goal})


def quality(name: str, budget: float, samples: int, png_dir: Path | None, clock: str = "cpu",
            cores: int = 2, max_steps: int | None = None, tag: str = "", curve_points: int = 4) -> dict:
    """Train for the notebook's length (at most max_steps) or until the budget is spent, then score.

    clock "wall": `budget` seconds of wall time; clock "cpu": `budget` x `cores` seconds of this process's CPU
    time (what `budget` seconds on an otherwise idle machine with `cores` cores give; robust against other work
    on a shared machine), capped at 3 x budget of wall time."""
    import numpy as np

    from benchmarks.rows import CONDITIONAL_ACCURACY_TARGET, ONE_D_TARGETS, build_row

    row = build_row(name)
    goal = row.notebook_steps if max_steps is None else min(row.notebook_steps, max_steps)
    history = {"discriminator": [], "generator": []}
    steps, start, cpu_start = 0, time.perf_counter(), _cpu_seconds()
    # Scoring the curve's points is not training: its time is left out of the budget and of train_seconds.
    paused_wall = paused_cpu = 0.0
    pending = curve_steps(goal, curve_points) if row.dataset is not None else []  # None: 1-D or unscored
    curve = []

    def spent() -> bool:
        wall = time.perf_counter() - start - paused_wall
        if clock == "wall":
            return wall >= budget
        return _cpu_seconds() - cpu_start - paused_cpu >= budget * cores or wall >= 3 * budget

    while steps < goal and (steps == 0 or not spent()):
        if pending and steps >= pending[0]:  # a point is due and training goes on (the end is scored below)
            while pending and pending[0] <= steps:
                pending.pop(0)
            wall, cpu = time.perf_counter(), _cpu_seconds()
            curve.append(curve_point(row, steps, samples))
            paused_wall += time.perf_counter() - wall
            paused_cpu += _cpu_seconds() - cpu
        count = min(row.chunk, goal - steps)
        d_losses, g_losses = row.train(count)
        history["discriminator"] += d_losses
        history["generator"] += g_losses
        steps += count
    took = time.perf_counter() - start - paused_wall
    cpu_took = _cpu_seconds() - cpu_start - paused_cpu
    result = {"title": row.title, "assignment": row.assignment, "kind": row.kind, "data_note": row.data_note,
              "steps": steps, "notebook_steps": row.notebook_steps, "goal_steps": goal,
              "stopped_by_budget": steps < goal, "quality_batch_size": row.batch_size,
              "train_seconds": took, "train_cpu_seconds": cpu_took, "budget_clock": clock,
              "epochs": steps * row.batch_size / row.train_size if row.train_size else None,
              "traces": row.traces(), "targets": {},
              "final_d_loss": float(np.mean(history["discriminator"][-50:])),
              "final_g_loss": float(np.mean(history["generator"][-50:]))}
    row.finish()
    if row.kind == "1d":
        generated = row.sample(samples, seed=1)
        mean, std = float(np.mean(generated)), float(np.std(generated))
        target_mean, target_std = row.extra["target_mean"], row.extra["target_std"]
        result["one_d"] = {"mean": mean, "std": std, "target_mean": target_mean, "target_std": target_std,
                           "samples": len(generated)}
        result["targets"] = {"mean_within_0.5": abs(mean - target_mean) < ONE_D_TARGETS["mean_within"],
                             "std_below_1": std < ONE_D_TARGETS["std_below"]}
        result["score_line"] = (f"mean {mean:.3f} (target {target_mean}), std {std:.3f} (target {target_std})")
        images = None
    else:
        score, conditional, images, labels = _score(row, samples)
        if score is None:
            result["score_line"] = "not scored: no classifier of the course fits this data (" + row.data_note + ")"
        else:
            if conditional is not None:
                result["conditional_accuracy"] = conditional.accuracy
                result["conditional_accuracy_real"] = conditional.accuracy_real
                result["targets"]["conditional_accuracy"] = conditional.accuracy >= CONDITIONAL_ACCURACY_TARGET
            result["score"], result["is_target"] = score.as_dict(), row.is_target
            result["score_line"] = (conditional if conditional is not None else score).line()
            result["targets"]["is_fraction"] = score.is_fraction >= row.is_target
            result["curve"] = curve + [_point(steps, score, conditional)]
    if png_dir is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from course.viz import plot_losses, save_image_grid

        png_dir.mkdir(parents=True, exist_ok=True)
        if images is not None:
            grid = save_image_grid(images[:100], png_dir / f"samples_{name}{tag}.png", ncols=10)
            result["samples_png"] = grid.name
        else:
            figure, axis = plt.subplots(figsize=(5, 3))
            axis.hist(generated, bins=60, alpha=0.7, label="generated")
            axis.axvline(row.extra["target_mean"], color="k", linestyle="--", label="target mean")
            axis.legend()
            figure.savefig(png_dir / f"samples_{name}{tag}.png", dpi=80)
            plt.close(figure)
            result["samples_png"] = f"samples_{name}{tag}.png"
        figure = plot_losses(history, title=f"{row.title}: {steps} steps in {took:.0f} s")
        figure.savefig(png_dir / f"losses_{name}{tag}.png", dpi=80)
        plt.close(figure)
        result["losses_png"] = f"losses_{name}{tag}.png"
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", required=True)
    parser.add_argument("--budget-seconds", type=float, default=600.0)
    parser.add_argument("--throughput-seconds", type=float, default=15.0)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=None,
                        help="train at most this many steps (default: the notebook's own training length)")
    parser.add_argument("--curve-points", type=int, default=4,
                        help="points of the quality curve, the end included (default 4: after 1/4, 2/4, 3/4 of "
                             "the training length and at its end; 1: the end only)")
    parser.add_argument("--tag", default="", help="suffix of the PNG names")
    parser.add_argument("--png-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    result = {"gan": args.gan, "threads": [tf.config.threading.get_inter_op_parallelism_threads(),
                                           tf.config.threading.get_intra_op_parallelism_threads()]}
    try:
        if args.throughput_seconds > 0:
            result.update(throughput(args.gan, args.throughput_seconds))
        if args.budget_seconds > 0:
            result.update(quality(args.gan, args.budget_seconds, args.samples, args.png_dir, args.clock, args.cores,
                                  args.max_steps, args.tag, args.curve_points))
    except FileNotFoundError as error:  # a data set is not installed on this machine
        result["error"] = str(error)
    except NotebookCodeError as error:  # the notebook changed shape: say which cell / call is missing
        result["error"] = f"notebook code: {error}"
    except KeyError as error:  # a name the row reads from the notebook's namespace is gone
        result["error"] = f"notebook code: the notebook no longer defines {error} (benchmarks/rows.py reads it)"
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    text = json.dumps(result, indent=1, default=str)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
