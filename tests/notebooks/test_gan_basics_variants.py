"""gan_basics: correct variants keep full marks; each typical mistake loses exactly its own checks.

Each variant rewrites the bodies of solution cells of the source notebook. The default run grades the correct
variants together and the wrong variants in three bundles whose checks do not overlap (so a bundle loses the
union of its members' checks); the slow run grades every wrong variant on its own.
"""
from __future__ import annotations


import nbformat
import numpy as np
import pytest

from autograder.paths import SOURCE_DIR

import variants

pytestmark = pytest.mark.notebook
ASSIGNMENT = "gan_basics"
NOTEBOOK = SOURCE_DIR / ASSIGNMENT / "GANs-TensorFlow.ipynb"
LIMITS = variants.LIMITS

CORRECT = {
    "leaky_relu": "return tf.where(x > 0, x, alpha * x)",
    "sample_noise": "return tf.constant(np.random.uniform(-1.0, 1.0, size=(batch_size, dim)), dtype=tf.float32)",
    "discriminator": (
        "inputs = keras.Input(shape=(784,))\n"
        "hidden = layers.LeakyReLU(0.01)(layers.Dense(256)(inputs))\n"
        "hidden = layers.LeakyReLU(0.01)(layers.Dense(256)(hidden))\n"
        "return keras.Model(inputs, layers.Dense(1)(hidden))"),
    "generator": (
        "model = keras.Sequential()\nmodel.add(keras.Input((noise_dim,)))\n"
        "for units in (1024, 1024):\n    model.add(layers.Dense(units))\n    model.add(layers.ReLU())\n"
        "model.add(layers.Dense(784))\nmodel.add(layers.Activation('tanh'))\nreturn model"),
    "discriminator_loss": (
        "bce = keras.losses.BinaryCrossentropy(from_logits=True)\n"
        "return bce(tf.ones_like(logits_real), logits_real) + bce(tf.zeros_like(logits_fake), logits_fake)"),
    "generator_loss": (
        "bce = keras.losses.BinaryCrossentropy(from_logits=True)\n"
        "return bce(tf.ones_like(logits_fake), logits_fake)"),
    "get_solvers": (
        "return (tf.keras.optimizers.Adam(learning_rate, beta_1=beta1),\n"
        "        tf.keras.optimizers.Adam(learning_rate, beta_1=beta1))"),
    "ls_discriminator_loss": (
        "return tf.reduce_mean(0.5 * (scores_real - 1) ** 2) + tf.reduce_mean(0.5 * scores_fake ** 2)"),
    "ls_generator_loss": "return tf.reduce_mean((scores_fake - 1) ** 2) / 2",
    "xy_alternating_steps": (
        "points = [(1.0, 1.0)]\nfor _ in range(num_steps):\n    x, y = points[-1]\n    y = y + step_size * x\n"
        "    points.append((x - step_size * y, y))\nreturn points"),
}

def _copied_public_answers() -> dict[str, str]:
    from autograder.paths import DATA_DIR

    with np.load(DATA_DIR / f"{ASSIGNMENT}.npz") as public:
        lrelu, d_loss, g_ls = public["lrelu_y"].tolist(), float(public["d_loss_true"]), float(public["g_loss_lsgan_true"])
    return {"leaky_relu": f"return tf.constant({lrelu!r}, dtype=x.dtype)",
            "discriminator_loss": f"return tf.constant({d_loss!r}, dtype=tf.float64)",
            "ls_generator_loss": f"return tf.constant({g_ls!r}, dtype=tf.float64)"}


