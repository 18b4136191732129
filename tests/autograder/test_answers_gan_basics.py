"""Tests of the NumPy reference for ``gan_basics``: hand-computed cases, and the seeded forward passes
against Keras models built here (not the notebook's solutions)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.answers import gan_basics as ref
from course.checks import rel_error, seeded_arrays


@pytest.fixture(scope="module")
def answers():
    return ref.build()


def test_keys_and_dtypes(answers):
    assert answers["logits_real"].dtype == np.float64 and answers["logits_fake"].dtype == np.float64
    assert answers["lrelu_x"].dtype == np.float32
    for name in ("discriminator", "generator", "dc_discriminator", "dc_generator"):
        assert answers[f"{name}_x"].dtype == np.float32
        assert answers[f"{name}_true"].dtype == np.float64
        assert answers[f"{name}_seed"].shape == ()
    documented = ref.__doc__
    for key in answers:
        assert f"``{key}``" in documented or key.rsplit("_", 1)[0] in documented, key
    size = sum(value.nbytes for value in answers.values())
    assert size < 2_000_000


def test_build_is_deterministic(answers):
    again = ref.build()
    assert answers.keys() == again.keys()
    for key in answers:
        np.testing.assert_array_equal(answers[key], again[key])


def test_leaky_relu_by_hand():
    np.testing.assert_allclose(ref.leaky_relu([-2.0, -0.5, 0.0, 3.0]), [-0.02, -0.005, 0.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(ref.leaky_relu([-2.0, 1.0], alpha=0.3), [-0.6, 1.0], rtol=1e-15)


def test_bce_losses_by_hand():
    zero = np.zeros((3, 1))
    # D(x) = sigmoid(0) = 1/2 for every image: each term is log 2.
    assert math.isclose(ref.bce_discriminator_loss(zero, zero), 2 * math.log(2), rel_tol=1e-14)
    assert math.isclose(ref.bce_generator_loss(zero), math.log(2), rel_tol=1e-14)
    real, fake = np.array([[1.0], [-2.0]]), np.array([[0.5], [3.0]])
    sig = lambda t: 1.0 / (1.0 + math.exp(-t))  # noqa: E731
    d_want = -(math.log(sig(1.0)) + math.log(sig(-2.0))) / 2 - (math.log(1 - sig(0.5)) + math.log(1 - sig(3.0))) / 2
    g_want = -(math.log(sig(0.5)) + math.log(sig(3.0))) / 2
    assert math.isclose(ref.bce_discriminator_loss(real, fake), d_want, rel_tol=1e-12)
    assert math.isclose(ref.bce_generator_loss(fake), g_want, rel_tol=1e-12)
    # Stable for large logits (no overflow, no log(0)).
    assert math.isclose(ref.bce_generator_loss(np.array([-1000.0])), 1000.0, rel_tol=1e-12)


def test_ls_losses_by_hand():
    real, fake = np.array([[1.0], [3.0]]), np.array([[0.0], [2.0]])
    assert math.isclose(ref.ls_discriminator_loss(real, fake), 0.5 * (0 + 4) / 2 + 0.5 * (0 + 4) / 2)
    assert math.isclose(ref.ls_generator_loss(fake), 0.5 * (1 + 1) / 2)


def test_xy_table():
    want = [(1, 1), (-1, 2), (-2, 1), (-1, -1), (1, -2), (2, -1), (1, 1)]
    np.testing.assert_array_equal(ref.xy_alternating_steps(6, 1.0), np.array(want, dtype=float))
    half = ref.xy_alternating_steps(2, 0.5)
    # y1 = 1 + 0.5 = 1.5, x1 = 1 - 0.75 = 0.25; y2 = 1.5 + 0.125 = 1.625, x2 = 0.25 - 0.8125 = -0.5625
    np.testing.assert_allclose(half, [(1, 1), (0.25, 1.5), (-0.5625, 1.625)])


def test_conv_helpers_by_hand():
    x = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    k = np.ones((2, 2, 1, 1))
    out = ref.conv2d_valid(x, k, np.zeros(1))
    assert out.shape == (1, 3, 3, 1) and out[0, 0, 0, 0] == 0 + 1 + 4 + 5
    assert ref.max_pool_2x2(x)[0, :, :, 0].tolist() == [[5, 7], [13, 15]]
    # A single input pixel spreads the 4x4 kernel around (2i - 1, 2j - 1), cropped to the 'same' output.
    one = np.zeros((1, 2, 2, 1))
    one[0, 0, 0, 0] = 1.0
    kernel = np.arange(16, dtype=float).reshape(4, 4, 1, 1)
    out = ref.conv2d_transpose_same(one, kernel, np.zeros(1))
    assert out.shape == (1, 4, 4, 1)
    want = np.zeros((4, 4))
    want[:3, :3] = kernel[1:, 1:, 0, 0]
    np.testing.assert_array_equal(out[0, :, :, 0], want)


# --- against TensorFlow (built here, independent of the notebook) -------------------------------------------
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def _set(model, seed):
    from course.checks import set_seeded_weights

    set_seeded_weights(model, int(seed))


def _scaled_error(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def test_losses_match_tensorflow(answers):
    real, fake = answers["logits_real"], answers["logits_fake"]
    xent = tf.nn.sigmoid_cross_entropy_with_logits
    d = tf.reduce_mean(xent(labels=tf.ones_like(real), logits=real)) + tf.reduce_mean(
        xent(labels=tf.zeros_like(fake), logits=fake)
    )
    g = tf.reduce_mean(xent(labels=tf.ones_like(fake), logits=fake))
    assert rel_error(d.numpy(), answers["d_loss_true"]) < 1e-12
    assert rel_error(g.numpy(), answers["g_loss_true"]) < 1e-12
    lrelu = tf.nn.leaky_relu(tf.constant(answers["lrelu_x"]), alpha=0.01).numpy()
    assert rel_error(lrelu, answers["lrelu_y"]) < 1e-6


def test_discriminator_forward_matches_keras(answers):
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(256),
            layers.LeakyReLU(0.01),
            layers.Dense(256),
            layers.LeakyReLU(0.01),
            layers.Dense(1),
        ]
    )
    assert model.count_params() == 267009
    _set(model, answers["discriminator_seed"])
    got = model(answers["discriminator_x"]).numpy()
    assert _scaled_error(got, answers["discriminator_true"]) < 1e-5
    # The same count with ReLU must be told apart.
    relu = keras.Sequential(
        [keras.Input((784,)), layers.Dense(256, "relu"), layers.Dense(256, "relu"), layers.Dense(1)]
    )
    _set(relu, answers["discriminator_seed"])
    assert _scaled_error(relu(answers["discriminator_x"]).numpy(), answers["discriminator_true"]) > 1e-3


def test_generator_forward_matches_keras(answers):
    layers = keras.layers
    model = keras.Sequential(
        [keras.Input((4,)), layers.Dense(1024, "relu"), layers.Dense(1024, "relu"), layers.Dense(784, "tanh")]
    )
    assert model.count_params() == 1858320
    _set(model, answers["generator_seed"])
    assert _scaled_error(model(answers["generator_x"]).numpy(), answers["generator_true"]) < 1e-5


def test_dc_models_match_keras(answers):
    layers = keras.layers
    disc = keras.Sequential(
        [
            keras.Input((784,)),
            layers.Reshape((28, 28, 1)),
            layers.Conv2D(32, 5, padding="valid"),
            layers.LeakyReLU(0.01),
            layers.MaxPool2D(2),
            layers.Conv2D(64, 5, padding="valid"),
            layers.LeakyReLU(0.01),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(1024),
            layers.LeakyReLU(0.01),
            layers.Dense(1),
        ]
    )
    assert disc.count_params() == 1102721
    _set(disc, answers["dc_discriminator_seed"])
    got = disc(answers["dc_discriminator_x"]).numpy()
    assert _scaled_error(got, answers["dc_discriminator_true"]) < 1e-5

    gen = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(1024, "relu"),
            layers.BatchNormalization(),
            layers.Dense(7 * 7 * 128, "relu"),
            layers.BatchNormalization(),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"),
            layers.Reshape((784,)),
        ]
    )
    assert gen.count_params() == 6595521
    _set(gen, answers["dc_generator_seed"])
    got = gen(answers["dc_generator_x"], training=False).numpy()
    assert _scaled_error(got, answers["dc_generator_true"]) < 1e-5


def test_conv_transpose_matches_tensorflow():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 3, 5)).astype(np.float32)
    layer = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same")
    layer.build((None, 3, 3, 5))
    kernel, bias = seeded_arrays([("kernel", (4, 4, 4, 5)), ("bias", (4,))], 3)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    np.testing.assert_allclose(layer(x).numpy(), ref.conv2d_transpose_same(x, kernel, bias), atol=1e-5)


def test_train_step_losses_follow_keras_adam_on_the_stand_in():
    """The reference's two train steps of the stand-in GAN (weights and batch from the answer file) match a
    TensorFlow train step with Keras' Adam; the second call's losses move, so they show both updates."""
    import tensorflow as tf

    from course.testkit.gan_basics import tiny_gan

    answers = ref.build(90231)  # a seed other than ref.SEED, as the grader draws for each submission
    tiny = tiny_gan(answers)
    D, G = tiny.D, tiny.G

    def step(real, noise):
        with tf.GradientTape() as tape:
            d_loss = tiny.d_loss(D(real, training=True), D(G(noise, training=True), training=True))
        tiny.D_solver.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = tiny.g_loss(D(G(noise, training=True), training=True))
        tiny.G_solver.apply_gradients(zip(tape.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        return float(d_loss), float(g_loss)

    got = np.array([step(tiny.real, tiny.noise) for _ in range(2)])
    want = answers["train_step_losses_true"]
    assert want.shape == (2, 2)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.all(np.abs(want[1] - want[0]) > 1e-3)  # far above the checks' 1e-5 threshold
