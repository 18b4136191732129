"""Stand-ins, spies and recorders for the ``keras_model_gan`` checks (kernel side; no expected values here).

What the checks need to see and the real models hide: the ``training`` flag each network is called with and the
batches it sees (``RecordingModel``), which loss is called with which labels (``RecordingLoss``), how often and
for how many rows noise is drawn (``NoiseBank``, which also makes each draw reproducible inside ``fit``), which
tf.data transformations a pipeline is made of (``pipeline_stages``) and what a callback hands to
``save_image_grid`` (``recorded_image_grids``; ``run_callback`` runs a student's callback on the seeded stand-in
generator, so what it saved is a result of the student's code).
"""
from __future__ import annotations

import contextlib


def tiny_models(num_classes=None):
    """The small generator (noise 4 -> image 2x2x3) and discriminator (-> logit) of the GAN checks."""
    import keras
    from keras import layers

    noise, image = keras.Input((4,)), keras.Input((2, 2, 3))
    x, y = noise, layers.Flatten()(image)
    if num_classes:
        class_vector = keras.Input((num_classes,))
        x, y = layers.Concatenate()([noise, class_vector]), layers.Concatenate()([y, class_vector])
    x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(8)(x))
    x = layers.Reshape((2, 2, 3))(layers.Dense(12, activation="tanh")(x))
    y = layers.Dense(1)(layers.LeakyReLU(negative_slope=0.2)(layers.Dense(8)(y)))
    generator = keras.Model([noise, class_vector] if num_classes else noise, x)
    discriminator = keras.Model([image, class_vector] if num_classes else image, y)
    return generator, discriminator


def check_compile(gan, d_optimizer=None, g_optimizer=None, d_loss=None, g_loss=None, metrics=None):
    """Compile ``gan`` with the checks' optimizers (Adam for D, RMSprop for G) and losses."""
    import keras

    gan.compile(
        optimizers={"discriminator": d_optimizer or keras.optimizers.Adam(0.01, beta_1=0.5),
                    "generator": g_optimizer or keras.optimizers.RMSprop(0.01)},
        losses={"discriminator": d_loss or keras.losses.BinaryCrossentropy(from_logits=True),
                "generator": g_loss or keras.losses.BinaryCrossentropy(from_logits=True)},
        metrics=metrics)


class CallLog:
    """A plain list holder (Keras would wrap a list attribute of a model in its own tracked copy)."""

    def __init__(self):
        self.calls = []


def recording_model(inner):
    """A ``keras.Model`` that behaves as ``inner`` and logs ``(training, rows, total, classes)`` per call.

    ``training`` is what the caller passed (None when it passed nothing); ``rows`` and ``total`` are the number
    of rows and the sum of the first input (the noise of a generator), ``classes`` the second input (class
    vectors, as an array) or None; all None while tracing. Its weights are ``inner``'s, in the same order.
    """
    import keras
    import numpy as np

    class RecordingModel(keras.Model):
        def __init__(self, model, log):
            super().__init__()
            self.inner = model
            self.log = log

        def call(self, inputs, training=None):
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            second = inputs[1] if isinstance(inputs, (list, tuple)) and len(inputs) > 1 else None
            try:  # concrete values only (eager calls); symbolic ones while tracing give None
                rows, total = int(first.shape[0]), float(np.sum(np.asarray(first, dtype=np.float64)))
                second = None if second is None else np.asarray(second, dtype=np.float64)
            except (TypeError, ValueError, NotImplementedError, AttributeError):
                rows, total, second = None, None, None
            self.log.calls.append((None if training is None else bool(training), rows, total, second))
            return self.inner(inputs, training=training)

    return RecordingModel(inner, CallLog())


class RecordingLoss:
    """The Keras ``BinaryCrossentropy(from_logits=True)`` loss (a scalar mean), logging every call.

    ``calls``: one ``(rows, sum of the labels, loss value)`` per call, so a check can tell the discriminator's
    [0.., 1..] labels from the generator's all-ones labels, and knows the losses the step computed. Eager only.
    """

    def __init__(self):
        import keras

        self.calls = []
        self.loss = keras.losses.BinaryCrossentropy(from_logits=True)

    def __call__(self, y_true, y_pred):
        import numpy as np

        value = self.loss(y_true, y_pred)
        labels = np.asarray(y_true, dtype=np.float64)
        self.calls.append((int(labels.shape[0]), float(labels.sum()), float(value)))
        return value


def recording_accuracy(name="acc"):
    """``keras.metrics.BinaryAccuracy(threshold=0.0)`` that logs ``(rows, correct)`` per ``update_state`` (eager)."""
    import keras
    import numpy as np

    class RecordingAccuracy(keras.metrics.BinaryAccuracy):
        def __init__(self):
            super().__init__(name=name, threshold=0.0)
            self.log = CallLog()

        def update_state(self, y_true, y_pred, sample_weight=None):
            hits = (np.asarray(y_pred).reshape(-1) > 0) == (np.asarray(y_true).reshape(-1) > 0.5)
            self.log.calls.append((int(hits.size), int(hits.sum())))
            return super().update_state(y_true, y_pred, sample_weight)

    return RecordingAccuracy()


