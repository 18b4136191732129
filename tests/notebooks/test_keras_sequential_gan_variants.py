"""keras_sequential_gan: correct variants keep full marks; each typical mistake loses exactly its own checks.

Each variant rewrites the bodies of solution cells of the source notebook. The default run grades the correct
variants together and the wrong variants in bundles whose checks do not overlap (so a bundle loses the union
of its members' checks); the slow run grades every wrong variant on its own.
"""
from __future__ import annotations


import nbformat
import pytest

from autograder.notebook import grade_id
from autograder.paths import SOURCE_DIR

import variants

pytestmark = pytest.mark.notebook
ASSIGNMENT = "keras_sequential_gan"
NOTEBOOK = SOURCE_DIR / ASSIGNMENT / "keras_sequential_gan.ipynb"
LIMITS = variants.LIMITS

# The solution bodies of the source, for variants that change one line of them.
DENSE_GENERATOR = (
    "return keras.Sequential([\n"
    "    keras.Input((codings_size,)),\n"
    "    layers.Dense(100, activation='selu'),\n"
    "    layers.Dense(150, activation='selu'),\n"
    "    layers.Dense(28 * 28, activation='sigmoid'),\n"
    "    layers.Reshape((28, 28)),\n"
    "])")
COMPILE_GAN = (
    "discriminator.compile(loss='binary_crossentropy', optimizer=keras.optimizers.RMSprop())\n"
    "discriminator.trainable = False\n"
    "gan = keras.Sequential([generator, discriminator])\n"
    "gan.compile(loss='binary_crossentropy', optimizer=keras.optimizers.RMSprop())\n"
    "return gan")
DISCRIMINATOR_STEP = (
    "real_images = tf.cast(real_images, tf.float32)\n"
    "batch_size = tf.shape(real_images)[0]\n"
    "codings = tf.random.normal((batch_size, codings_size))\n"
    "fake_images = generator(codings)\n"
    "images = tf.concat([fake_images, real_images], axis=0)\n"
    "labels = tf.concat([tf.zeros((batch_size, 1)), tf.ones((batch_size, 1))], axis=0)\n"
    "discriminator.trainable = True\n"
    "return float(discriminator.train_on_batch(images, labels))")
GENERATOR_STEP = (
    "generator, discriminator = gan.layers\n"
    "codings = tf.random.normal((batch_size, codings_size))\n"
    "labels = tf.ones((batch_size, 1))\n"
    "discriminator.trainable = False\n"
    "return float(gan.train_on_batch(codings, labels))")
TRAIN_GAN = (
    "generator, discriminator = gan.layers\n"
    "history = {'d_loss': [], 'g_loss': []}\n"
    "for epoch in range(n_epochs):\n"
    "    for real_images in dataset:\n"
    "        history['d_loss'].append(discriminator_step(generator, discriminator, real_images, codings_size))\n"
    "        history['g_loss'].append(generator_step(gan, batch_size, codings_size))\n"
    "return history")
DCGAN_GENERATOR = (
    "return keras.Sequential([\n"
    "    keras.Input((codings_size,)),\n"
    "    layers.Dense(7 * 7 * 128),\n"
    "    layers.Reshape((7, 7, 128)),\n"
    "    layers.BatchNormalization(),\n"
    "    layers.Conv2DTranspose(64, kernel_size=5, strides=2, padding='same', activation='selu'),\n"
    "    layers.BatchNormalization(),\n"
    "    layers.Conv2DTranspose(1, kernel_size=5, strides=2, padding='same', activation='tanh'),\n"
    "])")
DCGAN_DISCRIMINATOR = (
    "return keras.Sequential([\n"
    "    keras.Input((28, 28, 1)),\n"
    "    layers.Conv2D(64, kernel_size=5, strides=2, padding='same', activation=layers.LeakyReLU(negative_slope=0.2)),\n"
    "    layers.Dropout(0.4),\n"
    "    layers.Conv2D(128, kernel_size=5, strides=2, padding='same', activation=layers.LeakyReLU(negative_slope=0.2)),\n"
    "    layers.Dropout(0.4),\n"
    "    layers.Flatten(),\n"
    "    layers.Dense(1, activation='sigmoid'),\n"
    "])")


def _edit(body: str, old: str, new: str) -> str:
    assert old in body, old
    return body.replace(old, new)


