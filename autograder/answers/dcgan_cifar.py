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

Hidden keys (``HIDDEN_KEYS``; the judge alone reads them) of the behaviour checks:

- ``discriminator_dropout_unit`` (input): the flattened feature of ``discriminator_x[0]`` with the largest
  magnitude. The check sets seeded weights, replaces the Dense kernel by the one-hot vector of that unit and runs
  32 copies of the image with ``training=True``; ``discriminator_dropout_weight`` (input): the one-hot entry w;
  ``discriminator_dropout_levels_true`` (2,): the only two probabilities Dropout(0.4) right before the Dense
  layer allows, ``sigmoid(b)`` (unit dropped) and ``sigmoid(b + w h / 0.6)`` (kept, scaled by 1 / (1 - 0.4)).
- ``optimizer_x0`` (6,), ``optimizer_grads`` (2, 6), ``optimizer_iterations`` (): two updates of a variable by
  each optimizer after setting ``iterations``; ``optimizer_d_true``, ``optimizer_g_true`` (2, 6): the variable
  after each update (RMSprop rho 0.9, epsilon 1e-7, gradients clipped to [-1, 1], learning rate
  ``rate / (1 + 1e-8 * iterations)``).
- ``step_sgd_rate`` (input): SGD learning rate of the gradient checks (plain tiny models).
  ``step_d_sgd_true`` (193,): discriminator kernel and bias (flattened, concatenated) after one
  ``discriminator_step`` with SGD; ``step_d_sgd_delta_true``: their change. ``step_g_sgd_true`` (960,),
  ``step_g_sgd_delta_true``: the generator's kernel and bias after one ``generator_step``.
- ``step_d_loss_training_true``, ``step_g_loss_training_true``: the two losses when the tiny discriminator has
  the testkit's training-mode marker (``course.testkit.dcgan_cifar.TrainingMask``: in training mode it keeps the
  even-numbered features doubled and zeroes the odd ones, like a fixed dropout mask), i.e. with the
  discriminator run in training mode.
