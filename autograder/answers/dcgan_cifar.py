"""NumPy reference answers for assignment 4, ``dcgan_cifar`` (a DCGAN on one CIFAR-10 class).

NumPy only: no TensorFlow, no notebook code. Keys written to ``data/dcgan_cifar.npz``:

- ``generator_param_count``: parameters of ``build_generator()`` (latent 32, 32x32x3 images).
- ``generator_small_param_count``: parameters of ``build_generator(latent_dim=8, height=8, width=8, channels=3)``.
- ``discriminator_param_count``: parameters of ``build_discriminator()`` (32x32x3 images).
- ``discriminator_gray_param_count``: parameters of ``build_discriminator(height=32, width=32, channels=1)``.
- ``generator_seed``, ``generator_x`` (2, 8), ``generator_true`` (2, 8, 8, 3): output of the small generator
  (latent 8, 8x8x3) with ``set_seeded_weights(model, generator_seed)`` on input ``generator_x``.
- ``discriminator_seed``, ``discriminator_x`` (2, 32, 32, 3), ``discriminator_true`` (2, 1): output of the
  default discriminator with seeded weights, ``training=False`` (dropout off).
- Training-step checks use two tiny stand-in models that the test cell builds itself:
  generator ``Input(4) -> Dense(8*8*3, tanh) -> Reshape(8, 8, 3)`` (seed ``step_g_seed``) and discriminator
  ``Input(8, 8, 3) -> Flatten -> Dense(1, sigmoid)`` (seed ``step_d_seed``).
  ``step_real`` (4, 8, 8, 3), ``step_z_d`` (4, 4), ``step_labels`` (8, 1): inputs of ``discriminator_step``;
  ``step_d_loss_true``: its loss (mean binary cross-entropy of the labels against the discriminator's
  probabilities on ``concat([generator(step_z_d), step_real])``), computed before the update.
  ``step_z_g`` (4, 4), ``step_targets`` (4, 1): inputs of ``generator_step``; ``step_g_loss_true``: its loss.
"""
from __future__ import annotations

import numpy as np

from course.checks import seeded_arrays

SEED = 4
LEAKY_SLOPE = 0.3  # Keras' LeakyReLU default, which the seed relied on


def leaky_relu(x, slope=LEAKY_SLOPE):
    return np.where(x >= 0, x, slope * x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (the extra pixel goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias, stride=1, padding="valid"):
    """Cross-correlation as Keras' Conv2D (NHWC input, kernel (kh, kw, cin, cout))."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw, cin, cout = kernel.shape
    if padding == "same":
        top, bottom = _same_padding(x.shape[1], kh, stride)
        left, right = _same_padding(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (n, h, w, cin, kh, kw)
    windows = windows[:, ::stride, ::stride]
    n, h, w = windows.shape[:3]
    columns = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * cin)
    out = columns @ kernel.reshape(kh * kw * cin, cout).astype(np.float64)
    return out.reshape(n, h, w, cout) + bias


def conv2d_transpose(x, kernel, bias, stride=2, padding="same"):
    """Keras' Conv2DTranspose (kernel (kh, kw, cout, cin)): scatter each input pixel, then crop."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw, cout, _ = kernel.shape
    n, h, w, _ = x.shape
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, cout))
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + (h - 1) * stride + 1:stride, j:j + (w - 1) * stride + 1:stride, :] += (
                x @ kernel[i, j].T.astype(np.float64)
            )
    if padding == "same":
        top = (kh - stride) // 2
        left = (kw - stride) // 2
        full = full[:, top:top + h * stride, left:left + w * stride, :]
    return full + bias


