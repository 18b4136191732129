"""NumPy reference answers for the ``gan_basics`` assignment (``source/gan_basics/GANs-TensorFlow.ipynb``).

Independent of the notebook: NumPy only, no TensorFlow. The facts (architectures, losses, the xy game)
follow CS231n's GAN assignment; the values are ours, drawn from ``np.random.default_rng(SEED)``.

Keys written to ``data/gan_basics.npz`` (dtypes are explicit):

- ``lrelu_x`` float32 (4, 6): input of ``leaky_relu`` (the check passes it as a float32 tensor).
- ``lrelu_y`` float64 (4, 6): ``leaky_relu(lrelu_x)`` with the default alpha 0.01.
- ``lrelu_y_alpha_0_3`` float64 (4, 6): ``leaky_relu(lrelu_x, alpha=0.3)`` (hidden check of the alpha argument).
- ``logits_real``, ``logits_fake`` float64 (8, 1): discriminator outputs the loss checks pass as float64
  tensors, so that a float64 loss can be checked to 1e-8.
- ``d_loss_true``, ``g_loss_true`` float64 (): binary cross-entropy GAN losses (mean over the batch,
  non-saturating generator loss) of those logits.
- ``d_loss_lsgan_true``, ``g_loss_lsgan_true`` float64 (): least-squares GAN losses of the same numbers
  used as scores.
- ``discriminator_x`` float32 (4, 784), ``discriminator_seed`` int64 (), ``discriminator_true`` float64 (4, 1):
  input, weight seed (``course.checks.set_seeded_weights``) and output of the fully connected discriminator.
- ``generator_x`` float32 (4, 4), ``generator_seed``, ``generator_true`` float64 (4, 784): the same for the
  fully connected generator built with ``noise_dim=4``.
- ``dc_discriminator_x`` float32 (3, 784), ``dc_discriminator_seed``, ``dc_discriminator_true`` float64 (3, 1):
  the convolutional discriminator.
- ``dc_generator_x`` float32 (3, 4), ``dc_generator_seed``, ``dc_generator_true`` float64 (3, 784): the
  InfoGAN-style generator with ``noise_dim=4``, BatchNorm in inference mode (moving statistics, epsilon 1e-3).
- ``xy_table_true`` float64 (7, 2): rows ``(x_t, y_t)``, t = 0..6, of alternating gradient steps on
  f(x, y) = x*y from (1, 1) with step size 1 (y ascends first, then x descends using the new y).
- ``xy_table_half_true`` float64 (5, 2): the same game, 4 steps of size 0.5 (hidden check).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course.checks import seeded_arrays

SEED = 231
# Grading draws every input afresh (autograder/hidden/gan_basics.grading.npz): the kernel gets only the inputs.
GRADING_SEED = 90231

BN_EPSILON = 1e-3  # Keras BatchNormalization default


# ----------------------------------------------------------------------------------------------------------
# Activations and losses
# ----------------------------------------------------------------------------------------------------------
def leaky_relu(x, alpha=0.01):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * x)


def softplus(x):
    """log(1 + exp(x)), stable for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def bce_discriminator_loss(logits_real, logits_fake):
    """mean(-log sigmoid(real)) + mean(-log(1 - sigmoid(fake)))."""
    return np.mean(softplus(-logits_real)) + np.mean(softplus(logits_fake))


def bce_generator_loss(logits_fake):
    """Non-saturating: mean(-log sigmoid(fake))."""
    return np.mean(softplus(-logits_fake))


def ls_discriminator_loss(scores_real, scores_fake):
    return 0.5 * np.mean((scores_real - 1.0) ** 2) + 0.5 * np.mean(scores_fake**2)


def ls_generator_loss(scores_fake):
    return 0.5 * np.mean((scores_fake - 1.0) ** 2)


# ----------------------------------------------------------------------------------------------------------
# Layers (NHWC, Keras weight layouts)
# ----------------------------------------------------------------------------------------------------------
def dense(x, kernel, bias):
    return x @ kernel.astype(np.float64) + bias.astype(np.float64)


