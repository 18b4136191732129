"""The NumPy reference of assignment 5 (gan_1d_conditional) against hand-computed cases and TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.answers import gan_1d_conditional as ref


def test_optimal_discriminator_by_hand():
    got = ref.optimal_discriminator(np.array([1.0, 0.0, 0.0, 3.0]), np.array([1.0, 2.0, 0.0, 1.0]))
    np.testing.assert_allclose(got, [0.5, 0.0, 0.5, 0.75])


def test_value_at_the_optimum_is_minus_log4_plus_twice_jsd():
    answers = ref.build()
    x = answers["dstar_x"]
    p = ref.normal_pdf(x, *answers["dstar_data_params"])
    q = ref.normal_pdf(x, *answers["dstar_g_params"])
    m = (p + q) / 2
    kl = lambda a, b: np.trapezoid(a * np.log(a / b), x)  # noqa: E731
    jsd = (kl(p, m) + kl(q, m)) / 2
    assert float(answers["value_dstar_true"]) == pytest.approx(-np.log(4) + 2 * jsd, rel=1e-6)  # the grid misses ~1e-7 of the mass
    # A discriminator that always says 0.5 gets -log 4 times the (almost 1) total mass.
    assert float(answers["value_half_true"]) == pytest.approx(-np.log(4), rel=1e-5)
    # D* is the best discriminator: any other one does worse.
    assert float(answers["value_dstar_true"]) > float(answers["value_half_true"])


def test_xlogy_and_value_on_disjoint_supports():
    assert ref.xlogy(np.array(0.0), np.array(0.0)) == 0.0
    x = np.linspace(-1, 4, 501)
    p = np.where((x >= 0) & (x <= 1), 1.0, 0.0)
    q = np.where((x >= 2) & (x <= 3), 1.0, 0.0)
    assert ref.gan_value(ref.optimal_discriminator(p, q), p, q, x) == 0.0


def test_generator_gradients_by_finite_differences():
    answers = ref.build()
    logits = answers["grad_logits"]
    h = 1e-6
    saturating = lambda l: np.log(1 - ref.sigmoid(l))  # noqa: E731
    non_saturating = lambda l: -np.log(ref.sigmoid(l))  # noqa: E731
    np.testing.assert_allclose((saturating(logits + h) - saturating(logits - h)) / (2 * h),
                               answers["grad_saturating_true"], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose((non_saturating(logits + h) - non_saturating(logits - h)) / (2 * h),
                               answers["grad_nonsaturating_true"], rtol=1e-4, atol=1e-9)


def test_bce_by_hand():
    # BCE(1, logit 0) = log 2; BCE(0, logit 0) = log 2; d_loss of zeros is 2 log 2.
    assert ref.d_loss(np.zeros((3, 1)), np.zeros((5, 1))) == pytest.approx(2 * np.log(2))
    assert ref.g_loss(np.array([[-8.0]])) == pytest.approx(-np.log(ref.sigmoid(-8.0)))


def test_parameter_counts_by_hand():
    assert ref.param_count(ref.gen1d_specs()) == 100 * 64 + 64 + 64 * 64 + 64 + 64 + 1 == 10_689
    assert ref.param_count(ref.disc1d_specs()) == 97
    assert ref.param_count(ref.cgen_specs()) == 783_296
    assert ref.param_count(ref.cdisc_specs()) == 281_441


def test_build_is_deterministic():
    a, b = ref.build(), ref.build()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_losses_match_keras(keras):
    answers = ref.build()
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    d_real, d_fake = answers["loss_d_real"], answers["loss_d_fake"]
    d = float(bce(np.ones_like(d_real), d_real)) + float(bce(np.zeros_like(d_fake), d_fake))
    assert d == pytest.approx(float(answers["d_loss_true"]), rel=1e-6)
    assert float(bce(np.ones_like(d_fake), d_fake)) == pytest.approx(float(answers["g_loss_true"]), rel=1e-6)


def test_models_match_keras(keras):
    from course.checks import count_params, set_seeded_weights

    layers = keras.layers
    answers = ref.build()

    def generator_1d(latent_dim):
        z = keras.Input((latent_dim,))
        h = layers.Dense(64, activation="relu")(layers.Dense(64, activation="relu")(z))
        return keras.Model(z, layers.Dense(1)(h))

    def discriminator_1d():
        x = keras.Input((1,))
        return keras.Model(x, layers.Dense(1)(layers.Dense(32, activation="relu")(x)))

    def conditional_generator(latent_dim):
        noise, condition = keras.Input((latent_dim,)), keras.Input((1,))
        label = layers.Dense(64, activation="elu")(layers.Dense(32, activation="elu")(condition))
        x = layers.Reshape((1, 1, latent_dim + 64))(layers.Concatenate()([noise, label]))
        x = layers.Conv2DTranspose(128, 5, activation="relu")(x)
        x = layers.Conv2DTranspose(64, 5, strides=2, activation="relu")(x)
        x = layers.Conv2DTranspose(32, 5, strides=2, activation="relu", use_bias=False)(x)
        return keras.Model([noise, condition], layers.Conv2D(1, 2, activation="sigmoid", use_bias=False)(x))

    def conditional_discriminator():
        image, condition = keras.Input((28, 28, 1)), keras.Input((1,))
        x = image
        for filters in (32, 64, 96):
            x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
        label = layers.Dense(64, activation="elu")(layers.Dense(32, activation="elu")(condition))
        x = layers.Dense(128, activation="relu")(layers.Concatenate()([layers.Flatten()(x), label]))
        return keras.Model([image, condition], layers.Dense(1)(x))

    assert count_params(generator_1d(100)) == answers["gen1d_param_count"]
    assert count_params(generator_1d(5)) == answers["gen1d_small_param_count"]
    assert count_params(discriminator_1d()) == answers["disc1d_param_count"]
    generator = conditional_generator(100)
    assert generator.output_shape == (None, 28, 28, 1)
    assert count_params(generator) == answers["cgen_param_count"]
    assert count_params(conditional_generator(16)) == answers["cgen_small_param_count"]
    assert count_params(conditional_discriminator()) == answers["cdisc_param_count"]

    g, d = generator_1d(100), discriminator_1d()
    set_seeded_weights(g, int(answers["gen1d_seed"]))
    set_seeded_weights(d, int(answers["disc1d_seed"]))
    np.testing.assert_allclose(np.asarray(g(answers["gen1d_x"])), answers["gen1d_true"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(d(answers["disc1d_x"])), answers["disc1d_true"], rtol=1e-4, atol=1e-5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    real_logits, fake_logits = d(answers["step1d_real"]), d(g(answers["step1d_noise"]))
    d_value = float(bce(np.ones((8, 1)), real_logits)) + float(bce(np.zeros((8, 1)), fake_logits))
    assert d_value == pytest.approx(float(answers["step1d_d_loss_true"]), rel=1e-5)
    assert float(bce(np.ones((8, 1)), fake_logits)) == pytest.approx(float(answers["step1d_g_loss_true"]), rel=1e-5)