CORRECT = {
    # functional model, activations as layers
    "make_generator": (
        "inputs = keras.Input(shape=(codings_size,))\n"
        "hidden = layers.Dense(100, activation='selu')(inputs)\n"
        "hidden = layers.Activation('selu')(layers.Dense(150)(hidden))\n"
        "pixels = layers.Dense(784, activation=keras.activations.sigmoid)(hidden)\n"
        "return keras.Model(inputs, layers.Reshape([28, 28])(pixels))"),
    # Sequential built with add(), Reshape instead of Flatten
    "make_discriminator": (
        "model = keras.Sequential()\n"
        "model.add(keras.Input(shape=(28, 28)))\n"
        "model.add(layers.Reshape((784,)))\n"
        "for units in (150, 100):\n"
        "    model.add(layers.Dense(units, activation=keras.activations.selu))\n"
        "model.add(layers.Dense(1, activation='sigmoid'))\n"
        "return model"),
    # freeze first, string optimizer, loss objects (Keras 3 reads the flags at each model's first step)
    "compile_gan": (
        "discriminator.trainable = False\n"
        "discriminator.compile(loss=keras.losses.BinaryCrossentropy(), optimizer='rmsprop')\n"
        "gan = keras.Sequential([generator, discriminator])\n"
        "gan.compile(loss=tf.keras.losses.BinaryCrossentropy(), optimizer=tf.keras.optimizers.RMSprop(learning_rate=0.001))\n"
        "return gan"),
    # NumPy codings, predict(), [reals, fakes] with flat labels
    "discriminator_step": (
        "real_images = np.asarray(real_images, dtype=np.float32)\n"
        "n = len(real_images)\n"
        "codings = np.random.normal(size=(n, codings_size)).astype(np.float32)\n"
        "fakes = generator.predict(codings, verbose=0)\n"
        "images = np.concatenate([real_images, fakes])\n"
        "labels = np.array([1.0] * n + [0.0] * n, dtype=np.float32)\n"
        "discriminator.trainable = True\n"
        "loss = discriminator.train_on_batch(images, labels)\n"
        "return float(loss)"),
    "generator_step": (
        "discriminator = gan.layers[1]\n"
        "discriminator.trainable = False\n"
        "codings = tf.random.normal(shape=[batch_size, codings_size], dtype=tf.float32)\n"
        "return float(gan.train_on_batch(codings, np.ones((batch_size, 1), dtype='float32')))"),
    # the seed's loop: both phases inlined
    "train_gan": (
        "generator, discriminator = gan.layers\n"
        "history = {'d_loss': [], 'g_loss': []}\n"
        "for epoch in range(n_epochs):\n"
        "    for X_batch in dataset:\n"
        "        X_batch = tf.cast(X_batch, dtype=tf.float32)\n"
        "        noise = tf.random.normal(shape=(batch_size, codings_size), dtype=tf.float32)\n"
        "        X_fake_and_real = tf.concat([generator(noise), X_batch], axis=0)\n"
        "        y1 = tf.constant([[0.]] * batch_size + [[1.]] * batch_size)\n"
        "        discriminator.trainable = True\n"
        "        history['d_loss'].append(float(discriminator.train_on_batch(X_fake_and_real, y1)))\n"
        "        noise = tf.random.normal(shape=(batch_size, codings_size))\n"
        "        y2 = tf.constant([[1.]] * batch_size)\n"
        "        discriminator.trainable = False\n"
        "        history['g_loss'].append(float(gan.train_on_batch(noise, y2)))\n"
        "    print(epoch, history['g_loss'][-1])\n"
        "    if show:\n"
        "        show_images(generator(tf.random.normal((16, codings_size)), training=False))\n"
        "        plt.show()\n"
        "return history"),
    "make_dcgan_generator": (
        "codings = keras.Input((codings_size,))\n"
        "h = layers.Reshape([7, 7, 128])(layers.Dense(7 * 7 * 128)(codings))\n"
        "h = layers.BatchNormalization()(h)\n"
        "h = layers.Activation('selu')(layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding='same')(h))\n"
        "h = layers.BatchNormalization()(h)\n"
        "images = layers.Conv2DTranspose(1, 5, strides=2, padding='same', activation='tanh')(h)\n"
        "return keras.Model(codings, images)"),
    # separate LeakyReLU layers, the second Dropout after Flatten (the same computation)
    "make_dcgan_discriminator": (
        "images = keras.Input(shape=(28, 28, 1))\n"
        "h = layers.LeakyReLU(negative_slope=0.2)(layers.Conv2D(64, 5, strides=2, padding='same')(images))\n"
        "h = layers.Dropout(rate=0.4)(h)\n"
        "h = layers.LeakyReLU(negative_slope=0.2)(layers.Conv2D(128, 5, strides=2, padding='same')(h))\n"
        "h = layers.Dropout(0.4)(layers.Flatten()(h))\n"
        "return keras.Model(images, layers.Dense(1, activation='sigmoid')(h))"),
    "scale_for_tanh": "return ((tf.cast(images, tf.float32) - 0.5) / 0.5)[..., tf.newaxis]",
}

