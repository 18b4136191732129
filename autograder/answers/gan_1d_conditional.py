"""NumPy reference answers for assignment 5, ``gan_1d_conditional`` (GAN theory, a 1-D GAN, a conditional GAN).

NumPy only: no TensorFlow, no notebook code. Keys written to ``data/gan_1d_conditional.npz``:

Theory
- ``dstar_data_params`` (mean, std) of p_data and ``dstar_g_params`` (mean, std) of p_g, two normal densities;
  ``dstar_x`` (2001,) a grid; ``dstar_true`` D*(x) = p_data(x) / (p_data(x) + p_g(x)) on the grid.
- ``value_dstar_true``: V(D*, G) = integral of p_data log D* + p_g log(1 - D*) over the grid (trapezoid rule);
  ``value_half_true``: the same integral with the constant discriminator D(x) = 0.5.
- ``grad_logits`` (9,); ``grad_saturating_true``: d/dl log(1 - sigmoid(l)) = -sigmoid(l);
  ``grad_nonsaturating_true``: d/dl [-log sigmoid(l)] = sigmoid(l) - 1.

Losses (binary cross-entropy on logits, averaged over the batch)
- ``loss_d_real`` (16, 1), ``loss_d_fake`` (16, 1) logits; ``d_loss_true`` = BCE(1, d_real) + BCE(0, d_fake);
  ``g_loss_true`` = BCE(1, d_fake).

1-D GAN
- ``gen1d_param_count`` (latent 100), ``gen1d_small_param_count`` (latent 5), ``disc1d_param_count``.
- ``gen1d_seed``, ``gen1d_x`` (4, 100), ``gen1d_true`` (4, 1): generator (Dense 64 relu, Dense 64 relu, Dense 1)
  with ``set_seeded_weights(model, gen1d_seed)``; ``disc1d_seed``, ``disc1d_x`` (4, 1), ``disc1d_true`` (4, 1):
  discriminator logits (Dense 32 relu, Dense 1).
- ``step1d_real`` (8, 1), ``step1d_noise`` (8, 100), ``step1d_d_loss_true``, ``step1d_g_loss_true``: the losses a
  train step computes (before its update) with the seeded models above.

Conditional GAN (Fashion-MNIST, 28x28x1, scalar label input)
- ``cgen_param_count`` (latent 100), ``cgen_small_param_count`` (latent 16), ``cdisc_param_count``.
"""
from __future__ import annotations

import numpy as np

from course.checks import seeded_arrays

SEED = 5
LATENT_DIM = 100


def normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


def optimal_discriminator(p_data_values, p_g_values):
    total = p_data_values + p_g_values
    return np.where(total > 0, p_data_values / np.where(total > 0, total, 1.0), 0.5)


def xlogy(x, y):
    """x * log(y) with 0 * log(0) = 0."""
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def gan_value(d_values, p_data_values, p_g_values, x):
    integrand = xlogy(p_data_values, d_values) + xlogy(p_g_values, 1 - d_values)
    return float(np.sum((integrand[1:] + integrand[:-1]) * np.diff(x)) / 2)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bce_logits_mean(targets, logits):
    """Binary cross-entropy from logits, the numerically stable form, averaged over all entries."""
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))))


def d_loss(d_real, d_fake):
    return bce_logits_mean(np.ones_like(d_real), d_real) + bce_logits_mean(np.zeros_like(d_fake), d_fake)


def g_loss(d_fake):
    return bce_logits_mean(np.ones_like(d_fake), d_fake)


def gen1d_specs(latent_dim=LATENT_DIM):
    return [("kernel", (latent_dim, 64)), ("bias", (64,)), ("kernel", (64, 64)), ("bias", (64,)),
            ("kernel", (64, 1)), ("bias", (1,))]


def disc1d_specs():
    return [("kernel", (1, 32)), ("bias", (32,)), ("kernel", (32, 1)), ("bias", (1,))]


def cgen_specs(latent_dim=LATENT_DIM):
    joined = latent_dim + 64
    return [("kernel", (1, 32)), ("bias", (32,)), ("kernel", (32, 64)), ("bias", (64,)),  # label subnetwork
            ("kernel", (5, 5, 128, joined)), ("bias", (128,)),  # Conv2DTranspose 128 k5 s1 valid: 1 -> 5
            ("kernel", (5, 5, 64, 128)), ("bias", (64,)),  # Conv2DTranspose 64 k5 s2 valid: 5 -> 13
            ("kernel", (5, 5, 32, 64)),  # Conv2DTranspose 32 k5 s2 valid, no bias: 13 -> 29
            ("kernel", (2, 2, 32, 1))]  # Conv2D 1 k2 valid, no bias, sigmoid: 29 -> 28


