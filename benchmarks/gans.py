"""The GANs the benchmark runs, each behind one small interface (``Gan``).

- ``vanilla``, ``lsgan``, ``dcgan``: the reference solutions of ``source/gan_basics/GANs-TensorFlow.ipynb``,
  executed from the notebook (``notebook_code``): models, losses, ``get_solvers``, ``sample_noise`` and the
  compiled ``make_train_step``. Same hyperparameters as the notebook (Adam 1e-3, beta_1 0.5, batch 128,
  noise 96, images flattened to 784 in [-1, 1]).
- ``cgan``: a conditional GAN on Fashion-MNIST written here with the layer shapes of assignment 5's reference
  (``autograder/answers/gan_1d_conditional.py``: scalar label through Dense 32 -> 64 in both networks,
  transposed convolutions 1 -> 5 -> 13 -> 29 -> 28 with a sigmoid output, a three-convolution discriminator),
  because that notebook was not finished when the benchmark was written. Adam 2e-4, beta_1 0.5, batch 128.

Each ``Gan`` has a compiled step (``tf.function`` with a fixed ``input_signature``, BatchNorm in training mode),
an eager step written like CS231n's ``run_a_gan`` (two GradientTapes, no tf.function), a tf.data pipeline
feeding the compiled step and a NumPy batch iterator feeding the eager one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

GAN_NAMES = ("vanilla", "lsgan", "dcgan", "cgan")
DATASET_OF = {"vanilla": "mnist", "lsgan": "mnist", "dcgan": "mnist", "cgan": "fashion_mnist"}
TITLES = {"vanilla": "Vanilla GAN (dense)", "lsgan": "LSGAN (dense)", "dcgan": "DCGAN",
          "cgan": "Conditional GAN (Fashion-MNIST)"}
CGAN_NOISE_DIM = 100


@dataclass
class Gan:
    name: str
    dataset: str
    D: object
    G: object
    batch_size: int
    noise_dim: int
    conditional: bool
    compiled_step: Callable  # (*batch) -> (d_loss, g_loss)
    eager_step: Callable  # (*numpy batch) -> (d_loss, g_loss)
    images: np.ndarray  # training images, in the shape and range the models take
    labels: np.ndarray
    sample_noise: Callable  # n -> float32 noise tensor
    extra: dict = field(default_factory=dict)

    # --- input pipelines -------------------------------------------------------------------------------
    def pipeline(self, seed=0):
        """tf.data: shuffled, repeated, fixed-size batches, noise drawn in the pipeline, prefetched."""
        import tensorflow as tf

        count = len(self.images)
        if self.conditional:
            data = tf.data.Dataset.from_tensor_slices((self.images, self.labels.astype(np.float32)[:, None]))
        else:
            data = tf.data.Dataset.from_tensor_slices(self.images)
        data = data.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
        data = data.batch(self.batch_size, drop_remainder=True)
        dim, batch = self.noise_dim, self.batch_size

        def add_noise(*parts):
            return (*parts, tf.random.uniform((batch, dim), -1.0, 1.0))

        return data.map(add_noise, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def numpy_batches(self, seed=0):
        """Endless NumPy batches, reshuffled every epoch (the eager baseline's feed, like CS231n's MNIST class)."""
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(self.images))
            for begin in range(0, len(order) - self.batch_size + 1, self.batch_size):
                index = order[begin:begin + self.batch_size]
                if self.conditional:
                    yield self.images[index], self.labels[index].astype(np.float32)[:, None]
                else:
                    yield (self.images[index],)

    # --- sampling ------------------------------------------------------------------------------------------
    def generate(self, count, seed=0):
        """count generated images as a NumPy array (N, 784) or (N, 28, 28, 1); labels cycle 0..9 if conditional."""
        import tensorflow as tf

        tf.random.set_seed(seed)
        out = []
        for begin in range(0, count, 500):
            size = min(500, count - begin)
            noise = self.sample_noise(size)
            if self.conditional:
                labels = tf.constant((np.arange(begin, begin + size) % 10).astype(np.float32)[:, None])
                out.append(np.asarray(self.G([noise, labels], training=False)))
            else:
                out.append(np.asarray(self.G(noise, training=False)))
        return np.concatenate(out)


# ---------------------------------------------------------------------------------------------------------
# The MNIST GANs from the notebook

def _mnist_gan(name: str, namespace: dict, images: np.ndarray, labels: np.ndarray, batch_size=None,
               learning_rate=None) -> Gan:
    import tensorflow as tf

    ns = namespace
    noise_dim, batch_size = int(ns["NOISE_DIM"]), int(batch_size or ns["BATCH_SIZE"])
    if name == "dcgan":
        D, G = ns["dc_discriminator"](), ns["dc_generator"]()
    else:
        D, G = ns["discriminator"](), ns["generator"]()
    if name == "lsgan":
        d_loss, g_loss = ns["ls_discriminator_loss"], ns["ls_generator_loss"]
    else:
        d_loss, g_loss = ns["discriminator_loss"], ns["generator_loss"]
    d_opt, g_opt = ns["get_solvers"]() if learning_rate is None else ns["get_solvers"](learning_rate=learning_rate)
    compiled = ns["make_train_step"](D, G, d_opt, g_opt, d_loss, g_loss, noise_dim)
    sample_noise = ns["sample_noise"]

    # The eager baseline: CS231n's run_a_gan loop body (two tapes, fresh noise for each, no tf.function).
    # Separate optimizers would change nothing in speed; the same ones are reused so no extra state is built.
    def eager_step(real):
        with tf.GradientTape() as tape:
            logits_real = D(real, training=True)
            fake_images = G(sample_noise(batch_size, noise_dim), training=True)
            logits_fake = D(tf.reshape(fake_images, [batch_size, 784]), training=True)
            d_total_error = d_loss(logits_real, logits_fake)
            d_gradients = tape.gradient(d_total_error, D.trainable_variables)
            d_opt.apply_gradients(zip(d_gradients, D.trainable_variables))
        with tf.GradientTape() as tape:
            fake_images = G(sample_noise(batch_size, noise_dim), training=True)
            gen_logits_fake = D(tf.reshape(fake_images, [batch_size, 784]), training=True)
            g_error = g_loss(gen_logits_fake)
            g_gradients = tape.gradient(g_error, G.trainable_variables)
            g_opt.apply_gradients(zip(g_gradients, G.trainable_variables))
        return d_total_error, g_error

    return Gan(name=name, dataset="mnist", D=D, G=G, batch_size=batch_size, noise_dim=noise_dim,
               conditional=False, compiled_step=compiled, eager_step=eager_step,
               images=images.reshape(len(images), 784).astype(np.float32), labels=labels,
               sample_noise=lambda n: tf.cast(sample_noise(n, noise_dim), tf.float32))


# ---------------------------------------------------------------------------------------------------------
# The conditional GAN (Fashion-MNIST)

def cgan_generator(noise_dim=CGAN_NOISE_DIM):
    import keras
    from keras import layers

    noise = keras.Input((noise_dim,), name="noise")
    label = keras.Input((1,), name="label")
    embedded = layers.Dense(32, activation="relu")(label)
    embedded = layers.Dense(64, activation="relu")(embedded)
    x = layers.Concatenate()([noise, embedded])
    x = layers.Reshape((1, 1, noise_dim + 64))(x)
    x = layers.Conv2DTranspose(128, 5, strides=1, padding="valid", activation="relu")(x)  # 5x5
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="valid", activation="relu")(x)  # 13x13
    x = layers.Conv2DTranspose(32, 5, strides=2, padding="valid", use_bias=False, activation="relu")(x)  # 29
    x = layers.Conv2D(1, 2, padding="valid", use_bias=False, activation="sigmoid")(x)  # 28x28
    return keras.Model([noise, label], x, name="cgan_generator")


def cgan_discriminator():
    import keras
    from keras import layers

    image = keras.Input((28, 28, 1), name="image")
    label = keras.Input((1,), name="label")
    x = image
    for filters in (32, 64, 96):
        x = layers.Conv2D(filters, 3, strides=2, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.Flatten()(x)  # 4*4*96 = 1536
    embedded = layers.Dense(32, activation="relu")(label)
    embedded = layers.Dense(64, activation="relu")(embedded)
    x = layers.Concatenate()([x, embedded])
    x = layers.Dense(128)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    return keras.Model([image, label], layers.Dense(1)(x), name="cgan_discriminator")


def _cgan(images: np.ndarray, labels: np.ndarray, batch_size=None, noise_dim=CGAN_NOISE_DIM,
          learning_rate=None) -> Gan:
    import keras
    import tensorflow as tf

    batch_size = int(batch_size or 128)
    D, G = cgan_discriminator(), cgan_generator(noise_dim)
    d_opt = keras.optimizers.Adam(learning_rate=learning_rate or 2e-4, beta_1=0.5)
    g_opt = keras.optimizers.Adam(learning_rate=learning_rate or 2e-4, beta_1=0.5)

    def bce(labels_value, logits):
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.fill(tf.shape(logits), labels_value), logits=logits))

    def step(real, label, noise):
        with tf.GradientTape() as tape:
            fake = G([noise, label], training=True)
            d_loss = bce(1.0, D([real, label], training=True)) + bce(0.0, D([fake, label], training=True))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = bce(1.0, D([G([noise, label], training=True), label], training=True))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        return d_loss, g_loss

    compiled = tf.function(step, input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32),
                                                  tf.TensorSpec([None, 1], tf.float32),
                                                  tf.TensorSpec([None, noise_dim], tf.float32)])

    def eager_step(real, label):  # numpy batches, fresh noise, no tf.function
        noise = tf.random.uniform((len(real), noise_dim), -1.0, 1.0)
        return step(tf.constant(real), tf.constant(label), noise)

    return Gan(name="cgan", dataset="fashion_mnist", D=D, G=G, batch_size=batch_size, noise_dim=noise_dim,
               conditional=True, compiled_step=compiled, eager_step=eager_step,
               images=images.reshape(-1, 28, 28, 1).astype(np.float32), labels=labels,
               sample_noise=lambda n: tf.random.uniform((n, noise_dim), -1.0, 1.0))


# ---------------------------------------------------------------------------------------------------------

_NAMESPACE: dict = {}


def notebook_namespace() -> dict:
    if not _NAMESPACE:
        from benchmarks.notebook_code import load_namespace

        _NAMESPACE.update(load_namespace())
    return _NAMESPACE


def build_gan(name: str, seed: int = 0, batch_size: int | None = None, learning_rate: float | None = None) -> Gan:
    """A freshly initialised (seeded) GAN with its training data; batch_size / learning_rate override the
    reference values (None: the notebook's)."""
    import keras

    from course import data

    if name not in GAN_NAMES:
        raise ValueError(f"unknown GAN {name!r}; choose from {GAN_NAMES}")
    if name == "cgan":
        images, labels = data.load_fashion_mnist(value_range=(0.0, 1.0), seed=seed)
        keras.utils.set_random_seed(seed)
        return _cgan(images, labels, batch_size=batch_size, learning_rate=learning_rate)
    namespace = notebook_namespace()
    images, labels = data.load_mnist(value_range=(-1.0, 1.0), seed=seed)
    keras.utils.set_random_seed(seed)
    return _mnist_gan(name, namespace, images, labels, batch_size=batch_size, learning_rate=learning_rate)


# ---------------------------------------------------------------------------------------------------------
# Analytic FLOPs

def layer_flops(layer) -> int:
    """Multiply-add FLOPs (2 per multiply-accumulate) of one forward pass of a layer for ONE example."""
    kind = type(layer).__name__
    if kind == "Dense":
        return 2 * int(np.prod(layer.input.shape[1:])) * int(layer.units)
    if kind == "Conv2D":
        out = layer.output.shape
        kh, kw = layer.kernel_size
        return 2 * int(out[1]) * int(out[2]) * int(out[3]) * kh * kw * int(layer.input.shape[-1])
    if kind == "Conv2DTranspose":
        inp = layer.input.shape
        kh, kw = layer.kernel_size
        return 2 * int(inp[1]) * int(inp[2]) * int(inp[3]) * kh * kw * int(layer.filters)
    return 0  # activations, BatchNorm, pooling, reshapes: negligible next to the matmuls / convolutions


def model_flops(model) -> int:
    """Forward FLOPs of a model for one example (matmuls and convolutions only)."""
    return sum(layer_flops(layer) for layer in model.layers)


def train_step_flops(gan: Gan) -> int:
    """FLOPs of one train step (a batch of gan.batch_size), counting backward = 2x forward per trained pass.

    Discriminator update: G forward (1x), D forward + backward on the real and on the fake batch (2 x 3x).
    Generator update: G forward + backward (3x), D forward + backward (3x). Total 4 F_G + 9 F_D per example.
    """
    return gan.batch_size * (4 * model_flops(gan.G) + 9 * model_flops(gan.D))
