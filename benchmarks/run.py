"""`make bench`: speed and sample quality of every assignment's own GANs on this machine, in one run.

    python -m benchmarks.run [--budget-seconds 600] [--throughput-seconds 15] [--gans vanilla,lsgan,...]
                             [--max-steps N] [--clock cpu|wall] [--quick] [--out-dir benchmarks/results]

One row per training section of every assignment (``benchmarks.rows``: vanilla, lsgan, dcgan, model_gan,
model_cgan, seq_gan, seq_dcgan, cifar_dcgan, gan_1d, fashion_cgan), each built from its source notebook's
own reference code and training cell, each in its own subprocess (``benchmarks.worker``):
(a) train-step throughput (images/s), compiled vs the same code run eagerly (``run_functions_eagerly``);
(b) achieved FLOP/s of the compiled steps (analytic FLOPs from the layer shapes) vs a float32 GEMM ceiling
    measured in this run (target: >= 50%), and vs a GEMM timed right after the step in the same process;
(c) quality after the notebook's own training length (or the CPU budget, whichever comes first), each beside
    its real-data floor: classifier FID / KID / IS (targets: >= 70% of the real IS, DCGANs >= 90%), the
    conditional accuracy of conditional GANs (target >= 80%), the fitted mean and spread of the 1-D GAN
    (mean within 0.5 of the target, spread below 1); sample grids and loss curves as PNG;
(d) peak resident memory of each row's process.
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

from benchmarks.rows import IS_TARGET, ROW_NAMES  # noqa: E402 (imports no TensorFlow)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

#: Speed targets: issue 7 (eager ratio of the vanilla GAN), issue 14 (every compiled step vs the GEMM ceiling).
TARGETS = {"speedup_vanilla": 4.0, "flop_fraction": 0.5}
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
               "--curve-points", str(args.curve_points), "--png-dir", str(out_dir), "--out", str(out)]
    if args.max_steps is not None:
        command += ["--max-steps", str(args.max_steps)]
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


def _step_ms(r, ceiling: float) -> str:
    """Milliseconds a compiled step takes, and what its FLOPs alone would take at the GEMM ceiling: where the
    first is many times the second, a fixed cost per step (Python, Keras' train_on_batch, op dispatch) and not
    arithmetic is what the step spends its time on."""
    step = r["batch_size"] / r["compiled_images_per_s"]
    return f"{1e3 * step:.2f} ({1e3 * r['flops_per_step'] / ceiling:.3f})"


def _mark(ok) -> str:
    return "" if ok is None else (" (met)" if ok else " (MISSED)")


def _title(r) -> str:
    from benchmarks.rows import ROWS

    return r.get("title") or ROWS.get(r["gan"], ("", r["gan"]))[1]


def _targets(r) -> str:
    marks = r.get("targets") or {}
    if not marks:
        return "-"
    return ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in marks.items())


#: Change of IS / real over the curve's last stretch that counts as still rising (or falling).
TREND_POINTS = 0.02


def distinct_steps(curve: list[dict]) -> list[dict]:
    """The curve with one point per step count, the later kept (a run whose budget ran out right after a
    point was scored once more at its end)."""
    last = {point["steps"]: point for point in curve}
    return sorted(last.values(), key=lambda point: point["steps"])


def curve_trend(curve: list[dict]) -> str:
    """Rising, flat or falling over the last stretch of a quality curve (IS / real of its last two points)."""
    before, last = curve[-2], curve[-1]
    change = last["is_fraction"] - before["is_fraction"]
    word = "rising" if change >= TREND_POINTS else ("falling" if change <= -TREND_POINTS else "flat")
    best = max(curve, key=lambda point: point["is_fraction"])
    peak = (f"; best {100 * best['is_fraction']:.0f}% at {best['steps']} steps"
            if best is not last and best["is_fraction"] > last["is_fraction"] else "")
    return f"{word} ({100 * change:+.0f} points from {before['steps']} to {last['steps']} steps{peak})"


def summarise(results: list[dict], gemm: list[dict], meta: dict) -> tuple[str, dict]:
    """Markdown report and the headline numbers."""
    ceiling = max(row["flop_per_s"] for row in gemm)
    gemm_dense = next((r["flop_per_s"] for r in gemm if (r["m"], r["k"], r["n"]) == (128, 1024, 1024)), ceiling)
    lines = ["# `make bench` results", "",
             f"Machine: {meta['cpu']}, {meta['cores']} cores visible; TensorFlow {meta['tf']}; "
             f"load average {meta['load_before']:.1f} before / {meta['load_after']:.1f} after (the machine is "
             f"shared: a load above {meta['cores']} means other work competed for the cores). "
             f"Run {meta['date']}, {meta['seconds'] / 60:.1f} min, settings: {meta['settings']}.", "",
             "## Speed: compiled train step vs eager, FLOP/s vs GEMM ceiling", "",
             "float32 GEMM ceiling measured in this run (tf.linalg.matmul chains): " + ", ".join(
                 f"{r['m']}x{r['k']}x{r['n']}: {r['flop_per_s'] / 1e9:.1f} GFLOP/s" for r in gemm)
             + f". The fraction below divides by the best of these ({ceiling / 1e9:.1f} GFLOP/s).", "",
             "| row | assignment | batch | GFLOP / step | compiled img/s | notebook-loop img/s | eager img/s | "
             "eager ratio | compiled GFLOP/s | fraction of GEMM ceiling (target 50%) | fraction of sustained GEMM | "
             "step ms (at the ceiling) | traces | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    headline = {"gemm_ceiling_gflops": ceiling / 1e9, "gemm_128x1024x1024_gflops": gemm_dense / 1e9}
    for r in results:
        if "compiled_images_per_s" not in r:
            lines.append(f"| {_title(r)} | skipped: {r.get('error', 'no throughput run')} |" + " |" * 12)
            continue
        fraction = r["compiled_flop_per_s"] / ceiling
        r["flop_fraction"] = fraction
        speed_ok = r["speedup"] >= TARGETS["speedup_vanilla"] if r["gan"] == "vanilla" else None
        frac_ok = fraction >= TARGETS["flop_fraction"]
        lines.append(f"| {_title(r)} | {r.get('assignment', '-')} | {r['batch_size']} | "
                     f"{r['flops_per_step'] / 1e9:.2f} | "
                     f"{r['compiled_images_per_s']:.0f} | {_fmt(r.get('notebook_loop_images_per_s'), '.0f')} | "
                     f"{r['eager_images_per_s']:.0f} | "
                     f"{r['speedup']:.1f}x{_mark(speed_ok)} | {r['compiled_flop_per_s'] / 1e9:.1f} | "
                     f"{100 * fraction:.0f}%{_mark(frac_ok)} | {_sustained(r)} | {_step_ms(r, ceiling)} | "
                     f"{r.get('throughput_traces') or '-'} | "
                     f"{r['peak_rss_mb']:.0f} |")
        headline[f"{r['gan']}_speedup"] = r["speedup"]
        headline[f"{r['gan']}_flop_fraction"] = fraction
    how = sorted({r["flops_how"] for r in results if r.get("flops_how")})
    lines += ["", "compiled = the row's `Row.train`: the notebook's own compiled step or driver (gan_basics: "
              "make_train_step fed by tf.data; keras_model_gan: Keras' train_function of GAN.train_step; "
              "keras_sequential_gan: discriminator_step + generator_step, each a train_on_batch; dcgan_cifar: "
              "train() resuming from its checkpoint; gan_1d_conditional: train_gan_1d and the notebook's "
              "conditional_step). eager = the same code under tf.config.run_functions_eagerly(True). "
              "notebook-loop (gan_basics) = the compiled step fed like run_a_gan (NumPy slices, tf.constant, "
              "float() of the losses every step). Per-step time = difference of a 1-step and an n-step call, so "
              "per-call costs (retracing, checkpoints) cancel. FLOPs per step are analytic (benchmarks.gans."
              "model_flops: matmuls and convolutions of the layer shapes, backward = 2x forward): "
              + "; ".join(how) + ". The ceiling is the best short GEMM burst at the start of the run; 'sustained' "
              "divides by the GEMM timed for as many seconds right after the step in the same process (fairer on "
              "a shared machine). 'step ms' = the compiled step's time beside the time its FLOPs alone would take at "
              "the ceiling: a step many times slower than its arithmetic is spent on fixed costs per step "
              "(Python, a Keras train_on_batch call, op dispatch), which no faster kernel removes. Targets: every "
              "compiled step >= 50% of the GEMM ceiling; eager ratio >= 4x for the vanilla GAN (issue 7).",
              "", "## Quality after the notebook's training length (or the budget)", "",
              "| row | data | steps done / notebook's | epochs | train time wall / CPU (s) | FID (real floor) | "
              "KID (real floor) | IS (real) | IS / real (target) | conditional accuracy (real) | "
              "1-D mean / std (target) | targets | samples | losses |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "steps" not in r:
            lines.append(f"| {_title(r)} | skipped: {r.get('error', 'no quality run')} |" + " |" * 12)
            continue
        s = r.get("score")
        fid = f"{s['fid']:.2f} ({s['fid_floor']:.2f})" if s else "-"
        kid = f"{s['kid']:.3f} ({s['kid_floor']:.3f})" if s else "-"
        is_ = f"{s['inception_score']:.2f} ({s['is_real']:.2f})" if s else "-"
        goal = f" ({100 * r['is_target']:.0f}%)" if r.get("is_target") else ""
        frac = f"{100 * s['is_fraction']:.0f}%{goal}" if s else "-"
        cond = (f"{100 * r['conditional_accuracy']:.1f}% ({100 * r['conditional_accuracy_real']:.1f}%)"
                if "conditional_accuracy" in r else "-")
        one = r.get("one_d")
        oned = (f"{one['mean']:.2f} / {one['std']:.3f} ({one['target_mean']} / {one['target_std']})" if one else "-")
        data = s["dataset"] if s else ("N(10, 0.1^2)" if one else "not scored")
        epochs = _fmt(r.get("epochs"), ".1f")
        budget = " (budget)" if r.get("stopped_by_budget") else ""
        lines.append(f"| {_title(r)} | {data} | {r['steps']} / {r.get('notebook_steps', '-')}{budget} | {epochs} | "
                     f"{r['train_seconds']:.0f} / {_fmt(r.get('train_cpu_seconds'), '.0f')} | {fid} | {kid} | {is_} | {frac} | "
                     f"{cond} | {oned} | {_targets(r)} | ![{r['gan']}]({r.get('samples_png', '')}) | "
                     f"![losses]({r.get('losses_png', '')}) |")
        if s:
            headline[f"{r['gan']}_is_fraction"] = s["is_fraction"]
            headline[f"{r['gan']}_fid"] = s["fid"]
        if "conditional_accuracy" in r:
            headline[f"{r['gan']}_conditional_accuracy"] = r["conditional_accuracy"]
        if one:
            headline[f"{r['gan']}_mean"], headline[f"{r['gan']}_std"] = one["mean"], one["std"]
    lines += ["", "## Quality curve: the scores during training", "",
              "The same scores at evenly spaced steps of the row's run (of the weights the notebook would sample "
              "there, its weight average included). The trend is the change of IS / real over the last stretch: "
              "a missed target still rising would be met by more steps, a flat or falling one would not.", "",
              "| row | IS / real at steps (FID) | trend over the last stretch | target |",
              "|---|---|---|---|"]
    for r in results:
        curve = distinct_steps(r.get("curve") or [])
        if len(curve) < 2:
            continue
        points = ", ".join(f"{p['steps']}: {100 * p['is_fraction']:.0f}% ({p['fid']:.1f})" for p in curve)
        target = (r.get("targets") or {}).get("is_fraction")
        lines.append(f"| {_title(r)} | {points} | {curve_trend(curve)} | "
                     f"{'-' if target is None else ('met' if target else 'MISSED')} |")
    notes = [f"- {_title(r)}: {r['data_note']}" for r in results if r.get("data_note")]
    lines += ["", "Training: fresh seeded models, the notebook's own length (steps of its interactive run), stopped "
              "earlier when the CPU budget runs out ('(budget)'). Scores: `course.metrics.score_samples` on "
              f"{meta['settings'].get('samples')} generated images (conditional rows: requested classes cycling "
              "0-9); the floors compare two disjoint halves of the real images of the same size. IS = exp(E "
              "KL(p(y|x) || p(y))) with the course's small CNN classifier. Conditional accuracy = the classifier's "
              "accuracy on generated images against the classes they were asked for; its floor is its accuracy "
              "on as many real images. dcgan_cifar: scored only on its MNIST stand-in (channels averaged, "
              "padding cropped); the course has no CIFAR-10 classifier. Targets: image GANs >= 70% of the real "
              "IS, DCGANs >= 90%, conditional accuracy >= 80%, 1-D mean within 0.5 and spread below 1.", "",
              "Data each row trained on (as the notebook printed it):", "", *notes, "",
              "Plots: `throughput.png` (images/s), `quality.png` (IS vs real), `quality_curve.png` (IS / real "
              "during training), `samples_<row>.png`, `losses_<row>.png`."]
    return "\n".join(lines) + "\n", headline


def plots(results: list[dict], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    speed = [r for r in results if "compiled_images_per_s" in r]
    if speed:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        x = np.arange(len(speed))
        ax.bar(x - 0.2, [r["compiled_images_per_s"] for r in speed], 0.4, label="compiled")
        ax.bar(x + 0.2, [r["eager_images_per_s"] for r in speed], 0.4, label="eager (run_functions_eagerly)")
        ax.set_xticks(x, [r["gan"] for r in speed], rotation=30)
        ax.set_yscale("log")
        ax.set_ylabel("training images / s")
        ax.legend()
        ax.set_title("Train-step throughput")
        fig.tight_layout()
        fig.savefig(out_dir / "throughput.png", dpi=80)
        plt.close(fig)
    scored = [r for r in results if r.get("score")]
    if scored:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        x = np.arange(len(scored))
        ax.bar(x - 0.2, [r["score"]["inception_score"] for r in scored], 0.4, label="generated")
        ax.bar(x + 0.2, [r["score"]["is_real"] for r in scored], 0.4, label="real (same size)")
        ax.set_xticks(x, [f"{r['gan']}\n{r['steps']} steps" for r in scored], fontsize=7)
        ax.set_ylabel("inception-style score")
        ax.legend()
        ax.set_title("Sample quality after training")
        fig.tight_layout()
        fig.savefig(out_dir / "quality.png", dpi=80)
        plt.close(fig)
    curved = [(r["gan"], distinct_steps(r.get("curve") or [])) for r in results]
    curved = [(name, curve) for name, curve in curved if len(curve) >= 2]
    if curved:
        fig, ax = plt.subplots(figsize=(9, 3.5))
        for name, curve in curved:
            ax.plot([p["steps"] for p in curve], [100 * p["is_fraction"] for p in curve], marker="o", label=name)
        image, dcgan = 100 * IS_TARGET["image"], 100 * IS_TARGET["dcgan"]
        ax.axhline(image, color="grey", linestyle=":", label=f"target {image:.0f}% (DCGANs {dcgan:.0f}%)")
        ax.axhline(dcgan, color="grey", linestyle=":")
        ax.set_xscale("log")
        ax.set_xlabel("training steps")
        ax.set_ylabel("IS / real IS (%)")
        ax.legend(fontsize=7, ncol=2)
        ax.set_title("Sample quality during training")
        fig.tight_layout()
        fig.savefig(out_dir / "quality_curve.png", dpi=80)
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
                        help="CPU budget per row for the quality runs: training stops at the notebook's own "
                             "length or when this runs out (default 600; --quick: 120, with 3 steps a row)")
    parser.add_argument("--throughput-seconds", type=float, default=None,
                        help="timed seconds per throughput measurement (default 15; --quick: 1)")
    parser.add_argument("--samples", type=int, default=None, help="images scored per row (default 5000)")
    parser.add_argument("--gans", default=",".join(ROW_NAMES),
                        help=f"comma-separated rows (default all: {','.join(ROW_NAMES)})")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="train each row at most this many steps (default: its notebook's length; --quick: 3)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: the budget is budget x cores seconds of the process's CPU time (robust on a "
                             "shared machine); wall: budget seconds of wall time")
    parser.add_argument("--cores", type=int, default=2, help="cores the CPU budget assumes (default 2)")
    parser.add_argument("--curve-points", type=int, default=4,
                        help="points of each row's quality curve, its end included (default 4; 1: the end only)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few steps per row, small samples")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="only rewrite results.md / plots from results.json")
    args = parser.parse_args(argv)
    if args.render:
        print(render(args.out_dir))
        return {}
    quick = args.quick
    args.budget_seconds = args.budget_seconds if args.budget_seconds is not None else (120.0 if quick else 600.0)
    args.max_steps = args.max_steps if args.max_steps is not None else (3 if quick else None)
    args.throughput_seconds = (args.throughput_seconds if args.throughput_seconds is not None
                               else (1.0 if quick else 15.0))
    args.samples = args.samples if args.samples is not None else (500 if quick else 5000)
    gans = [g.strip() for g in args.gans.split(",") if g.strip()]
    unknown = [g for g in gans if g not in ROW_NAMES]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROW_NAMES)}")
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
        print(f"{gan}: throughput {args.throughput_seconds:.0f} s x 2, training to the notebook's length "
              f"(at most {args.max_steps or 'all'} steps, budget {args.budget_seconds:.0f} s, {args.clock} clock)...",
              flush=True)
        results.append(run_worker(gan, args, out_dir))
    meta = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "tf": tf.__version__,
            "load_before": load_before, "load_after": os.getloadavg()[0], "seconds": time.perf_counter() - start,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "settings": {"budget_seconds": args.budget_seconds, "max_steps": args.max_steps, "clock": args.clock,
                         "cores": args.cores, "curve_points": args.curve_points,
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