class NoiseBank:
    """A replacement for ``GAN.sample_noise``: call k returns ``noises[k % len(noises)][:batch_size]``.

    The call counter is a ``tf.Variable``, so each call gets the next array inside a compiled ``fit`` too;
    ``calls`` reads it.
    """

    def __init__(self, noises):
        import tensorflow as tf

        self.noises = tf.constant(noises, dtype=tf.float32)
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False)

    def __call__(self, batch_size):
        import tensorflow as tf

        index = self.counter.assign_add(1) - 1
        count = tf.cast(tf.shape(self.noises)[0], tf.int64)
        return tf.gather(self.noises, index % count)[: tf.cast(batch_size, tf.int32)]

    @property
    def calls(self) -> int:
        return int(self.counter.numpy())


def pipeline_stages(dataset) -> list[str]:
    """Names of the tf.data transformations of ``dataset``, outermost first (``["Prefetch", "Batch", ...]``)."""
    stages = []
    while dataset is not None and len(stages) < 50:
        stages.append(type(dataset).__name__.strip("_").removesuffix("Dataset"))
        dataset = getattr(dataset, "_input_dataset", None)
    return stages


@contextlib.contextmanager
def recorded_image_grids(namespace):
    """Replace ``save_image_grid`` (in ``namespace``, the notebook's globals, and in ``course.viz``) by a
    recorder for the duration; yields the list of ``(images as float64 array, path as str)`` it was given."""
    import numpy as np

    import course.viz

    saved = []

    def record(images, path, *args, **kwargs):
        saved.append((np.asarray(images, dtype=np.float64), str(path)))
        return path

    originals = (namespace.get("save_image_grid"), course.viz.save_image_grid)
    namespace["save_image_grid"], course.viz.save_image_grid = record, record
    try:
        yield saved
    finally:
        namespace["save_image_grid"], course.viz.save_image_grid = originals


def _phase_losses(recorders, batch):
    """The loss values of phase 1 (calls on 2 * batch labels) and phase 2 (batch labels), in call order, from
    whichever recording losses saw them (a student who swaps the loss roles still has each phase's values)."""
    calls = [call for recorder in recorders for call in getattr(recorder, "calls", [])]
    return [c[2] for c in calls if c[0] == 2 * batch], [c[2] for c in calls if c[0] == batch]


def _seeded(answers, prefix, num_classes=None):
    from course.checks import set_seeded_weights

    generator, discriminator = tiny_models(num_classes)
    set_seeded_weights(generator, int(answers[f"{prefix}_g_seed"]))
    set_seeded_weights(discriminator, int(answers[f"{prefix}_d_seed"]))
    return generator, discriminator


def run_gan_steps(gan_class, answers, *, steps=1, conditional=False, losses=None):
    """Train a ``gan_class`` GAN of the seeded tiny models for ``steps`` eager calls of ``train_step`` (no reset
    between them), every ``sample_noise`` call drawing the next array of the answers' noise (``NoiseBank``).

    Both networks are ``recording_model``s, both losses ``RecordingLoss`` (unless ``losses`` = (d_loss, g_loss)
    is given), the one compiled metric ``{"acc": recording_accuracy()}``; none of them changes a value.
    Inputs: ``answers`` with the ``run_*`` keys (``cond_step_*`` when ``conditional``).
    Returns a dict of plain data: ``logs`` (one {name: float} per step), ``d_weights`` and ``g_weights``
    (after the steps), ``d_start`` and ``g_start`` (before them), ``noise_calls``; ``d_calls``, ``g_calls`` ((training, rows, sum of the first input, classes) per
    network call, ``classes`` the class vectors it got); ``d_loss_calls``, ``g_loss_calls`` ((rows, label sum, value) per loss call, empty with
    ``losses``); ``metric_updates`` ((rows, correct) per update); ``phase_losses`` (phase 1's and phase 2's loss values, per
    step, whichever loss computed them); ``metric_results`` (``result()`` of every
    entry of ``gan.metrics`` after the steps, summed to a float) and ``metric_results_after_reset``.
    """
    import numpy as np
    import tensorflow as tf

    prefix = "cond_step" if conditional else "run"
    generator, discriminator = _seeded(answers, prefix, 3 if conditional else None)
    d_model, g_model = recording_model(discriminator), recording_model(generator)
    d_loss, g_loss = losses or (RecordingLoss(), RecordingLoss())
    metric = recording_accuracy()
    gan = gan_class(d_model, g_model, latent_dim=4)
    check_compile(gan, d_loss=d_loss, g_loss=g_loss, metrics={"acc": metric})
    bank = NoiseBank(answers[f"{prefix}_noise"])
    gan.sample_noise = bank
    real = tf.constant(answers[f"{prefix}_real"])
    data = (real, tf.constant(answers["cond_step_classes"])) if conditional else real
    d_start, g_start = [w.numpy().copy() for w in discriminator.weights], [w.numpy().copy() for w in generator.weights]
    logs = [{str(k): float(np.asarray(v).sum()) for k, v in gan.train_step(data).items()} for _ in range(steps)]
    out = {"logs": logs, "noise_calls": bank.calls,
           "d_weights": [w.numpy() for w in discriminator.weights],
           "g_weights": [w.numpy() for w in generator.weights], "d_start": d_start, "g_start": g_start,
           "d_calls": list(d_model.log.calls), "g_calls": list(g_model.log.calls),
           "d_loss_calls": list(getattr(d_loss, "calls", [])), "g_loss_calls": list(getattr(g_loss, "calls", [])),
           "metric_updates": list(metric.log.calls),
           "phase_losses": _phase_losses((d_loss, g_loss), int(real.shape[0])),
           "metric_results": [float(np.asarray(m.result()).sum()) for m in gan.metrics]}
    gan.reset_metrics()
    out["metric_results_after_reset"] = [float(np.asarray(m.result()).sum()) for m in gan.metrics]
    return out