def generator_specs(latent_dim=32, height=32, width=32, channels=3):
    dense_units = 128 * (height // 2) * (width // 2)
    return [
        ("kernel", (latent_dim, dense_units)), ("bias", (dense_units,)),
        ("kernel", (5, 5, 128, 256)), ("bias", (256,)),
        ("kernel", (4, 4, 256, 256)), ("bias", (256,)),  # Conv2DTranspose: (kh, kw, out, in)
        ("kernel", (5, 5, 256, 256)), ("bias", (256,)),
        ("kernel", (5, 5, 256, 256)), ("bias", (256,)),
        ("kernel", (7, 7, 256, channels)), ("bias", (channels,)),
    ]


def discriminator_specs(height=32, width=32, channels=3):
    size_h, size_w = height - 2, width - 2  # Conv2D k3, valid
    for _ in range(3):  # Conv2D k4 s2, valid
        size_h, size_w = (size_h - 4) // 2 + 1, (size_w - 4) // 2 + 1
    flat = size_h * size_w * 128
    return [
        ("kernel", (3, 3, channels, 128)), ("bias", (128,)),
        ("kernel", (4, 4, 128, 128)), ("bias", (128,)),
        ("kernel", (4, 4, 128, 128)), ("bias", (128,)),
        ("kernel", (4, 4, 128, 128)), ("bias", (128,)),
        ("kernel", (flat, 1)), ("bias", (1,)),
    ]


def param_count(specs) -> int:
    return int(sum(np.prod(shape) for _, shape in specs))


def generator_forward(weights, z, height, width):
    k1, b1, k2, b2, k3, b3, k4, b4, k5, b5, k6, b6 = weights
    x = leaky_relu(np.asarray(z, np.float64) @ k1 + b1)
    x = x.reshape(len(z), height // 2, width // 2, 128)
    x = leaky_relu(conv2d(x, k2, b2, padding="same"))
    x = leaky_relu(conv2d_transpose(x, k3, b3, stride=2, padding="same"))
    x = leaky_relu(conv2d(x, k4, b4, padding="same"))
    x = leaky_relu(conv2d(x, k5, b5, padding="same"))
    return np.tanh(conv2d(x, k6, b6, padding="same"))


def discriminator_forward(weights, images):
    k1, b1, k2, b2, k3, b3, k4, b4, k5, b5 = weights
    x = leaky_relu(conv2d(images, k1, b1))
    for kernel, bias in ((k2, b2), (k3, b3), (k4, b4)):
        x = leaky_relu(conv2d(x, kernel, bias, stride=2))
    x = x.reshape(len(x), -1)  # Flatten (row-major, as Keras); Dropout is off at inference
    return sigmoid(x @ k5 + b5)


def bce_mean(targets, probabilities, eps=1e-7):
    """Keras' binary cross-entropy on probabilities (clipped to [eps, 1 - eps]), averaged over the batch."""
    p = np.clip(probabilities, eps, 1 - eps)
    return float(np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p))))


def build() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    out: dict[str, np.ndarray] = {
        "generator_param_count": np.array(param_count(generator_specs())),
        "generator_small_param_count": np.array(param_count(generator_specs(8, 8, 8, 3))),
        "discriminator_param_count": np.array(param_count(discriminator_specs())),
        "discriminator_gray_param_count": np.array(param_count(discriminator_specs(32, 32, 1))),
    }

    generator_seed = 401
    z = rng.standard_normal((2, 8)).astype(np.float32)
    weights = seeded_arrays(generator_specs(8, 8, 8, 3), generator_seed)
    out.update(generator_seed=np.array(generator_seed), generator_x=z,
               generator_true=generator_forward(weights, z, 8, 8).astype(np.float32))

    discriminator_seed = 402
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    weights = seeded_arrays(discriminator_specs(), discriminator_seed)
    out.update(discriminator_seed=np.array(discriminator_seed), discriminator_x=images,
               discriminator_true=discriminator_forward(weights, images).astype(np.float32))

    # Training steps on tiny stand-in models (built by the test cell with the same seeds).
    g_seed, d_seed = 403, 404
    g_kernel, g_bias = seeded_arrays([("kernel", (4, 8 * 8 * 3)), ("bias", (8 * 8 * 3,))], g_seed)
    d_kernel, d_bias = seeded_arrays([("kernel", (8 * 8 * 3, 1)), ("bias", (1,))], d_seed)

    def tiny_generator(latents):
        return np.tanh(latents.astype(np.float64) @ g_kernel + g_bias).reshape(len(latents), 8, 8, 3)

    def tiny_discriminator(batch):
        return sigmoid(batch.reshape(len(batch), -1).astype(np.float64) @ d_kernel + d_bias)

    real = rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    z_d = rng.standard_normal((4, 4)).astype(np.float32)
    labels = np.concatenate([1 - 0.05 * rng.random((4, 1)), 0.05 * rng.random((4, 1))]).astype(np.float32)
    combined = np.concatenate([tiny_generator(z_d), real])
    d_loss = bce_mean(labels, tiny_discriminator(combined))
    z_g = rng.standard_normal((4, 4)).astype(np.float32)
    targets = np.zeros((4, 1), np.float32)
    g_loss = bce_mean(targets, tiny_discriminator(tiny_generator(z_g)))
    out.update(step_g_seed=np.array(g_seed), step_d_seed=np.array(d_seed), step_real=real, step_z_d=z_d,
               step_labels=labels, step_d_loss_true=np.array(d_loss, np.float32), step_z_g=z_g,
               step_targets=targets, step_g_loss_true=np.array(g_loss, np.float32))
    return out
