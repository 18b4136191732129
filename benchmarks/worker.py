"""One GAN's benchmark, run in its own process so its peak memory is its own (``benchmarks.run`` starts it).

    python -m benchmarks.worker --gan vanilla --budget-seconds 180 --throughput-seconds 15 --out result.json

1. Throughput: images/s of the compiled step fed by tf.data, then of the eager CS231n-style loop fed by NumPy
   batches (fresh models for each, a few warm-up steps first, then at least ``--throughput-seconds``).
2. Quality: fresh seeded models trained with the compiled step for ``--budget-seconds`` of wall time (the first
   step's tracing included), then ``--samples`` images generated and scored with ``course.metrics``;
   a sample grid and the loss curves are saved as PNG.
3. Peak resident memory of this process (``ru_maxrss``) and the compiled step's tracing count.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WARMUP_STEPS = 3


def _timed_steps(step, batches, seconds: float, min_steps: int = 3) -> tuple[int, float]:
    """Run step(*next(batches)) for at least `seconds` and `min_steps`; returns (steps, seconds)."""
    for _ in range(WARMUP_STEPS):
        losses = step(*next(batches))
    float(losses[0])
    steps, start = 0, time.perf_counter()
    while steps < min_steps or time.perf_counter() - start < seconds:
        losses = step(*next(batches))
        steps += 1
    float(losses[0])  # wait for the last step
    return steps, time.perf_counter() - start


def _notebook_feed(gan):
    """Batches fed like the notebook's run_a_gan: NumPy permutation and slicing, tf.constant, fresh noise."""
    import tensorflow as tf

    for (real,) in gan.numpy_batches():
        yield tf.constant(real), gan.sample_noise(len(real))


def _notebook_style_step(step):
    """The compiled step, reading both losses back with float() every step as run_a_gan does."""
    def wrapped(*batch):
        d_loss, g_loss = step(*batch)
        return float(d_loss), float(g_loss)
    return wrapped


def throughput(name: str, seconds: float) -> dict:
    from benchmarks.gans import build_gan, train_step_flops

    gan = build_gan(name)
    flops = train_step_flops(gan)
    steps, took = _timed_steps(gan.compiled_step, iter(gan.pipeline()), seconds)
    compiled = steps * gan.batch_size / took
    traces = gan.compiled_step.experimental_get_tracing_count()
    from benchmarks.run import measure_gemm  # the ceiling again, right after the step, in the same conditions

    gemm = measure_gemm(((128, 1024, 1024),), seconds=seconds)[0]["flop_per_s"]
    notebook = None
    if not gan.conditional:  # the same compiled step fed like the notebook's run_a_gan (a starved pipeline?)
        n_steps, n_took = _timed_steps(_notebook_style_step(gan.compiled_step), _notebook_feed(gan), seconds)
        notebook = n_steps * gan.batch_size / n_took
    gan = build_gan(name)
    e_steps, e_took = _timed_steps(gan.eager_step, gan.numpy_batches(), seconds)
    eager = e_steps * gan.batch_size / e_took
    return {"batch_size": gan.batch_size, "flops_per_step": flops, "compiled_images_per_s": compiled,
            "compiled_steps": steps, "eager_images_per_s": eager,
            "notebook_loop_images_per_s": notebook, "eager_steps": e_steps,
            "speedup": compiled / eager, "compiled_flop_per_s": flops * steps / took,
            "gemm_flop_per_s_after": gemm,
            "throughput_traces": traces}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quality(name: str, budget: float, samples: int, png_dir: Path | None, clock: str = "cpu",
            cores: int = 2, batch_size: int | None = None, learning_rate: float | None = None,
            tag: str = "") -> dict:
    """Train for the budget, then score. clock "wall": `budget` seconds of wall time; clock "cpu": `budget` x
    `cores` seconds of this process's CPU time (what `budget` seconds on an otherwise idle machine with
    `cores` cores give; robust against other work on a shared machine), capped at 3 x budget of wall time."""
    import numpy as np

    from benchmarks.gans import TITLES, build_gan
    from course.metrics import score_samples

    gan = build_gan(name, batch_size=batch_size, learning_rate=learning_rate)
    batches = iter(gan.pipeline())
    history = {"discriminator": [], "generator": []}
    steps, start, cpu_start = 0, time.perf_counter(), _cpu_seconds()

    def spent() -> bool:
        wall = time.perf_counter() - start
        if clock == "wall":
            return wall >= budget
        return _cpu_seconds() - cpu_start >= budget * cores or wall >= 3 * budget

    while not spent() or steps == 0:
        d_loss, g_loss = gan.compiled_step(*next(batches))
        history["discriminator"].append(float(d_loss))
        history["generator"].append(float(g_loss))
        steps += 1
    took, cpu_took = time.perf_counter() - start, _cpu_seconds() - cpu_start
    images = gan.generate(samples)
    score = score_samples(images, dataset=gan.dataset)
    result = {"steps": steps, "quality_batch_size": gan.batch_size, "learning_rate": learning_rate,
              "train_seconds": took, "train_cpu_seconds": cpu_took, "budget_clock": clock,
              "epochs": steps * gan.batch_size / len(gan.images),
              "score": score.as_dict(), "score_line": score.line(),
              "traces": gan.compiled_step.experimental_get_tracing_count(),
              "final_d_loss": float(np.mean(history["discriminator"][-50:])),
              "final_g_loss": float(np.mean(history["generator"][-50:]))}
    if png_dir is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from course.viz import plot_losses, save_image_grid

        png_dir.mkdir(parents=True, exist_ok=True)
        grid = save_image_grid(images[:100], png_dir / f"samples_{name}{tag}.png", ncols=10)
        figure = plot_losses(history, title=f"{TITLES[name]}: {steps} steps in {took:.0f} s")
        figure.savefig(png_dir / f"losses_{name}{tag}.png", dpi=80)
        plt.close(figure)
        result["samples_png"], result["losses_png"] = grid.name, f"losses_{name}{tag}.png"
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", required=True)
    parser.add_argument("--budget-seconds", type=float, default=180.0)
    parser.add_argument("--throughput-seconds", type=float, default=15.0)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="quality run only (default: reference)")
    parser.add_argument("--learning-rate", type=float, default=None, help="quality run only (default: reference)")
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
                                   args.batch_size, args.learning_rate, args.tag))
    except FileNotFoundError as error:  # a data set is not installed on this machine
        result["error"] = str(error)
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
