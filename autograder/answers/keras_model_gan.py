"""NumPy reference answers for assignment 2, ``keras_model_gan`` (a GAN as a subclassed ``keras.Model``).

NumPy only: forward passes with the shared seeded weights (``course.checks.seeded_arrays``), and one full
GAN training step (discriminator phase, then generator phase) with hand-written backpropagation, Adam and
RMSprop, matching Keras 3's update formulas.

Keys (``build(seed)``; ``data/keras_model_gan.npz`` holds ``build(SEED)`` without ``HIDDEN_KEYS``, the grader
draws each submission's inputs with ``autograder.inputs``; every expected value ends in ``_true``):

- ``param_counts``: int64 (8,), parameter counts in the order of ``PARAM_COUNT_NAMES``
  (dense/conv generator and discriminator, unconditional and with 10 classes, latent_dim 100, 28x28x1).
- ``generator_latent_counts_true``: int64 (2,), dense and conv generator parameter counts for
  ``latent_dim = generator_latent_dim`` (int64 scalar, drawn; hidden check that latent_dim is honoured).
- Forward passes with seeded weights, for ``<m>`` in ``dense_generator``, ``cond_dense_generator``,
  ``conv_generator``, ``cond_conv_generator``, ``dense_discriminator``, ``cond_dense_discriminator``,
  ``conv_discriminator``, ``cond_conv_discriminator``:
  ``<m>_seed`` (int64 scalar, the seed given to ``set_seeded_weights``), ``<m>_x`` (input: noise (4, 100)
  or images (4, 28, 28, 1)), ``<m>_c`` (one-hot class vectors (4, 10), conditional models only),
  ``<m>_true`` (output: images (4, 28, 28, 1) or logits (4, 1); also the output with ``training=True``,
  since the networks have no Dropout or BatchNorm).
- One ``GAN.train_step`` on the tiny models of the check cells (``course.testkit.keras_model_gan.tiny_models``:
  generator 4 -> Dense 8 -> LeakyReLU(0.2) -> Dense 12 tanh -> Reshape (2, 2, 3); discriminator Flatten ->
  Dense 8 -> LeakyReLU(0.2) -> Dense 1 logit), discriminator Adam(0.01, beta_1=0.5), generator RMSprop(0.01),
  both losses binary cross-entropy on logits, the same noise in both phases (visible check):
  ``step_g_seed``, ``step_d_seed`` (int64 scalars), ``step_real`` (6, 2, 2, 3), ``step_noise`` (6, 4),
  ``step_d_loss_true``, ``step_g_loss_true`` (float64 scalars: discriminator loss with the initial
  weights, generator loss with the updated discriminator).
- Three steps of the same models and optimizers where every ``sample_noise`` call gets the next noise array
  (phase 1 of step k draws ``run_noise[2k]``, phase 2 ``run_noise[2k + 1]``), on the same real batch:
  ``run_g_seed``, ``run_d_seed`` (int64), ``run_real`` (6, 2, 2, 3), ``run_noise`` (6, 6, 4);
  ``run_d_loss_true``, ``run_g_loss_true``, ``run_d_accuracy_true`` (float64 (3,): each step's
  discriminator loss, generator loss, and phase-1 accuracy with logit > 0 meaning "real");
  ``run_d_weights_<i>_true``, ``run_g_weights_<i>_true`` (every weight after the FIRST step, in
  ``model.weights`` order, i = 0..3).
- Inputs of one conditional step (tiny models with 3 classes: the generator concatenates [noise, class], the
  discriminator [flattened image, class]; the check follows the class vectors, ``gan_steps_reference`` with
  ``class_vectors`` computes the step): ``cond_step_g_seed``, ``cond_step_d_seed`` (int64),
  ``cond_step_real`` (6, 2, 2, 3), ``cond_step_classes`` (6, 3) one-hot, ``cond_step_noise`` (2, 6, 4) (phase 1,
  phase 2).
- ``SampleGridCallback`` with ``latent_dim = 3``, ``num_images = 4``, a stand-in generator Dense 16 tanh ->
  Reshape (4, 4, 1) (conditional: Dense on [noise, class vector (3)]): ``callback_seed`` (int64, the callback's
  seed), ``callback_g_seed`` (int64, seeded weights), ``callback_classes`` (4, 3) one-hot;
  ``callback_images_true`` and ``callback_cond_images_true`` (4, 4, 4, 1): the saved images in [0, 1] from
  ``np.random.default_rng(seed).normal(size=(4, 3))``; ``callback_images_f32_true``,
  ``callback_cond_images_f32_true``: the same from ``standard_normal(..., dtype=np.float32)`` (also allowed).
- ``metric_logits`` (float32 (9,)), ``metric_labels`` (float32 (9,)), ``metric_splits`` (int64 (3,), sizes of
  the three ``update_state`` batches), ``metric_results_true`` (float64 (3,), epoch accuracy after each update).
- ``metric_edge_logits`` (float32 (12,), a third of them exactly 0), ``metric_edge_labels`` (float32 (12,),
  smoothed labels 0.1 / 0.9 among 0 / 1), ``metric_edge_result_true`` (float64 scalar): a logit counts as
  "real" only when > 0, a label when > 0.5.
"""
from __future__ import annotations

