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


def test_keys_shapes_and_docs(answers):
    assert set(answers) == {"param_counts"} | {f"{n}_{s}" for n in ref.MODEL_NAMES for s in ("seed", "x", "true")}
    for key in ("param_counts", "_seed", "_x", "_true"):
        assert key in ref.__doc__
    shapes = {"dense_generator": ((4, 30), (4, 28, 28)), "dense_discriminator": ((4, 28, 28), (4, 1)),
              "dcgan_generator": ((4, 100), (4, 28, 28, 1)), "dcgan_discriminator": ((4, 28, 28, 1), (4, 1))}
    for name, (x_shape, y_shape) in shapes.items():
        assert answers[f"{name}_x"].shape == x_shape and answers[f"{name}_x"].dtype == np.float32
        assert answers[f"{name}_true"].shape == y_shape and answers[f"{name}_true"].dtype == np.float64


def test_build_is_deterministic(answers):
    again = ref.build()
    for key in answers:
        np.testing.assert_array_equal(answers[key], again[key])


def test_committed_answer_files_are_current():
    """data/ (public) and autograder/hidden/ (hidden and grading sets) are what the reference builds."""
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
