"""Achieved FLOP/s of a GAN's compiled train step vs the float32 GEMM ceiling, measured *interleaved*.

    python -m benchmarks.flops_probe [--gan vanilla] [--batch-sizes 128,256,512] [--xla] [--seconds 2] [--rounds 3]

On a shared machine a short best-of GEMM timing catches moments when both cores are free, while a train step
averaged over seconds gets only its share: the fraction then measures the other users. Here each round times
the GEMM (128x1024x1024 chains) and the train step for the same number of seconds back to back, and the
fraction is the median over rounds of step FLOP/s / GEMM FLOP/s. ``--xla`` adds the same step compiled with
``jit_compile=True`` (XLA fuses the element-wise work: activations, bias adds, Adam updates).
Writes ``benchmarks/results/flops_probe.md``.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).resolve().parent / "results"


def _rate(call, seconds) -> float:
    """Calls per second of call() over at least `seconds`."""
    count, start = 0, time.perf_counter()
    while count < 2 or time.perf_counter() - start < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - start)


def probe(gan_name, batch_sizes, xla, seconds, rounds) -> list[dict]:
    import numpy as np
    import tensorflow as tf

    from benchmarks.gans import build_gan, train_step_flops

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((128, 1024)).astype(np.float32))
    w = tf.constant((rng.standard_normal((1024, 1024)) / 32.0).astype(np.float32))

    @tf.function
    def gemm(x, w):
        for _ in range(20):
            x = tf.linalg.matmul(x, w)
        return tf.reduce_sum(x)

    gemm_flops = 2.0 * 128 * 1024 * 1024 * 20
    float(gemm(x, w))
    rows = []
    variants = [(b, False) for b in batch_sizes] + ([(batch_sizes[0], True)] if xla else [])
    for batch_size, jit in variants:
        gan = build_gan(gan_name, batch_size=batch_size)
        step = gan.compiled_step
        if jit:
            step = tf.function(step.python_function, jit_compile=True,
                               input_signature=step.input_signature)
        batches = iter(gan.pipeline())
        for _ in range(3):
            losses = step(*next(batches))
        float(losses[0])
        flops = train_step_flops(gan)

        def one_step():
            float(step(*next(batches))[0])

        fractions, step_rates, gemm_rates = [], [], []
        for _ in range(rounds):
            g = _rate(lambda: float(gemm(x, w)), seconds) * gemm_flops
            s = _rate(one_step, seconds) * flops
            gemm_rates.append(g)
            step_rates.append(s)
            fractions.append(s / g)
        rows.append({"gan": gan_name, "batch_size": batch_size, "xla": jit,
                     "step_gflops": float(np.median(step_rates)) / 1e9,
                     "gemm_gflops": float(np.median(gemm_rates)) / 1e9,
                     "fraction": float(np.median(fractions)),
                     "images_per_s": float(np.median(step_rates)) / flops * batch_size})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default="vanilla")
    parser.add_argument("--batch-sizes", default="128,256,512")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "flops_probe.md")
    args = parser.parse_args(argv)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    rows = probe(args.gan, [int(b) for b in args.batch_sizes.split(",")], args.xla, args.seconds, args.rounds)
    lines = ["# Train-step FLOP/s vs GEMM ceiling, measured interleaved (`python -m benchmarks.flops_probe`)", "",
             f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end; median of "
             f"{args.rounds} rounds of {args.seconds:.0f} s GEMM (128x1024x1024 chains) + {args.seconds:.0f} s "
             "train steps.", "",
             "| GAN | batch | XLA | images/s | step GFLOP/s | GEMM GFLOP/s (same rounds) | fraction |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['gan']} | {r['batch_size']} | {'yes' if r['xla'] else 'no'} | {r['images_per_s']:.0f} | "
                     f"{r['step_gflops']:.1f} | {r['gemm_gflops']:.1f} | {100 * r['fraction']:.0f}% |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