import numpy as np

from course.checks import seeded_arrays

SEED = 2
# The grader draws each submission's inputs with autograder.inputs: the kernel gets only the inputs.
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


class Adam:
    """Keras 3's Adam (no weight decay, no amsgrad), any number of steps."""

    def __init__(self, weights, learning_rate, beta_1, beta_2, epsilon):
        self.lr, self.b1, self.b2, self.eps, self.t = learning_rate, beta_1, beta_2, epsilon, 0
        self.m = [np.zeros_like(w) for w in weights]
        self.v = [np.zeros_like(w) for w in weights]

    def step(self, weights, grads):
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            self.m[i] = self.m[i] + (g - self.m[i]) * (1 - self.b1)
            self.v[i] = self.v[i] + (g ** 2 - self.v[i]) * (1 - self.b2)
            out.append(w - alpha * self.m[i] / (np.sqrt(self.v[i]) + self.eps))
        return out


class RMSprop:
    """Keras 3's RMSprop (rho, no momentum, not centered), any number of steps."""

    def __init__(self, weights, learning_rate, rho, epsilon):
        self.lr, self.rho, self.eps = learning_rate, rho, epsilon
        self.velocity = [np.zeros_like(w) for w in weights]

    def step(self, weights, grads):
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            self.velocity[i] = self.rho * self.velocity[i] + (1 - self.rho) * g ** 2
            out.append(w - self.lr * g / np.sqrt(self.velocity[i] + self.eps))
        return out


