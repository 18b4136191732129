"""Spies, stand-in models and phase probes for the ``keras_sequential_gan`` checks (kernel side; public, so it
holds no expected value: the judge compares what these return with the NumPy reference's values).

The stand-ins make every ``train_on_batch`` deterministic whatever codings a student draws, so the reference
(``autograder/answers/keras_sequential_gan.py``) can follow each step exactly:

- ``standin_generator``: its only weight is a trainable image (28, 28); it returns that image with the codings
  written into its first row, so the codings of every fake can be read back;
- ``standin_discriminator``: Cropping1D((1, 0)) (the first row, hence the codings, never reaches it), Flatten,
  Dense 3 selu, Dense 1 sigmoid, weights from ``course.checks.set_seeded_weights``.
"""
from __future__ import annotations

import numpy as np

STANDIN_CODINGS = 20
# Two check cells read the same record (codings_draws, train_gan_record): the second reuses the first's run when
# it is given the same functions and inputs, which saves a training run per pair.
_RECORDS: dict = {}


def _memo_key(*parts) -> tuple:
    return tuple(p if callable(p) else (np.asarray(p).tobytes() if isinstance(p, np.ndarray) else p)
                 for p in parts)


def _snapshot(model) -> list[np.ndarray]:
    return [w.numpy().copy() for w in model.weights]


def _changed(before, model) -> bool:
    return any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))


def flat_weights(model) -> np.ndarray:
    """Every weight of ``model`` in ``model.weights`` order, flattened into one float64 vector."""
    return np.concatenate([np.ravel(w.numpy()) for w in model.weights]).astype(np.float64)


def as_loss(value) -> float:
    """The loss in what ``train_on_batch`` returned (a float, or the first entry of a list or dict)."""
    if isinstance(value, dict):
        value = value.get("loss", next(iter(value.values())))
    return float(np.ravel(np.asarray(value, dtype=np.float64))[0])


def standin_generator(image, codings_size: int = STANDIN_CODINGS):
    import keras
    from keras import ops

    class CodingsImage(keras.layers.Layer):
        """Returns a trainable image with the codings written into the first ``codings_size`` pixels of row 0."""

        def build(self, input_shape):
            self.image = self.add_weight(shape=(28, 28), name="image", trainable=True,
                                         initializer=keras.initializers.Constant(np.asarray(image, "float32")))

        def call(self, codings):
            row = ops.pad(ops.cast(codings, "float32"), [[0, 0], [0, 28 - codings_size]])
            rows = ops.concatenate([row[:, None, :], ops.zeros_like(row)[:, None, :] * ops.ones((1, 27, 1))], axis=1)
            return rows + self.image[None]

    return keras.Sequential([keras.Input((codings_size,)), CodingsImage()], name="standin_generator")


def standin_discriminator(seed: int):
    import keras
    from keras import layers

    from course.checks import set_seeded_weights

    model = keras.Sequential([keras.Input((28, 28)), layers.Cropping1D((1, 0)), layers.Flatten(),
                              layers.Dense(3, activation="selu"), layers.Dense(1, activation="sigmoid")],
                             name="standin_discriminator")
    set_seeded_weights(model, int(seed))
    return model


def compile_like_the_text(generator, discriminator):
    """The recipe of the text (so that only the function under test is tested): compile D, freeze it, chain
    and compile the GAN, each with its own RMSprop()."""
    import keras

    discriminator.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop())
    discriminator.trainable = False
    gan = keras.Sequential([generator, discriminator])
    gan.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop())
    return gan


def standins(seed: int, image):
    return standin_generator(image), standin_discriminator(seed)


