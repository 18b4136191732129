"""NumPy reference answers for assignment 3, ``keras_sequential_gan`` (Sequential GANs and ``train_on_batch``).

NumPy only: forward passes of the four Sequential models with the shared seeded weights
(``course.checks.seeded_arrays``); BatchNormalization in inference mode (moving statistics, epsilon 1e-3) unless
said otherwise, Dropout inactive; and the training phases of the stand-in GAN of ``course.testkit`` (hand-written
backpropagation, binary cross-entropy, Keras 3's RMSprop with its defaults).

Keys (``build(seed)``; ``data/keras_sequential_gan.npz`` holds ``build(SEED)`` without ``HIDDEN_KEYS``; the
grader draws each submission's inputs with ``autograder.inputs``):

- ``param_counts``: int64 (4,), parameter counts (BatchNorm moving statistics included) in the order of
  ``MODEL_NAMES``: dense generator (codings 30), dense discriminator, DCGAN generator (codings 100),
  DCGAN discriminator.
- For ``<m>`` in ``MODEL_NAMES``: ``<m>_seed`` (int64 scalar, the seed given to ``set_seeded_weights``),
  ``<m>_x`` (float32 input: codings (4, 30) / (4, 100), or images (4, 28, 28) in [0, 1] / (4, 28, 28, 1) in
  [-1, 1]) and ``<m>_true`` (float64 output: images (4, 28, 28) in (0, 1) / (4, 28, 28, 1) in (-1, 1), or
  probabilities (4, 1)).
- ``codings_sizes`` int64 (2,): a codings size for the dense and for the DCGAN generator other than the
  defaults; ``codings_param_counts_true`` int64 (2,): the two generators' parameter counts with them.
- ``dcgan_generator_training_x`` float32 (6, 100), ``dcgan_generator_training_seed``,
  ``dcgan_generator_training_true`` float64 (6, 28, 28, 1): the DCGAN generator called with ``training=True``
  (batch statistics); ``dcgan_generator_moving_true`` float64 (384,): its moving means and variances after
  that call (momentum 0.99), in ``model.weights`` order, flattened.
- Stand-in phases (``STANDIN_CODINGS`` = 20 codings; ``*_d_seed`` int64 seeds the stand-in discriminator,
  ``*_image`` float32 (28, 28) is the stand-in generator's starting image, first row zero):
  - ``compile_d_seed``, ``compile_image``, ``compile_d_x`` float32 (8, 28, 28), ``compile_d_y`` float32
    (8, 1), ``compile_z`` float32 (8, 20): two rounds of (discriminator.train_on_batch(d_x, d_y),
    gan.train_on_batch(z, ones)) after ``compile_gan``; ``compile_losses_true`` float64 (4,) the losses
    returned, ``compile_d_updates_true`` (4, 2275) and ``compile_g_updates_true`` (4, 784) float64: the
    weights after each phase minus those before the first (``model.weights`` order, flattened).
  - ``dstep_d_seed``, ``dstep_image``, ``dstep_real_x`` float32 (64, 28, 28): ``discriminator_step`` twice on
    that batch; ``dstep_losses_true`` (2,), ``dstep_d_updates_true`` (2, 2275).
  - ``gstep_d_seed``, ``gstep_image``, ``gstep_d_x`` (12, 28, 28), ``gstep_d_y`` (12, 1), ``gstep_batch``
    int64 (16): one discriminator.train_on_batch(d_x, d_y), then ``generator_step(gan, 16, 20)`` twice;
    ``gstep_losses_true`` (2,), ``gstep_g_updates_true`` (2, 784).
  - ``codings_seed``, ``codings_image``, ``codings_real_x`` (64, 28, 28): inputs of the codings checks;
    ``loop_seed``, ``loop_image``, ``loop_real_x`` (24, 28, 28): inputs of the ``train_gan`` checks (their
    expected values are the inputs themselves).
- ``scale_x`` float32 (7, 28, 28) in [0.1, 0.9] and ``scale_true`` float64 (7, 28, 28): ``2 x - 1``.
"""
from __future__ import annotations

import numpy as np

from autograder.answers.keras_model_gan import conv2d_same, conv2d_transpose_same
from course.checks import seeded_arrays