"""
from __future__ import annotations

import numpy as np

from course.checks import seeded_arrays

SEED = 4
# The grader draws each submission's inputs with autograder.inputs: the kernel gets only the inputs.
HIDDEN_KEYS = frozenset({
    "generator_true", "discriminator_true", "discriminator_dropout_levels_true", "optimizer_d_true",
    "optimizer_g_true", "step_d_sgd_true", "step_d_sgd_delta_true", "step_g_sgd_true", "step_g_sgd_delta_true",
    "step_d_loss_training_true", "step_g_loss_training_true",
})
RMSPROP_RHO, RMSPROP_EPSILON = 0.9, 1e-7  # Keras defaults (Keras 2 and 3 agree)
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


def discriminator_features(weights, images):
    """The flattened features the Dense layer (and the Dropout before it) sees."""
    k1, b1, k2, b2, k3, b3, k4, b4 = weights[:8]
    x = leaky_relu(conv2d(images, k1, b1))
    for kernel, bias in ((k2, b2), (k3, b3), (k4, b4)):
        x = leaky_relu(conv2d(x, kernel, bias, stride=2))
    return x.reshape(len(x), -1)


def rmsprop_trajectory(x0, grads, rate, iterations, clipvalue=1.0, decay=1e-8):
    """The variable after each RMSprop update (Keras 3: v = rho v + (1 - rho) g^2; x -= lr g / sqrt(v + eps))."""
    x, velocity, out = np.asarray(x0, np.float64), np.zeros(len(x0)), []
    for step, gradient in enumerate(np.asarray(grads, np.float64)):
        gradient = np.clip(gradient, -clipvalue, clipvalue)
        learning_rate = rate / (1 + decay * (iterations + step))
        velocity = RMSPROP_RHO * velocity + (1 - RMSPROP_RHO) * gradient ** 2
        x = x - learning_rate * gradient / np.sqrt(velocity + RMSPROP_EPSILON)
        out.append(x)
    return np.array(out)


DROPOUT_PROBE_WEIGHT = 8.0  # the one-hot Dense kernel's entry: sets the two levels well apart
TRAINING_MASK = (np.arange(8 * 8 * 3) % 2 == 0) * 2.0  # course.testkit.dcgan_cifar.TrainingMask in training mode


def build(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
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
    features = discriminator_features(weights, images[:1])[0]
    unit = int(np.argmax(np.abs(features)))
    bias = float(weights[9][0])
    weight = DROPOUT_PROBE_WEIGHT
    out.update(discriminator_dropout_unit=np.array(unit), discriminator_dropout_weight=np.array(weight),
               discriminator_dropout_levels_true=sigmoid(np.array([bias, bias + weight * features[unit] / 0.6])))

    x0 = rng.uniform(-0.5, 0.5, 6)
    first = rng.uniform(1.5, 4.0, 6) * rng.choice([-1.0, 1.0], 6)  # clipped to +-1
    second = rng.uniform(0.2, 0.9, 6) * rng.choice([-1.0, 1.0], 6)  # within the clip range
    grads, iterations = np.stack([first, second]).astype(np.float32), 50_000_000  # the decay divides the rate by 1.5
    out.update(optimizer_x0=x0.astype(np.float32), optimizer_grads=grads, optimizer_iterations=np.array(iterations),
               optimizer_d_true=rmsprop_trajectory(x0.astype(np.float32), grads, 8e-4, iterations),
               optimizer_g_true=rmsprop_trajectory(x0.astype(np.float32), grads, 4e-4, iterations))

    # Training steps on tiny stand-in models (built by the test cell with the same seeds).
    g_seed, d_seed = 403, 404
    g_kernel, g_bias = seeded_arrays([("kernel", (4, 8 * 8 * 3)), ("bias", (8 * 8 * 3,))], g_seed)
    d_kernel, d_bias = seeded_arrays([("kernel", (8 * 8 * 3, 1)), ("bias", (1,))], d_seed)

    def tiny_generator(latents):
        return np.tanh(latents.astype(np.float64) @ g_kernel + g_bias).reshape(len(latents), 8, 8, 3)

    def tiny_discriminator(batch, training=False):
        flat = batch.reshape(len(batch), -1).astype(np.float64)
        return sigmoid((flat * TRAINING_MASK if training else flat) @ d_kernel + d_bias)

    real = rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    z_d = rng.standard_normal((4, 4)).astype(np.float32)
    labels = np.concatenate([1 - 0.05 * rng.random((4, 1)), 0.05 * rng.random((4, 1))]).astype(np.float32)
    combined = np.concatenate([tiny_generator(z_d), real])
    d_loss = bce_mean(labels, tiny_discriminator(combined))
    z_g = rng.standard_normal((4, 4)).astype(np.float32)
    targets = np.zeros((4, 1), np.float32)
    g_loss = bce_mean(targets, tiny_discriminator(tiny_generator(z_g)))
    d_training_loss = bce_mean(labels, tiny_discriminator(combined, training=True))
    g_training_loss = bce_mean(targets, tiny_discriminator(tiny_generator(z_g), training=True))

    # One SGD step of each network, gradients by hand (no clipping is active: probabilities stay inside
    # [1e-7, 1 - 1e-7]). d loss / d logit of the mean BCE is (p - y) / rows.
    sgd_rate = 1.0
    flat = combined.reshape(len(combined), -1).astype(np.float64)
    d_logit = (tiny_discriminator(combined) - labels) / len(labels)
    d_before = np.concatenate([d_kernel.ravel(), d_bias]).astype(np.float64)
    d_delta = -sgd_rate * np.concatenate([(flat.T @ d_logit).ravel(), d_logit.sum(0)])
    generated = tiny_generator(z_g).reshape(len(z_g), -1)
    g_logit = (tiny_discriminator(generated.reshape(-1, 8, 8, 3)) - targets) / len(targets)
    pre = g_logit @ d_kernel.T.astype(np.float64) * (1 - generated ** 2)
    g_before = np.concatenate([g_kernel.ravel(), g_bias]).astype(np.float64)
    g_delta = -sgd_rate * np.concatenate([(z_g.astype(np.float64).T @ pre).ravel(), pre.sum(0)])
    out.update(step_sgd_rate=np.array(sgd_rate), step_d_sgd_true=d_before + d_delta, step_d_sgd_delta_true=d_delta,
               step_g_sgd_true=g_before + g_delta, step_g_sgd_delta_true=g_delta,
               step_d_loss_training_true=np.array(d_training_loss, np.float32),
               step_g_loss_training_true=np.array(g_training_loss, np.float32))
    out.update(step_g_seed=np.array(g_seed), step_d_seed=np.array(d_seed), step_real=real, step_z_d=z_d,
               step_labels=labels, step_d_loss_true=np.array(d_loss, np.float32), step_z_g=z_g,
               step_targets=targets, step_g_loss_true=np.array(g_loss, np.float32))
    return out
