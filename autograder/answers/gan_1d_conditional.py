"""NumPy reference answers for assignment 5, ``gan_1d_conditional`` (GAN theory, a 1-D GAN, a conditional GAN).

NumPy only: no TensorFlow, no notebook code. ``build(seed)`` draws every input from ``np.random.default_rng(seed)``;
the grader draws each submission's inputs with ``autograder.inputs`` (a seed of its own), so copying the public
expected values earns nothing. Keys (hidden expected values, in ``HIDDEN_KEYS``, marked *):

Theory
- ``dstar_data_params`` (mean, std) of p_data and ``dstar_g_params`` (mean, std) of p_g, two normal densities;
  ``dstar_x`` (2001,) a grid; ``dstar_true`` D*(x) = p_data(x) / (p_data(x) + p_g(x)) on the grid.
- ``dstar_box_params`` (4,) (low_data, high_data, low_g, high_g) of two uniform densities with disjoint supports,
  ``dstar_box_x`` (8,) points inside, between and outside them; ``dstar_box_true``* D* there (0.5 where both are 0).
- ``value_dstar_true``: V(D*, G) = integral of p_data log D* + p_g log(1 - D*) over the grid (trapezoid rule);
  ``value_half_true``: the same integral with the constant discriminator D(x) = 0.5.
- ``value_uneven_x`` (sorted, unevenly spaced grid), ``value_uneven_d_params`` (a, b) of D(x) = sigmoid(a x + b),
  ``value_uneven_true``*: V(D, G) of the two normal densities on that grid by the trapezoid rule (a rectangle
  rule, np.mean times the range, or Simpson's rule give other values there).
- ``grad_logits`` (9,); ``grad_saturating_true``: d/dl log(1 - sigmoid(l)) = -sigmoid(l);
  ``grad_nonsaturating_true``: d/dl [-log sigmoid(l)] = sigmoid(l) - 1.
- ``grad_large_logits`` (12,) with |l| from 30 to 800; ``grad_large_saturating_true``*,
  ``grad_large_nonsaturating_true``*: the same derivatives (exp(l) / (1 + exp(l)) or the chain rule through
  log give NaN there).

Losses (binary cross-entropy on logits, averaged over the batch)
- ``loss_d_real`` (16, 1), ``loss_d_fake`` (16, 1) logits; ``d_loss_true`` = BCE(1, d_real) + BCE(0, d_fake);
  ``g_loss_true`` = BCE(1, d_fake).
- ``loss_large_real`` (6, 1), ``loss_large_fake`` (6, 1) float32 logits with |l| from 20 to 200;
  ``d_loss_large_true``*, ``g_loss_large_true``*: the same losses (log(sigmoid(l)) overflows there).

1-D GAN
- ``gen1d_param_count`` (latent 100), ``gen1d_small_param_count`` (latent 5), ``disc1d_param_count``.
- ``gen1d_seed``, ``gen1d_x`` (4, 100), ``gen1d_true`` (4, 1): generator (Dense 64 relu, Dense 64 relu, Dense 1)
  with ``set_seeded_weights(model, gen1d_seed)``; ``disc1d_seed``, ``disc1d_x`` (4, 1), ``disc1d_true`` (4, 1):
  discriminator logits (Dense 32 relu, Dense 1).
- ``gen1d_weights`` (10689,), ``disc1d_weights`` (97,): those seeded weights, flattened in ``model.weights`` order
  (inputs: the train-step checks compare the weights after a step with them).
- ``step1d_real`` (8, 1), ``step1d_noise`` (8, 100), ``step1d_d_loss_true``, ``step1d_g_loss_true``: the losses a
  train step computes (before its update) with the seeded models above.
- ``step1d_lrs`` (2,) (discriminator, generator) SGD learning rates; ``step1d_d_update_true``* (97,),
  ``step1d_g_update_true``* (10689,): the change of every weight (``model.weights`` order, flattened) after one
  train step: -lr_d * d d_loss / d theta_D and -lr_g * d g_loss / d theta_G, both gradients taken before
  either update.

Conditional GAN (Fashion-MNIST, 28x28x1, one-hot class vector input (10,))
- ``cgen_param_count`` (latent 100), ``cgen_small_param_count`` (latent 16), ``cdisc_param_count``.
- ``cgen_seed``, ``cgen_noise`` (3, 100), ``cgen_labels`` (3, 10) one-hot: inputs of the conditional generator with
  ``course.testkit.gan_1d_conditional.set_layer_weights(model, CGEN_LAYERS, cgen_seed)``; ``cgen_true``* (3, 28,
  28, 1) its output, ``cgen_label_first_true``* the output when the label features are concatenated first.
- ``cdisc_seed``, ``cdisc_images`` (3, 28, 28, 1), ``cdisc_labels`` (3, 10) one-hot; ``cdisc_true``* (3, 1) and
  ``cdisc_label_first_true``*: the conditional discriminator's logits (``CDISC_LAYERS``).
"""
from __future__ import annotations

