"""The NumPy reference of assignment 4 (dcgan_cifar) against hand-computed cases and TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.answers import dcgan_cifar as ref


def test_parameter_counts_match_the_book():
    # Chollet's DCGAN summary: 6,264,579 generator and 790,913 discriminator parameters.
    assert ref.param_count(ref.generator_specs()) == 6_264_579
    assert ref.param_count(ref.discriminator_specs()) == 790_913
    # Dense 8 -> 4*4*128, then the same convolutions with a 3-channel 7x7 head.
    dense = 8 * 2048 + 2048
    convs = (25 * 128 * 256 + 256) + (16 * 256 * 256 + 256) + 2 * (25 * 256 * 256 + 256) + (49 * 256 * 3 + 3)
    assert ref.param_count(ref.generator_specs(8, 8, 8, 3)) == dense + convs


def test_leaky_relu_and_bce_by_hand():
    np.testing.assert_allclose(ref.leaky_relu(np.array([-2.0, 0.0, 3.0])), [-0.6, 0.0, 3.0])
    # BCE of target 1 against p = 0.5 is log 2; of target 0 against p = 0.25 is -log(0.75).
    assert ref.bce_mean(np.array([1.0, 0.0]), np.array([0.5, 0.25])) == pytest.approx(
        (np.log(2) - np.log(0.75)) / 2)


def test_conv2d_by_hand():
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    kernel = np.ones((2, 2, 1, 1))
    out = ref.conv2d(x, kernel, np.zeros(1), stride=2)
    np.testing.assert_allclose(out[0, :, :, 0], [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])
    same = ref.conv2d(x, np.ones((3, 3, 1, 1)), np.zeros(1), padding="same")
    assert same.shape == (1, 4, 4, 1)
    assert same[0, 0, 0, 0] == 0 + 1 + 4 + 5


def test_build_is_deterministic_and_well_formed():
    a, b = ref.build(), ref.build()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["generator_true"].shape == (2, 8, 8, 3)
    assert np.all(np.abs(a["generator_true"]) <= 1)
    assert a["discriminator_true"].shape == (2, 1)
    labels = a["step_labels"]
    assert np.all((labels[:4] >= 0.95) & (labels[:4] <= 1)) and np.all((labels[4:] >= 0) & (labels[4:] <= 0.05))


@pytest.fixture(scope="module")
def keras():
    keras = pytest.importorskip("keras")
    return keras


def _keras_generator(keras, latent_dim, height, width, channels):
    layers = keras.layers
    z = keras.Input((latent_dim,))
    x = layers.LeakyReLU(negative_slope=0.3)(layers.Dense(128 * (height // 2) * (width // 2))(z))
    x = layers.Reshape((height // 2, width // 2, 128))(x)
    x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2D(256, 5, padding="same")(x))
    x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2DTranspose(256, 4, strides=2, padding="same")(x))
    for _ in range(2):
        x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2D(256, 5, padding="same")(x))
    return keras.Model(z, layers.Conv2D(channels, 7, padding="same", activation="tanh")(x))


def _keras_discriminator(keras, height, width, channels):
    layers = keras.layers
    image = keras.Input((height, width, channels))
    x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2D(128, 3)(image))
    for _ in range(3):
        x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2D(128, 4, strides=2)(x))
    x = layers.Dropout(0.4)(layers.Flatten()(x))
    return keras.Model(image, layers.Dense(1, activation="sigmoid")(x))


def test_conv2d_transpose_matches_keras(keras):
    rng = np.random.default_rng(0)
    layer = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same")
    x = rng.standard_normal((2, 5, 6, 2)).astype(np.float32)
    got = np.asarray(layer(x))
    kernel, bias = (np.asarray(w) for w in layer.weights)
    np.testing.assert_allclose(ref.conv2d_transpose(x, kernel, bias), got, rtol=1e-4, atol=1e-5)


def test_reference_matches_keras_models(keras):
    from course.checks import count_params, set_seeded_weights

    answers = ref.build()
    generator = _keras_generator(keras, 8, 8, 8, 3)
    assert count_params(generator) == answers["generator_small_param_count"]
    set_seeded_weights(generator, int(answers["generator_seed"]))
    np.testing.assert_allclose(np.asarray(generator(answers["generator_x"])), answers["generator_true"],
                               rtol=1e-3, atol=1e-5)
    discriminator = _keras_discriminator(keras, 32, 32, 3)
    assert count_params(discriminator) == answers["discriminator_param_count"]
    assert count_params(_keras_discriminator(keras, 32, 32, 1)) == answers["discriminator_gray_param_count"]
    set_seeded_weights(discriminator, int(answers["discriminator_seed"]))
    np.testing.assert_allclose(np.asarray(discriminator(answers["discriminator_x"], training=False)),
                               answers["discriminator_true"], rtol=1e-4)


def test_step_losses_match_keras(keras):
    from course.checks import set_seeded_weights

    answers = ref.build()
    layers = keras.layers
    generator = keras.Sequential([keras.Input((4,)), layers.Dense(8 * 8 * 3, activation="tanh"),
                                  layers.Reshape((8, 8, 3))])
    discriminator = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    set_seeded_weights(generator, int(answers["step_g_seed"]))
    set_seeded_weights(discriminator, int(answers["step_d_seed"]))
    bce = keras.losses.BinaryCrossentropy()
    combined = np.concatenate([np.asarray(generator(answers["step_z_d"])), answers["step_real"]])
    d_loss = float(bce(answers["step_labels"], discriminator(combined)))
    g_loss = float(bce(answers["step_targets"], discriminator(generator(answers["step_z_g"]))))
    assert d_loss == pytest.approx(float(answers["step_d_loss_true"]), rel=1e-5)
    assert g_loss == pytest.approx(float(answers["step_g_loss_true"]), rel=1e-5)


def test_another_seeds_inputs_are_fresh_and_hidden_keys_exist():
    public, grading = ref.build(), ref.build(90004)  # any seed but ref.SEED, as the grader draws per submission
    assert ref.HIDDEN_KEYS <= public.keys()
    assert all(key.endswith("_true") for key in ref.HIDDEN_KEYS)
    for key in ("generator_x", "discriminator_x", "optimizer_grads", "step_real", "step_labels"):
        assert not np.array_equal(public[key], grading[key]), key


def test_rmsprop_trajectory_by_hand():
    # One clipped update from 0 with an empty running average: v = 0.1 * 1, x = -lr * 1 / sqrt(0.1 + 1e-7).
    out = ref.rmsprop_trajectory(np.zeros(1), np.array([[5.0]]), 1e-3, iterations=0)
    assert out[0, 0] == pytest.approx(-1e-3 / np.sqrt(0.1 + 1e-7))
    # The decay: at iterations 1e8 the rate is halved.
    half = ref.rmsprop_trajectory(np.zeros(1), np.array([[5.0]]), 1e-3, iterations=10**8)
    assert half[0, 0] == pytest.approx(out[0, 0] / 2)
    # Without clipping a scaled first gradient gives the same first step (RMSprop is scale-free at step 1),
    # but the second step sees the larger running average: the check's gradients are built to show clipping.
    answers = ref.build()
    clipped = ref.rmsprop_trajectory(answers["optimizer_x0"], answers["optimizer_grads"], 8e-4, 0)
    unclipped = ref.rmsprop_trajectory(answers["optimizer_x0"], answers["optimizer_grads"], 8e-4, 0, clipvalue=1e9)
    np.testing.assert_allclose(clipped[0], unclipped[0], rtol=1e-5)
    assert np.abs(clipped[1] - unclipped[1]).max() > 1e-2 * np.abs(clipped[1] - clipped[0]).max()


def test_rmsprop_trajectory_matches_keras(keras):
    import tensorflow as tf

    answers = ref.build()
    schedule = keras.optimizers.schedules.InverseTimeDecay(8e-4, decay_steps=1, decay_rate=1e-8)
    optimizer = keras.optimizers.RMSprop(learning_rate=schedule, clipvalue=1.0)
    optimizer.iterations.assign(int(answers["optimizer_iterations"]))
    variable = tf.Variable(answers["optimizer_x0"])
    for row, want in zip(answers["optimizer_grads"], answers["optimizer_d_true"]):
        optimizer.apply_gradients([(tf.constant(row), variable)])
        np.testing.assert_allclose(variable.numpy(), want, rtol=0, atol=1e-7)


def test_dropout_levels_by_hand():
    answers = ref.build()
    weights = ref.seeded_arrays(ref.discriminator_specs(), int(answers["discriminator_seed"]))
    features = ref.discriminator_features(weights, answers["discriminator_x"][:1])[0]
    unit, w, b = int(answers["discriminator_dropout_unit"]), float(answers["discriminator_dropout_weight"]), weights[9][0]
    assert abs(features[unit]) == np.abs(features).max()
    np.testing.assert_allclose(answers["discriminator_dropout_levels_true"],
                               [ref.sigmoid(b), ref.sigmoid(b + w * features[unit] / 0.6)])
    # the levels of rate 0.5 (scaled by 2) are far from those of 0.4 at the check's 1e-4 tolerance
    assert abs(ref.sigmoid(b + w * features[unit] / 0.5) - answers["discriminator_dropout_levels_true"][1]) > 1e-2
    # and the dense output of the reference uses the same features
    np.testing.assert_allclose(ref.sigmoid(features @ weights[8] + weights[9]), answers["discriminator_true"][0],
                               rtol=1e-5)


def test_dropout_probe_on_a_keras_discriminator(keras):
    from course.testkit.dcgan_cifar import dropout_probe

    answers = ref.build()
    probabilities = dropout_probe(_keras_discriminator(keras, 32, 32, 3), int(answers["discriminator_seed"]),
                                  answers["discriminator_x"][0], int(answers["discriminator_dropout_unit"]),
                                  float(answers["discriminator_dropout_weight"]))
    levels = answers["discriminator_dropout_levels_true"]
    distance = np.abs(probabilities.ravel()[:, None] - levels[None, :])
    assert distance.min(axis=1).max() < 1e-4
    assert (distance[:, 0] < 1e-4).any() and (distance[:, 1] < 1e-4).any()


def test_step_gradients_and_training_losses_match_tensorflow(keras):
    import tensorflow as tf

    from course.checks import set_seeded_weights
    from course.testkit.dcgan_cifar import flat_weights, tiny_models

    answers = ref.build()
    bce = keras.losses.BinaryCrossentropy()
    for marker, d_key, g_key in ((False, "step_d_loss_true", "step_g_loss_true"),
                                 (True, "step_d_loss_training_true", "step_g_loss_training_true")):
        generator, discriminator = tiny_models(training_marker=marker)
        set_seeded_weights(generator, int(answers["step_g_seed"]))
        set_seeded_weights(discriminator, int(answers["step_d_seed"]))
        combined = tf.concat([generator(answers["step_z_d"]), answers["step_real"]], axis=0)
        with tf.GradientTape() as tape:
            d_loss = bce(answers["step_labels"], discriminator(combined, training=True))
        d_grads = tape.gradient(d_loss, discriminator.trainable_variables)
        with tf.GradientTape() as tape:
            g_loss = bce(answers["step_targets"], discriminator(generator(answers["step_z_g"]), training=True))
        g_grads = tape.gradient(g_loss, generator.trainable_variables)
        assert float(d_loss) == pytest.approx(float(answers[d_key]), rel=1e-5)
        assert float(g_loss) == pytest.approx(float(answers[g_key]), rel=1e-5)
        if not marker:  # the SGD checks run on the plain stand-ins
            rate = float(answers["step_sgd_rate"])
            d_after = flat_weights(discriminator) - rate * np.concatenate([np.ravel(g) for g in d_grads])
            g_after = flat_weights(generator) - rate * np.concatenate([np.ravel(g) for g in g_grads])
            np.testing.assert_allclose(d_after, answers["step_d_sgd_true"], atol=1e-6)
            np.testing.assert_allclose(g_after, answers["step_g_sgd_true"], atol=1e-6)
    assert answers["step_d_loss_training_true"] != pytest.approx(answers["step_d_loss_true"], rel=1e-3)
    assert answers["step_g_loss_training_true"] != pytest.approx(answers["step_g_loss_true"], rel=1e-3)