def fit_history(gan_class, answers, epochs=3):
    """``fit`` GANs of the seeded tiny models for ``epochs`` epochs of the one ``run_real`` batch (noise from
    ``NoiseBank``), once eagerly with recording losses and metric, once compiled (``train_step`` in a tf.function).

    Returns {"eager": history, "compiled": history, "d_losses": [...], "g_losses": [...], "accuracies": [...]}:
    histories as {name: list of floats}, and the losses and accuracy each eager step computed.
    """
    import keras
    import tensorflow as tf

    real = answers["run_real"]
    out = {}
    for mode in ("eager", "compiled"):
        generator, discriminator = _seeded(answers, "run")
        gan = gan_class(discriminator, generator, latent_dim=4)
        if mode == "eager":
            d_loss, g_loss, metric = RecordingLoss(), RecordingLoss(), recording_accuracy()
        else:
            d_loss, g_loss, metric = None, None, keras.metrics.BinaryAccuracy(threshold=0.0)
        check_compile(gan, d_loss=d_loss, g_loss=g_loss, metrics={"acc": metric})
        gan.run_eagerly = mode == "eager"
        gan.jit_compile = False  # a tf.function is what the check needs; XLA would only add compile time
        gan.sample_noise = NoiseBank(answers["run_noise"])
        dataset = tf.data.Dataset.from_tensor_slices(real).batch(len(real))
        history = gan.fit(dataset, epochs=epochs, verbose=0).history
        out[mode] = {str(k): [float(v) for v in values] for k, values in history.items()}
        if mode == "eager":
            d_losses, g_losses = _phase_losses((d_loss, g_loss), len(real))
            out.update(d_losses=d_losses, g_losses=g_losses,
                       accuracies=[correct / rows for rows, correct in metric.log.calls])
    return out


def callback_generator(answers, num_classes=None):
    """The seeded stand-in generator of the callback checks (Dense 16 tanh -> Reshape (4, 4, 1), on
    [noise, class vector] when ``num_classes``), wrapped in ``recording_model``, inside a model that has it as
    ``.generator`` (what ``SampleGridCallback`` reads from ``self.model``). Returns (holder, recording generator)."""
    import keras
    from keras import layers

    from course.checks import set_seeded_weights

    noise = keras.Input((3,))
    inputs, x = noise, noise
    if num_classes:
        class_vector = keras.Input((num_classes,))
        inputs, x = [noise, class_vector], layers.Concatenate()([noise, class_vector])
    inner = keras.Model(inputs, layers.Reshape((4, 4, 1))(layers.Dense(16, activation="tanh")(x)))
    set_seeded_weights(inner, int(answers["callback_g_seed"]))
    generator = recording_model(inner)

    class Holder(keras.Model):
        def __init__(self, model):
            super().__init__()
            self.generator = model

    return Holder(generator), generator


def run_callback(callback, answers, namespace, epochs=1, num_classes=None):
    """Hand ``callback`` (a ``SampleGridCallback``) the seeded stand-in generator of ``callback_generator(answers,
    num_classes)`` and call its ``on_epoch_end`` for epochs 0 .. ``epochs`` - 1, ``save_image_grid`` recorded (in
    ``namespace``, the notebook's globals). Returns plain data: ``saved_images`` (the images given to
    ``save_image_grid``, float64 arrays, in call order), ``paths`` (where they were to be saved) and
    ``generator_flags`` (the ``training`` flag of every generator call, None when none was passed)."""
    holder, generator = callback_generator(answers, num_classes=num_classes)
    with recorded_image_grids(namespace) as saved:
        callback.set_model(holder)
        for epoch in range(epochs):
            callback.on_epoch_end(epoch, {})
    return {"saved_images": [images for images, _ in saved], "paths": [path for _, path in saved],
            "generator_flags": [call[0] for call in generator.log.calls]}
