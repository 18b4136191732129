"""Tests of the NumPy reference for ``keras_model_gan``: hand-computed cases, numerical gradients, and the
seeded forward passes and the GAN training step against TensorFlow/Keras computations built here (never the
notebook's solutions)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.answers import write_answers
from autograder.answers import keras_model_gan as ref
from course.checks import rel_error, seeded_arrays



@pytest.fixture(scope="module")
def answers():
    return ref.build()


def test_keys_are_documented_and_small(answers):
    for key in answers:
        stem = key.split("_seed")[0].split("_x")[0].split("_c")[0].split("_true")[0]
        assert key in ref.__doc__ or stem in ref.__doc__ or key.rstrip("0123456789") in ref.__doc__, key
    assert sum(value.nbytes for value in answers.values()) < 1_000_000
    for name in ref.PARAM_COUNT_NAMES:
        assert answers[f"{name}_x"].dtype == np.float32
        assert answers[f"{name}_true"].shape == ((4, 28, 28, 1) if name.endswith("generator") else (4, 1))
        assert (f"{name}_c" in answers) == name.startswith("cond_")


def test_build_is_deterministic(answers):
    again = ref.build()
    for key in answers:
        np.testing.assert_array_equal(answers[key], again[key])


def test_committed_answer_files_are_current():
    """data/ (public) and autograder/hidden/ (hidden and grading sets) are what the reference builds."""
    assert write_answers(assignments=["keras_model_gan"], check=True) == []


def test_param_counts_by_hand(answers):
    dense_g = (100 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784)
    conv_g = (100 * 6272 + 6272) + (4 * 4 * 128 * 64 + 64) + (4 * 4 * 64 * 32 + 32) + (7 * 7 * 32 + 1)
    dense_d = (784 * 512 + 512) + (512 * 256 + 256) + 257
    conv_d = (9 * 64 + 64) + (9 * 64 * 128 + 128) + 129
    want = [dense_g, dense_g + 10 * 256, conv_g, conv_g + 10 * 6272,
            dense_d, dense_d + 10 * 512, conv_d, conv_d + 9 * 10 * 64]
    assert answers["param_counts"].tolist() == want == [559632, 562192, 798977, 861697, 533505, 538625, 74625, 80385]


def test_metric_results_by_hand(answers):
    np.testing.assert_allclose(answers["metric_results"], [2 / 3, 3 / 5, 5 / 9], rtol=1e-15)


def test_bce_logits_by_hand_and_gradient():
    logits, labels = np.array([[0.0], [20.0], [-3.0]]), np.array([[1.0], [0.0], [1.0]])
    loss, grad = ref.bce_logits(labels, logits)
    want = (math.log(2) + 20 + math.log1p(math.exp(-20)) + 3 + math.log1p(math.exp(-3))) / 3
    assert math.isclose(loss, want, rel_tol=1e-12)
    step = 1e-6
    for i in range(3):
        bumped = logits.copy()
        bumped[i] += step
        assert math.isclose((ref.bce_logits(labels, bumped)[0] - loss) / step, grad[i, 0], rel_tol=1e-4, abs_tol=1e-8)


def test_tiny_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    g_w = [a.astype(np.float64) for a in seeded_arrays(ref.TINY_G_SPECS, 1)]
    d_w = [a.astype(np.float64) for a in seeded_arrays(ref.TINY_D_SPECS, 2)]
    z = rng.normal(size=(5, 4))

    def g_loss(gw):
        fake, _ = ref.tiny_g_forward(gw, z)
        logits, _ = ref.tiny_d_forward(d_w, fake)
        return ref.bce_logits(np.ones((5, 1)), logits)[0]

    fake, g_cache = ref.tiny_g_forward(g_w, z)
    logits, d_cache = ref.tiny_d_forward(d_w, fake)
    _, d_logits = ref.bce_logits(np.ones((5, 1)), logits)
    _, d_fake = ref.tiny_d_backward(d_w, d_cache, d_logits)
    grads = ref.tiny_g_backward(g_w, g_cache, d_fake)
    step = 1e-6
    for k, w in enumerate(g_w):
        for index in [(0,) * w.ndim, tuple(s - 1 for s in w.shape)]:
            bumped = [a.copy() for a in g_w]
            bumped[k][index] += step
            numeric = (g_loss(bumped) - g_loss(g_w)) / step
            assert math.isclose(numeric, grads[k][index], rel_tol=1e-3, abs_tol=1e-7)


def test_optimizer_steps_match_keras():
    import keras

    rng = np.random.default_rng(1)
    w0, g = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32)
    g[0, 0] = 1e-9  # tiny gradients are where epsilon matters
    for optimizer, mine in [(keras.optimizers.Adam(0.01, beta_1=0.5), ref.adam_first_step([w0], [g], **ref.ADAM)),
                            (keras.optimizers.RMSprop(0.01), ref.rmsprop_first_step([w0], [g], **ref.RMSPROP))]:
        variable = keras.Variable(w0)
        optimizer.apply_gradients([(g, variable)])
        np.testing.assert_allclose(variable.numpy(), mine[0], rtol=1e-6, atol=1e-7)


def test_convolutions_match_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    for size, kernel, stride in [(28, 3, 2), (14, 3, 2), (28, 7, 1), (28, 5, 2)]:
        x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
        k = rng.normal(size=(kernel, kernel, 3, 4)).astype(np.float32)
        want = tf.nn.conv2d(x, k, stride, "SAME").numpy()
        np.testing.assert_allclose(ref.conv2d_same(x, k, 0.0, stride), want, rtol=1e-4, atol=1e-4)
    for size, kernel in [(7, 4), (14, 4), (7, 5)]:
        x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
        k = rng.normal(size=(kernel, kernel, 4, 3)).astype(np.float32)
        want = tf.nn.conv2d_transpose(x, k, (2, 2 * size, 2 * size, 4), 2, "SAME").numpy()
        np.testing.assert_allclose(ref.conv2d_transpose_same(x, k, 0.0, 2), want, rtol=1e-4, atol=1e-4)


def _keras_generator(kind, num_classes):
    import keras
    from keras import layers

    noise = keras.Input((100,))
    inputs, x = noise, noise
    if num_classes:
        class_vector = keras.Input((num_classes,))
        inputs, x = [noise, class_vector], layers.Concatenate()([noise, class_vector])
    if kind == "dense":
        for units in (256, 512):
            x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(units)(x))
        x = layers.Reshape((28, 28, 1))(layers.Dense(784, activation="tanh")(x))
    else:
        x = layers.Reshape((7, 7, 128))(layers.LeakyReLU(negative_slope=0.2)(layers.Dense(6272)(x)))
        for filters in (64, 32):
            x = layers.LeakyReLU(negative_slope=0.2)(layers.Conv2DTranspose(filters, 4, strides=2, padding="same")(x))
        x = layers.Conv2D(1, 7, padding="same", activation="tanh")(x)
    return keras.Model(inputs, x)


def _keras_discriminator(kind, num_classes):
    import keras
    from keras import layers

    image = keras.Input((28, 28, 1))
    inputs, x = image, image
    if num_classes:
        class_vector = keras.Input((num_classes,))
        inputs = [image, class_vector]
    if kind == "dense":
        x = layers.Flatten()(image)
        if num_classes:
            x = layers.Concatenate()([x, class_vector])
        for units in (512, 256):
            x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(units)(x))
    else:
        if num_classes:
            maps = layers.UpSampling2D((28, 28))(layers.Reshape((1, 1, num_classes))(class_vector))
            x = layers.Concatenate()([image, maps])
        for filters in (64, 128):
            x = layers.LeakyReLU(negative_slope=0.2)(layers.Conv2D(filters, 3, strides=2, padding="same")(x))
        x = layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, layers.Dense(1)(x))


@pytest.mark.parametrize("name", ref.PARAM_COUNT_NAMES)
def test_seeded_forward_matches_keras(answers, name):
    from course.checks import count_params, set_seeded_weights

    classes = 10 if name.startswith("cond_") else None
    kind = "dense" if "dense" in name else "conv"
    model = (_keras_generator if name.endswith("generator") else _keras_discriminator)(kind, classes)
    assert count_params(model) == answers["param_counts"][ref.PARAM_COUNT_NAMES.index(name)]
    set_seeded_weights(model, int(answers[f"{name}_seed"]))
    inputs = answers[f"{name}_x"] if classes is None else [answers[f"{name}_x"], answers[f"{name}_c"]]
    got = np.asarray(model(inputs, training=False))
    want = answers[f"{name}_true"]
    if name.endswith("generator"):
        got, want = (got + 1) / 2, (want + 1) / 2  # the notebook compares pixel values
    assert rel_error(got, want) < 2e-5


def test_train_step_matches_tensorflow(answers):
    import keras
    import tensorflow as tf
    from keras import layers

    from course.checks import set_seeded_weights

    generator = keras.Sequential([keras.Input((4,)), layers.Dense(8), layers.LeakyReLU(negative_slope=0.2),
                                  layers.Dense(12, activation="tanh"), layers.Reshape((2, 2, 3))])
    discriminator = keras.Sequential([keras.Input((2, 2, 3)), layers.Flatten(), layers.Dense(8),
                                      layers.LeakyReLU(negative_slope=0.2), layers.Dense(1)])
    set_seeded_weights(generator, int(answers["step_g_seed"]))
    set_seeded_weights(discriminator, int(answers["step_d_seed"]))
    d_opt, g_opt = keras.optimizers.Adam(0.01, beta_1=0.5), keras.optimizers.RMSprop(0.01)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    real, noise = tf.constant(answers["step_real"]), tf.constant(answers["step_noise"])
    labels = tf.concat([tf.zeros((6, 1)), tf.ones((6, 1))], axis=0)
    with tf.GradientTape() as tape:
        logits = discriminator(tf.concat([generator(noise), real], axis=0))
        d_loss = bce(labels, logits)
    d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights))
    with tf.GradientTape() as tape:
        g_loss = bce(tf.ones((6, 1)), discriminator(generator(noise)))
    g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
    assert rel_error(float(d_loss), answers["step_d_loss"]) < 1e-6
    assert rel_error(float(g_loss), answers["step_g_loss"]) < 1e-6
    assert rel_error(np.mean((logits.numpy() > 0) == (labels.numpy() > 0.5)), answers["step_d_accuracy"]) < 1e-12
    for i in range(4):
        assert rel_error(discriminator.weights[i].numpy(), answers[f"step_d_weights_{i}"]) < 1e-4
        assert rel_error(generator.weights[i].numpy(), answers[f"step_g_weights_{i}"]) < 1e-4
