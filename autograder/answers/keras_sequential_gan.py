"""NumPy reference answers for assignment 3, ``keras_sequential_gan`` (Sequential GANs and ``train_on_batch``).

NumPy only: forward passes of the four Sequential models with the shared seeded weights
(``course.checks.seeded_arrays``); BatchNormalization in inference mode (moving statistics, epsilon 1e-3),
Dropout inactive.

Keys written to ``data/keras_sequential_gan.npz``:

- ``param_counts``: int64 (4,), parameter counts (BatchNorm moving statistics included) in the order of
  ``MODEL_NAMES``: dense generator (codings 30), dense discriminator, DCGAN generator (codings 100),
  DCGAN discriminator.
- For ``<m>`` in ``MODEL_NAMES``: ``<m>_seed`` (int64 scalar, the seed given to ``set_seeded_weights``),
  ``<m>_x`` (float32 input: codings (4, 30) / (4, 100), or images (4, 28, 28) in [0, 1] / (4, 28, 28, 1) in
  [-1, 1]) and ``<m>_true`` (float64 output: images (4, 28, 28) in (0, 1) / (4, 28, 28, 1) in (-1, 1), or
  probabilities (4, 1)).
"""
from __future__ import annotations

import numpy as np

from autograder.answers.keras_model_gan import conv2d_same, conv2d_transpose_same
from course.checks import seeded_arrays

SEED = 3
MODEL_NAMES = ("dense_generator", "dense_discriminator", "dcgan_generator", "dcgan_discriminator")
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
BN_EPSILON = 1e-3


def selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(np.minimum(x, 0)) - 1))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def leaky_relu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def dense_specs(sizes):
    return [spec for a, b in sizes for spec in (("kernel", (a, b)), ("bias", (b,)))]


def batchnorm_specs(channels):
    return [(role, (channels,)) for role in ("gamma", "beta", "moving_mean", "moving_variance")]


SPECS = {
    "dense_generator": dense_specs([(30, 100), (100, 150), (150, 784)]),
    "dense_discriminator": dense_specs([(784, 150), (150, 100), (100, 1)]),
    "dcgan_generator": ([("kernel", (100, 7 * 7 * 128)), ("bias", (7 * 7 * 128,))] + batchnorm_specs(128)
                        + [("kernel", (5, 5, 64, 128)), ("bias", (64,))] + batchnorm_specs(64)
                        + [("kernel", (5, 5, 1, 64)), ("bias", (1,))]),
    "dcgan_discriminator": [("kernel", (5, 5, 1, 64)), ("bias", (64,)), ("kernel", (5, 5, 64, 128)),
                            ("bias", (128,)), ("kernel", (7 * 7 * 128, 1)), ("bias", (1,))],
}


def batchnorm(x, gamma, beta, mean, variance):
    return gamma * (x - mean) / np.sqrt(variance + BN_EPSILON) + beta


def forward(name, weights, x):
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    x = np.asarray(x, dtype=np.float64)
    if name == "dense_generator":
        h = selu(selu(x @ w[0] + w[1]) @ w[2] + w[3])
        return sigmoid(h @ w[4] + w[5]).reshape(-1, 28, 28)
    if name == "dense_discriminator":
        h = selu(selu(x.reshape(len(x), -1) @ w[0] + w[1]) @ w[2] + w[3])
        return sigmoid(h @ w[4] + w[5])
    if name == "dcgan_generator":
        h = (x @ w[0] + w[1]).reshape(-1, 7, 7, 128)
        h = batchnorm(h, *w[2:6])
        h = selu(conv2d_transpose_same(h, w[6], w[7], 2))
        h = batchnorm(h, *w[8:12])
        return np.tanh(conv2d_transpose_same(h, w[12], w[13], 2))
    if name == "dcgan_discriminator":
        h = leaky_relu(conv2d_same(x, w[0], w[1], 2))
        h = leaky_relu(conv2d_same(h, w[2], w[3], 2))
        return sigmoid(h.reshape(len(h), -1) @ w[4] + w[5])
    raise KeyError(name)


def build() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    answers: dict[str, np.ndarray] = {
        "param_counts": np.array([sum(int(np.prod(s)) for _, s in SPECS[n]) for n in MODEL_NAMES], dtype=np.int64)}
    inputs = {
        "dense_generator": lambda: rng.normal(size=(4, 30)),
        "dense_discriminator": lambda: rng.uniform(0, 1, size=(4, 28, 28)),
        "dcgan_generator": lambda: rng.normal(size=(4, 100)),
        "dcgan_discriminator": lambda: rng.uniform(-1, 1, size=(4, 28, 28, 1)),
    }
    for seed, name in enumerate(MODEL_NAMES, start=201):
        x = inputs[name]().astype(np.float32)
        answers[f"{name}_seed"] = np.int64(seed)
        answers[f"{name}_x"] = x
        answers[f"{name}_true"] = forward(name, seeded_arrays(SPECS[name], seed), x)
    return answers