def cdisc_specs():
    return [("kernel", (3, 3, 1, 32)), ("bias", (32,)),  # 28 -> 14
            ("kernel", (3, 3, 32, 64)), ("bias", (64,)),  # 14 -> 7
            ("kernel", (3, 3, 64, 96)), ("bias", (96,)),  # 7 -> 4, flattened to 4*4*96 = 1536
            ("kernel", (1, 32)), ("bias", (32,)), ("kernel", (32, 64)), ("bias", (64,)),  # label subnetwork
            ("kernel", (1536 + 64, 128)), ("bias", (128,)), ("kernel", (128, 1)), ("bias", (1,))]


def param_count(specs) -> int:
    return int(sum(np.prod(shape) for _, shape in specs))


def relu(x):
    return np.maximum(x, 0)


def gen1d_forward(weights, z):
    k1, b1, k2, b2, k3, b3 = weights
    h = relu(np.asarray(z, np.float64) @ k1 + b1)
    h = relu(h @ k2 + b2)
    return h @ k3 + b3


def disc1d_forward(weights, x):
    k1, b1, k2, b2 = weights
    return relu(np.asarray(x, np.float64) @ k1 + b1) @ k2 + b2


def build() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    out: dict[str, np.ndarray] = {}

    data_params = np.array([0.0, 1.0])
    g_params = np.array([1.5, 0.7])
    x = np.linspace(-5.0, 6.0, 2001)
    p_data, p_g = normal_pdf(x, *data_params), normal_pdf(x, *g_params)
    dstar = optimal_discriminator(p_data, p_g)
    out.update(dstar_data_params=data_params, dstar_g_params=g_params, dstar_x=x, dstar_true=dstar,
               value_dstar_true=np.array(gan_value(dstar, p_data, p_g, x)),
               value_half_true=np.array(gan_value(np.full_like(x, 0.5), p_data, p_g, x)))

    logits = np.array([-10.0, -5.0, -2.0, -0.5, 0.0, 0.5, 2.0, 5.0, 10.0])
    out.update(grad_logits=logits, grad_saturating_true=-sigmoid(logits),
               grad_nonsaturating_true=sigmoid(logits) - 1)

    d_real = rng.uniform(-4, 4, (16, 1)).astype(np.float32)
    d_fake = rng.uniform(-4, 4, (16, 1)).astype(np.float32)
    out.update(loss_d_real=d_real, loss_d_fake=d_fake, d_loss_true=np.array(d_loss(d_real, d_fake)),
               g_loss_true=np.array(g_loss(d_fake)))

    out.update(gen1d_param_count=np.array(param_count(gen1d_specs())),
               gen1d_small_param_count=np.array(param_count(gen1d_specs(5))),
               disc1d_param_count=np.array(param_count(disc1d_specs())),
               cgen_param_count=np.array(param_count(cgen_specs())),
               cgen_small_param_count=np.array(param_count(cgen_specs(16))),
               cdisc_param_count=np.array(param_count(cdisc_specs())))

    gen_seed, disc_seed = 501, 502
    gen_weights = seeded_arrays(gen1d_specs(), gen_seed)
    disc_weights = seeded_arrays(disc1d_specs(), disc_seed)
    z = rng.standard_normal((4, LATENT_DIM)).astype(np.float32)
    samples = rng.normal(0.0, 2.0, (4, 1)).astype(np.float32)
    out.update(gen1d_seed=np.array(gen_seed), gen1d_x=z, gen1d_true=gen1d_forward(gen_weights, z).astype(np.float32),
               disc1d_seed=np.array(disc_seed), disc1d_x=samples,
               disc1d_true=disc1d_forward(disc_weights, samples).astype(np.float32))

    real = rng.normal(10.0, 0.1, (8, 1)).astype(np.float32)
    noise = rng.standard_normal((8, LATENT_DIM)).astype(np.float32)
    logits_real = disc1d_forward(disc_weights, real)
    logits_fake = disc1d_forward(disc_weights, gen1d_forward(gen_weights, noise))
    out.update(step1d_real=real, step1d_noise=noise,
               step1d_d_loss_true=np.array(d_loss(logits_real, logits_fake)),
               step1d_g_loss_true=np.array(g_loss(logits_fake)))
    return out