import numpy as np

from course.checks import seeded_arrays

SEED = 5
# The grader draws each submission's inputs with autograder.inputs: the kernel gets only the inputs.
LATENT_DIM = 100
NUM_CLASSES = 10  # the conditional networks take the class as a one-hot vector

HIDDEN_KEYS = frozenset({
    "dstar_box_true", "value_uneven_true", "grad_large_saturating_true", "grad_large_nonsaturating_true",
    "d_loss_large_true", "g_loss_large_true", "step1d_d_update_true", "step1d_g_update_true",
    "cgen_true", "cgen_label_first_true", "cdisc_true", "cdisc_label_first_true",
})


# ----------------------------------------------------------------------------------------------------------
# Theory
# ----------------------------------------------------------------------------------------------------------
def normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


def box_pdf(x, low, high):
    return np.where((x >= low) & (x <= high), 1.0 / (high - low), 0.0)


def optimal_discriminator(p_data_values, p_g_values):
    total = p_data_values + p_g_values
    return np.where(total > 0, p_data_values / np.where(total > 0, total, 1.0), 0.5)


def xlogy(x, y):
    """x * log(y) with 0 * log(0) = 0."""
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def gan_value(d_values, p_data_values, p_g_values, x):
    """Trapezoid rule, written out (valid on uneven grids)."""
    integrand = xlogy(p_data_values, d_values) + xlogy(p_g_values, 1 - d_values)
    return float(np.sum((integrand[1:] + integrand[:-1]) * np.diff(x)) / 2)