def relu(x):
    return np.maximum(x, 0.0)


def batchnorm_inference(x, gamma, beta, moving_mean, moving_variance, epsilon=BN_EPSILON):
    scale = gamma.astype(np.float64) / np.sqrt(moving_variance.astype(np.float64) + epsilon)
    return (x - moving_mean.astype(np.float64)) * scale + beta.astype(np.float64)


def conv2d_valid(x, kernel, bias):
    """Stride-1 'valid' cross-correlation; ``kernel`` is (kh, kw, in, out) like Keras Conv2D."""
    kh, kw = kernel.shape[:2]
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, H', W', C, kh, kw)
    return np.einsum("nijcab,abco->nijo", windows, kernel.astype(np.float64)) + bias.astype(np.float64)


def max_pool_2x2(x):
    n, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def conv2d_transpose_same(x, kernel, bias, stride=2):
    """Keras Conv2DTranspose with padding='same'; ``kernel`` is (kh, kw, out, in).

    Each input pixel (i, j) adds ``x[i, j] @ kernel[a, b].T`` at output (stride*i + a - pad, stride*j + b - pad),
    where pad = (kh - stride) // 2 is the top/left padding TensorFlow uses for 'same' (output = stride * input).
    """
    n, h, w, _ = x.shape
    kh, kw, out_channels, _ = kernel.shape
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, out_channels))
    kernel = kernel.astype(np.float64)
    for a in range(kh):
        for b in range(kw):
            contribution = np.einsum("nijc,oc->nijo", x, kernel[a, b])
            full[:, a : a + stride * (h - 1) + 1 : stride, b : b + stride * (w - 1) + 1 : stride] += contribution
    pad_top = (kh - stride) // 2
    pad_left = (kw - stride) // 2
    out = full[:, pad_top : pad_top + stride * h, pad_left : pad_left + stride * w]
    return out + bias.astype(np.float64)


# ----------------------------------------------------------------------------------------------------------
# Models: weight specs in Keras ``model.weights`` order, and the forward passes
# ----------------------------------------------------------------------------------------------------------
def dense_specs(fan_in, units):
    return [("kernel", (fan_in, units)), ("bias", (units,))]


def bn_specs(channels):
    return [(role, (channels,)) for role in ("gamma", "beta", "moving_mean", "moving_variance")]


def discriminator_specs():
    return dense_specs(784, 256) + dense_specs(256, 256) + dense_specs(256, 1)


def discriminator_forward(x, weights):
    k1, b1, k2, b2, k3, b3 = weights
    h = leaky_relu(dense(x, k1, b1), 0.01)
    h = leaky_relu(dense(h, k2, b2), 0.01)
    return dense(h, k3, b3)


def generator_specs(noise_dim):
    return dense_specs(noise_dim, 1024) + dense_specs(1024, 1024) + dense_specs(1024, 784)


def generator_forward(z, weights):
    k1, b1, k2, b2, k3, b3 = weights
    h = relu(dense(z, k1, b1))
    h = relu(dense(h, k2, b2))
    return np.tanh(dense(h, k3, b3))


def dc_discriminator_specs():
    return (
        [("kernel", (5, 5, 1, 32)), ("bias", (32,))]
        + [("kernel", (5, 5, 32, 64)), ("bias", (64,))]
        + dense_specs(4 * 4 * 64, 4 * 4 * 64)
        + dense_specs(4 * 4 * 64, 1)
    )


def dc_discriminator_forward(x, weights):
    k1, b1, k2, b2, k3, b3, k4, b4 = weights
    h = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28, 1)
    h = max_pool_2x2(leaky_relu(conv2d_valid(h, k1, b1), 0.01))  # (N, 12, 12, 32)
    h = max_pool_2x2(leaky_relu(conv2d_valid(h, k2, b2), 0.01))  # (N, 4, 4, 64)
    h = h.reshape(h.shape[0], -1)
    h = leaky_relu(dense(h, k3, b3), 0.01)
    return dense(h, k4, b4)