# name: (solution bodies, checks it must lose)
WRONG = {
    "alpha_0_2": ({"leaky_relu": "return tf.maximum(x, 0.2 * x)"},
                  {"leaky_relu_values", "leaky_relu_alpha_hidden"}),
    "relu_discriminator": ({"discriminator": (
        "return keras.Sequential([keras.Input((784,)), layers.Dense(256, activation='relu'),\n"
        "    layers.Dense(256, activation='relu'), layers.Dense(1)])")},
        {"discriminator_behaviour_hidden"}),
    "beta1_default": ({"get_solvers": (
        "return (keras.optimizers.Adam(learning_rate=learning_rate),\n"
        "        keras.optimizers.Adam(learning_rate=learning_rate))")},
        {"get_solvers_hyperparameters_hidden"}),
    "x_updated_first": ({"xy_alternating_steps": (
        "x, y = 1.0, 1.0\ntable = [(x, y)]\nfor _ in range(num_steps):\n    x = x - step_size * y\n"
        "    y = y + step_size * x\n    table.append((x, y))\nreturn table")},
        {"inline_question_1_values_hidden"}),
    "gaussian_noise": ({"sample_noise": "return tf.random.normal((batch_size, dim))"},
                       {"sample_noise_shape", "sample_noise_distribution_hidden"}),  # visible check tests the range
    "sum_not_mean": ({"discriminator_loss": (
        "xent = tf.nn.sigmoid_cross_entropy_with_logits\n"
        "return (tf.reduce_sum(xent(labels=tf.ones_like(logits_real), logits=logits_real))\n"
        "        + tf.reduce_sum(xent(labels=tf.zeros_like(logits_fake), logits=logits_fake)))")},
        {"discriminator_loss_values", "discriminator_loss_reduction_hidden"}),
    "no_tanh": ({"generator": (
        "return keras.Sequential([keras.Input((noise_dim,)), layers.Dense(1024, activation='relu'),\n"
        "    layers.Dense(1024, activation='relu'), layers.Dense(784)])")},
        {"generator_behaviour_hidden"}),
    "generator_never_updated": ({"make_train_step": (
        "@tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32),\n"
        "                              tf.TensorSpec([None, noise_dim], tf.float32)])\n"
        "def train_step(real_images, noise):\n"
        "    with tf.GradientTape() as tape:\n"
        "        d_loss = discriminator_loss(D(real_images, training=True), D(G(noise, training=True), training=True))\n"
        "    D_solver.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))\n"
        "    g_loss = generator_loss(D(G(noise, training=True), training=True))\n"
        "    return d_loss, g_loss\n"
        "return train_step")},
        {"train_step_updates_hidden"}),
    "saturating_generator_loss": ({"generator_loss": (
        "return tf.reduce_mean(tf.math.log(1.0 - tf.sigmoid(logits_fake) + 1e-12))")},
        {"generator_loss_values", "generator_loss_nonsaturating_hidden",
         "generator_loss_reduction_hidden"}),  # the repeated batch's loss is checked against the reference
    "batchnorm_before_relu": ({"dc_generator": (
        "return keras.Sequential([keras.Input((noise_dim,)),\n"
        "    layers.Dense(1024), layers.BatchNormalization(), layers.ReLU(),\n"
        "    layers.Dense(7 * 7 * 128), layers.BatchNormalization(), layers.ReLU(),\n"
        "    layers.Reshape((7, 7, 128)),\n"
        "    layers.Conv2DTranspose(64, 4, strides=2, padding='same'), layers.BatchNormalization(), layers.ReLU(),\n"
        "    layers.Conv2DTranspose(1, 4, strides=2, padding='same', activation='tanh'), layers.Reshape((784,))])")},
        {"dc_generator_behaviour_hidden"}),
    "lsgan_without_half": ({"ls_discriminator_loss": (
        "return tf.reduce_mean(tf.square(scores_real - 1.0)) + tf.reduce_mean(tf.square(scores_fake))")},
        {"ls_discriminator_loss_values", "ls_losses_reduction_hidden"}),
    # Hard-codes the visible checks' expected values from the public data/gan_basics.npz: the grader draws each
    # submission's inputs with autograder.inputs, so copying earns nothing.
    "copies_public_answers": (_copied_public_answers(), {
        "leaky_relu_values", "leaky_relu_alpha_hidden", "discriminator_loss_values",
        "discriminator_loss_reduction_hidden", "ls_generator_loss_values",
        "ls_losses_reduction_hidden"}),  # a constant loss fails the repeated batch's value check
}
BUNDLES = {
    "wrong_bundle_a": ("alpha_0_2", "relu_discriminator", "beta1_default", "x_updated_first"),
    "wrong_bundle_b": ("gaussian_noise", "sum_not_mean", "no_tanh", "generator_never_updated"),
    "wrong_bundle_c": ("saturating_generator_loss", "batchnorm_before_relu", "lsgan_without_half"),
    "wrong_bundle_d": ("copies_public_answers",),
}


def with_bodies(bodies: dict[str, str]) -> nbformat.NotebookNode:
    return variants.with_bodies(NOTEBOOK, bodies)


def _grade(tmp_path, submissions: dict[str, nbformat.NotebookNode], feedback: bool = False) -> dict[str, dict]:
    return variants.grade_submissions(tmp_path, ASSIGNMENT, NOTEBOOK, submissions, feedback)


_lost = variants.lost_checks


@pytest.mark.slow  # `make test` budget: .ci/run runs every variant harness after it (make test-ci-slow)
def test_correct_variants_and_wrong_bundles(tmp_path):
    submissions = {"correct_variants": with_bodies(CORRECT)}
    for bundle, members in BUNDLES.items():
        submissions[bundle] = with_bodies(variants.bundle_bodies(WRONG, members))
    records = _grade(tmp_path, submissions, feedback=True)
    assert _lost(records["correct_variants"]) == set(), records["correct_variants"]["checks"]
    for bundle, members in BUNDLES.items():
        expected = set().union(*(WRONG[m][1] for m in members))
        assert _lost(records[bundle]) == expected, bundle
    variants.assert_no_hidden_line_in_feedback(tmp_path / "out", ASSIGNMENT, NOTEBOOK, records,
                                               at_least=20)


@pytest.mark.slow
def test_each_wrong_variant_alone(tmp_path):
    records = _grade(tmp_path, {name: with_bodies(bodies) for name, (bodies, _) in WRONG.items()})
    for name, (_, expected) in WRONG.items():
        assert _lost(records[name]) == expected, name


def test_bundles_cover_every_wrong_variant_once():
    members = [m for bundle in BUNDLES.values() for m in bundle]
    assert sorted(members) == sorted(WRONG)
    for bundle in BUNDLES.values():
        checks = [c for m in bundle for c in WRONG[m][1]]
        assert len(checks) == len(set(checks)), "bundled variants must not share a check"