SEED = 3
# The grader draws each submission's inputs with autograder.inputs (build(seed) with a seed of its own): the
# kernel gets only the inputs.
HIDDEN_KEYS = frozenset({
    "dense_generator_true", "dense_discriminator_true", "dcgan_generator_true", "dcgan_discriminator_true",
    "codings_param_counts_true", "dcgan_generator_training_true", "dcgan_generator_moving_true",
    "compile_losses_true", "compile_d_updates_true", "compile_g_updates_true", "dstep_losses_true",
    "dstep_d_updates_true", "gstep_losses_true", "gstep_g_updates_true", "scale_true"})
MODEL_NAMES = ("dense_generator", "dense_discriminator", "dcgan_generator", "dcgan_discriminator")
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # Keras BatchNormalization default


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
    "dcgan_generator": None,  # dcgan_generator_specs(100), filled in below
    "dcgan_discriminator": [("kernel", (5, 5, 1, 64)), ("bias", (64,)), ("kernel", (5, 5, 64, 128)),
                            ("bias", (128,)), ("kernel", (7 * 7 * 128, 1)), ("bias", (1,))],
}


def dcgan_generator_specs(codings_size):
    return ([("kernel", (codings_size, 7 * 7 * 128)), ("bias", (7 * 7 * 128,))] + batchnorm_specs(128)
            + [("kernel", (5, 5, 64, 128)), ("bias", (64,))] + batchnorm_specs(64)
            + [("kernel", (5, 5, 1, 64)), ("bias", (1,))])


SPECS["dcgan_generator"] = dcgan_generator_specs(100)


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



def dcgan_generator_training(weights, x, momentum=BN_MOMENTUM):
    """The DCGAN generator called with ``training=True``: BatchNorm normalises with the batch's mean and biased
    variance (over batch, height and width) and moves its statistics by ``momentum``.

    Returns:
      (output images, [moving_mean_1, moving_variance_1, moving_mean_2, moving_variance_2] after the call).
    """
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    moving = []

    def batchnorm_training(h, gamma, beta, moving_mean, moving_variance):
        mean, variance = h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))
        moving.extend([momentum * moving_mean + (1 - momentum) * mean,
                       momentum * moving_variance + (1 - momentum) * variance])
        return gamma * (h - mean) / np.sqrt(variance + BN_EPSILON) + beta

    h = (np.asarray(x, dtype=np.float64) @ w[0] + w[1]).reshape(-1, 7, 7, 128)
    h = batchnorm_training(h, *w[2:6])
    h = selu(conv2d_transpose_same(h, w[6], w[7], 2))
    h = batchnorm_training(h, *w[8:12])
    return np.tanh(conv2d_transpose_same(h, w[12], w[13], 2)), moving


# --------------------------------------------------------------------------------------------- stand-ins
# The step and loop checks run the student's functions on two small stand-ins (course.testkit):
# - generator: its only weight is a trainable image (28, 28) whose first row is zero; it returns that image
#   with the codings written into the first row, so the codings can be read off every fake;
# - discriminator: Cropping1D((1, 0)) (drops the first row, so the codings never reach it), Flatten, Dense 3
#   selu, Dense 1 sigmoid.
# So each train_on_batch is deterministic whatever codings the student draws, and the reference below can
# follow it exactly: binary cross-entropy (mean over the batch) and RMSprop with Keras' defaults.
STANDIN_CODINGS = 20
STANDIN_D_SPECS = dense_specs([(27 * 28, 3), (3, 1)])
RMSPROP = dict(learning_rate=1e-3, rho=0.9, epsilon=1e-7)
BCE_EPSILON = 1e-7


def selu_grad(x):
    return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0)))


def binary_crossentropy(p, y):
    p = np.clip(p, BCE_EPSILON, 1 - BCE_EPSILON)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def standin_discriminator_loss_and_grads(weights, images, labels):
    """Loss of the stand-in discriminator on ``images`` (n, 28, 28) with ``labels`` (n, 1), its gradients
    (in ``model.weights`` order) and the gradient with respect to the images."""
    k1, b1, k2, b2 = (np.asarray(a, dtype=np.float64) for a in weights)
    images = np.asarray(images, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1, 1)
    n = len(images)
    flat = images[:, 1:, :].reshape(n, -1)
    a1 = flat @ k1 + b1
    h1 = selu(a1)
    p = sigmoid(h1 @ k2 + b2)
    d_logit = (p - labels) / n  # d mean(BCE) / d logit
    d_a1 = d_logit @ k2.T * selu_grad(a1)
    d_images = np.zeros_like(images)
    d_images[:, 1:, :] = (d_a1 @ k1.T).reshape(n, 27, 28)
    grads = [flat.T @ d_a1, d_a1.sum(axis=0), h1.T @ d_logit, d_logit.sum(axis=0)]
    return binary_crossentropy(p, labels), grads, d_images


