"""course.training: the generator's weight average (Keras' optimizer EMA) switched on for a student's optimizer."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course.training import keep_weight_average, use_weight_average, with_weight_average


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def _train(model, optimizer, steps, seed=1):
    rng = np.random.default_rng(seed)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - 1.0))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

    snapshots = [[np.array(v) for v in model.trainable_variables]]
    for _ in range(steps):
        step(tf.constant(rng.standard_normal((4, 3)), tf.float32))
        snapshots.append([np.array(v) for v in model.trainable_variables])
    return snapshots


def test_the_average_does_not_change_training_and_follows_the_ema_recurrence():
    plain, averaged = _model(), _model()
    live = _train(plain, keras.optimizers.Adam(1e-2, beta_1=0.5), 20)
    optimizer = with_weight_average(keras.optimizers.Adam(1e-2, beta_1=0.5), momentum=0.9)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate) == pytest.approx(1e-2) and float(optimizer.beta_1) == 0.5
    snapshots = _train(averaged, optimizer, 20)
    for a, b in zip(live[-1], snapshots[-1]):  # training itself is the same as without the average
        np.testing.assert_allclose(a, b, rtol=1e-6)
    want = [w.copy() for w in snapshots[1]]  # Keras starts the average at the weights after the first step
    for weights in snapshots[2:]:
        want = [0.9 * m + 0.1 * w for m, w in zip(want, weights)]
    assert use_weight_average(optimizer, averaged)
    got = [np.array(v) for v in averaged.trainable_variables]
    for g, w, last in zip(got, want, snapshots[-1]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
        assert not np.allclose(g, last)  # the model now holds the average, not the last weights


def test_without_an_average_the_weights_stay():
    model = _model()
    optimizer = keras.optimizers.Adam(1e-2)
    snapshots = _train(model, optimizer, 3)
    assert not use_weight_average(optimizer, model)
    for a, b in zip(snapshots[-1], model.trainable_variables):
        np.testing.assert_array_equal(a, np.array(b))
    untrained = with_weight_average(keras.optimizers.Adam(1e-2))
    assert not use_weight_average(untrained, _model())  # never stepped: nothing to copy


def test_an_optimizer_of_another_model_is_not_copied_in():
    model, other = _model(), _model()
    optimizer = with_weight_average(keras.optimizers.Adam(1e-2))
    _train(model, optimizer, 3)
    before = [np.array(v) for v in other.trainable_variables]
    assert not use_weight_average(optimizer, other)
    for a, b in zip(before, other.trainable_variables):
        np.testing.assert_array_equal(a, np.array(b))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="momentum"):
        with_weight_average(keras.optimizers.Adam(), momentum=1.0)
    stepped = keras.optimizers.Adam(1e-2)
    _train(_model(), stepped, 1)
    with pytest.raises(ValueError, match="has not taken a step"):
        with_weight_average(stepped)


def test_something_else_is_returned_unchanged_with_a_note(capsys):
    thing = object()
    assert with_weight_average(thing) is thing
    assert "without a weight average" in capsys.readouterr().out
    assert not use_weight_average(thing, _model())


class FixedAdam(keras.optimizers.Adam):
    """A student's subclass whose constructor takes no EMA settings."""

    def __init__(self, learning_rate=1e-3):
        super().__init__(learning_rate=learning_rate, beta_1=0.5)

    def get_config(self):
        return {"learning_rate": float(self.learning_rate)}


def test_a_subclass_that_cannot_take_the_average_trains_on_without_it(capsys):
    optimizer = FixedAdam(1e-2)
    assert with_weight_average(optimizer) is optimizer
    assert "training without it" in capsys.readouterr().out
    model = _model()
    _train(model, optimizer, 2)
    assert not use_weight_average(optimizer, model)


def test_keep_weight_average_switches_a_compiled_models_optimizer_on_in_place():
    """Like keras_sequential_gan: the GAN is compiled (optimizer chosen by the student), then trained with
    train_on_batch; the average is switched on in between and covers what the optimizer updates."""
    averaged, plain = _model(), _model()
    averaged.compile(loss="mse", optimizer=keras.optimizers.RMSprop(1e-2))
    plain.compile(loss="mse", optimizer=keras.optimizers.RMSprop(1e-2))
    assert keep_weight_average(averaged.optimizer, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
        averaged.train_on_batch(x, y)
        plain.train_on_batch(x, y)
    for a, b in zip(averaged.trainable_variables, plain.trainable_variables):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-6)  # same training
    last = [np.array(v) for v in averaged.trainable_variables]
    assert use_weight_average(averaged.optimizer, averaged)
    assert any(not np.allclose(a, np.array(v)) for a, v in zip(last, averaged.trainable_variables))


def test_keep_weight_average_refuses_an_optimizer_that_has_stepped(capsys):
    model = _model()
    model.compile(loss="mse", optimizer="adam")
    model.train_on_batch(np.zeros((2, 3)), np.zeros((2, 2)))
    assert not keep_weight_average(model.optimizer)
    assert "training without it" in capsys.readouterr().out
    assert not keep_weight_average("adam")
    with pytest.raises(ValueError, match="momentum"):
        keep_weight_average(keras.optimizers.Adam(), momentum=0.0)
