"""Quality as a function of training time: where a GAN crosses its target, and which settings get there first.

    python -m benchmarks.curve --gan dcgan --budget-seconds 540 --every 60 [--learning-rate 2e-4]
                               [--batch-size 64] [--samples 2000] [--out benchmarks/results/curves/dcgan.json]

Trains with the compiled step like ``benchmarks.worker`` (CPU-time budget: budget x cores CPU-seconds) and
scores ``--samples`` images every ``--every`` seconds of budget; the scoring time is not charged to the budget.
``python -m benchmarks.curve --report`` turns every JSON in ``benchmarks/results/curves/`` into
``curves.md`` and ``curves.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CURVES = Path(__file__).resolve().parent / "results" / "curves"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def curve(name, budget, every, samples, cores=2, batch_size=None, learning_rate=None) -> dict:
    from benchmarks.gans import build_gan
    import numpy as np

    from course.metrics import features_and_probabilities, inception_score_from_probabilities, score_samples

    gan = build_gan(name, batch_size=batch_size, learning_rate=learning_rate)
    batches = iter(gan.pipeline())
    points, steps, charged_cpu, charged_wall = [], 0, 0.0, 0.0
    next_score = every
    while charged_cpu < budget * cores:
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        while charged_cpu + (_cpu_seconds() - cpu0) < min(next_score, budget) * cores:
            d_loss, g_loss = gan.compiled_step(*next(batches))
            steps += 1
        float(d_loss)
        charged_cpu += _cpu_seconds() - cpu0
        charged_wall += time.perf_counter() - wall0
        images = gan.generate(samples, seed=1)
        score = score_samples(images, dataset=gan.dataset)
        # IS = exp(H(mean p) - mean H(p)): class balance (first term, ln 10 at best) vs confidence (second).
        probabilities = features_and_probabilities(images, gan.dataset)[1]
        marginal = probabilities.mean(0)
        balance = float(-np.sum(marginal * np.log(marginal + 1e-12)))
        doubt = float(np.mean(-np.sum(probabilities * np.log(probabilities + 1e-12), axis=1)))
        points.append({"steps": steps, "budget_seconds": charged_cpu / cores, "wall_seconds": charged_wall,
                       "epochs": steps * gan.batch_size / len(gan.images), **score.as_dict(),
                       "class_entropy": balance, "mean_prediction_entropy": doubt,
                       "class_fractions": np.round(np.bincount(probabilities.argmax(1), minlength=10)
                                                   / len(probabilities), 3).tolist(),
                       "is_check": inception_score_from_probabilities(probabilities)})
        print(f"  class entropy {balance:.3f} (ln 10 = 2.303), mean prediction entropy {doubt:.3f}, class "
              f"fractions {points[-1]['class_fractions']}", flush=True)
        print(f"{name} bs={gan.batch_size} lr={learning_rate or 'ref'}: {steps} steps, "
              f"{charged_cpu / cores:.0f} s budget: {score.line()}", flush=True)
        next_score += every
    return {"gan": name, "batch_size": gan.batch_size, "learning_rate": learning_rate, "cores": cores,
            "points": points, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def report(folder: Path = CURVES) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    lines = ["# Quality vs training budget (`python -m benchmarks.curve`)", "",
             "Budget = CPU seconds / 2 (seconds on an idle 2-core machine); scores on the samples of each "
             "checkpoint (IS fraction = IS / IS of real images of the same size).", "",
             "| GAN | batch | learning rate | budget (s) | steps | epochs | FID (floor) | IS (real) | IS / real |",
             "|---|---|---|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        label = f"{run['gan']} bs={run['batch_size']} lr={run['learning_rate'] or 'ref'}"
        for p in run["points"]:
            lines.append(f"| {run['gan']} | {run['batch_size']} | {run['learning_rate'] or '1e-3 (notebook)'} | "
                         f"{p['budget_seconds']:.0f} | {p['steps']} | {p['epochs']:.1f} | "
                         f"{p['fid']:.2f} ({p['fid_floor']:.2f}) | {p['inception_score']:.2f} "
                         f"({p['is_real']:.2f}) | {100 * p['is_fraction']:.0f}% |")
        ax.plot([p["budget_seconds"] for p in run["points"]], [p["is_fraction"] for p in run["points"]],
                marker="o", label=label)
    ax.axhline(0.9, color="grey", linestyle="--", linewidth=1)
    ax.axhline(0.7, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training budget (s on 2 cores)")
    ax.set_ylabel("IS / IS of real data")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder.parent / "curves.png", dpi=80)
    plt.close(fig)
    text = "\n".join(lines) + "\n"
    (folder.parent / "curves.md").write_text(text)
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", default="dcgan")
    parser.add_argument("--budget-seconds", type=float, default=540.0)
    parser.add_argument("--every", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report", action="store_true", help="only rebuild curves.md / curves.png")
    args = parser.parse_args(argv)
    if args.report:
        print(report())
        return
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    result = curve(args.gan, args.budget_seconds, args.every, args.samples, args.cores, args.batch_size,
                   args.learning_rate)
    out = args.out or CURVES / f"{args.gan}_bs{result['batch_size']}_lr{args.learning_rate or 'ref'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
