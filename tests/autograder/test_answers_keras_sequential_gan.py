"""Tests of the NumPy reference for ``keras_sequential_gan``: hand-computed cases and the seeded forward passes
against Keras models built here (never the notebook's solutions)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.answers import write_answers
from autograder.answers import keras_sequential_gan as ref
from course.checks import rel_error



@pytest.fixture(scope="module")
def answers():
    return ref.build()


STANDIN_KEYS = {
    "codings_sizes", "codings_param_counts_true",
    "dcgan_generator_training_x", "dcgan_generator_training_seed", "dcgan_generator_training_true",
    "dcgan_generator_moving_true",
    "compile_d_seed", "compile_image", "compile_d_x", "compile_d_y", "compile_z", "compile_losses_true",
    "compile_d_updates_true", "compile_g_updates_true",
    "dstep_d_seed", "dstep_image", "dstep_real_x", "dstep_losses_true", "dstep_d_updates_true",
    "gstep_d_seed", "gstep_image", "gstep_d_x", "gstep_d_y", "gstep_batch", "gstep_losses_true",
    "gstep_g_updates_true",
    "codings_seed", "codings_image", "codings_real_x", "loop_seed", "loop_image", "loop_real_x",
    "scale_x", "scale_true"}


def test_keys_shapes_and_docs(answers):
    model_keys = {f"{n}_{s}" for n in ref.MODEL_NAMES for s in ("seed", "x", "true")}
    assert set(answers) == {"param_counts"} | model_keys | STANDIN_KEYS
    for key in sorted(STANDIN_KEYS) + ["param_counts", "_seed", "_x", "_true"]:
        assert key in ref.__doc__, key
    shapes = {"dense_generator": ((4, 30), (4, 28, 28)), "dense_discriminator": ((4, 28, 28), (4, 1)),
              "dcgan_generator": ((4, 100), (4, 28, 28, 1)), "dcgan_discriminator": ((4, 28, 28, 1), (4, 1))}
    for name, (x_shape, y_shape) in shapes.items():
        assert answers[f"{name}_x"].shape == x_shape and answers[f"{name}_x"].dtype == np.float32
        assert answers[f"{name}_true"].shape == y_shape and answers[f"{name}_true"].dtype == np.float64
    n_d = 27 * 28 * 3 + 3 + 3 + 1
    assert answers["compile_d_updates_true"].shape == (4, n_d) and answers["compile_g_updates_true"].shape == (4, 784)
    assert answers["dstep_d_updates_true"].shape == (2, n_d) and answers["gstep_g_updates_true"].shape == (2, 784)
    assert answers["dcgan_generator_moving_true"].shape == (2 * 128 + 2 * 64,)
    for prefix in ("compile", "dstep", "gstep", "codings", "loop"):
        assert np.all(answers[f"{prefix}_image"][0] == 0)  # the row the stand-in writes the codings into


def test_hidden_keys_are_expected_values_and_stay_out_of_the_public_file(answers):
    assert ref.HIDDEN_KEYS <= set(answers) and all(k.endswith("_true") for k in ref.HIDDEN_KEYS)
    from autograder.answers import read_npz
    from autograder.paths import DATA_DIR

    assert not ref.HIDDEN_KEYS & set(read_npz(DATA_DIR / "keras_sequential_gan.npz"))


def test_another_seed_draws_other_inputs(answers):
    grading = ref.build(90003)  # any seed but ref.SEED, as the grader draws for each submission
    assert set(grading) == set(answers)
    for key in ("dense_generator_x", "dense_generator_seed", "compile_d_x", "dstep_real_x", "gstep_d_x",
                "loop_real_x", "scale_x", "codings_sizes"):
        assert not np.array_equal(grading[key], answers[key]), key


def test_build_is_deterministic(answers):
    again = ref.build()
    for key in answers:
        np.testing.assert_array_equal(answers[key], again[key])


def test_committed_answer_files_are_current():
    """data/ (public) and autograder/hidden/ (hidden set) are what the reference builds."""
    assert write_answers(assignments=["keras_sequential_gan"], check=True) == []


def test_param_counts_by_hand(answers):
    dense_g = (30 * 100 + 100) + (100 * 150 + 150) + (150 * 784 + 784)
    dense_d = (784 * 150 + 150) + (150 * 100 + 100) + (100 + 1)
    dcgan_g = (100 * 6272 + 6272) + 4 * 128 + (25 * 128 * 64 + 64) + 4 * 64 + (25 * 64 + 1)
    dcgan_d = (25 * 64 + 64) + (25 * 64 * 128 + 128) + (6272 + 1)
    assert answers["param_counts"].tolist() == [dense_g, dense_d, dcgan_g, dcgan_d] == [136634, 132951, 840705, 212865]


def test_activations_by_hand():
    np.testing.assert_allclose(ref.selu(np.array([0.0, 1.0, -1.0])),
                               [0.0, 1.0507009873554805, 1.0507009873554805 * 1.6732632423543772 * (math.exp(-1) - 1)])
    np.testing.assert_allclose(ref.sigmoid(np.array([0.0, 2.0])), [0.5, 1 / (1 + math.exp(-2))])
    np.testing.assert_allclose(ref.batchnorm(np.array([3.0]), 2.0, 0.5, 1.0, 3.999), [2.0 * 2 / 2.0 + 0.5])


def test_outputs_are_in_range(answers):
    assert np.all((answers["dense_generator_true"] > 0) & (answers["dense_generator_true"] < 1))
    assert np.all(np.abs(answers["dcgan_generator_true"]) < 1)
    for name in ("dense_discriminator", "dcgan_discriminator"):
        assert np.all((answers[f"{name}_true"] > 0) & (answers[f"{name}_true"] < 1))


def _keras_model(name):
    import keras
    from keras import layers

    if name == "dense_generator":
        return keras.Sequential([keras.Input((30,)), layers.Dense(100, activation="selu"),
                                 layers.Dense(150, activation="selu"), layers.Dense(784, activation="sigmoid"),
                                 layers.Reshape((28, 28))])
    if name == "dense_discriminator":
        return keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(150, activation="selu"),
                                 layers.Dense(100, activation="selu"), layers.Dense(1, activation="sigmoid")])
    if name == "dcgan_generator":
        return keras.Sequential([keras.Input((100,)), layers.Dense(6272), layers.Reshape((7, 7, 128)),
                                 layers.BatchNormalization(),
                                 layers.Conv2DTranspose(64, 5, strides=2, padding="same", activation="selu"),
                                 layers.BatchNormalization(),
                                 layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh")])
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(64, 5, strides=2, padding="same"),
                             layers.LeakyReLU(negative_slope=0.2), layers.Dropout(0.4),
                             layers.Conv2D(128, 5, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2),
                             layers.Dropout(0.4), layers.Flatten(), layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("name", ref.MODEL_NAMES)
def test_seeded_forward_matches_keras(answers, name):
    from course.checks import count_params, set_seeded_weights

    model = _keras_model(name)
    assert count_params(model) == answers["param_counts"][ref.MODEL_NAMES.index(name)]
    set_seeded_weights(model, int(answers[f"{name}_seed"]))
    got = np.asarray(model(answers[f"{name}_x"], training=False))
    want = answers[f"{name}_true"]
    if name == "dcgan_generator":
        got, want = (got + 1) / 2, (want + 1) / 2  # the notebook compares pixel values
    assert rel_error(got, want) < 2e-5


def test_rmsprop_by_hand():
    """Two steps from w = 1 with gradients 0.5 then -0.2: v1 = 0.1 * 0.25, v2 = 0.9 v1 + 0.1 * 0.04."""
    opt = ref.RMSprop()
    (w1,) = opt.step([np.array([1.0])], [np.array([0.5])])
    assert w1[0] == pytest.approx(1.0 - 1e-3 * 0.5 / math.sqrt(0.025 + 1e-7))
    (w2,) = opt.step([w1], [np.array([-0.2])])
    assert w2[0] == pytest.approx(w1[0] + 1e-3 * 0.2 / math.sqrt(0.9 * 0.025 + 0.004 + 1e-7))


def test_standin_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    weights = [w.astype(np.float64) for w in ref.seeded_arrays(ref.STANDIN_D_SPECS, 5)]
    images, labels = rng.uniform(0, 1, (4, 28, 28)), np.array([[0.0], [1.0], [1.0], [0.0]])
    loss, grads, d_images = ref.standin_discriminator_loss_and_grads(weights, images, labels)
    assert np.all(d_images[:, 0] == 0)  # the cropped row gets no gradient
    eps = 1e-6
    for which, index in ((0, (10, 1)), (1, (2,)), (2, (0, 0)), (3, (0,))):
        bumped = [w.copy() for w in weights]
        bumped[which][index] += eps
        numeric = (ref.standin_discriminator_loss_and_grads(bumped, images, labels)[0] - loss) / eps
        assert numeric == pytest.approx(grads[which][index], rel=1e-3, abs=1e-9)
    bumped = images.copy()
    bumped[1, 5, 7] += eps
    numeric = (ref.standin_discriminator_loss_and_grads(weights, bumped, labels)[0] - loss) / eps
    assert numeric == pytest.approx(d_images[1, 5, 7], rel=1e-3, abs=1e-9)


def _scaled(got, want):
    return float(np.max(np.abs(np.asarray(got) - want)) / np.max(np.abs(want)))


def test_standin_phases_match_keras(answers):
    """The reference's train_on_batch phases against Keras on the testkit's stand-ins (the text's recipe)."""
    from course.testkit import keras_sequential_gan as kit

    record = kit.compile_phases(kit.compile_like_the_text, int(answers["compile_d_seed"]), answers["compile_image"],
                                answers["compile_d_x"], answers["compile_d_y"], answers["compile_z"])
    assert record["frozen"] and record["gan_trainable_count"] == 1
    np.testing.assert_allclose(record["losses"], answers["compile_losses_true"], rtol=1e-5)
    assert _scaled(record["d_updates"], answers["compile_d_updates_true"]) < 1e-4
    assert _scaled(record["g_updates"], answers["compile_g_updates_true"]) < 1e-4
    assert np.all(answers["compile_d_updates_true"][1] == answers["compile_d_updates_true"][0])  # D frozen in phase 2


def test_dcgan_generator_training_mode_matches_keras(answers):
    import keras

    from course.checks import set_seeded_weights

    model = _keras_model("dcgan_generator")
    set_seeded_weights(model, int(answers["dcgan_generator_training_seed"]))
    before = np.concatenate([np.ravel(w.numpy()) for w in model.weights if "moving" in w.path])
    out = np.asarray(model(answers["dcgan_generator_training_x"], training=True))
    after = np.concatenate([np.ravel(w.numpy()) for w in model.weights if "moving" in w.path])
    assert _scaled((out + 1) / 2, (answers["dcgan_generator_training_true"] + 1) / 2) < 2e-5
    want = answers["dcgan_generator_moving_true"]
    assert _scaled(after - before, want - before) < 1e-4
    # another momentum moves the statistics visibly differently (what the hidden check relies on)
    _, moving = ref.dcgan_generator_training(
        ref.seeded_arrays(ref.dcgan_generator_specs(100), int(answers["dcgan_generator_training_seed"])),
        answers["dcgan_generator_training_x"], momentum=0.8)
    assert _scaled(np.concatenate([m.ravel() for m in moving]) - before, want - before) > 1
    assert keras.layers.BatchNormalization().momentum == ref.BN_MOMENTUM


def test_codings_param_counts(answers):
    dense, dcgan = (int(s) for s in answers["codings_sizes"])
    assert dense != 30 and dcgan != 100
    assert answers["codings_param_counts_true"].tolist() == [136634 - 100 * (30 - dense), 840705 - 6272 * (100 - dcgan)]


def test_scale_true(answers):
    np.testing.assert_allclose(answers["scale_true"], answers["scale_x"] * 2.0 - 1.0, rtol=1e-7)
    assert answers["scale_x"].min() > 0.05 and answers["scale_x"].max() < 0.95  # min-max scaling would differ
