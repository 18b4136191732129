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
        numbered = "_".join("<i>" if part.isdigit() else part for part in key.split("_"))
        assert key in ref.__doc__ or stem in ref.__doc__ or numbered in ref.__doc__, key
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
    """data/ (public) and autograder/hidden/ (hidden set) are what the reference builds."""
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
    logits, labels, splits = answers["metric_logits"], answers["metric_labels"], answers["metric_splits"]
    correct, seen, want = 0, 0, []
    for size in splits:
        for logit, label in zip(logits[seen:seen + size], labels[seen:seen + size]):
            correct += int((logit > 0) == (label > 0.5))
        seen += size
        want.append(correct / seen)
    np.testing.assert_allclose(answers["metric_results_true"], want, rtol=1e-15)
    edge_logits, edge_labels = answers["metric_edge_logits"], answers["metric_edge_labels"]
    assert (edge_logits == 0).sum() == 4 and {0.1, 0.9} <= set(np.round(edge_labels.astype(np.float64), 6).tolist())
    hits = [(logit > 0) == (label > 0.5) for logit, label in zip(edge_logits, edge_labels)]
    assert answers["metric_edge_result_true"] == pytest.approx(sum(hits) / 12, rel=1e-15)


def test_another_seed_draws_new_inputs():
    public, grading = ref.build(), ref.build(70412)  # any seed but ref.SEED, as the grader draws per submission
    assert public.keys() == grading.keys()
    for key in ("step_noise", "run_noise", "run_real", "cond_step_classes", "metric_logits", "callback_seed",
                "generator_latent_dim", "dense_generator_x"):
        assert not np.array_equal(public[key], grading[key]), key
    assert ref.HIDDEN_KEYS <= public.keys()
    assert all(key.endswith("_true") for key in ref.HIDDEN_KEYS)


def test_latent_counts_by_hand(answers):
    latent = int(answers["generator_latent_dim"])
    dense = (latent * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784)
    conv = (latent * 6272 + 6272) + (4 * 4 * 128 * 64 + 64) + (4 * 4 * 64 * 32 + 32) + (7 * 7 * 32 + 1)
    assert answers["generator_latent_counts_true"].tolist() == [dense, conv]


def test_callback_images_by_hand(answers):
    seed = int(answers["callback_seed"])
    kernel, bias = seeded_arrays([("kernel", (3, 16)), ("bias", (16,))], int(answers["callback_g_seed"]))
    for key, z in (("callback_images_true", np.random.default_rng(seed).normal(size=(4, 3))),
                   ("callback_images_f32_true", np.random.default_rng(seed).standard_normal((4, 3), dtype=np.float32))):
        images = answers[key]
        assert images.shape == (4, 4, 4, 1) and images.min() >= 0 and images.max() <= 1
        np.testing.assert_allclose(images[1].ravel(), (np.tanh(z[1] @ kernel + bias) + 1) / 2, rtol=1e-6)
    assert not np.allclose(answers["callback_images_true"], answers["callback_images_f32_true"])
    kernel, bias = seeded_arrays([("kernel", (6, 16)), ("bias", (16,))], int(answers["callback_g_seed"]))
    z = np.random.default_rng(seed).normal(size=(4, 3))
    x = np.concatenate([z, answers["callback_classes"]], axis=1)
    np.testing.assert_allclose(answers["callback_cond_images_true"].reshape(4, 16), (np.tanh(x @ kernel + bias) + 1) / 2,
                               rtol=1e-12)


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