# name: (solution bodies, checks it must lose)
WRONG = {
    # make_generator / make_discriminator
    "dense_relu_generator": ({"make_generator": DENSE_GENERATOR.replace("'selu'", "'relu'")},
                             {"dense_models_outputs_hidden"}),
    "generator_ignores_codings_size": ({"make_generator": _edit(DENSE_GENERATOR, "(codings_size,)", "(30,)")},
                                       {"dense_generator_codings_hidden"}),
    "dense_discriminator_dropout": ({"make_discriminator": (
        "return keras.Sequential([keras.Input((28, 28)), layers.Flatten(),\n"
        "    layers.Dense(150, activation='selu'), layers.Dropout(0.3),\n"
        "    layers.Dense(100, activation='selu'), layers.Dropout(0.3),\n"
        "    layers.Dense(1, activation='sigmoid')])")},
        {"dense_models_training_mode_hidden"}),
    # compile_gan
    "compile_adam": ({"compile_gan": COMPILE_GAN.replace("keras.optimizers.RMSprop()", "keras.optimizers.Adam()")},
                     {"compile_gan_updates_hidden"}),
    "compile_rmsprop_2e4": ({"compile_gan": COMPILE_GAN.replace("RMSprop()", "RMSprop(learning_rate=2e-4)")},
                            {"compile_gan_updates_hidden"}),
    "compile_no_freeze": ({"compile_gan": _edit(COMPILE_GAN, "discriminator.trainable = False\n", "")},
                          {"compile_gan_freezes_hidden"}),
    "compile_shared_optimizer": ({"compile_gan": (
        "optimizer = keras.optimizers.RMSprop()\n"
        "discriminator.compile(loss='binary_crossentropy', optimizer=optimizer)\n"
        "discriminator.trainable = False\n"
        "gan = keras.Sequential([generator, discriminator])\n"
        "gan.compile(loss='binary_crossentropy', optimizer=optimizer)\n"
        "return gan")},
        {"compile_gan_updates_hidden", "freezing_generator_step", "freezing_discriminator_first_hidden",
         "step_labels_hidden", "train_gan_runs", "dcgan_train_runs"}),
    # discriminator_step
    "d_step_smoothed_labels": ({"discriminator_step": _edit(DISCRIMINATOR_STEP, "tf.ones((batch_size, 1))",
                                                            "0.9 * tf.ones((batch_size, 1))")},
                               {"step_labels_hidden", "discriminator_step_update_hidden"}),
    "d_step_two_calls": ({"discriminator_step": (
        "codings = tf.random.normal((len(real_images), codings_size))\n"
        "discriminator.trainable = True\n"
        "fake_loss = discriminator.train_on_batch(generator(codings), tf.zeros((len(real_images), 1)))\n"
        "real_loss = discriminator.train_on_batch(real_images, tf.ones((len(real_images), 1)))\n"
        "return float((fake_loss + real_loss) / 2)")},
        {"step_labels_hidden", "discriminator_step_update_hidden"}),
    "d_step_not_trainable": ({"discriminator_step": _edit(DISCRIMINATOR_STEP, "discriminator.trainable = True\n", "")},
                             {"freezing_generator_step", "freezing_discriminator_first_hidden",
                              "discriminator_step_update_hidden", "train_gan_runs"}),
    "d_step_uniform_codings": ({"discriminator_step": _edit(DISCRIMINATOR_STEP, "tf.random.normal", "tf.random.uniform")},
                               {"discriminator_step_codings_hidden"}),
    "d_step_loss_after_update": ({"discriminator_step": _edit(
        DISCRIMINATOR_STEP, "return float(discriminator.train_on_batch(images, labels))",
        "discriminator.train_on_batch(images, labels)\n"
        "return float(discriminator.test_on_batch(images, labels))")},
        {"discriminator_step_update_hidden"}),
    "d_step_recompiles": ({"discriminator_step": _edit(
        DISCRIMINATOR_STEP, "discriminator.trainable = True\n",
        "discriminator.trainable = True\n"
        "discriminator.compile(loss='binary_crossentropy', optimizer=keras.optimizers.RMSprop())\n")},
        {"discriminator_step_update_hidden"}),
    # generator_step
    "g_step_labels_zero": ({"generator_step": _edit(GENERATOR_STEP, "tf.ones((batch_size, 1))", "tf.zeros((batch_size, 1))")},
                           {"step_labels_hidden", "generator_step_update_hidden"}),
    "g_step_not_frozen": ({"generator_step": _edit(GENERATOR_STEP, "discriminator.trainable = False\n", "")},
                          {"freezing_discriminator_first_hidden", "generator_step_update_hidden"}),
    "g_step_freezes_global_discriminator": ({"generator_step": _edit(
        GENERATOR_STEP, "generator, discriminator = gan.layers\n", "")},
        {"freezing_discriminator_first_hidden", "generator_step_update_hidden"}),
    "g_step_uniform_codings": ({"generator_step": _edit(
        GENERATOR_STEP, "tf.random.normal((batch_size, codings_size))",
        "np.random.uniform(-1, 1, size=(batch_size, codings_size)).astype('float32')")},
        {"generator_step_codings_hidden"}),
    "g_step_same_codings": ({"generator_step": _edit(
        GENERATOR_STEP, "tf.random.normal((batch_size, codings_size))",
        "np.random.default_rng(42).normal(size=(batch_size, codings_size)).astype('float32')")},
        {"generator_step_codings_hidden"}),
    "g_step_recompiles": ({"generator_step": _edit(
        GENERATOR_STEP, "discriminator.trainable = False\n",
        "discriminator.trainable = False\n"
        "gan.compile(loss='binary_crossentropy', optimizer=keras.optimizers.RMSprop())\n")},
        {"generator_step_update_hidden"}),
    "g_step_fixed_batch": ({"generator_step": _edit(GENERATOR_STEP, "tf.random.normal((batch_size, codings_size))",
                                                    "tf.random.normal((32, codings_size))")
                            .replace("tf.ones((batch_size, 1))", "tf.ones((32, 1))")},
                           {"step_labels_hidden", "generator_step_codings_hidden"}),
    # train_gan
    "loop_generator_first": ({"train_gan": (
        "generator, discriminator = gan.layers\n"
        "history = {'d_loss': [], 'g_loss': []}\n"
        "for epoch in range(n_epochs):\n"
        "    for real_images in dataset:\n"
        "        history['g_loss'].append(generator_step(gan, batch_size, codings_size))\n"
        "        history['d_loss'].append(discriminator_step(generator, discriminator, real_images, codings_size))\n"
        "return history")},
        {"train_gan_hidden"}),
    "loop_skips_last_batch": ({"train_gan": _edit(TRAIN_GAN, "in dataset:", "in dataset.take(len(dataset) - 1):")},
                              {"train_gan_runs", "train_gan_hidden", "train_gan_data_hidden", "dcgan_train_runs"}),
    "loop_swapped_history": ({"train_gan": TRAIN_GAN.replace("['d_loss'].append", "['x'].append")
                              .replace("['g_loss'].append", "['d_loss'].append").replace("['x'].append", "['g_loss'].append")},
                             {"train_gan_hidden"}),
    "loop_codings_size_as_batch": ({"train_gan": _edit(TRAIN_GAN, "generator_step(gan, batch_size, codings_size)",
                                                       "generator_step(gan, codings_size, codings_size)")},
                                   {"train_gan_data_hidden"}),
    "loop_shuffles_batches": ({"train_gan": _edit(TRAIN_GAN, "in dataset:", "in dataset.shuffle(16):")},
                              {"train_gan_data_hidden"}),
    # DCGAN
    "dcgan_relu_generator": ({"make_dcgan_generator": DCGAN_GENERATOR.replace("'selu'", "'relu'")},
                             {"dcgan_outputs_hidden", "dcgan_generator_training_hidden"}),
    "dcgan_batchnorm_momentum": ({"make_dcgan_generator": DCGAN_GENERATOR.replace(
        "BatchNormalization()", "BatchNormalization(momentum=0.8)")},
        {"dcgan_generator_training_hidden"}),
    "dcgan_ignores_codings_size": ({"make_dcgan_generator": _edit(DCGAN_GENERATOR, "(codings_size,)", "(100,)")},
                                   {"dcgan_generator_codings_hidden"}),
    "dcgan_no_dropout": ({"make_dcgan_discriminator": DCGAN_DISCRIMINATOR.replace("    layers.Dropout(0.4),\n", "")},
                         {"dcgan_discriminator_dropout_hidden"}),
    "dcgan_dropout_on_input": ({"make_dcgan_discriminator": _edit(
        DCGAN_DISCRIMINATOR.replace("    layers.Dropout(0.4),\n    layers.Flatten()", "    layers.Flatten()"),
        "    keras.Input((28, 28, 1)),\n", "    keras.Input((28, 28, 1)),\n    layers.Dropout(0.4),\n")},
        {"dcgan_discriminator_dropout_hidden"}),
    "dcgan_default_leaky_slope": ({"make_dcgan_discriminator": DCGAN_DISCRIMINATOR.replace(
        "layers.LeakyReLU(negative_slope=0.2)", "layers.LeakyReLU()")},
        {"dcgan_outputs_hidden"}),
    # scale_for_tanh
    "scale_min_max": ({"scale_for_tanh": (
        "images = np.asarray(images, dtype=np.float32)\n"
        "scaled = (images - images.min()) / (images.max() - images.min()) * 2 - 1\n"
        "return scaled.reshape(-1, 28, 28, 1)")},
        {"scale_for_tanh_hidden"}),
    "scale_in_place": ({"scale_for_tanh": (
        "images = np.asarray(images, dtype=np.float32)\n"
        "images *= 2\n"
        "images -= 1\n"
        "return images.reshape(-1, 28, 28, 1)")},
        # its output values are right: the visible check's reference is the judge's own copy of the input
        # (it used to be the kernel's, which this variant changed); the hidden check sees the input change
        {"scale_for_tanh_hidden"}),
    # graded alone in the slow run: bundled, it would share scale_for_tanh_hidden with the two above
    "scale_from_255": ({"scale_for_tanh": "return np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1) / 127.5 - 1"},
                       {"scale_for_tanh_range", "scale_for_tanh_hidden"}),
}
# The default run grades the wrong variants in two bundles: within a bundle no two variants change the same
# function or lose the same check, and together the bundles lose every hidden check some variant loses. The
# slow run grades every variant alone (a submission holds one body per function, and several
# discriminator_step / generator_step mistakes share a check, so bundling all of them would take seven runs).
BUNDLES = {
    "wrong_bundle_a": ("dense_relu_generator", "dense_discriminator_dropout", "compile_no_freeze",
                       "d_step_smoothed_labels", "g_step_uniform_codings", "loop_skips_last_batch",
                       "dcgan_batchnorm_momentum", "dcgan_no_dropout", "scale_min_max"),
    "wrong_bundle_b": ("generator_ignores_codings_size", "compile_adam", "d_step_uniform_codings",
                       "g_step_not_frozen", "loop_generator_first", "dcgan_ignores_codings_size",
                       "dcgan_default_leaky_slope", "scale_in_place"),
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
    problems = []
    if _lost(records["correct_variants"]):
        problems.append(f"correct_variants lost {sorted(_lost(records['correct_variants']))}")
    for bundle, members in BUNDLES.items():
        expected = set().union(*(WRONG[m][1] for m in members))
        if _lost(records[bundle]) != expected:
            problems.append(f"{bundle}: lost {sorted(_lost(records[bundle]))}, expected {sorted(expected)}")
    assert not problems, "\n".join(problems)
    variants.assert_no_hidden_line_in_feedback(tmp_path / "out", ASSIGNMENT, NOTEBOOK, records,
                                               at_least=50)


@pytest.mark.slow
def test_each_wrong_variant_alone(tmp_path):
    records = _grade(tmp_path, {name: with_bodies(bodies) for name, (bodies, _) in WRONG.items()})
    problems = [f"{name}: lost {sorted(_lost(records[name]))}, expected {sorted(expected)}"
                for name, (_, expected) in WRONG.items() if _lost(records[name]) != expected]
    assert not problems, "\n".join(problems)


def test_bundles_do_not_overlap_and_cover_every_lost_check():
    members = [m for bundle in BUNDLES.values() for m in bundle]
    assert len(members) == len(set(members)) and set(members) <= set(WRONG)
    for bundle in BUNDLES.values():
        checks = [c for m in bundle for c in WRONG[m][1]]
        assert len(checks) == len(set(checks)), "bundled variants must not share a check"
        variants.bundle_bodies(WRONG, bundle)
    hidden = {gid for _, lost in WRONG.values() for gid in lost if gid.endswith("_hidden")}
    assert hidden <= set().union(*(WRONG[m][1] for m in members))


def test_every_graded_cell_is_lost_by_some_wrong_variant():
    """Each autograded check has at least one mistake that it alone (or with its siblings) catches."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    graded = {grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.cell_type == "code"}
    caught = set().union(*(lost for _, lost in WRONG.values()))
    assert caught <= graded
    assert graded - caught <= {"generator_param_count", "discriminator_param_count", "compile_gan_structure",
                               "dcgan_generator_param_count", "dcgan_discriminator_param_count"}
