"""Stand-ins and probes for the ``gan_1d_conditional`` checks (kernel side; public, no expected values here).

- ``models_1d``: the 1-D GAN's two networks exactly as the text specifies them, with seeded weights, so the
  ``train_step`` checks test only ``train_step`` (not the student's model builders);
- ``reference_losses``: swaps stable binary cross-entropies in for the notebook's ``d_loss``/``g_loss`` while a
  ``train_step`` check runs, so a wrong loss costs only the loss checks;
- ``set_layer_weights``: seeds a conditional model layer by layer (matched by layer class and kernel shape), so
  functional, Sequential-inside-functional and subclassed models get the same weights as the NumPy reference,
  whatever order their ``weights`` come in.
"""
from __future__ import annotations

import contextlib

import numpy as np

from course.checks import seeded_arrays, set_seeded_weights

NUM_CLASSES = 10  # the conditional networks take the class as a one-hot vector


def cgen_layers(latent_dim: int = 100) -> list[tuple[str, tuple[int, ...], bool]]:
    """(layer class, kernel shape, has bias) of the conditional generator the text describes."""
    joined = latent_dim + 64
    return [("Dense", (NUM_CLASSES, 32), True), ("Dense", (32, 64), True),
            ("Conv2DTranspose", (5, 5, 128, joined), True), ("Conv2DTranspose", (5, 5, 64, 128), True),
            ("Conv2DTranspose", (5, 5, 32, 64), False), ("Conv2D", (2, 2, 32, 1), False)]


def cdisc_layers() -> list[tuple[str, tuple[int, ...], bool]]:
    """(layer class, kernel shape, has bias) of the conditional discriminator the text describes."""
    return [("Conv2D", (3, 3, 1, 32), True), ("Conv2D", (3, 3, 32, 64), True), ("Conv2D", (3, 3, 64, 96), True),
            ("Dense", (NUM_CLASSES, 32), True), ("Dense", (32, 64), True), ("Dense", (1536 + 64, 128), True),
            ("Dense", (128, 1), True)]


def _layer_kind(layer) -> str:
    import keras

    for kind in (keras.layers.Conv2DTranspose, keras.layers.Conv2D, keras.layers.Dense):  # subclass first
        if isinstance(layer, kind):
            return kind.__name__
    return type(layer).__name__


def kernel_layers(model) -> list:
    """Every layer of ``model`` (nested models included) that owns a kernel, in tracking order."""
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    return [layer for layer in layers if getattr(layer, "kernel", None) is not None]


def set_layer_weights(model, layers, seed: int) -> None:
    """Assign ``seeded_arrays`` of ``layers`` (kernel then bias, in that list's order) to the model's layers with
    the same class and kernel shape. Raises ValueError naming the layer the model does not have."""
    specs = []
    for kind, kernel_shape, has_bias in layers:
        specs.append(("kernel", kernel_shape))
        if has_bias:
            specs.append(("bias", (kernel_shape[-2] if kind == "Conv2DTranspose" else kernel_shape[-1],)))
    arrays = iter(seeded_arrays(specs, seed))
    available = kernel_layers(model)
    for kind, kernel_shape, has_bias in layers:
        kernel = next(arrays)
        bias = next(arrays) if has_bias else None
        match = next((layer for layer in available
                      if _layer_kind(layer) == kind and tuple(layer.kernel.shape) == tuple(kernel_shape)), None)
        if match is None:
            raise ValueError(f"the model has no {kind} layer with a kernel of shape {kernel_shape}")
        available.remove(match)
        match.kernel.assign(kernel)
        if has_bias != (getattr(match, "bias", None) is not None):
            raise ValueError(f"the {kind} layer with kernel {kernel_shape} should {'' if has_bias else 'not '}"
                             "have a bias")
        if has_bias:
            match.bias.assign(bias)
    if available:
        raise ValueError(f"the model has layers the text does not describe: "
                         f"{[(_layer_kind(l), tuple(l.kernel.shape)) for l in available]}")


def models_1d(gen_seed: int, disc_seed: int, latent_dim: int = 100):
    """The text's 1-D generator (Dense 64 relu, Dense 64 relu, Dense 1) and discriminator (Dense 32 relu,
    Dense 1, logits), with ``set_seeded_weights``."""
    import keras
    from keras import layers

    noise = keras.Input((latent_dim,))
    h = layers.Dense(64, activation="relu")(layers.Dense(64, activation="relu")(noise))
    generator = keras.Model(noise, layers.Dense(1)(h), name="reference_generator_1d")
    sample = keras.Input((1,))
    discriminator = keras.Model(sample, layers.Dense(1)(layers.Dense(32, activation="relu")(sample)),
                                name="reference_discriminator_1d")
    set_seeded_weights(generator, gen_seed)
    set_seeded_weights(discriminator, disc_seed)
    return generator, discriminator


def _stable_d_loss(d_real, d_fake):
    import tensorflow as tf

    xent = tf.nn.sigmoid_cross_entropy_with_logits
    return (tf.reduce_mean(xent(labels=tf.ones_like(d_real), logits=d_real))
            + tf.reduce_mean(xent(labels=tf.zeros_like(d_fake), logits=d_fake)))


def _stable_g_loss(d_fake):
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(d_fake), logits=d_fake))


@contextlib.contextmanager
def reference_losses(function):
    """While active, ``d_loss`` and ``g_loss`` in ``function``'s module namespace are the text's losses.

    ``function`` may be wrapped (a ``tf.function``, a ``functools.wraps`` decorator); when no namespace can be
    found, nothing is swapped and the student's own losses run."""
    namespace = None
    for candidate in (function, getattr(function, "python_function", None), getattr(function, "__wrapped__", None)):
        namespace = getattr(candidate, "__globals__", None)
        if namespace is not None:
            break
    if namespace is None:
        yield
        return
    saved = {name: namespace[name] for name in ("d_loss", "g_loss") if name in namespace}
    namespace["d_loss"], namespace["g_loss"] = _stable_d_loss, _stable_g_loss
    try:
        yield
    finally:
        for name in ("d_loss", "g_loss"):
            namespace.pop(name, None)
        namespace.update(saved)


def flat_weights(model) -> np.ndarray:
    """Every weight of ``model`` in ``model.weights`` order, flattened and joined (float64)."""
    return np.concatenate([np.ravel(np.asarray(w, dtype=np.float64)) for w in model.weights])


def dense_initializers(model) -> list[tuple[str, str]]:
    """(kernel initializer class, bias initializer class) of every Dense layer of ``model``."""
    import keras

    return [(type(layer.kernel_initializer).__name__, type(layer.bias_initializer).__name__)
            for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.Dense)]
