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
- ``train_step_d_seed``, ``train_step_g_seed`` int64 (): weight seeds of the stand-in GAN the ``make_train_step``
  checks train (``course.testkit.gan_basics.tiny_gan``: D 784 -> 8 -> LeakyReLU(0.01) -> 1, G 4 -> 784 tanh);
  ``train_step_real`` float32 (8, 784) and ``train_step_noise`` float32 (8, 4): its batch.
- ``train_step_losses_true`` float64 (2, 2): ``(d_loss, g_loss)`` of two calls of the reference train step on that
  batch with Adam(1e-3, beta_1=0.5) solvers (d_loss before the discriminator update, g_loss after it and before
  the generator update), so the second row shows whether both updates happened.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course.checks import seeded_arrays

SEED = 231
# The grader draws each submission's inputs with autograder.inputs: the kernel gets only the inputs.

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
# The stand-in GAN of the make_train_step checks, trained by hand (Keras 3's Adam)
# ----------------------------------------------------------------------------------------------------------
def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


TINY_D_SPECS = dense_specs(784, 8) + dense_specs(8, 1)
TINY_G_SPECS = dense_specs(4, 784)


def _tiny_d(x, weights):
    """Logits and what backpropagation needs: (logits, pre-activation, activation)."""
    k1, b1, k2, b2 = weights
    h = x @ k1 + b1
    a = leaky_relu(h, 0.01)
    return a @ k2 + b2, h, a


def _tiny_d_backward(x, weights, dlogits):
    """Gradients of the D weights and of its input for d(loss)/d(logits) = ``dlogits``."""
    k1, b1, k2, b2 = weights
    _, h, a = _tiny_d(x, weights)
    da = dlogits @ k2.T
    dh = da * np.where(h > 0, 1.0, 0.01)
    return [x.T @ dh, dh.sum(0), a.T @ dlogits, dlogits.sum(0)], dh @ k1.T


def _adam(weights, grads, state, step, lr=1e-3, beta_1=0.5, beta_2=0.999, epsilon=1e-7):
    """Keras 3's Adam update (``keras.optimizers.Adam.update_step``), in float64."""
    alpha = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    out = []
    for i, (w, g) in enumerate(zip(weights, grads)):
        m, v = state.setdefault(i, (np.zeros_like(w), np.zeros_like(w)))
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        state[i] = (m, v)
        out.append(w - m * alpha / (np.sqrt(v) + epsilon))
    return out


def tiny_train_step_losses(d_weights, g_weights, real, noise, steps=2):
    """``(d_loss, g_loss)`` of ``steps`` calls of the reference train step (one D update, then one G update)."""
    d_weights = [np.asarray(w, np.float64) for w in d_weights]
    g_weights = [np.asarray(w, np.float64) for w in g_weights]
    real, noise = np.asarray(real, np.float64), np.asarray(noise, np.float64)
    d_state, g_state, rows = {}, {}, []
    for step in range(1, steps + 1):
        fake = np.tanh(noise @ g_weights[0] + g_weights[1])
        logits_real, logits_fake = _tiny_d(real, d_weights)[0], _tiny_d(fake, d_weights)[0]
        d_loss = bce_discriminator_loss(logits_real, logits_fake)
        grads_real, _ = _tiny_d_backward(real, d_weights, (sigmoid(logits_real) - 1) / len(real))
        grads_fake, _ = _tiny_d_backward(fake, d_weights, sigmoid(logits_fake) / len(fake))
        d_weights = _adam(d_weights, [a + b for a, b in zip(grads_real, grads_fake)], d_state, step)
        logits_fake = _tiny_d(fake, d_weights)[0]
        g_loss = bce_generator_loss(logits_fake)
        _, dfake = _tiny_d_backward(fake, d_weights, (sigmoid(logits_fake) - 1) / len(fake))
        dpre = dfake * (1 - fake**2)
        g_weights = _adam(g_weights, [noise.T @ dpre, dpre.sum(0)], g_state, step)
        rows.append((d_loss, g_loss))
    return np.array(rows, dtype=np.float64)


def _train_step_case(rng):
    real = rng.uniform(-1.0, 1.0, size=(8, 784)).astype(np.float32)
    noise = rng.uniform(-1.0, 1.0, size=(8, 4)).astype(np.float32)
    d_seed, g_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
    losses = tiny_train_step_losses(seeded_arrays(TINY_D_SPECS, d_seed), seeded_arrays(TINY_G_SPECS, g_seed),
                                    real, noise)
    return {"train_step_real": real, "train_step_noise": noise, "train_step_d_seed": np.int64(d_seed),
            "train_step_g_seed": np.int64(g_seed), "train_step_losses_true": losses}


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
    answers.update(_train_step_case(rng))  # drawn last: the keys above keep their values
    return answers
