"""The NumPy reference of assignment 5 (gan_1d_conditional) against hand-computed cases and TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.answers import gan_1d_conditional as ref


def test_optimal_discriminator_by_hand():
    got = ref.optimal_discriminator(np.array([1.0, 0.0, 0.0, 3.0]), np.array([1.0, 2.0, 0.0, 1.0]))
    np.testing.assert_allclose(got, [0.5, 0.0, 0.5, 0.75])
    box = ref.build()["dstar_box_true"]
    assert sorted(set(box.tolist())) == [0.0, 0.5, 1.0]  # outside both, inside p_data only, inside p_g only


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
    # the book's counts (783,296 and 281,441) plus the one-hot label's Dense(10 -> 32) instead of Dense(1 -> 32)
    assert ref.param_count(ref.cgen_specs()) == 783_296 + 9 * 32 == 783_584
    assert ref.param_count(ref.cdisc_specs()) == 281_441 + 9 * 32 == 281_729


def test_build_is_deterministic_and_another_seed_draws_other_inputs():
    a, b = ref.build(), ref.build()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    grading = ref.build(50517)  # any seed but ref.SEED, as the grader draws for each submission
    assert grading.keys() == a.keys() and ref.HIDDEN_KEYS <= a.keys()
    for key in ("dstar_g_params", "dstar_box_x", "value_uneven_x", "grad_large_logits", "loss_large_fake",
                "gen1d_seed", "step1d_noise", "step1d_lrs", "cgen_seed", "cdisc_images"):
        assert not np.array_equal(a[key], grading[key]), key


def test_value_on_an_uneven_grid_tells_the_trapezoid_rule_from_the_others():
    answers = ref.build()
    x = answers["value_uneven_x"]
    assert np.ptp(np.diff(x)) > 10 * np.diff(x).min()  # really uneven
    p = ref.normal_pdf(x, *answers["dstar_data_params"])
    q = ref.normal_pdf(x, *answers["dstar_g_params"])
    a, b = answers["value_uneven_d_params"]
    d = ref.sigmoid(a * x + b)
    f = ref.xlogy(p, d) + ref.xlogy(q, 1 - d)
    want = float(answers["value_uneven_true"])
    assert np.trapezoid(f, x) == pytest.approx(want, rel=1e-12)
    for other in (np.sum(f[:-1] * np.diff(x)), np.mean(f) * (x[-1] - x[0]), np.trapezoid(f, dx=np.diff(x).mean())):
        assert abs(other - want) > 1e-3 * abs(want)


def test_large_logit_gradients_are_finite_where_naive_formulas_are_not():
    answers = ref.build()
    logits = answers["grad_large_logits"]
    assert np.all(np.isfinite(answers["grad_large_saturating_true"]))
    np.testing.assert_allclose(answers["grad_large_saturating_true"][logits > 0], -1.0)
    np.testing.assert_allclose(answers["grad_large_nonsaturating_true"][logits < 0], -1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(logits) / (1 + np.exp(logits))
    assert np.isnan(naive).any()


def test_large_logit_losses_by_hand():
    answers = ref.build()
    real, fake = answers["loss_large_real"].astype(np.float64), answers["loss_large_fake"].astype(np.float64)
    # softplus(l) is l for l >> 0 and 0 for l << 0 (up to e^-20)
    softplus = lambda l: np.where(l > 0, l, 0.0)  # noqa: E731
    assert float(answers["d_loss_large_true"]) == pytest.approx(np.mean(softplus(-real)) + np.mean(softplus(fake)), rel=1e-7)
    assert float(answers["g_loss_large_true"]) == pytest.approx(np.mean(softplus(-fake)), rel=1e-7)


def test_train_step_gradients_by_finite_differences():
    answers = ref.build()
    gen = ref.seeded_arrays(ref.gen1d_specs(), int(answers["gen1d_seed"]))
    disc = ref.seeded_arrays(ref.disc1d_specs(), int(answers["disc1d_seed"]))
    gen, disc = [w.astype(np.float64) for w in gen], [w.astype(np.float64) for w in disc]
    real, noise = answers["step1d_real"], answers["step1d_noise"]
    d_grads, g_grads = ref.train_step_gradients(gen, disc, real, noise)

    def losses(g, d):
        fake = ref.gen1d_forward(g, noise)
        return ref.d_loss(ref.disc1d_forward(d, real), ref.disc1d_forward(d, fake)), ref.g_loss(ref.disc1d_forward(d, fake))

    h = 1e-6
    for index in [(0, 0, 0), (1, 5), (2, 3, 0), (3, 0)]:  # entries of the discriminator's weights
        plus, minus = [w.copy() for w in disc], [w.copy() for w in disc]
        plus[index[0]][index[1:]] += h
        minus[index[0]][index[1:]] -= h
        numeric = (losses(gen, plus)[0] - losses(gen, minus)[0]) / (2 * h)
        assert d_grads[index[0]][index[1:]] == pytest.approx(numeric, rel=1e-4, abs=1e-9)
    for index in [(0, 3, 7), (1, 2), (2, 10, 4), (4, 7, 0), (5, 0)]:  # entries of the generator's weights
        plus, minus = [w.copy() for w in gen], [w.copy() for w in gen]
        plus[index[0]][index[1:]] += h
        minus[index[0]][index[1:]] -= h
        numeric = (losses(plus, disc)[1] - losses(minus, disc)[1]) / (2 * h)
        assert g_grads[index[0]][index[1:]] == pytest.approx(numeric, rel=1e-4, abs=1e-9)
    lr_d, lr_g = answers["step1d_lrs"]
    np.testing.assert_allclose(answers["step1d_d_update_true"], -lr_d * ref.flat(d_grads))
    np.testing.assert_allclose(answers["step1d_g_update_true"], -lr_g * ref.flat(g_grads))


def test_testkit_layer_lists_match_the_reference():
    from course.testkit import gan_1d_conditional as testkit

    assert testkit.cgen_layers() == ref.cgen_layers() and testkit.cgen_layers(16) == ref.cgen_layers(16)
    assert testkit.cdisc_layers() == ref.cdisc_layers()


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
        noise, condition = keras.Input((latent_dim,)), keras.Input((10,))
        label = layers.Dense(64, activation="elu")(layers.Dense(32, activation="elu")(condition))
        x = layers.Reshape((1, 1, latent_dim + 64))(layers.Concatenate()([noise, label]))
        x = layers.Conv2DTranspose(128, 5, activation="relu")(x)
        x = layers.Conv2DTranspose(64, 5, strides=2, activation="relu")(x)
        x = layers.Conv2DTranspose(32, 5, strides=2, activation="relu", use_bias=False)(x)
        return keras.Model([noise, condition], layers.Conv2D(1, 2, activation="sigmoid", use_bias=False)(x))

    def conditional_discriminator():
        image, condition = keras.Input((28, 28, 1)), keras.Input((10,))
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


def test_conditional_models_match_keras(keras):
    """The NumPy convolutions against Keras, for a functional and a subclassed model (testkit seeding)."""
    from course.testkit import gan_1d_conditional as testkit

    layers = keras.layers
    answers = ref.build()
    noise, condition = keras.Input((100,)), keras.Input((10,))
    label = layers.Dense(64, activation="elu")(layers.Dense(32, activation="elu")(condition))
    x = layers.Reshape((1, 1, 164))(layers.Concatenate()([label, noise]))  # label first: the other accepted order
    x = layers.Conv2DTranspose(128, 5, activation="relu")(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 5, strides=2, activation="relu", use_bias=False)(x)
    generator = keras.Model([noise, condition], layers.Conv2D(1, 2, activation="sigmoid", use_bias=False)(x))
    testkit.set_layer_weights(generator, testkit.cgen_layers(), int(answers["cgen_seed"]))
    got = np.asarray(generator([answers["cgen_noise"], answers["cgen_labels"]]))
    np.testing.assert_allclose(got, answers["cgen_label_first_true"], atol=1e-5)
    assert np.abs(got - answers["cgen_true"]).max() > 1e-3

    class Discriminator(keras.Model):
        def __init__(self):
            super().__init__()
            self.label_1, self.label_2 = layers.Dense(32, activation="elu"), layers.Dense(64, activation="elu")
            self.convs = [layers.Conv2D(f, 3, strides=2, padding="same", activation="relu") for f in (32, 64, 96)]
            self.hidden, self.out = layers.Dense(128, activation="relu"), layers.Dense(1)

        def call(self, inputs):
            image, label = inputs
            for conv in self.convs:
                image = conv(image)
            features = keras.ops.reshape(image, (-1, 1536))
            return self.out(self.hidden(keras.ops.concatenate([features, self.label_2(self.label_1(label))], 1)))

    discriminator = Discriminator()
    discriminator([np.zeros((1, 28, 28, 1), "float32"), np.zeros((1, 10), "float32")])
    testkit.set_layer_weights(discriminator, testkit.cdisc_layers(), int(answers["cdisc_seed"]))
    got = np.asarray(discriminator([answers["cdisc_images"], answers["cdisc_labels"]]))
    np.testing.assert_allclose(got, answers["cdisc_true"], rtol=1e-4, atol=1e-6)


def test_train_step_updates_match_keras(keras):
    import tensorflow as tf

    from course.testkit import gan_1d_conditional as testkit

    answers = ref.build()
    generator, discriminator = testkit.models_1d(int(answers["gen1d_seed"]), int(answers["disc1d_seed"]))
    g_before, d_before = testkit.flat_weights(generator), testkit.flat_weights(discriminator)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    with tf.GradientTape(persistent=True) as tape:
        d_fake = discriminator(generator(answers["step1d_noise"]))
        d_real = discriminator(answers["step1d_real"])
        d_value = bce(tf.ones_like(d_real), d_real) + bce(tf.zeros_like(d_fake), d_fake)
        g_value = bce(tf.ones_like(d_fake), d_fake)
    lr_d, lr_g = (float(r) for r in answers["step1d_lrs"])
    d_grads = tape.gradient(d_value, discriminator.trainable_variables)
    g_grads = tape.gradient(g_value, generator.trainable_variables)
    keras.optimizers.SGD(lr_d).apply_gradients(zip(d_grads, discriminator.trainable_variables))
    keras.optimizers.SGD(lr_g).apply_gradients(zip(g_grads, generator.trainable_variables))
    for got, want in ((testkit.flat_weights(discriminator) - d_before, answers["step1d_d_update_true"]),
                      (testkit.flat_weights(generator) - g_before, answers["step1d_g_update_true"])):
        assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()
