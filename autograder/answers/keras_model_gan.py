"""NumPy reference answers for assignment 2, ``keras_model_gan`` (a GAN as a subclassed ``keras.Model``).

NumPy only: forward passes with the shared seeded weights (``course.checks.seeded_arrays``), and one full
GAN training step (discriminator phase, then generator phase) with hand-written backpropagation, Adam and
RMSprop, matching Keras 3's update formulas.

Keys written to ``data/keras_model_gan.npz``:

- ``param_counts``: int64 (8,), parameter counts in the order of ``PARAM_COUNT_NAMES``
  (dense/conv generator and discriminator, unconditional and with 10 classes, latent_dim 100, 28x28x1).
- Forward passes with seeded weights, for ``<m>`` in ``dense_generator``, ``cond_dense_generator``,
  ``conv_generator``, ``cond_conv_generator``, ``dense_discriminator``, ``cond_dense_discriminator``,
  ``conv_discriminator``, ``cond_conv_discriminator``:
  ``<m>_seed`` (int64 scalar, the seed given to ``set_seeded_weights``), ``<m>_x`` (input: noise (4, 100)
  or images (4, 28, 28, 1)), ``<m>_c`` (one-hot class vectors (4, 10), conditional models only),
  ``<m>_true`` (output: images (4, 28, 28, 1) or logits (4, 1)).
- One ``GAN.train_step`` on the tiny models of the check cell (generator 4 -> Dense 8 -> LeakyReLU(0.2) ->
  Dense 12 tanh -> Reshape (2, 2, 3); discriminator Flatten -> Dense 8 -> LeakyReLU(0.2) -> Dense 1 logit),
  discriminator Adam(0.01, beta_1=0.5), generator RMSprop(0.01), both losses binary cross-entropy on logits,
  the same noise in both phases:
  ``step_g_seed``, ``step_d_seed`` (int64 scalars), ``step_real`` (6, 2, 2, 3), ``step_noise`` (6, 4),
  ``step_d_loss``, ``step_g_loss``, ``step_d_accuracy`` (float64 scalars: discriminator loss with the initial
  weights, generator loss with the updated discriminator, discriminator accuracy on the 12 images of phase
  1 with logit > 0 meaning "real"), ``step_d_weights_<i>`` and ``step_g_weights_<i>`` (every weight after the
  step, in ``model.weights`` order: i = 0..3).
- ``metric_logits`` (float32 (9,)), ``metric_labels`` (float32 (9,)), ``metric_splits`` (int64 (3,), sizes of
  the three ``update_state`` batches), ``metric_results`` (float64 (3,), epoch accuracy after each update).
"""
from __future__ import annotations

import numpy as np

from course.checks import seeded_arrays

SEED = 2
LATENT_DIM = 100
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
PARAM_COUNT_NAMES = (
    "dense_generator", "cond_dense_generator", "conv_generator", "cond_conv_generator",
    "dense_discriminator", "cond_dense_discriminator", "conv_discriminator", "cond_conv_discriminator",
)
ADAM = dict(learning_rate=0.01, beta_1=0.5, beta_2=0.999, epsilon=1e-7)
RMSPROP = dict(learning_rate=0.01, rho=0.9, epsilon=1e-7)