def sigmoid(x):
    """Stable logistic function: never exp of a large positive number."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bce_logits_mean(targets, logits):
    """Binary cross-entropy from logits, the numerically stable form, averaged over all entries."""
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))))


def d_loss(d_real, d_fake):
    return bce_logits_mean(np.ones_like(d_real), d_real) + bce_logits_mean(np.zeros_like(d_fake), d_fake)


def g_loss(d_fake):
    return bce_logits_mean(np.ones_like(d_fake), d_fake)


# ----------------------------------------------------------------------------------------------------------
# 1-D GAN: forward passes and the gradients of one train step
# ----------------------------------------------------------------------------------------------------------
def gen1d_specs(latent_dim=LATENT_DIM):
    return [("kernel", (latent_dim, 64)), ("bias", (64,)), ("kernel", (64, 64)), ("bias", (64,)),
            ("kernel", (64, 1)), ("bias", (1,))]


def disc1d_specs():
    return [("kernel", (1, 32)), ("bias", (32,)), ("kernel", (32, 1)), ("bias", (1,))]


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


def _dense_backward(x, kernel, upstream):
    """Gradients of a Dense layer y = x @ kernel + bias: (d kernel, d bias, d x)."""
    return x.T @ upstream, upstream.sum(axis=0), upstream @ kernel.T


def disc1d_backward(weights, x, d_logits):
    """(gradients of the 4 weights, gradient with respect to x) given d loss / d logits."""
    k1, b1, k2, _ = (np.asarray(w, np.float64) for w in weights)
    pre = np.asarray(x, np.float64) @ k1 + b1
    dk2, db2, d_hidden = _dense_backward(relu(pre), k2, d_logits)
    dk1, db1, dx = _dense_backward(np.asarray(x, np.float64), k1, d_hidden * (pre > 0))
    return [dk1, db1, dk2, db2], dx


def gen1d_backward(weights, z, d_out):
    k1, b1, k2, b2, k3, _ = (np.asarray(w, np.float64) for w in weights)
    z = np.asarray(z, np.float64)
    pre1 = z @ k1 + b1
    pre2 = relu(pre1) @ k2 + b2
    dk3, db3, d_h2 = _dense_backward(relu(pre2), k3, d_out)
    dk2, db2, d_h1 = _dense_backward(relu(pre1), k2, d_h2 * (pre2 > 0))
    dk1, db1, _ = _dense_backward(z, k1, d_h1 * (pre1 > 0))
    return [dk1, db1, dk2, db2, dk3, db3]


def train_step_gradients(gen_weights, disc_weights, real, noise):
    """(d d_loss / d theta_D, d g_loss / d theta_G) at the given weights (simultaneous, before any update)."""
    fake = gen1d_forward(gen_weights, noise)
    logits_real, logits_fake = disc1d_forward(disc_weights, real), disc1d_forward(disc_weights, fake)
    n, m = len(real), len(fake)
    # d/dl softplus(-l) = sigmoid(l) - 1 (label 1); d/dl softplus(l) = sigmoid(l) (label 0)
    d_real_grads, _ = disc1d_backward(disc_weights, real, (sigmoid(logits_real) - 1) / n)
    d_fake_grads, _ = disc1d_backward(disc_weights, fake, sigmoid(logits_fake) / m)
    d_grads = [a + b for a, b in zip(d_real_grads, d_fake_grads)]
    _, d_fake_input = disc1d_backward(disc_weights, fake, (sigmoid(logits_fake) - 1) / m)
    g_grads = gen1d_backward(gen_weights, noise, d_fake_input)
    return d_grads, g_grads


def flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


# ----------------------------------------------------------------------------------------------------------
# Conditional GAN: layers (in the order the testkit seeds them) and forward passes, NHWC
# ----------------------------------------------------------------------------------------------------------
# (layer class, kernel shape, has bias), the same lists as course.testkit.gan_1d_conditional
def cgen_layers(latent_dim=LATENT_DIM):
    joined = latent_dim + 64
    return [("Dense", (NUM_CLASSES, 32), True), ("Dense", (32, 64), True),  # label subnetwork
            ("Conv2DTranspose", (5, 5, 128, joined), True),  # 128 k5 s1 valid: 1 -> 5
            ("Conv2DTranspose", (5, 5, 64, 128), True),  # 64 k5 s2 valid: 5 -> 13
            ("Conv2DTranspose", (5, 5, 32, 64), False),  # 32 k5 s2 valid, no bias: 13 -> 29
            ("Conv2D", (2, 2, 32, 1), False)]  # 1 k2 valid, no bias, sigmoid: 29 -> 28


def cdisc_layers():
    return [("Conv2D", (3, 3, 1, 32), True), ("Conv2D", (3, 3, 32, 64), True),  # 28 -> 14 -> 7
            ("Conv2D", (3, 3, 64, 96), True),  # 7 -> 4, flattened to 4*4*96 = 1536
            ("Dense", (NUM_CLASSES, 32), True), ("Dense", (32, 64), True),  # label subnetwork
            ("Dense", (1536 + 64, 128), True), ("Dense", (128, 1), True)]


def layer_specs(layers) -> list[tuple[str, tuple[int, ...]]]:
    """``(role, shape)`` of every weight: kernel, then bias (Conv2DTranspose kernels are (kh, kw, out, in))."""
    specs = []
    for kind, kernel_shape, has_bias in layers:
        specs.append(("kernel", kernel_shape))
        if has_bias:
            specs.append(("bias", (kernel_shape[-2] if kind == "Conv2DTranspose" else kernel_shape[-1],)))
    return specs


def cgen_specs(latent_dim=LATENT_DIM):
    return layer_specs(cgen_layers(latent_dim))


def cdisc_specs():
    return layer_specs(cdisc_layers())


def param_count(specs) -> int:
    return int(sum(np.prod(shape) for _, shape in specs))


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def conv2d(x, kernel, stride=1, padding="valid"):
    """Keras Conv2D (cross-correlation); ``kernel`` (kh, kw, in, out); TensorFlow's 'same' padding."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    if padding == "same":
        out_h, out_w = -(-h // stride), -(-w // stride)
        pad_h, pad_w = max((out_h - 1) * stride + kh - h, 0), max((out_w - 1) * stride + kw - w, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out_h, out_w = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((n, out_h, out_w, kernel.shape[3]))
    for a in range(kh):
        for b in range(kw):
            patch = x[:, a:a + stride * (out_h - 1) + 1:stride, b:b + stride * (out_w - 1) + 1:stride]
            out += np.einsum("nijc,co->nijo", patch, kernel[a, b])
    return out


def conv2d_transpose_valid(x, kernel, stride):
    """Keras Conv2DTranspose with padding='valid'; ``kernel`` (kh, kw, out, in); output (in - 1) * stride + k."""
    n, h, w, _ = x.shape
    kh, kw, out_channels, _ = kernel.shape
    out = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, out_channels))
    for a in range(kh):
        for b in range(kw):
            out[:, a:a + stride * (h - 1) + 1:stride, b:b + stride * (w - 1) + 1:stride] += np.einsum(
                "nijc,oc->nijo", x, kernel[a, b])
    return out