def gan_steps_reference(g_weights, d_weights, real, noises, class_vectors=None):
    """``len(noises) // 2`` GAN train steps of the tiny models as the notebook's text specifies them.

    Step k: phase 1 generates fakes from ``noises[2k]`` and takes one Adam step of the discriminator on the
    mean binary cross-entropy of the concatenated [fake, real] batch (labels 0 then 1); phase 2 generates from
    ``noises[2k + 1]`` and takes one RMSprop step of the generator on the loss "real" through the updated
    discriminator. With ``class_vectors`` both networks get the real batch's class vectors (concatenated
    after the noise and after the flattened image).
    Returns (d_losses, g_losses, accuracies) per step, and the discriminator and generator weights after
    every step (lists of lists).
    """
    g_w = [np.asarray(a, np.float64) for a in g_weights]
    d_w = [np.asarray(a, np.float64) for a in d_weights]
    d_opt, g_opt = Adam(d_w, **ADAM), RMSprop(g_w, **RMSPROP)
    batch = len(real)
    real = real.reshape(batch, -1).astype(np.float64)
    c = None if class_vectors is None else np.asarray(class_vectors, np.float64)

    def with_classes(x, classes):
        return x if classes is None else np.concatenate([x, classes], axis=1)

    labels = np.concatenate([np.zeros((batch, 1)), np.ones((batch, 1))], axis=0)
    d_losses, g_losses, accuracies, d_history, g_history = [], [], [], [], []
    for k in range(len(noises) // 2):
        fake, _ = tiny_g_forward(g_w, with_classes(np.asarray(noises[2 * k], np.float64), c))
        images = np.concatenate([fake, real], axis=0)
        logits, d_cache = tiny_d_forward(d_w, with_classes(images, None if c is None else np.concatenate([c, c])))
        d_loss, d_logit_grad = bce_logits(labels, logits)
        accuracies.append(float(np.mean((logits > 0) == (labels > 0.5))))
        d_w = d_opt.step(d_w, tiny_d_backward(d_w, d_cache, d_logit_grad)[0])

        fake, g_cache = tiny_g_forward(g_w, with_classes(np.asarray(noises[2 * k + 1], np.float64), c))
        fake_logits, d_cache = tiny_d_forward(d_w, with_classes(fake, c))
        g_loss, g_logit_grad = bce_logits(np.ones((batch, 1)), fake_logits)
        d_input = tiny_d_backward(d_w, d_cache, g_logit_grad)[1][:, :fake.shape[1]]
        g_w = g_opt.step(g_w, tiny_g_backward(g_w, g_cache, d_input))
        d_losses.append(d_loss)
        g_losses.append(g_loss)
        d_history.append(d_w)
        g_history.append(g_w)
    return d_losses, g_losses, accuracies, d_history, g_history


def train_step_reference(g_weights, d_weights, real, noise):
    """One step with the same noise in both phases: d_loss, g_loss, accuracy, new D and G weights."""
    d_losses, g_losses, accuracies, d_history, g_history = gan_steps_reference(
        g_weights, d_weights, real, [noise, noise])
    return d_losses[0], g_losses[0], accuracies[0], d_history[0], g_history[0]


TINY_G_SPECS = [("kernel", (4, 8)), ("bias", (8,)), ("kernel", (8, 12)), ("bias", (12,))]
TINY_D_SPECS = [("kernel", (12, 8)), ("bias", (8,)), ("kernel", (8, 1)), ("bias", (1,))]
COND_CLASSES = 3
TINY_COND_G_SPECS = [("kernel", (4 + COND_CLASSES, 8)), ("bias", (8,)), ("kernel", (8, 12)), ("bias", (12,))]
TINY_COND_D_SPECS = [("kernel", (12 + COND_CLASSES, 8)), ("bias", (8,)), ("kernel", (8, 1)), ("bias", (1,))]
CALLBACK_LATENT, CALLBACK_IMAGES = 3, 4


def callback_images(noise, weights, class_vectors=None):
    """The stand-in generator Dense 16 tanh -> Reshape (4, 4, 1) of the callback check, rescaled to [0, 1]."""
    x = np.asarray(noise, np.float64)
    if class_vectors is not None:
        x = np.concatenate([x, class_vectors], axis=1)
    return ((np.tanh(x @ weights[0] + weights[1]) + 1) / 2).reshape(-1, 4, 4, 1)


# ------------------------------------------------------------------------------------------------- build
def _away_from_zero(values: np.ndarray) -> np.ndarray:
    """``values`` moved to at least 0.5 from zero, sign kept (float32)."""
    return (np.sign(values) * (0.5 + np.abs(values))).astype(np.float32)


def build(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    answers: dict[str, np.ndarray] = {}
    counts = []
    for name in PARAM_COUNT_NAMES:
        cond = NUM_CLASSES if name.startswith("cond_") else None
        kind = "dense" if "dense" in name else "conv"
        specs = generator_specs(kind, cond) if name.endswith("generator") else discriminator_specs(kind, cond)
        counts.append(count(specs))
    answers["param_counts"] = np.array(counts, dtype=np.int64)
    latent = int(rng.integers(5, 60))
    answers["generator_latent_dim"] = np.int64(latent)
    answers["generator_latent_counts_true"] = np.array(
        [count(generator_specs(kind, None, latent)) for kind in ("dense", "conv")], dtype=np.int64)

    for name in PARAM_COUNT_NAMES:
        cond = NUM_CLASSES if name.startswith("cond_") else None
        kind = "dense" if "dense" in name else "conv"
        model_seed = int(rng.integers(100, 2**31 - 1))
        answers[f"{name}_seed"] = np.int64(model_seed)
        c = None
        if cond:
            c = np.eye(NUM_CLASSES, dtype=np.float32)[rng.permutation(NUM_CLASSES)[:4]]
        if name.endswith("generator"):
            x = rng.normal(size=(4, LATENT_DIM)).astype(np.float32)
            out = generator_forward(kind, seeded_arrays(generator_specs(kind, cond), model_seed), x, c)
        else:
            x = rng.uniform(-1, 1, size=(4, *IMAGE_SHAPE)).astype(np.float32)
            out = discriminator_forward(kind, seeded_arrays(discriminator_specs(kind, cond), model_seed), x, c)
        answers[f"{name}_x"] = x
        if cond:
            answers[f"{name}_c"] = c
        answers[f"{name}_true"] = out.astype(np.float64)

    # One step, the same noise in both phases (the visible check).
    g_seed, d_seed = (int(v) for v in rng.integers(1, 2**31 - 1, size=2))
    answers["step_g_seed"], answers["step_d_seed"] = np.int64(g_seed), np.int64(d_seed)
    real = rng.uniform(-1, 1, size=(6, 2, 2, 3)).astype(np.float32)
    noise = rng.normal(size=(6, 4)).astype(np.float32)
    d_loss, g_loss, _, _, _ = train_step_reference(
        seeded_arrays(TINY_G_SPECS, g_seed), seeded_arrays(TINY_D_SPECS, d_seed), real, noise)
    answers.update(step_real=real, step_noise=noise, step_d_loss_true=np.float64(d_loss),
                   step_g_loss_true=np.float64(g_loss))

    # Three steps, a fresh noise array for every sample_noise call (the hidden checks).
    g_seed, d_seed = (int(v) for v in rng.integers(1, 2**31 - 1, size=2))
    real = rng.uniform(-1, 1, size=(6, 2, 2, 3)).astype(np.float32)
    noises = rng.normal(size=(6, 6, 4)).astype(np.float32)
    d_losses, g_losses, accuracies, d_history, g_history = gan_steps_reference(
        seeded_arrays(TINY_G_SPECS, g_seed), seeded_arrays(TINY_D_SPECS, d_seed), real, noises)
    answers.update(run_g_seed=np.int64(g_seed), run_d_seed=np.int64(d_seed), run_real=real, run_noise=noises,
                   run_d_loss_true=np.array(d_losses), run_g_loss_true=np.array(g_losses),
                   run_d_accuracy_true=np.array(accuracies))
    for i, (d, g) in enumerate(zip(d_history[0], g_history[0])):
        answers[f"run_d_weights_{i}_true"] = d
        answers[f"run_g_weights_{i}_true"] = g

    # One conditional step (the check follows the class vectors through both phases).
    g_seed, d_seed = (int(v) for v in rng.integers(1, 2**31 - 1, size=2))
    answers.update(cond_step_g_seed=np.int64(g_seed), cond_step_d_seed=np.int64(d_seed),
                   cond_step_real=rng.uniform(-1, 1, size=(6, 2, 2, 3)).astype(np.float32),
                   cond_step_classes=np.eye(COND_CLASSES, dtype=np.float32)[rng.integers(0, COND_CLASSES, 6)],
                   cond_step_noise=rng.normal(size=(2, 6, 4)).astype(np.float32))

    # SampleGridCallback: fixed noise from default_rng(seed), rescaled images of a seeded stand-in generator.
    callback_seed, callback_g_seed = (int(v) for v in rng.integers(1, 2**31 - 1, size=2))
    callback_classes = np.eye(COND_CLASSES, dtype=np.float32)[rng.permutation(COND_CLASSES)[[0, 1, 2, 0]]]
    answers.update(callback_seed=np.int64(callback_seed), callback_g_seed=np.int64(callback_g_seed),
                   callback_classes=callback_classes)
    streams = {"": np.random.default_rng(callback_seed).normal(size=(CALLBACK_IMAGES, CALLBACK_LATENT)),
               "_f32": np.random.default_rng(callback_seed).standard_normal(
                   (CALLBACK_IMAGES, CALLBACK_LATENT), dtype=np.float32)}
    plain = seeded_arrays([("kernel", (CALLBACK_LATENT, 16)), ("bias", (16,))], callback_g_seed)
    conditional = seeded_arrays([("kernel", (CALLBACK_LATENT + COND_CLASSES, 16)), ("bias", (16,))],
                                callback_g_seed)
    for suffix, z in streams.items():
        answers[f"callback_images{suffix}_true"] = callback_images(z, plain)
        answers[f"callback_cond_images{suffix}_true"] = callback_images(z, conditional, callback_classes)

    # Every threshold mistake must move the accuracy, for every draw: only the one logit placed in (0.05, 0.45)
    # lies between the thresholds 0 and 0.5 (the others are at least 0.5 from zero), so "> 0.5" flips exactly one
    # hit and no second flip can cancel it.
    logits = _away_from_zero(rng.normal(0.0, 1.5, size=9))
    logits[rng.integers(0, 9)] = rng.uniform(0.05, 0.45)
    labels = rng.integers(0, 2, size=9).astype(np.float32)
    splits = np.array([3, 2, 4], dtype=np.int64)
    hits = (logits > 0) == (labels > 0.5)
    answers.update(metric_logits=logits, metric_labels=labels, metric_splits=splits,
                   metric_results_true=np.array([hits[:end].mean() for end in np.cumsum(splits)], dtype=np.float64))

    # The edge batch, built so that each mistake turns hits into misses only (never both ways, which could cancel
    # in the mean): the four exact zeros carry "fake" labels (0 or 0.1), so ">= 0" misses them all; the one small
    # positive logit carries label 1, so "> 0.5" misses it; every 0.9 label sits on a positive logit, so
    # "== 1" misses each of them.
    edge_logits = _away_from_zero(rng.normal(0.0, 1.0, size=12))
    edge_labels = rng.choice(np.array([0.0, 0.1, 0.9, 1.0], dtype=np.float32), size=12)
    order = rng.permutation(12)
    zeros, small, smoothed_real = order[:4], order[4], order[5]
    edge_logits[zeros] = 0.0
    edge_labels[zeros] = rng.choice(np.array([0.0, 0.1], dtype=np.float32), size=4)
    edge_labels[zeros[0]] = 0.1
    edge_logits[small], edge_labels[small] = rng.uniform(0.05, 0.45), 1.0
    edge_labels[smoothed_real] = 0.9
    on_smoothed_real = edge_labels == np.float32(0.9)
    edge_logits[on_smoothed_real] = np.abs(edge_logits[on_smoothed_real])
    answers.update(metric_edge_logits=edge_logits, metric_edge_labels=edge_labels,
                   metric_edge_result_true=np.float64(np.mean((edge_logits > 0) == (edge_labels > 0.5))))
    return answers


HIDDEN_KEYS = frozenset(
    ["generator_latent_counts_true", "run_d_loss_true", "run_g_loss_true", "run_d_accuracy_true",
     "callback_images_true", "callback_images_f32_true",
     "callback_cond_images_true", "callback_cond_images_f32_true", "metric_edge_result_true"]
    + [f"{prefix}_{net}_weights_{i}_true" for prefix in ("run",) for net in ("d", "g")
       for i in range(4)]
    + [f"{name}_true" for name in PARAM_COUNT_NAMES])