def _keras_steps(g_w, d_w, real, noises, classes=None):
    """The GAN steps of the notebook's text in plain TensorFlow/Keras (not the notebook's solution)."""
    import keras
    import tensorflow as tf
    from keras import layers

    num = 0 if classes is None else classes.shape[1]
    noise_in, image_in = keras.Input((4,)), keras.Input((2, 2, 3))
    x, y = noise_in, layers.Flatten()(image_in)
    if num:
        class_in = keras.Input((num,))
        x, y = layers.Concatenate()([noise_in, class_in]), layers.Concatenate()([y, class_in])
    x = layers.Reshape((2, 2, 3))(layers.Dense(12, activation="tanh")(layers.LeakyReLU(negative_slope=0.2)(layers.Dense(8)(x))))
    y = layers.Dense(1)(layers.LeakyReLU(negative_slope=0.2)(layers.Dense(8)(y)))
    generator = keras.Model([noise_in, class_in] if num else noise_in, x)
    discriminator = keras.Model([image_in, class_in] if num else image_in, y)
    for model, weights in ((generator, g_w), (discriminator, d_w)):
        for variable, value in zip(model.weights, weights):
            variable.assign(value)
    d_opt, g_opt = keras.optimizers.Adam(0.01, beta_1=0.5), keras.optimizers.RMSprop(0.01)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    batch = len(real)
    c = None if classes is None else tf.constant(classes)

    def g_in(z):
        return tf.constant(z) if c is None else [tf.constant(z), c]

    def d_in(images, cls):
        return images if cls is None else [images, cls]

    labels = tf.concat([tf.zeros((batch, 1)), tf.ones((batch, 1))], axis=0)
    out = []
    for k in range(len(noises) // 2):
        with tf.GradientTape() as tape:
            images = tf.concat([generator(g_in(noises[2 * k])), tf.constant(real)], axis=0)
            logits = discriminator(d_in(images, None if c is None else tf.concat([c, c], axis=0)))
            d_loss = bce(labels, logits)
        d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights))
        with tf.GradientTape() as tape:
            g_loss = bce(tf.ones((batch, 1)), discriminator(d_in(generator(g_in(noises[2 * k + 1])), c)))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
        accuracy = float(np.mean((logits.numpy() > 0) == (labels.numpy() > 0.5)))
        out.append((float(d_loss), float(g_loss), accuracy, [w.numpy() for w in discriminator.weights],
                    [w.numpy() for w in generator.weights]))
    return out


def test_train_step_matches_tensorflow(answers):
    """The visible check's step (the same noise in both phases) and the hidden checks' three steps."""
    g_w, d_w = seeded_arrays(ref.TINY_G_SPECS, int(answers["step_g_seed"])), seeded_arrays(ref.TINY_D_SPECS, int(answers["step_d_seed"]))
    (d_loss, g_loss, _, _, _), = _keras_steps(g_w, d_w, answers["step_real"], [answers["step_noise"]] * 2)
    assert rel_error(d_loss, answers["step_d_loss_true"]) < 1e-6
    assert rel_error(g_loss, answers["step_g_loss_true"]) < 1e-6

    g_w, d_w = seeded_arrays(ref.TINY_G_SPECS, int(answers["run_g_seed"])), seeded_arrays(ref.TINY_D_SPECS, int(answers["run_d_seed"]))
    steps = _keras_steps(g_w, d_w, answers["run_real"], answers["run_noise"])
    assert len(steps) == 3
    for k, (d_loss, g_loss, accuracy, _, _) in enumerate(steps):
        assert rel_error(d_loss, answers["run_d_loss_true"][k]) < 1e-5
        assert rel_error(g_loss, answers["run_g_loss_true"][k]) < 1e-5
        assert accuracy == pytest.approx(answers["run_d_accuracy_true"][k], abs=1e-12)
    for i in range(4):
        assert rel_error(steps[0][3][i], answers[f"run_d_weights_{i}_true"]) < 1e-4
        assert rel_error(steps[0][4][i], answers[f"run_g_weights_{i}_true"]) < 1e-4
    # distinct noise per phase matters: the same noise twice gives another generator update
    same_noise = ref.gan_steps_reference(g_w, d_w, answers["run_real"], [answers["run_noise"][0]] * 2)
    assert rel_error(same_noise[4][0][0], answers["run_g_weights_0_true"]) > 1e-3


def test_conditional_reference_matches_tensorflow(answers):
    g_w = seeded_arrays(ref.TINY_COND_G_SPECS, int(answers["cond_step_g_seed"]))
    d_w = seeded_arrays(ref.TINY_COND_D_SPECS, int(answers["cond_step_d_seed"]))
    classes = answers["cond_step_classes"]
    (d_loss, g_loss, _, d_new, g_new), = _keras_steps(g_w, d_w, answers["cond_step_real"], answers["cond_step_noise"], classes)
    d_losses, g_losses, _, d_history, g_history = ref.gan_steps_reference(
        g_w, d_w, answers["cond_step_real"], answers["cond_step_noise"], class_vectors=classes)
    assert rel_error(d_loss, d_losses[0]) < 1e-5 and rel_error(g_loss, g_losses[0]) < 1e-5
    for i in range(4):
        assert rel_error(d_new[i], d_history[0][i]) < 1e-4
        assert rel_error(g_new[i], g_history[0][i]) < 1e-4
