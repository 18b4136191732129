"""The three GANs of ``gan_basics`` behind one small interface (``Gan``), and the analytic FLOP counts.

``vanilla``, ``lsgan``, ``dcgan``: the reference solutions of ``source/gan_basics/GANs-TensorFlow.ipynb``,
executed from the notebook (``notebook_code``): models, losses, ``get_solvers``, ``sample_noise`` and the
compiled ``make_train_step``. Same hyperparameters as the notebook (Adam 1e-3, beta_1 0.5, batch 128, noise 96,
images flattened to 784 in [-1, 1]). ``benchmarks.rows`` wraps them (and every other assignment's GANs) as
benchmark rows.

Each ``Gan`` has the compiled step (``tf.function`` with a fixed ``input_signature``, BatchNorm in training
mode), a tf.data pipeline feeding it and a NumPy batch iterator (the feed of the notebook's ``run_a_gan``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from benchmarks.notebook_code import GAN_BASICS  # noqa: F401 (the rows read the notebook's path from here)

GAN_NAMES = ("vanilla", "lsgan", "dcgan")
DATASET_OF = {"vanilla": "mnist", "lsgan": "mnist", "dcgan": "mnist"}
TITLES = {"vanilla": "Vanilla GAN (dense)", "lsgan": "LSGAN (dense)", "dcgan": "DCGAN"}


@dataclass
class Gan:
    name: str
    dataset: str
    D: object
    G: object
    batch_size: int
    noise_dim: int
    compiled_step: Callable  # (real, noise) -> (d_loss, g_loss)
    images: np.ndarray  # training images, in the shape and range the models take
    labels: np.ndarray
    sample_noise: Callable  # n -> float32 noise tensor
    extra: dict = field(default_factory=dict)

    # --- input pipelines -------------------------------------------------------------------------------
    def pipeline(self, seed=0):
        """tf.data: shuffled, repeated, fixed-size batches, noise drawn in the pipeline, prefetched."""
        import tensorflow as tf

        count = len(self.images)
        data = tf.data.Dataset.from_tensor_slices(self.images)
        data = data.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
        data = data.batch(self.batch_size, drop_remainder=True)
        dim, batch = self.noise_dim, self.batch_size

        def add_noise(*parts):
            return (*parts, tf.random.uniform((batch, dim), -1.0, 1.0))

        return data.map(add_noise, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def numpy_batches(self, seed=0):
        """Endless NumPy batches, reshuffled every epoch (the eager baseline's feed, like CS231n's MNIST class)."""
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(self.images))
            for begin in range(0, len(order) - self.batch_size + 1, self.batch_size):
                yield (self.images[order[begin:begin + self.batch_size]],)

    # --- sampling ------------------------------------------------------------------------------------------
    def generate(self, count, seed=0):
        """count generated images as a NumPy array (N, 784)."""
        import tensorflow as tf

        tf.random.set_seed(seed)
        out = []
        for begin in range(0, count, 500):
            size = min(500, count - begin)
            out.append(np.asarray(self.G(self.sample_noise(size), training=False)))
        return np.concatenate(out)


# ---------------------------------------------------------------------------------------------------------
# The MNIST GANs from the notebook

def _mnist_gan(name: str, namespace: dict, images: np.ndarray, labels: np.ndarray, batch_size=None,
               learning_rate=None) -> Gan:
    ns = namespace
    noise_dim, batch_size = int(ns["NOISE_DIM"]), int(batch_size or ns["BATCH_SIZE"])
    if name == "dcgan":
        D, G = ns["dc_discriminator"](), ns["dc_generator"]()
    else:
        D, G = ns["discriminator"](), ns["generator"]()
    if name == "lsgan":
        d_loss, g_loss = ns["ls_discriminator_loss"], ns["ls_generator_loss"]
    else:
        d_loss, g_loss = ns["discriminator_loss"], ns["generator_loss"]
    d_opt, g_opt = ns["get_solvers"]() if learning_rate is None else ns["get_solvers"](learning_rate=learning_rate)
    return compiled_gan(name, ns, D, G, d_opt, g_opt, d_loss, g_loss, images, labels, batch_size, noise_dim)


def compiled_gan(name: str, namespace: dict, D, G, d_opt, g_opt, d_loss, g_loss, images, labels, batch_size: int,
                 noise_dim: int) -> Gan:
    """A Gan around the notebook's compiled ``make_train_step`` on these models, solvers and losses; images
    flattened to (N, 784) float32, noise from the notebook's ``sample_noise`` as float32."""
    import tensorflow as tf

    compiled = namespace["make_train_step"](D, G, d_opt, g_opt, d_loss, g_loss, noise_dim)
    sample_noise = namespace["sample_noise"]
    return Gan(name=name, dataset="mnist", D=D, G=G, batch_size=batch_size, noise_dim=noise_dim,
               compiled_step=compiled,
               images=np.asarray(images, dtype=np.float32).reshape(len(images), 784), labels=labels,
               sample_noise=lambda n: tf.cast(sample_noise(n, noise_dim), tf.float32))


# ---------------------------------------------------------------------------------------------------------

_NAMESPACE: dict = {}


def notebook_namespace() -> dict:
    if not _NAMESPACE:
        from benchmarks.notebook_code import load_namespace

        _NAMESPACE.update(load_namespace())
    return _NAMESPACE


def build_gan(name: str, seed: int = 0, batch_size: int | None = None, learning_rate: float | None = None) -> Gan:
    """A freshly initialised (seeded) GAN with its training data; batch_size / learning_rate override the
    reference values (None: the notebook's)."""
    import keras

    from course import data

    if name not in GAN_NAMES:
        raise ValueError(f"unknown GAN {name!r}; choose from {GAN_NAMES} (the other assignments' rows: "
                         "benchmarks.rows.build_row)")
    namespace = notebook_namespace()
    images, labels = data.load_mnist(value_range=(-1.0, 1.0), seed=seed)
    keras.utils.set_random_seed(seed)
    return _mnist_gan(name, namespace, images, labels, batch_size=batch_size, learning_rate=learning_rate)


# ---------------------------------------------------------------------------------------------------------
# Analytic FLOPs

def layer_flops(layer) -> int:
    """Multiply-add FLOPs (2 per multiply-accumulate) of one forward pass of a layer for ONE example."""
    kind = type(layer).__name__
    if kind == "Dense":
        return 2 * int(np.prod(layer.input.shape[1:])) * int(layer.units)
    if kind == "Conv2D":
        out = layer.output.shape
        kh, kw = layer.kernel_size
        return 2 * int(out[1]) * int(out[2]) * int(out[3]) * kh * kw * int(layer.input.shape[-1])
    if kind == "Conv2DTranspose":
        inp = layer.input.shape
        kh, kw = layer.kernel_size
        return 2 * int(inp[1]) * int(inp[2]) * int(inp[3]) * kh * kw * int(layer.filters)
    return 0  # activations, BatchNorm, pooling, reshapes: negligible next to the matmuls / convolutions


def model_flops(model) -> int:
    """Forward FLOPs of a model for one example (matmuls and convolutions only)."""
    return sum(layer_flops(layer) for layer in model.layers)


def train_step_flops(gan) -> int:
    """FLOPs of one train step (a batch of gan.batch_size), counting backward = 2x forward per trained pass.

    Discriminator update: G forward (1x), D forward + backward on the real and on the fake batch (2 x 3x).
    Generator update: G forward + backward (3x), D forward + backward (3x). Total 4 F_G + 9 F_D per example.
    """
    return gan.batch_size * (4 * model_flops(gan.G) + 9 * model_flops(gan.D))
