"""`make bench`: speed and sample quality of the reference GANs on this machine, in one run.

    python -m benchmarks.run [--budget-seconds 180] [--throughput-seconds 15] [--gans vanilla,lsgan,dcgan,cgan]
                             [--clock cpu|wall] [--quick] [--out-dir benchmarks/results]

(a) train-step throughput (images/s) of each GAN, compiled (tf.function + tf.data) vs an eager CS231n-style loop;
(b) achieved FLOP/s of the compiled steps (analytic FLOPs from the layer shapes) vs a float32 GEMM ceiling
    measured now, at the dense GAN's matrix sizes;
(c) classifier-FID / KID / inception-style score after a fixed training budget, next to the real-data floor,
    with sample grids and loss curves as PNG;
(d) peak resident memory of each GAN's process (each GAN runs in its own subprocess, ``benchmarks.worker``).
Writes ``<out-dir>/results.md``, ``results.json`` and PNG plots; prints the table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

#: Targets of issue 7.
TARGETS = {"speedup_vanilla": 4.0, "flop_fraction_dense": 0.5, "is_fraction": {"dcgan": 0.9, "vanilla": 0.7,
                                                                                  "lsgan": 0.7}}
#: GEMM sizes (M, K, N): the dense GAN's largest matmul (batch 128 x 1024 x 1024), the same with a doubled
#: batch (the discriminator's backward pass sees real + fake) and a square 1024 GEMM.
GEMM_SHAPES = ((128, 1024, 1024), (256, 1024, 1024), (1024, 1024, 1024))


def measure_gemm(shapes=GEMM_SHAPES, chain=20, repeats=5, seconds=None) -> list[dict]:
    """Achieved float32 FLOP/s of tf.linalg.matmul chains x <- x @ w (compiled, `chain` products per call):
    the best of `repeats` calls, or with `seconds` the average over that many seconds of calls (sustained, as
    the train steps are timed)."""
    import numpy as np
    import tensorflow as tf

    rows = []
    for m, k, n in shapes:
        rng = np.random.default_rng(0)
        x = tf.constant(rng.standard_normal((m, k)).astype(np.float32))
        w = tf.constant((rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32))  # keeps |x| ~ constant

        @tf.function
        def chained(x, w):
            for _ in range(chain):
                x = tf.linalg.matmul(x, w)
            return tf.reduce_sum(x)

        float(chained(x, w))  # trace + warm up
        if seconds is not None:
            calls, start = 0, time.perf_counter()
            while calls < 2 or time.perf_counter() - start < seconds:
                float(chained(x, w))
                calls += 1
            rate = 2.0 * m * k * n * chain * calls / (time.perf_counter() - start)
            rows.append({"m": m, "k": k, "n": n, "flop_per_s": rate})
            continue
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            float(chained(x, w))
            best = min(best, time.perf_counter() - start)
        rows.append({"m": m, "k": k, "n": n, "flop_per_s": 2.0 * m * k * n * chain / best})
    return rows


def run_worker(gan: str, args, out_dir: Path) -> dict:
    out = out_dir / "raw" / f"{gan}.json"
    command = [sys.executable, "-m", "benchmarks.worker", "--gan", gan,
               "--budget-seconds", str(args.budget_seconds), "--throughput-seconds", str(args.throughput_seconds),
               "--samples", str(args.samples), "--clock", args.clock, "--cores", str(args.cores),
               "--png-dir", str(out_dir), "--out", str(out)]
    start = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if process.returncode != 0 or not out.exists():
        tail = "\n".join(process.stderr.strip().splitlines()[-15:])
        return {"gan": gan, "error": f"worker failed (exit {process.returncode}): {tail}"}
    result = json.loads(out.read_text())
    result["process_seconds"] = time.perf_counter() - start
    return result


def _fmt(value, spec=".1f", missing="-"):
    return missing if value is None else format(value, spec)


def _sustained(r) -> str:
    """Step FLOP/s / the 128x1024x1024 GEMM timed for as long right after it in the same process."""
    after = r.get("gemm_flop_per_s_after")
    return "-" if not after else f"{100 * r['compiled_flop_per_s'] / after:.0f}%"


def _mark(ok) -> str:
    return "" if ok is None else (" (met)" if ok else " (MISSED)")


def summarise(results: list[dict], gemm: list[dict], meta: dict) -> tuple[str, dict]:
    """Markdown report and the headline numbers."""
    from benchmarks.gans import TITLES

    ceiling = max(row["flop_per_s"] for row in gemm)
    gemm_dense = next((r["flop_per_s"] for r in gemm if (r["m"], r["k"], r["n"]) == (128, 1024, 1024)), ceiling)
    lines = ["# `make bench` results", "",
             f"Machine: {meta['cpu']}, {meta['cores']} cores visible; TensorFlow {meta['tf']}; "
             f"load average {meta['load_before']:.1f} before / {meta['load_after']:.1f} after (the machine is "
             f"shared: a load above {meta['cores']} means other work competed for the cores). "
             f"Run {meta['date']}, {meta['seconds'] / 60:.1f} min, settings: {meta['settings']}.", "",
             "## Speed: compiled train step vs eager loop, FLOP/s vs GEMM ceiling", "",
             "float32 GEMM ceiling measured in this run (tf.linalg.matmul chains): " + ", ".join(
                 f"{r['m']}x{r['k']}x{r['n']}: {r['flop_per_s'] / 1e9:.1f} GFLOP/s" for r in gemm)
             + f". The fraction below divides by the best of these ({ceiling / 1e9:.1f} GFLOP/s).", "",
             "| GAN | batch | GFLOP / step | compiled img/s | notebook-loop img/s | eager img/s | speedup | "
             "compiled GFLOP/s | fraction of GEMM ceiling | fraction of sustained GEMM | traces | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    headline = {"gemm_ceiling_gflops": ceiling / 1e9, "gemm_128x1024x1024_gflops": gemm_dense / 1e9}
    for r in results:
        if "compiled_images_per_s" not in r:
            lines.append(f"| {TITLES.get(r['gan'], r['gan'])} | skipped: {r.get('error', 'no result')} |"
                         + " |" * 10)
            continue
        fraction = r["compiled_flop_per_s"] / ceiling
        r["flop_fraction"] = fraction
        speed_ok = r["speedup"] >= TARGETS["speedup_vanilla"] if r["gan"] == "vanilla" else None
        frac_ok = fraction >= TARGETS["flop_fraction_dense"] if r["gan"] == "vanilla" else None
        lines.append(f"| {TITLES[r['gan']]} | {r['batch_size']} | {r['flops_per_step'] / 1e9:.2f} | "
                     f"{r['compiled_images_per_s']:.0f} | {_fmt(r.get('notebook_loop_images_per_s'), '.0f')} | "
                     f"{r['eager_images_per_s']:.0f} | "
                     f"{r['speedup']:.1f}x{_mark(speed_ok)} | {r['compiled_flop_per_s'] / 1e9:.1f} | "
                     f"{100 * fraction:.0f}%{_mark(frac_ok)} | {_sustained(r)} | {r.get('throughput_traces', '-')} | "
                     f"{r['peak_rss_mb']:.0f} |")
        headline[f"{r['gan']}_speedup"] = r["speedup"]
        headline[f"{r['gan']}_flop_fraction"] = fraction
    lines += ["", "Targets: speedup >= 4x for the vanilla GAN; >= 50% of the GEMM ceiling for the dense GAN. "
              "compiled = the notebook's make_train_step fed by tf.data (prefetched, noise drawn in the pipeline); "
              "notebook-loop = the same step fed like run_a_gan (NumPy slices, tf.constant, float() of the losses "
              "every step); eager = CS231n's run_a_gan body without tf.function. "
              "FLOPs per step = batch x (4 F_G + 9 F_D), F = forward FLOPs of matmuls and convolutions "
              "(backward = 2x forward). The ceiling is the best short GEMM burst at the start of the run; 'sustained' "
              "divides by the GEMM timed for as many seconds right after the step in the same process (fairer "
              "on a shared machine, where a short burst can catch both cores free). 'traces' = tracing count of the compiled step after the timed run "
              "(2 = the first call traces twice because it creates the optimizer variables; no retracing after).",
              "", "## Quality after a fixed training budget", "",
              "| GAN | data | steps (epochs) | train time wall / CPU (s) | FID (real floor) | KID (real floor) | "
              "IS (real) | IS / real | peak RSS (MB) | samples |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "score" not in r:
            lines.append(f"| {TITLES.get(r['gan'], r['gan'])} | skipped: {r.get('error', 'no result')} |"
                         + " |" * 8)
            continue
        s = r["score"]
        target = TARGETS["is_fraction"].get(r["gan"])
        ok = None if target is None else s["is_fraction"] >= target
        goal = "" if target is None else f" (target {100 * target:.0f}%)"
        lines.append(f"| {TITLES[r['gan']]} | {s['dataset']} | {r['steps']} ({r['epochs']:.1f}) | "
                     f"{r['train_seconds']:.0f} / {r['train_cpu_seconds']:.0f} | {s['fid']:.2f} ({s['fid_floor']:.2f}) | "
                     f"{s['kid']:.3f} ({s['kid_floor']:.3f}) | {s['inception_score']:.2f} ({s['is_real']:.2f}) | "
                     f"{100 * s['is_fraction']:.0f}%{goal}{_mark(ok)} | {r['peak_rss_mb']:.0f} | "
                     f"![{r['gan']}]({r.get('samples_png', '')}) |")
        headline[f"{r['gan']}_is_fraction"] = s["is_fraction"]
        headline[f"{r['gan']}_fid"] = s["fid"]
    lines += ["", "Scores: `course.metrics.score_samples` on "
              f"{meta['settings'].get('samples')} generated images (conditional GAN: labels cycling 0-9); the "
              "floors compare two disjoint halves of the real images of the same size. IS = exp(E KL(p(y|x) || "
              "p(y))) with the course's small CNN classifier. Targets: DCGAN >= 90% of the real IS, vanilla GAN "
              "and LSGAN >= 70%.", "",
              "Plots: `throughput.png` (images/s), `quality.png` (IS vs real), `samples_<gan>.png`, "
              "`losses_<gan>.png`."]
    return "\n".join(lines) + "\n", headline


def plots(results: list[dict], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    speed = [r for r in results if "compiled_images_per_s" in r]
    if speed:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        x = np.arange(len(speed))
        ax.bar(x - 0.2, [r["compiled_images_per_s"] for r in speed], 0.4, label="compiled (tf.function + tf.data)")
        ax.bar(x + 0.2, [r["eager_images_per_s"] for r in speed], 0.4, label="eager (CS231n run_a_gan style)")
        ax.set_xticks(x, [r["gan"] for r in speed])
        ax.set_yscale("log")
        ax.set_ylabel("training images / s")
        ax.legend()
        ax.set_title("Train-step throughput")
        fig.tight_layout()
        fig.savefig(out_dir / "throughput.png", dpi=80)
        plt.close(fig)
    scored = [r for r in results if "score" in r]
    if scored:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        x = np.arange(len(scored))
        ax.bar(x - 0.2, [r["score"]["inception_score"] for r in scored], 0.4, label="generated")
        ax.bar(x + 0.2, [r["score"]["is_real"] for r in scored], 0.4, label="real (same size)")
        ax.set_xticks(x, [f"{r['gan']}\n{r['steps']} steps" for r in scored])
        ax.set_ylabel("inception-style score")
        ax.legend()
        ax.set_title("Sample quality after the budget")
        fig.tight_layout()
        fig.savefig(out_dir / "quality.png", dpi=80)
        plt.close(fig)


def render(out_dir: Path) -> str:
    """Rewrite results.md and the plots from an earlier run's results.json (no measurement)."""
    stored = json.loads((out_dir / "results.json").read_text())
    report, _ = summarise(stored["results"], stored["gemm"], stored["meta"])
    plots(stored["results"], out_dir)
    (out_dir / "results.md").write_text(report)
    return report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="training budget per GAN for the quality runs (default 180; --quick: 4)")
    parser.add_argument("--throughput-seconds", type=float, default=None,
                        help="timed seconds per throughput measurement (default 15; --quick: 1)")
    parser.add_argument("--samples", type=int, default=None, help="images scored per GAN (default 5000)")
    parser.add_argument("--gans", default="vanilla,lsgan,dcgan,cgan")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: the budget is budget x cores seconds of the process's CPU time (robust on a "
                             "shared machine); wall: budget seconds of wall time")
    parser.add_argument("--cores", type=int, default=2, help="cores the CPU budget assumes (default 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds per GAN")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="only rewrite results.md / plots from results.json")
    args = parser.parse_args(argv)
    if args.render:
        print(render(args.out_dir))
        return {}
    quick = args.quick
    args.budget_seconds = args.budget_seconds if args.budget_seconds is not None else (4.0 if quick else 180.0)
    args.throughput_seconds = (args.throughput_seconds if args.throughput_seconds is not None
                               else (1.0 if quick else 15.0))
    args.samples = args.samples if args.samples is not None else (500 if quick else 5000)
    gans = [g.strip() for g in args.gans.split(",") if g.strip()]
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    import tensorflow as tf

    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    print(f"GEMM ceiling ({'quick' if quick else 'full'})...", flush=True)
    gemm = measure_gemm(GEMM_SHAPES[:1] if quick else GEMM_SHAPES, chain=4 if quick else 20,
                        repeats=2 if quick else 5)
    results = []
    for gan in gans:
        print(f"{gan}: throughput {args.throughput_seconds:.0f} s x 2, training budget {args.budget_seconds:.0f} s "
              f"({args.clock} clock)...", flush=True)
        results.append(run_worker(gan, args, out_dir))
    meta = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "tf": tf.__version__,
            "load_before": load_before, "load_after": os.getloadavg()[0], "seconds": time.perf_counter() - start,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "settings": {"budget_seconds": args.budget_seconds, "clock": args.clock, "cores": args.cores,
                         "throughput_seconds": args.throughput_seconds, "samples": args.samples, "quick": quick}}
    try:
        with open("/proc/cpuinfo") as handle:
            meta["cpu"] = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    report, headline = summarise(results, gemm, meta)
    plots(results, out_dir)
    (out_dir / "results.md").write_text(report)
    (out_dir / "results.json").write_text(json.dumps({"meta": meta, "gemm": gemm, "results": results,
                                                      "headline": headline}, indent=1, default=str))
    print(report)
    return {"meta": meta, "gemm": gemm, "results": results, "headline": headline}


if __name__ == "__main__":
    main()