class RMSprop:
    """Keras 3's RMSprop (no momentum, not centred): v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps)."""

    def __init__(self, learning_rate=RMSPROP["learning_rate"], rho=RMSPROP["rho"], epsilon=RMSPROP["epsilon"]):
        self.learning_rate, self.rho, self.epsilon = learning_rate, rho, epsilon
        self.velocities = None

    def step(self, weights, grads):
        if self.velocities is None:
            self.velocities = [np.zeros_like(g) for g in grads]
        new = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            self.velocities[i] = self.rho * self.velocities[i] + (1 - self.rho) * g**2
            new.append(w - self.learning_rate * g / np.sqrt(self.velocities[i] + self.epsilon))
        return new


class StandinGan:
    """The stand-in pair with an optimizer each, trained phase by phase as Keras does."""

    def __init__(self, d_seed, image):
        self.d = [a.astype(np.float64) for a in seeded_arrays(STANDIN_D_SPECS, int(d_seed))]
        self.image = np.asarray(image, dtype=np.float64)
        self.d_optimizer, self.gan_optimizer = RMSprop(), RMSprop()

    def fakes(self, n):
        return np.broadcast_to(self.image, (n, 28, 28))  # the first row (codings) is cropped away

    def train_discriminator(self, images, labels):
        """One discriminator.train_on_batch; returns the loss before the update."""
        loss, grads, _ = standin_discriminator_loss_and_grads(self.d, images, labels)
        self.d = self.d_optimizer.step(self.d, grads)
        return loss

    def train_generator(self, n):
        """One gan.train_on_batch on n codings with labels 1, the discriminator frozen."""
        loss, _, d_images = standin_discriminator_loss_and_grads(self.d, self.fakes(n), np.ones((n, 1)))
        (self.image,) = self.gan_optimizer.step([self.image], [d_images.sum(axis=0)])
        return loss

    def discriminator_step(self, reals):
        n = len(reals)
        images = np.concatenate([self.fakes(n), reals])
        return self.train_discriminator(images, np.concatenate([np.zeros((n, 1)), np.ones((n, 1))]))

    def d_flat(self):
        return np.concatenate([w.ravel() for w in self.d])


def standin_inputs(rng):
    image = rng.uniform(0.0, 1.0, size=(28, 28))
    image[0] = 0.0  # the row the codings are written into
    return np.int64(rng.integers(1, 2**31 - 1)), image.astype(np.float32)