# ------------------------------------------------------------------------------------------------- layers
def leaky_relu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def conv2d_same(x, kernel, bias, stride):
    """Keras Conv2D, padding 'same': x (N, H, W, C), kernel (kh, kw, C, F)."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    oh, ow = -(-h // stride), -(-w // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((n, oh, ow, f))
    for a in range(kh):
        for b in range(kw):
            out += xp[:, a:a + stride * oh:stride, b:b + stride * ow:stride, :] @ kernel[a, b]
    return out + bias


def conv2d_transpose_same(x, kernel, bias, stride):
    """Keras Conv2DTranspose, padding 'same': x (N, H, W, C), kernel (kh, kw, F, C); output (N, sH, sW, F).

    The adjoint of a 'same' Conv2D from the (sH, sW) output to the (H, W) input.
    """
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    oh, ow = h * stride, w * stride
    ph, pw = max((h - 1) * stride + kh - oh, 0), max((w - 1) * stride + kw - ow, 0)
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, f))
    for a in range(kh):
        for b in range(kw):
            full[:, a:a + stride * h:stride, b:b + stride * w:stride, :] += x @ kernel[a, b].T
    return full[:, ph // 2:ph // 2 + oh, pw // 2:pw // 2 + ow, :] + bias


# ------------------------------------------------------------------------------------------------- models
def generator_specs(kind, num_classes=None, latent_dim=LATENT_DIM):
    n_in = latent_dim + (num_classes or 0)
    if kind == "dense":
        sizes = [(n_in, 256), (256, 512), (512, 784)]
        return [spec for a, b in sizes for spec in (("kernel", (a, b)), ("bias", (b,)))]
    return [("kernel", (n_in, 7 * 7 * 128)), ("bias", (7 * 7 * 128,)),
            ("kernel", (4, 4, 64, 128)), ("bias", (64,)),
            ("kernel", (4, 4, 32, 64)), ("bias", (32,)),
            ("kernel", (7, 7, 32, 1)), ("bias", (1,))]


def discriminator_specs(kind, num_classes=None):
    extra = num_classes or 0
    if kind == "dense":
        sizes = [(784 + extra, 512), (512, 256), (256, 1)]
        return [spec for a, b in sizes for spec in (("kernel", (a, b)), ("bias", (b,)))]
    return [("kernel", (3, 3, 1 + extra, 64)), ("bias", (64,)),
            ("kernel", (3, 3, 64, 128)), ("bias", (128,)),
            ("kernel", (128, 1)), ("bias", (1,))]


def generator_forward(kind, weights, noise, class_vectors=None):
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    x = noise if class_vectors is None else np.concatenate([noise, class_vectors], axis=1)
    if kind == "dense":
        x = leaky_relu(x @ w[0] + w[1])
        x = leaky_relu(x @ w[2] + w[3])
        return np.tanh(x @ w[4] + w[5]).reshape(-1, *IMAGE_SHAPE)
    x = leaky_relu(x @ w[0] + w[1]).reshape(-1, 7, 7, 128)
    x = leaky_relu(conv2d_transpose_same(x, w[2], w[3], 2))
    x = leaky_relu(conv2d_transpose_same(x, w[4], w[5], 2))
    return np.tanh(conv2d_same(x, w[6], w[7], 1))


def discriminator_forward(kind, weights, images, class_vectors=None):
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    if kind == "dense":
        x = images.reshape(len(images), -1)
        if class_vectors is not None:
            x = np.concatenate([x, class_vectors], axis=1)
        x = leaky_relu(x @ w[0] + w[1])
        x = leaky_relu(x @ w[2] + w[3])
        return x @ w[4] + w[5]
    x = images
    if class_vectors is not None:
        maps = np.broadcast_to(class_vectors[:, None, None, :], (len(images), 28, 28, class_vectors.shape[1]))
        x = np.concatenate([images, maps], axis=3)
    x = leaky_relu(conv2d_same(x, w[0], w[1], 2))
    x = leaky_relu(conv2d_same(x, w[2], w[3], 2))
    return x.max(axis=(1, 2)) @ w[4] + w[5]


def count(specs):
    return int(sum(np.prod(shape) for _, shape in specs))


# ----------------------------------------------------------------------------------- one GAN train step
def bce_logits(labels, logits):
    """Mean binary cross-entropy on logits and its gradient with respect to the logits."""
    loss = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    grad = (1.0 / (1.0 + np.exp(-logits)) - labels) / logits.size
    return float(loss.mean()), grad


def tiny_g_forward(w, z):
    h_pre = z @ w[0] + w[1]
    h = leaky_relu(h_pre)
    out = np.tanh(h @ w[2] + w[3])
    return out, (z, h_pre, h, out)


def tiny_g_backward(w, cache, d_out):
    z, h_pre, h, out = cache
    d_pre2 = d_out * (1 - out ** 2)
    d_h = d_pre2 @ w[2].T
    d_pre1 = d_h * np.where(h_pre >= 0, 1.0, 0.2)
    return [z.T @ d_pre1, d_pre1.sum(0), h.T @ d_pre2, d_pre2.sum(0)]


def tiny_d_forward(w, x):
    h_pre = x @ w[0] + w[1]
    h = leaky_relu(h_pre)
    return h @ w[2] + w[3], (x, h_pre, h)


def tiny_d_backward(w, cache, d_logits):
    """Gradients of the weights and of the input."""
    x, h_pre, h = cache
    d_h = d_logits @ w[2].T
    d_pre = d_h * np.where(h_pre >= 0, 1.0, 0.2)
    return [x.T @ d_pre, d_pre.sum(0), h.T @ d_logits, d_logits.sum(0)], d_pre @ w[0].T


def adam_first_step(weights, grads, learning_rate, beta_1, beta_2, epsilon):
    alpha = learning_rate * np.sqrt(1 - beta_2) / (1 - beta_1)
    return [w - alpha * ((1 - beta_1) * g) / (np.sqrt((1 - beta_2) * g ** 2) + epsilon)
            for w, g in zip(weights, grads)]


def rmsprop_first_step(weights, grads, learning_rate, rho, epsilon):
    return [w - learning_rate * g / np.sqrt((1 - rho) * g ** 2 + epsilon) for w, g in zip(weights, grads)]


def train_step_reference(g_weights, d_weights, real, noise):
    g_w = [np.asarray(a, np.float64) for a in g_weights]
    d_w = [np.asarray(a, np.float64) for a in d_weights]
    batch = len(real)
    fake, _ = tiny_g_forward(g_w, noise)
    images = np.concatenate([fake, real.reshape(batch, -1)], axis=0)
    labels = np.concatenate([np.zeros((batch, 1)), np.ones((batch, 1))], axis=0)
    logits, d_cache = tiny_d_forward(d_w, images)
    d_loss, d_logit_grad = bce_logits(labels, logits)
    accuracy = float(np.mean((logits > 0) == (labels > 0.5)))
    d_grads, _ = tiny_d_backward(d_w, d_cache, d_logit_grad)
    d_new = adam_first_step(d_w, d_grads, **ADAM)

    fake, g_cache = tiny_g_forward(g_w, noise)
    fake_logits, d_cache = tiny_d_forward(d_new, fake)
    g_loss, g_logit_grad = bce_logits(np.ones((batch, 1)), fake_logits)
    _, d_fake = tiny_d_backward(d_new, d_cache, g_logit_grad)
    g_new = rmsprop_first_step(g_w, tiny_g_backward(g_w, g_cache, d_fake), **RMSPROP)
    return d_loss, g_loss, accuracy, d_new, g_new


TINY_G_SPECS = [("kernel", (4, 8)), ("bias", (8,)), ("kernel", (8, 12)), ("bias", (12,))]
TINY_D_SPECS = [("kernel", (12, 8)), ("bias", (8,)), ("kernel", (8, 1)), ("bias", (1,))]


# ------------------------------------------------------------------------------------------------- build
def build() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    answers: dict[str, np.ndarray] = {}
    counts = []
    for name in PARAM_COUNT_NAMES:
        cond = NUM_CLASSES if name.startswith("cond_") else None
        kind = "dense" if "dense" in name else "conv"
        specs = generator_specs(kind, cond) if name.endswith("generator") else discriminator_specs(kind, cond)
        counts.append(count(specs))
    answers["param_counts"] = np.array(counts, dtype=np.int64)

    for seed, name in enumerate(PARAM_COUNT_NAMES, start=101):
        cond = NUM_CLASSES if name.startswith("cond_") else None
        kind = "dense" if "dense" in name else "conv"
        answers[f"{name}_seed"] = np.int64(seed)
        c = None
        if cond:
            c = np.eye(NUM_CLASSES, dtype=np.float32)[rng.permutation(NUM_CLASSES)[:4]]
        if name.endswith("generator"):
            x = rng.normal(size=(4, LATENT_DIM)).astype(np.float32)
            out = generator_forward(kind, seeded_arrays(generator_specs(kind, cond), seed), x, c)
        else:
            x = rng.uniform(-1, 1, size=(4, *IMAGE_SHAPE)).astype(np.float32)
            out = discriminator_forward(kind, seeded_arrays(discriminator_specs(kind, cond), seed), x, c)
        answers[f"{name}_x"] = x
        if cond:
            answers[f"{name}_c"] = c
        answers[f"{name}_true"] = out.astype(np.float64)

    answers["step_g_seed"], answers["step_d_seed"] = np.int64(11), np.int64(12)
    real = rng.uniform(-1, 1, size=(6, 2, 2, 3)).astype(np.float32)
    noise = rng.normal(size=(6, 4)).astype(np.float32)
    d_loss, g_loss, accuracy, d_new, g_new = train_step_reference(
        seeded_arrays(TINY_G_SPECS, 11), seeded_arrays(TINY_D_SPECS, 12), real, noise)
    answers.update(step_real=real, step_noise=noise, step_d_loss=np.float64(d_loss),
                   step_g_loss=np.float64(g_loss), step_d_accuracy=np.float64(accuracy))
    for i, (d, g) in enumerate(zip(d_new, g_new)):
        answers[f"step_d_weights_{i}"] = d
        answers[f"step_g_weights_{i}"] = g

    logits = np.array([2.0, -1.0, -0.5, 0.3, -2.0, 0.7, 0.2, -0.1, 1.5], dtype=np.float32)
    labels = np.array([1, 0, 1, 0, 0, 1, 1, 1, 0], dtype=np.float32)
    splits = np.array([3, 2, 4], dtype=np.int64)
    hits = (logits > 0) == (labels > 0.5)
    answers.update(metric_logits=logits, metric_labels=labels, metric_splits=splits,
                   metric_results=np.array([hits[:end].mean() for end in np.cumsum(splits)], dtype=np.float64))
    return answers