def compile_phases(compile_gan, seed, image, d_x, d_y, z) -> dict:
    """``compile_gan`` on the stand-ins, then two rounds of (discriminator.train_on_batch(d_x, d_y),
    gan.train_on_batch(z, ones)) with the trainable flag set before each call as the text says.

    Returns: frozen (discriminator.trainable after compile_gan), gan_trainable_count (number of trainable
    weights of the returned gan), losses (4,), d_updates and g_updates (4, n): weights after each phase minus
    those right after compile_gan."""
    generator, discriminator = standins(seed, image)
    gan = compile_gan(generator, discriminator)
    frozen = not bool(discriminator.trainable)
    gan_trainable_count = len(gan.trainable_weights)
    d_start, g_start = flat_weights(discriminator), flat_weights(generator)
    ones = np.ones((len(z), 1), "float32")
    losses, d_updates, g_updates = [], [], []
    for _ in range(2):
        discriminator.trainable = True
        losses.append(as_loss(discriminator.train_on_batch(d_x, d_y)))
        d_updates.append(flat_weights(discriminator) - d_start)
        g_updates.append(flat_weights(generator) - g_start)
        discriminator.trainable = False
        losses.append(as_loss(gan.train_on_batch(z, ones)))
        d_updates.append(flat_weights(discriminator) - d_start)
        g_updates.append(flat_weights(generator) - g_start)
    return {"frozen": frozen, "gan_trainable_count": gan_trainable_count, "losses": np.array(losses),
            "d_updates": np.array(d_updates), "g_updates": np.array(g_updates)}


def record_train_on_batch(models: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Wrap each model's ``train_on_batch`` so every call is recorded as ``(tag, x, y)``; returns the record."""
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []
    for tag, model in models.items():
        original = model.train_on_batch

        def recorded(x=None, y=None, *args, _tag=tag, _original=original, **kwargs):
            calls.append((_tag, np.asarray(x), np.asarray(y)))
            return _original(x, y, *args, **kwargs)

        model.train_on_batch = recorded
    return calls


def _returned_loss(value) -> float:
    """A step's return value as a float, NaN unless it is a Python float (the text asks for one)."""
    return float(value) if isinstance(value, float) else float("nan")


def discriminator_step_phases(discriminator_step, seed, image, reals) -> dict:
    """``discriminator_step`` twice on the stand-ins (compiled by the text's recipe, so D starts frozen).

    Returns: losses (2,) as returned (NaN where not a float), d_updates (2, n): weights after each call minus
    those before the first, and tags (which model's train_on_batch ran, in order)."""
    generator, discriminator = standins(seed, image)
    gan = compile_like_the_text(generator, discriminator)
    calls = record_train_on_batch({"discriminator": discriminator, "gan": gan})
    d_start = flat_weights(discriminator)
    losses, d_updates = [], []
    for _ in range(2):
        losses.append(_returned_loss(discriminator_step(generator, discriminator, reals, STANDIN_CODINGS)))
        d_updates.append(flat_weights(discriminator) - d_start)
    return {"losses": np.array(losses), "d_updates": np.array(d_updates), "tags": [tag for tag, _, _ in calls]}


def generator_step_phases(generator_step, seed, image, d_x, d_y, batch_size) -> dict:
    """One discriminator.train_on_batch(d_x, d_y) with D trainable (so its training function exists), then
    ``generator_step(gan, batch_size, 20)`` twice on the stand-ins.

    Returns: losses (2,) as returned (NaN where not a float), g_updates (2, 784): generator weights after each
    call minus those before the first, d_change (largest change of a discriminator weight over both calls),
    tags of the train_on_batch calls, labels (the y of the gan's calls, flattened)."""
    generator, discriminator = standins(seed, image)
    gan = compile_like_the_text(generator, discriminator)
    discriminator.trainable = True
    discriminator.train_on_batch(d_x, d_y)
    calls = record_train_on_batch({"discriminator": discriminator, "gan": gan})
    d_start, g_start = flat_weights(discriminator), flat_weights(generator)
    losses, g_updates = [], []
    for _ in range(2):
        losses.append(_returned_loss(generator_step(gan, int(batch_size), STANDIN_CODINGS)))
        g_updates.append(flat_weights(generator) - g_start)
    labels = [np.ravel(y).astype(np.float64) for tag, _, y in calls if tag == "gan"]
    return {"losses": np.array(losses), "g_updates": np.array(g_updates),
            "d_change": float(np.max(np.abs(flat_weights(discriminator) - d_start))),
            "tags": [tag for tag, _, _ in calls],
            "labels": np.concatenate(labels) if labels else np.zeros(0)}


def _fake_codings(x, reals) -> np.ndarray:
    """The codings in the fakes of one discriminator batch: row 0 of every image that is not one of ``reals``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28)
    reals = np.asarray(reals, dtype=np.float64).reshape(-1, 28, 28)
    is_real = np.array([np.min(np.max(np.abs(reals - image), axis=(1, 2))) < 1e-6 for image in x], dtype=bool)
    return x[~is_real, 0, :STANDIN_CODINGS]


def codings_draws(discriminator_step, generator_step, seed, image, reals) -> dict:
    """discriminator_step, generator_step, discriminator_step, generator_step on the stand-ins (batch =
    len(reals)); the codings each call drew, read from the fakes (discriminator) or the gan's inputs.

    Returns: d_codings and g_codings, each (2, batch, 20) (empty when a call's codings had another shape)."""
    key = _memo_key("codings", discriminator_step, generator_step, seed, np.asarray(image), np.asarray(reals))
    if key in _RECORDS:
        return _RECORDS[key]
    generator, discriminator = standins(seed, image)
    gan = compile_like_the_text(generator, discriminator)
    calls = record_train_on_batch({"discriminator": discriminator, "gan": gan})
    batch = len(reals)
    d_codings, g_codings = [], []
    for _ in range(2):  # the codings of each step, whatever number of train_on_batch calls it makes
        start = len(calls)
        discriminator_step(generator, discriminator, reals, STANDIN_CODINGS)
        fakes = [_fake_codings(x, reals) for tag, x, _ in calls[start:] if tag == "discriminator"]
        d_codings.append(np.concatenate(fakes) if fakes else np.zeros((0, STANDIN_CODINGS)))
        start = len(calls)
        generator_step(gan, batch, STANDIN_CODINGS)
        codings = [np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1]) for tag, x, _ in calls[start:]
                   if tag == "gan" and np.ndim(x) >= 2]
        g_codings.append(np.concatenate(codings) if codings else np.zeros((0, STANDIN_CODINGS)))

    def stack(arrays):
        ok = len(arrays) == 2 and all(a.shape == (batch, STANDIN_CODINGS) for a in arrays)
        return np.array(arrays) if ok else np.zeros((0, batch, STANDIN_CODINGS))

    _RECORDS[key] = {"d_codings": stack(d_codings), "g_codings": stack(g_codings)}
    return _RECORDS[key]


