"""Stand-ins, spies and recorders for the ``dcgan_cifar`` checks (kernel side; public, so no expected values here).

- ``tiny_models``: fast stand-in generator and discriminator for the step, checkpoint and training checks; with
  ``training_marker=True`` the discriminator contains ``TrainingMask``, a deterministic stand-in for dropout, so
  a check can tell from the loss alone whether the discriminator ran in training mode.
- ``dropout_probe``: runs the real discriminator in training mode with a one-hot Dense kernel, so its outputs
  show which values its dropout can produce.
- ``optimizer_trajectory``: a variable after two updates by an optimizer.
- ``save_order``: which weight files ``save_checkpoint`` wrote, and whether ``state.json`` existed at the time.
- ``train_trace``: runs ``train`` with recording stand-ins for the step functions and ``make_labels`` (so only
  ``train`` itself is tested) and a recorder around ``save_checkpoint``; returns what every step was given.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np

_MARKER_CLASS = None


def training_mask_layer():
    """``TrainingMask``: identity at inference; in training mode it keeps the even-numbered features doubled
    and zeroes the odd ones (a fixed dropout mask of rate 0.5), so training mode changes the output predictably."""
    global _MARKER_CLASS
    if _MARKER_CLASS is None:
        import keras
        from keras import ops

        class TrainingMask(keras.layers.Layer):
            def call(self, inputs, training=None):
                if not training:
                    return inputs
                size = int(inputs.shape[-1])
                mask = ops.convert_to_tensor((np.arange(size) % 2 == 0).astype("float32") * 2.0)
                return inputs * mask

        _MARKER_CLASS = TrainingMask
    return _MARKER_CLASS()


def tiny_models(training_marker: bool = False):
    """A 4-d latent -> 8x8x3 tanh generator and a Flatten -> [TrainingMask] -> sigmoid discriminator."""
    import keras
    from keras import layers

    g = keras.Sequential([keras.Input((4,)), layers.Dense(8 * 8 * 3, activation="tanh"), layers.Reshape((8, 8, 3))])
    middle = [training_mask_layer()] if training_marker else []
    d = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(), *middle, layers.Dense(1, activation="sigmoid")])
    return g, d


def weights(*models) -> list[np.ndarray]:
    """Copies of every weight of the models, in order."""
    return [np.array(w) for model in models for w in model.weights]


def flat_weights(model) -> np.ndarray:
    """Every weight of ``model``, flattened and concatenated in ``model.weights`` order (float64)."""
    return np.concatenate([np.asarray(w, np.float64).ravel() for w in model.weights])


def dropout_probe(model, seed: int, image, unit: int, weight: float, copies: int = 32) -> np.ndarray:
    """Seeded weights, then the Dense kernel (second-to-last weight, shape (features, 1)) replaced by
    ``weight`` times the one-hot vector of ``unit``; returns the probabilities for ``copies`` copies of
    ``image`` with ``training=True`` (one dropout mask per row)."""
    from course.checks import set_seeded_weights

    set_seeded_weights(model, seed)
    kernel = model.weights[-2]
    if len(kernel.shape) != 2 or int(kernel.shape[-1]) != 1:
        raise ValueError(f"the discriminator's second-to-last weight should be the Dense kernel (features, 1), "
                         f"got shape {tuple(kernel.shape)}")
    one_hot = np.zeros(tuple(kernel.shape), np.float32)
    one_hot[int(unit), 0] = weight
    kernel.assign(one_hot)
    batch = np.repeat(np.asarray(image, np.float32)[None], copies, axis=0)
    return np.asarray(model(batch, training=True), np.float64)


def optimizer_trajectory(optimizer, x0, grads, iterations: int) -> np.ndarray:
    """Set ``optimizer.iterations``, then apply each row of ``grads`` to a variable starting at ``x0``;
    returns the variable after each update."""
    import tensorflow as tf

    variable = tf.Variable(np.asarray(x0, np.float32))
    optimizer.iterations.assign(int(iterations))
    out = []
    for gradient in np.asarray(grads, np.float32):
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
        out.append(variable.numpy().astype(np.float64))
    return np.array(out)


def save_order(save_checkpoint, folder, step: int = 7) -> dict:
    """Call ``save_checkpoint(folder, step, ...)`` on tiny models whose ``save_weights`` records, per call,
    which model it was, the file name and whether ``folder / "state.json"`` existed at that moment."""
    g, d = tiny_models()
    folder = Path(folder)
    calls: list[tuple[str, str, bool]] = []
    for tag, model in (("generator", g), ("discriminator", d)):
        original = model.save_weights

        def recorded(filepath, *args, _tag=tag, _original=original, **kwargs):
            calls.append((_tag, Path(filepath).name, (folder / "state.json").exists()))
            return _original(filepath, *args, **kwargs)

        model.save_weights = recorded
    latents = np.random.default_rng(step).standard_normal((4, 4)).astype(np.float32)
    save_checkpoint(folder, step, g, d, latents)
    state = (folder / "state.json").read_text() if (folder / "state.json").is_file() else ""
    return {"calls": [list(call) for call in calls], "state": state}


# ----------------------------------------------------------------------------------------------------------
# train: recording stand-ins
# ----------------------------------------------------------------------------------------------------------
class _Recorder:
    """What one ``train`` call gave the step functions, ``make_labels`` and ``save_checkpoint``."""

    def __init__(self):
        self.d_steps: list[list[np.ndarray]] = []
        self.g_steps: list[list[np.ndarray]] = []
        self.labels: list[list] = []  # [batch_size, rng given, d_labels, targets]
        self.saves: list[list] = []  # [step, sample_latents]

    def stand_ins(self, save_checkpoint):
        import tensorflow as tf

        def record_into(log):
            def record(*arrays):
                log.append([np.array(a) for a in arrays])
                return np.float32(0.0)
            return record

        def discriminator_step(generator, discriminator, d_optimizer, real_images, latent_vectors, labels):
            real = tf.cast(real_images, tf.float32)
            z = tf.cast(latent_vectors, tf.float32)
            labels = tf.cast(labels, tf.float32)
            recorded = tf.numpy_function(record_into(self.d_steps), [real, z, labels], tf.float32)
            return tf.reduce_mean(real) + 2.0 * tf.reduce_mean(labels) + 3.0 * tf.reduce_mean(z) + 0.0 * recorded

        def generator_step(generator, discriminator, g_optimizer, latent_vectors, misleading_targets):
            z = tf.cast(latent_vectors, tf.float32)
            targets = tf.cast(misleading_targets, tf.float32)
            recorded = tf.numpy_function(record_into(self.g_steps), [z, targets], tf.float32)
            return 4.0 * tf.reduce_mean(z) + tf.reduce_mean(targets) - 5.0 + 0.0 * recorded

        def make_labels(batch_size, noise=0.05, rng=None):
            given = rng is not None
            rng = rng if given else np.random.default_rng()
            d_labels = rng.random((2 * int(batch_size), 1)).astype(np.float32)
            targets = (rng.random((int(batch_size), 1)) + 5.0).astype(np.float32)
            self.labels.append([int(batch_size), given, d_labels.copy(), targets.copy()])
            return d_labels, targets

        def recorded_save_checkpoint(out_dir, step, generator, discriminator, sample_latents):
            self.saves.append([int(step), np.array(sample_latents, np.float64)])
            return save_checkpoint(out_dir, step, generator, discriminator, sample_latents)

        return {"discriminator_step": discriminator_step, "generator_step": generator_step,
                "make_labels": make_labels, "save_checkpoint": recorded_save_checkpoint}

    def summary(self, history) -> dict:
        def stack(arrays):
            try:
                return np.stack([np.asarray(a, np.float64) for a in arrays])
            except (ValueError, TypeError):
                return np.zeros((0,))

        history = dict(history)
        return {
            "real": stack([s[0] for s in self.d_steps if len(s) == 3]),
            "z_d": stack([s[1] for s in self.d_steps if len(s) == 3]),
            "labels": stack([s[2] for s in self.d_steps if len(s) == 3]),
            "z_g": stack([s[0] for s in self.g_steps if len(s) == 2]),
            "targets": stack([s[1] for s in self.g_steps if len(s) == 2]),
            "label_batch_sizes": [c[0] for c in self.labels],
            "label_rng_given": [c[1] for c in self.labels],
            "made_labels": stack([c[2] for c in self.labels]),
            "made_targets": stack([c[3] for c in self.labels]),
            "saved_steps": [s[0] for s in self.saves],
            "sample_latents": stack([s[1] for s in self.saves]),
            "history_step": [int(s) for s in history.get("step", [])],
            "history_d_loss": [float(v) for v in history.get("d_loss", [])],
            "history_g_loss": [float(v) for v in history.get("g_loss", [])],
        }


@contextlib.contextmanager
def _swapped(namespace: dict, replacements: dict):
    saved = {name: namespace[name] for name in replacements if name in namespace}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name in replacements:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)


_TRACES: dict = {}


def train_trace(train, images, batch_size: int = 8) -> dict:
    """Run ``train`` with recording stand-ins swapped into the globals ``train`` looks its helpers up in: run "a" trains 4 steps (save_every=3, seed=5) in one call; "b1" trains 2 steps and "b2"
    resumes the same folder with fresh models to 4; "c" trains 1 step with seed=6. Returns, per run, what each
    step was given and what ``train`` returned. Cached per ``train`` function (several checks read one trace)."""
    import keras

    images = np.asarray(images, np.float32)
    key = (id(train), images.shape, float(images.sum()), batch_size)
    if key in _TRACES:
        return _TRACES[key]
    namespace = train.__globals__
    save_checkpoint = namespace["save_checkpoint"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run, folder, steps, seed in (("a", "a", 4, 5), ("b1", "b", 2, 5), ("b2", "b", 4, 5), ("c", "c", 1, 6)):
            recorder = _Recorder()
            g, d = tiny_models()
            with _swapped(namespace, recorder.stand_ins(save_checkpoint)):
                history = train(g, d, keras.optimizers.RMSprop(1e-3), keras.optimizers.RMSprop(1e-3), images,
                                 steps=steps, out_dir=Path(tmp) / folder, batch_size=batch_size, save_every=3,
                                 seed=seed)
            out[run] = recorder.summary(history)
    _TRACES[key] = out
    return out