def cgen_forward(weights, noise, labels, label_first=False):
    w = [np.asarray(a, np.float64) for a in weights]
    lk1, lb1, lk2, lb2, k1, b1, k2, b2, k3, k4 = w
    label = elu(elu(np.asarray(labels, np.float64) @ lk1 + lb1) @ lk2 + lb2)
    noise = np.asarray(noise, np.float64)
    joined = np.concatenate([label, noise] if label_first else [noise, label], axis=1)
    x = joined.reshape(len(joined), 1, 1, -1)
    x = relu(conv2d_transpose_valid(x, k1, 1) + b1)
    x = relu(conv2d_transpose_valid(x, k2, 2) + b2)
    x = relu(conv2d_transpose_valid(x, k3, 2))
    return sigmoid(conv2d(x, k4))


def cdisc_forward(weights, images, labels, label_first=False):
    w = [np.asarray(a, np.float64) for a in weights]
    ck1, cb1, ck2, cb2, ck3, cb3, lk1, lb1, lk2, lb2, dk1, db1, dk2, db2 = w
    x = np.asarray(images, np.float64)
    for kernel, bias in ((ck1, cb1), (ck2, cb2), (ck3, cb3)):
        x = relu(conv2d(x, kernel, stride=2, padding="same") + bias)
    features = x.reshape(len(x), -1)
    label = elu(elu(np.asarray(labels, np.float64) @ lk1 + lb1) @ lk2 + lb2)
    joined = np.concatenate([label, features] if label_first else [features, label], axis=1)
    return relu(joined @ dk1 + db1) @ dk2 + db2