def train_gan_record(train_gan, namespace: dict, seed, image, reals, batch_size: int, n_epochs: int) -> dict:
    """``train_gan`` on the stand-ins and ``tf.data.Dataset.from_tensor_slices(reals).batch(batch_size)``.

    The notebook's ``discriminator_step`` / ``generator_step`` (looked up in ``namespace``) are wrapped for the
    call so their arguments and results are recorded (they still run); a loop that inlines the phases is seen
    through the ``train_on_batch`` record instead.

    Returns: phases ("d"/"g" per step call, or per train_on_batch call when no step function was called),
    d_losses and g_losses (what each phase produced), history_d and history_g (train_gan's history, NaN for
    entries that are not floats), all_floats, history_keys, reals_seen (per discriminator phase, the candidate
    real images: the real_images argument, or the whole train_on_batch batch), g_shapes ((batch, codings) of
    each generator phase)."""
    import tensorflow as tf

    key = _memo_key("loop", train_gan, namespace.get("discriminator_step"), namespace.get("generator_step"), seed,
                    np.asarray(image), np.asarray(reals), batch_size, n_epochs)
    if key in _RECORDS:
        return _RECORDS[key]
    generator, discriminator = standins(seed, image)
    gan = compile_like_the_text(generator, discriminator)
    calls = []
    originals = {tag: model.train_on_batch for tag, model in (("d", discriminator), ("g", gan))}
    for tag, model in (("d", discriminator), ("g", gan)):
        def recorded(x=None, y=None, *args, _tag=tag, **kwargs):
            result = originals[_tag](x, y, *args, **kwargs)
            calls.append((_tag, np.asarray(x), as_loss(result)))
            return result
        model.train_on_batch = recorded

    steps = []
    wrapped = {}
    if callable(namespace.get("discriminator_step")):
        student_d = namespace["discriminator_step"]

        def discriminator_step(generator, discriminator, real_images, codings_size, *args, **kwargs):
            result = student_d(generator, discriminator, real_images, codings_size, *args, **kwargs)
            steps.append(("d", np.asarray(real_images, dtype=np.float64), None, result))
            return result
        wrapped["discriminator_step"] = discriminator_step
    if callable(namespace.get("generator_step")):
        student_g = namespace["generator_step"]

        def generator_step(gan, batch_size, codings_size, *args, **kwargs):
            result = student_g(gan, batch_size, codings_size, *args, **kwargs)
            steps.append(("g", None, (int(batch_size), int(codings_size)), result))
            return result
        wrapped["generator_step"] = generator_step
    saved = {name: namespace[name] for name in wrapped}
    namespace.update(wrapped)
    try:
        dataset = tf.data.Dataset.from_tensor_slices(np.asarray(reals, "float32")).batch(batch_size)
        history = train_gan(gan, dataset, batch_size, STANDIN_CODINGS, n_epochs=n_epochs, show=False)
    finally:
        namespace.update(saved)

    def floats(values):
        return np.array([v if isinstance(v, float) else float("nan") for v in values], dtype=np.float64)

    history = dict(history)
    history_d, history_g = list(history.get("d_loss", [])), list(history.get("g_loss", []))
    record = {"history_keys": sorted(str(k) for k in history), "history_d": floats(history_d),
              "history_g": floats(history_g),
              "all_floats": all(isinstance(v, float) for v in history_d + history_g)}
    if steps:
        record["phases"] = [tag for tag, *_ in steps]
        record["d_losses"] = np.array([as_loss(r) for tag, _, _, r in steps if tag == "d"])
        record["g_losses"] = np.array([as_loss(r) for tag, _, _, r in steps if tag == "g"])
        record["reals_seen"] = [reals_arg for tag, reals_arg, _, _ in steps if tag == "d"]
        record["g_shapes"] = [shape for tag, _, shape, _ in steps if tag == "g"]
    else:
        record["phases"] = [tag for tag, _, _ in calls]
        record["d_losses"] = np.array([loss for tag, _, loss in calls if tag == "d"])
        record["g_losses"] = np.array([loss for tag, _, loss in calls if tag == "g"])
        record["reals_seen"] = [x for tag, x, _ in calls if tag == "d"]
        record["g_shapes"] = [tuple(x.shape) for tag, x, _ in calls if tag == "g"]
    _RECORDS[key] = record
    return record