def build(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    answers: dict[str, np.ndarray] = {
        "param_counts": np.array([sum(int(np.prod(s)) for _, s in SPECS[n]) for n in MODEL_NAMES], dtype=np.int64)}
    inputs = {
        "dense_generator": lambda: rng.normal(size=(4, 30)),
        "dense_discriminator": lambda: rng.uniform(0, 1, size=(4, 28, 28)),
        "dcgan_generator": lambda: rng.normal(size=(4, 100)),
        "dcgan_discriminator": lambda: rng.uniform(-1, 1, size=(4, 28, 28, 1)),
    }
    for name in MODEL_NAMES:
        x = inputs[name]().astype(np.float32)
        weight_seed = int(rng.integers(1, 2**31 - 1))
        answers[f"{name}_seed"] = np.int64(weight_seed)
        answers[f"{name}_x"] = x
        answers[f"{name}_true"] = forward(name, seeded_arrays(SPECS[name], weight_seed), x)

    # the codings_size argument of both generators: parameter counts for sizes other than the defaults
    sizes = np.array([rng.integers(10, 30), rng.integers(40, 100)], dtype=np.int64)
    answers["codings_sizes"] = sizes
    answers["codings_param_counts_true"] = np.array([
        sum(int(np.prod(s)) for _, s in dense_specs([(int(sizes[0]), 100), (100, 150), (150, 784)])),
        sum(int(np.prod(s)) for _, s in dcgan_generator_specs(int(sizes[1])))], dtype=np.int64)
    # the DCGAN generator in training mode (batch statistics; moving statistics after one call)
    x = rng.normal(size=(6, 100)).astype(np.float32)
    weight_seed = int(rng.integers(1, 2**31 - 1))
    out, moving = dcgan_generator_training(seeded_arrays(dcgan_generator_specs(100), weight_seed), x)
    answers.update(dcgan_generator_training_x=x, dcgan_generator_training_seed=np.int64(weight_seed),
                   dcgan_generator_training_true=out,
                   dcgan_generator_moving_true=np.concatenate([m.ravel() for m in moving]))

    # compile_gan: two rounds of (discriminator.train_on_batch, gan.train_on_batch) on the stand-ins
    d_seed, image = standin_inputs(rng)
    d_x = rng.uniform(0, 1, size=(8, 28, 28)).astype(np.float32)
    d_y = rng.integers(0, 2, size=(8, 1)).astype(np.float32)
    z = rng.normal(size=(8, STANDIN_CODINGS)).astype(np.float32)
    gan = StandinGan(d_seed, image)
    d_start, g_start = gan.d_flat(), gan.image.ravel()
    losses, d_updates, g_updates = [], [], []
    for _ in range(2):
        for phase in (lambda: gan.train_discriminator(d_x, d_y), lambda: gan.train_generator(len(z))):
            losses.append(phase())
            d_updates.append(gan.d_flat() - d_start)
            g_updates.append(gan.image.ravel() - g_start)
    answers.update(compile_d_seed=d_seed, compile_image=image, compile_d_x=d_x, compile_d_y=d_y, compile_z=z,
                   compile_losses_true=np.array(losses), compile_d_updates_true=np.array(d_updates),
                   compile_g_updates_true=np.array(g_updates))

    # discriminator_step twice on the same real batch
    d_seed, image = standin_inputs(rng)
    reals = rng.uniform(0, 1, size=(64, 28, 28)).astype(np.float32)
    gan = StandinGan(d_seed, image)
    d_start = gan.d_flat()
    losses, d_updates = [], []
    for _ in range(2):
        losses.append(gan.discriminator_step(reals))
        d_updates.append(gan.d_flat() - d_start)
    answers.update(dstep_d_seed=d_seed, dstep_image=image, dstep_real_x=reals, dstep_losses_true=np.array(losses),
                   dstep_d_updates_true=np.array(d_updates))

    # generator_step twice (batch 16), after one discriminator.train_on_batch on a given batch
    d_seed, image = standin_inputs(rng)
    d_x = rng.uniform(0, 1, size=(12, 28, 28)).astype(np.float32)
    d_y = rng.integers(0, 2, size=(12, 1)).astype(np.float32)
    gan = StandinGan(d_seed, image)
    gan.train_discriminator(d_x, d_y)
    d_start, g_start = gan.d_flat(), gan.image.ravel()
    losses, g_updates = [], []
    for _ in range(2):
        losses.append(gan.train_generator(16))
        g_updates.append(gan.image.ravel() - g_start)
    answers.update(gstep_d_seed=d_seed, gstep_image=image, gstep_d_x=d_x, gstep_d_y=d_y,
                   gstep_batch=np.int64(16), gstep_losses_true=np.array(losses),
                   gstep_g_updates_true=np.array(g_updates))

    # codings drawn by the steps, and train_gan's loop (inputs only: the judge compares with these inputs)
    answers["codings_seed"], answers["codings_image"] = standin_inputs(rng)
    answers["codings_real_x"] = rng.uniform(0, 1, size=(64, 28, 28)).astype(np.float32)
    answers["loop_seed"], answers["loop_image"] = standin_inputs(rng)
    answers["loop_real_x"] = rng.uniform(0, 1, size=(24, 28, 28)).astype(np.float32)

    # scale_for_tanh on images whose darkest and brightest pixels are not 0 and 1
    scale_x = rng.uniform(0.1, 0.9, size=(7, 28, 28)).astype(np.float32)
    answers.update(scale_x=scale_x, scale_true=2.0 * scale_x.astype(np.float64) - 1.0)
    return answers