def dc_generator_specs(noise_dim):
    return (
        dense_specs(noise_dim, 1024)
        + bn_specs(1024)
        + dense_specs(1024, 7 * 7 * 128)
        + bn_specs(7 * 7 * 128)
        + [("kernel", (4, 4, 64, 128)), ("bias", (64,))]
        + bn_specs(64)
        + [("kernel", (4, 4, 1, 64)), ("bias", (1,))]
    )


def dc_generator_forward(z, weights):
    k1, b1, bn1, k2, b2 = weights[0], weights[1], weights[2:6], weights[6], weights[7]
    bn2, (k3, b3), bn3, (k4, b4) = weights[8:12], weights[12:14], weights[14:18], weights[18:20]
    h = batchnorm_inference(relu(dense(np.asarray(z, dtype=np.float64), k1, b1)), *bn1)
    h = batchnorm_inference(relu(dense(h, k2, b2)), *bn2)
    h = h.reshape(-1, 7, 7, 128)
    h = batchnorm_inference(relu(conv2d_transpose_same(h, k3, b3)), *bn3)  # (N, 14, 14, 64)
    h = np.tanh(conv2d_transpose_same(h, k4, b4))  # (N, 28, 28, 1)
    return h.reshape(h.shape[0], 784)


# ----------------------------------------------------------------------------------------------------------
# The xy game of inline question 1
# ----------------------------------------------------------------------------------------------------------
def xy_alternating_steps(num_steps=6, step_size=1.0, start=(1.0, 1.0)):
    """Rows (x_t, y_t): y_{t+1} = y_t + step * x_t (ascent on xy), then x_{t+1} = x_t - step * y_{t+1}."""
    x, y = float(start[0]), float(start[1])
    rows = [(x, y)]
    for _ in range(num_steps):
        y = y + step_size * x
        x = x - step_size * y
        rows.append((x, y))
    return np.array(rows, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------
def _model_case(rng, name, specs, forward, x_shape):
    x = rng.uniform(-1.0, 1.0, size=x_shape).astype(np.float32)
    seed = int(rng.integers(0, 2**31 - 1))
    out = forward(x, seeded_arrays(specs, seed))
    return {f"{name}_x": x, f"{name}_seed": np.int64(seed), f"{name}_true": out.astype(np.float64)}


def build(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    answers: dict[str, np.ndarray] = {}

    lrelu_x = rng.normal(0.0, 1.0, size=(4, 6)).astype(np.float32)
    answers["lrelu_x"] = lrelu_x
    answers["lrelu_y"] = leaky_relu(lrelu_x, 0.01)
    answers["lrelu_y_alpha_0_3"] = leaky_relu(lrelu_x, 0.3)

    logits_real = rng.normal(0.5, 1.5, size=(8, 1))
    logits_fake = rng.normal(-0.5, 1.5, size=(8, 1))
    answers["logits_real"] = logits_real
    answers["logits_fake"] = logits_fake
    answers["d_loss_true"] = np.float64(bce_discriminator_loss(logits_real, logits_fake))
    answers["g_loss_true"] = np.float64(bce_generator_loss(logits_fake))
    answers["d_loss_lsgan_true"] = np.float64(ls_discriminator_loss(logits_real, logits_fake))
    answers["g_loss_lsgan_true"] = np.float64(ls_generator_loss(logits_fake))

    answers.update(_model_case(rng, "discriminator", discriminator_specs(), discriminator_forward, (4, 784)))
    answers.update(_model_case(rng, "generator", generator_specs(4), generator_forward, (4, 4)))
    answers.update(
        _model_case(rng, "dc_discriminator", dc_discriminator_specs(), dc_discriminator_forward, (3, 784))
    )
    answers.update(_model_case(rng, "dc_generator", dc_generator_specs(4), dc_generator_forward, (3, 4)))

    answers["xy_table_true"] = xy_alternating_steps(6, 1.0)
    answers["xy_table_half_true"] = xy_alternating_steps(4, 0.5)
    return answers