def dropout_profile(model) -> dict:
    """The discriminator's layers that matter for training-mode behaviour, in order: ``kinds`` lists
    "conv", "dropout" and "dense" for each Conv2D, dropout-like and Dense layer (activations, Flatten and
    Input layers left out: dropout commutes with them), and ``drop_rates`` the share of units each dropout
    layer zeroes, measured by calling it in training mode on 20,000 ones."""
    import keras

    def walk(layer):
        for inner in getattr(layer, "layers", None) or []:
            yield from walk(inner)
        if not getattr(layer, "layers", None):
            yield layer

    kinds, rates = [], []
    for layer in walk(model):
        if isinstance(layer, keras.layers.Conv2D):
            kinds.append("conv")
        elif isinstance(layer, keras.layers.Dense):
            kinds.append("dense")
        elif "dropout" in type(layer).__name__.lower():
            kinds.append("dropout")
            out = np.asarray(layer(np.ones((1, 20000), "float32"), training=True))
            rates.append(float(np.mean(out == 0)))
    return {"kinds": kinds, "drop_rates": np.array(rates, dtype=np.float64)}


def phase_changes(make_generator, make_discriminator, compile_gan, generator_step, discriminator_step,
                  phases, seed: int) -> list[tuple[str, tuple[bool, bool]]]:
    """Run the student's steps in ``phases`` order on fresh models; for each phase, whether the generator and
    the discriminator changed."""
    generator, discriminator = make_generator(30), make_discriminator()
    gan = compile_gan(generator, discriminator)
    real = np.random.default_rng(seed).uniform(0, 1, size=(8, 28, 28)).astype("float32")
    changes = []
    for phase in phases:
        g, d = _snapshot(generator), _snapshot(discriminator)
        if phase == "generator":
            generator_step(gan, 8, 30)
        else:
            discriminator_step(generator, discriminator, real, 30)
        changes.append((phase, (_changed(g, generator), _changed(d, discriminator))))
    return changes