# ----------------------------------------------------------------------------------------------------------
def build(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}

    # Theory: two normal densities (N(0, 1) and N(1.5, 0.7^2) for the public seed) on a grid covering both.
    # The grid must hold (almost) all the mass, and neither density may fall below 1e-14 of their sum on it:
    # further out 1 - D* (or D*) rounds to 0 and V(D*) is -inf for every implementation.
    x = np.linspace(-5.0, 6.0, 2001)
    data_params, g_params = np.array([0.0, 1.0]), np.array([1.5, 0.7])  # the public seed's, named in the text
    while True:
        if seed != SEED:
            data_params = np.array([rng.uniform(-0.3, 0.3), rng.uniform(0.9, 1.1)])
            g_params = np.array([rng.uniform(1.2, 1.8), rng.uniform(0.6, 0.8)])
        p_data, p_g = normal_pdf(x, *data_params), normal_pdf(x, *g_params)
        if (np.minimum(p_data, p_g) / (p_data + p_g)).min() > 1e-14:
            break
        if seed == SEED:
            raise ValueError("the public densities leave the grid's range where V(D*) is finite")
    dstar = optimal_discriminator(p_data, p_g)
    out.update(dstar_data_params=data_params, dstar_g_params=g_params, dstar_x=x, dstar_true=dstar,
               value_dstar_true=np.array(gan_value(dstar, p_data, p_g, x)),
               value_half_true=np.array(gan_value(np.full_like(x, 0.5), p_data, p_g, x)))

    low = rng.uniform(-1.0, 0.0)
    box = np.array([low, low + rng.uniform(0.8, 1.5), low + 2.0, low + 2.0 + rng.uniform(0.5, 1.5)])
    box_x = np.array([box[0] - 0.5, box[0] + 0.2, (box[0] + box[1]) / 2, (box[1] + box[2]) / 2,
                      box[2] + 0.1, (box[2] + box[3]) / 2, box[3] + 0.7, box[3] + 3.0])
    out.update(dstar_box_params=box, dstar_box_x=box_x,
               dstar_box_true=optimal_discriminator(box_pdf(box_x, *box[:2]), box_pdf(box_x, *box[2:])))

    uneven = np.sort(np.concatenate([[-5.0, 6.0], rng.uniform(-5.0, 6.0, 150)]))
    d_params = np.array([rng.uniform(-2.0, -0.5), rng.uniform(0.0, 1.0)])
    d_uneven = sigmoid(d_params[0] * uneven + d_params[1])
    out.update(value_uneven_x=uneven, value_uneven_d_params=d_params,
               value_uneven_true=np.array(gan_value(d_uneven, normal_pdf(uneven, *data_params),
                                                    normal_pdf(uneven, *g_params), uneven)))

    logits = np.sort(np.concatenate([[-10.0, -5.0, 0.0, 5.0, 10.0], rng.uniform(-6.0, 6.0, 4)]))
    out.update(grad_logits=logits, grad_saturating_true=-sigmoid(logits),
               grad_nonsaturating_true=-sigmoid(-logits))
    large = np.concatenate([[-800.0, -60.0, 60.0, 800.0], rng.uniform(30.0, 750.0, 8) * np.tile([-1.0, 1.0], 4)])
    out.update(grad_large_logits=large, grad_large_saturating_true=-sigmoid(large),
               grad_large_nonsaturating_true=-sigmoid(-large))

    d_real = rng.uniform(-4, 4, (16, 1)).astype(np.float32)
    d_fake = rng.uniform(-4, 4, (16, 1)).astype(np.float32)
    out.update(loss_d_real=d_real, loss_d_fake=d_fake, d_loss_true=np.array(d_loss(d_real, d_fake)),
               g_loss_true=np.array(g_loss(d_fake)))
    signs = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0])[:, None]
    large_real = (rng.uniform(20.0, 200.0, (6, 1)) * signs).astype(np.float32)
    large_fake = (rng.uniform(20.0, 200.0, (6, 1)) * -signs).astype(np.float32)
    large_real[0, 0], large_fake[0, 0] = -150.0, 150.0  # one of each far beyond float32's sigmoid range
    out.update(loss_large_real=large_real, loss_large_fake=large_fake,
               d_loss_large_true=np.array(d_loss(large_real, large_fake)),
               g_loss_large_true=np.array(g_loss(large_fake)))

    out.update(gen1d_param_count=np.array(param_count(gen1d_specs())),
               gen1d_small_param_count=np.array(param_count(gen1d_specs(5))),
               disc1d_param_count=np.array(param_count(disc1d_specs())),
               cgen_param_count=np.array(param_count(cgen_specs())),
               cgen_small_param_count=np.array(param_count(cgen_specs(16))),
               cdisc_param_count=np.array(param_count(cdisc_specs())))

    gen_seed, disc_seed = (501, 502) if seed == SEED else (int(s) for s in rng.integers(1000, 2**31 - 1, 2))
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
    lrs = np.array([rng.uniform(0.05, 0.2), rng.uniform(0.2, 0.5)])
    d_grads, g_grads = train_step_gradients(gen_weights, disc_weights, real, noise)
    out.update(gen1d_weights=flat(gen_weights).astype(np.float64), disc1d_weights=flat(disc_weights).astype(np.float64))
    out.update(step1d_real=real, step1d_noise=noise,
               step1d_d_loss_true=np.array(d_loss(logits_real, logits_fake)),
               step1d_g_loss_true=np.array(g_loss(logits_fake)),
               step1d_lrs=lrs, step1d_d_update_true=-lrs[0] * flat(d_grads),
               step1d_g_update_true=-lrs[1] * flat(g_grads))

    cgen_seed, cdisc_seed = (int(s) for s in rng.integers(1000, 2**31 - 1, 2))
    cgen_weights = seeded_arrays(cgen_specs(), cgen_seed)
    cdisc_weights = seeded_arrays(cdisc_specs(), cdisc_seed)
    cgen_noise = rng.standard_normal((3, LATENT_DIM)).astype(np.float32)
    cgen_labels = np.eye(NUM_CLASSES, dtype=np.float32)[rng.choice(NUM_CLASSES, 3, replace=False)]
    cdisc_images = rng.uniform(0.0, 1.0, (3, 28, 28, 1)).astype(np.float32)
    cdisc_labels = np.eye(NUM_CLASSES, dtype=np.float32)[rng.choice(NUM_CLASSES, 3, replace=False)]
    out.update(cgen_seed=np.array(cgen_seed), cgen_noise=cgen_noise, cgen_labels=cgen_labels,
               cgen_true=cgen_forward(cgen_weights, cgen_noise, cgen_labels),
               cgen_label_first_true=cgen_forward(cgen_weights, cgen_noise, cgen_labels, label_first=True),
               cdisc_seed=np.array(cdisc_seed), cdisc_images=cdisc_images, cdisc_labels=cdisc_labels,
               cdisc_true=cdisc_forward(cdisc_weights, cdisc_images, cdisc_labels),
               cdisc_label_first_true=cdisc_forward(cdisc_weights, cdisc_images, cdisc_labels, label_first=True))
    return out
