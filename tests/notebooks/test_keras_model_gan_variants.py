"""keras_model_gan: correct alternatives keep full marks; each typical mistake loses exactly its own checks.

A variant rewrites solution cells of the source notebook: a string replaces the whole solution body of a
one-function cell (header and docstring kept), a list of ``(old, new)`` pairs edits the solution text of a
cell (the classes, whose methods each have their own solution block). The default run grades the correct
alternatives together and the wrong variants in bundles whose checks do not overlap (a bundle loses the union
of its members' checks); the slow run grades every wrong variant on its own. The mistakes are the ones the
instructor notes of the source notebook list (in its hidden test regions).
"""
from __future__ import annotations

import nbformat
import pytest

from autograder.grade import grade
from autograder.notebook import grade_id
from autograder.paths import SOURCE_DIR

import variants

pytestmark = pytest.mark.notebook
ASSIGNMENT = "keras_model_gan"
NOTEBOOK = SOURCE_DIR / ASSIGNMENT / "keras_model_gan.ipynb"
LIMITS = variants.LIMITS

# ------------------------------------------------------------------------------------------------ correct
CORRECT = {
    # tf instead of NumPy, scaling in a map, tf.one_hot, zip before the shuffle, a buffer larger than the data
    "make_dataset": (
        "x = tf.reshape(tf.convert_to_tensor(images, tf.float32), (-1, 28, 28, 1))\n"
        "dataset = tf.data.Dataset.from_tensor_slices(x).map(lambda image: (image - 0.5) / 0.5)\n"
        "if labels is not None:\n"
        "    classes = tf.one_hot(tf.convert_to_tensor(labels, tf.int32), num_classes)\n"
        "    dataset = tf.data.Dataset.zip((dataset, tf.data.Dataset.from_tensor_slices(classes)))\n"
        "dataset = dataset.shuffle(buffer_size=10_000, seed=seed, reshuffle_each_iteration=True)\n"
        "dataset = dataset.batch(batch_size, drop_remainder=True)\n"
        "return dataset.prefetch(buffer_size=tf.data.AUTOTUNE)"),
    # Sequential models without classes, functional with; ValueError first; separate Activation layers
    "get_generator": (
        "if kind not in ('dense', 'conv'):\n"
        "    raise ValueError(f'kind must be dense or conv, not {kind}')\n"
        "if kind == 'dense':\n"
        "    body = [layers.Dense(256), layers.LeakyReLU(0.2), layers.Dense(512), layers.LeakyReLU(0.2),\n"
        "            layers.Dense(784), layers.Activation('tanh'), layers.Reshape(image_shape)]\n"
        "else:\n"
        "    body = [layers.Dense(7 * 7 * 128), layers.LeakyReLU(0.2), layers.Reshape((7, 7, 128)),\n"
        "            layers.Conv2DTranspose(64, (4, 4), strides=(2, 2), padding='same'), layers.LeakyReLU(0.2),\n"
        "            layers.Conv2DTranspose(32, (4, 4), strides=(2, 2), padding='same'), layers.LeakyReLU(0.2),\n"
        "            layers.Conv2D(1, (7, 7), padding='same'), layers.Activation('tanh')]\n"
        "if num_classes is None:\n"
        "    return keras.Sequential([keras.Input(shape=(latent_dim,))] + body)\n"
        "noise, label = keras.Input(shape=(latent_dim,)), keras.Input(shape=(num_classes,))\n"
        "x = layers.Concatenate(axis=-1)([noise, label])\n"
        "for layer in body:\n"
        "    x = layer(x)\n"
        "return keras.Model([noise, label], x)"),
    # a subclassed model for the unconditional dense kind (built on a dummy batch), functional otherwise
    "get_discriminator": (
        "if kind not in ('dense', 'conv'):\n"
        "    raise ValueError(kind)\n"
        "if kind == 'dense' and num_classes is None:\n"
        "    class DenseDiscriminator(keras.Model):\n"
        "        def __init__(self):\n"
        "            super().__init__()\n"
        "            self.flatten = layers.Flatten()\n"
        "            self.hidden = [layers.Dense(512), layers.Dense(256)]\n"
        "            self.act = layers.LeakyReLU(negative_slope=0.2)\n"
        "            self.logit = layers.Dense(1)\n"
        "        def call(self, x):\n"
        "            x = self.flatten(x)\n"
        "            for dense in self.hidden:\n"
        "                x = self.act(dense(x))\n"
        "            return self.logit(x)\n"
        "    model = DenseDiscriminator()\n"
        "    model(np.zeros((1, *image_shape), np.float32))\n"
        "    return model\n"
        "image = keras.Input(shape=image_shape)\n"
        "inputs = [image] if num_classes is None else [image, keras.Input(shape=(num_classes,))]\n"
        "if kind == 'dense':\n"
        "    x = layers.Concatenate()([layers.Flatten()(image), inputs[1]])\n"
        "    for units in (512, 256):\n"
        "        x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(units)(x))\n"
        "else:\n"
        "    x = image\n"
        "    if num_classes is not None:\n"
        "        maps = layers.UpSampling2D(size=image_shape[:2])(layers.Reshape((1, 1, num_classes))(inputs[1]))\n"
        "        x = layers.Concatenate(axis=-1)([image, maps])\n"
        "    for filters in (64, 128):\n"
        "        x = layers.LeakyReLU(negative_slope=0.2)(layers.Conv2D(filters, 3, strides=2, padding='same')(x))\n"
        "    x = layers.GlobalMaxPooling2D()(x)\n"
        "return keras.Model(inputs if num_classes is not None else image, layers.Dense(1, activation=None)(x))"),
    # add_weight, sigmoid(logit) > 0.5 (the same as logit > 0), a guarded division, reset through variables
    "DiscriminatorAccuracy": [
        ('self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")\n'
         '        self.total = self.add_variable(shape=(), initializer="zeros", name="total")',
         'self.hits = self.add_weight(name="hits", shape=(), initializer="zeros")\n'
         '        self.seen = self.add_weight(name="seen", shape=(), initializer="zeros")'),
        ('        y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))\n'
         '        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))\n'
         '        hits = ops.cast(ops.equal(y_pred > 0.0, y_true > 0.5), "float32")\n'
         '        self.correct.assign_add(ops.sum(hits))\n'
         '        self.total.assign_add(ops.cast(ops.size(hits), "float32"))',
         '        predicted_real = ops.sigmoid(ops.reshape(ops.convert_to_tensor(y_pred, "float32"), [-1])) > 0.5\n'
         '        labelled_real = ops.reshape(ops.convert_to_tensor(y_true, "float32"), [-1]) > 0.5\n'
         '        right = ops.where(ops.logical_xor(predicted_real, labelled_real), 0.0, 1.0)\n'
         '        self.hits.assign(self.hits + ops.sum(right))\n'
         '        self.seen.assign(self.seen + ops.cast(ops.shape(right)[0], "float32"))'),
        ("        return ops.divide_no_nan(self.correct, self.total)",
         "        return ops.where(self.seen > 0, self.hits / ops.maximum(self.seen, 1.0), 0.0)"),
        ("        self.correct.assign(0.0)\n        self.total.assign(0.0)",
         "        for variable in self.variables:\n            variable.assign(ops.zeros_like(variable))"),
    ],
    # [real, fake] with labels [1, 0]; two discriminator calls; both noises drawn first, in order; fakes made
    # inside the tape; optimizer.apply; tf ops; a list-concatenating metrics property; compile checks in a loop
    "GAN": [
        ('        return [self.d_loss_tracker, self.g_loss_tracker, *self.gan_metrics.values()]',
         '        return [self.d_loss_tracker, self.g_loss_tracker] + list(self.gan_metrics.values())'),
        ('''        # Phase 1: the discriminator learns fake -> 0, real -> 1.
        noise = self.sample_noise(batch_size)
        fake_images = self.generator(generator_inputs(noise), training=True)
        images = ops.concatenate([fake_images, real_images], axis=0)
        if class_vectors is not None:
            images = [images, ops.concatenate([class_vectors, class_vectors], axis=0)]
        labels = ops.concatenate([ops.zeros((batch_size, 1)), ops.ones((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            logits = self.discriminator(images, training=True)
            d_loss = ops.mean(self.d_loss_fn(labels, logits))
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))

        # Phase 2: the generator learns to make the updated discriminator say "real".
        noise = self.sample_noise(batch_size)
''', '''        noise = self.sample_noise(batch_size)
        second_noise = self.sample_noise(batch_size)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)

        def judge(images):
            return self.discriminator(images if class_vectors is None else [images, class_vectors], training=True)

        with tf.GradientTape() as tape:
            fake_images = self.generator(generator_inputs(noise), training=True)
            logits = tf.concat([judge(real_images), judge(fake_images)], axis=0)
            d_loss = tf.reduce_mean(self.d_loss_fn(labels, logits))
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
        noise = second_noise
'''),
        ('''        for argument, given in (("optimizers", optimizers), ("losses", losses)):
            for key in ("discriminator", "generator"):
                if key not in given:
                    raise ValueError(f"GAN.compile: {argument} is missing the key {key!r}")''',
         '''        missing = [(name, key) for name, given in (("optimizers", optimizers), ("losses", losses))
                   for key in ("discriminator", "generator") if key not in given]
        if missing:
            raise ValueError(f"GAN.compile: {missing[0][0]} has no entry {missing[0][1]}")'''),
    ],
    # standard_normal in float32 (another stream of the same generator, allowed), predict, a folder join by f-string
    "SampleGridCallback": [
        ("self.noise = np.random.default_rng(seed).normal(size=(num_images, latent_dim)).astype(np.float32)",
         "self.noise = np.random.default_rng(seed).standard_normal((num_images, latent_dim), dtype=np.float32)"),
        ("        images = np.asarray(self.model.generator(inputs, training=False))\n"
         '        path = os.path.join(self.folder, f"epoch_{epoch + 1:03d}.png")\n'
         "        save_image_grid((images + 1.0) / 2.0, path)",
         "        images = self.model.generator.predict(inputs, verbose=0)\n"
         '        path = f"{self.folder}/epoch_{epoch + 1:03d}.png"\n'
         "        save_image_grid(images * 0.5 + 0.5, path)"),
    ],
}

# --------------------------------------------------------------------------------------------------- wrong
_PIPELINE = ("images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1) * 2.0 - 1.0\n"
             "dataset = tf.data.Dataset.from_tensor_slices(images if labels is None else\n"
             "    (images, np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]))\n")
GEN = "get_generator"
DIS = "get_discriminator"
ACC = "DiscriminatorAccuracy"

# name: (changes, checks it must lose)
WRONG = {
    # make_dataset
    "shuffle_after_batch": ({"make_dataset": _PIPELINE + (
        "return dataset.batch(batch_size, drop_remainder=True).shuffle(len(images), seed=seed).prefetch(1)")},
        {"make_dataset_shuffle_order_hidden"}),
    "small_shuffle_buffer": ({"make_dataset": _PIPELINE + (
        "return dataset.shuffle(batch_size, seed=seed).batch(batch_size, drop_remainder=True).prefetch(1)")},
        {"make_dataset_shuffle_order_hidden"}),
    "shuffle_seed_ignored": ({"make_dataset": [("dataset.shuffle(len(images), seed=seed)",
                                                "dataset.shuffle(len(images))")]},
                             {"make_dataset_seed_hidden"}),
    "same_order_every_epoch": ({"make_dataset": [("dataset.shuffle(len(images), seed=seed)",
                                                  "dataset.shuffle(len(images), seed=seed, "
                                                  "reshuffle_each_iteration=False)")]},
                               {"make_dataset_epochs_hidden"}),
    "cache_after_shuffle": ({"make_dataset": [("    return dataset.batch(", "    dataset = dataset.cache()\n    return dataset.batch(")]},
                            {"make_dataset_epochs_hidden"}),
    "labels_shuffled_apart": ({"make_dataset": (
        "images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1) * 2.0 - 1.0\n"
        "dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed)\n"
        "if labels is not None:\n"
        "    one_hot = tf.data.Dataset.from_tensor_slices(np.eye(num_classes, dtype=np.float32)[labels])\n"
        "    dataset = tf.data.Dataset.zip((dataset, one_hot.shuffle(len(images))))\n"
        "return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)")},
        {"make_dataset_labels_hidden"}),
    "ten_classes_hard_coded": ({"make_dataset": [("np.eye(num_classes, dtype=np.float32)",
                                                  "np.eye(10, dtype=np.float32)")]},
                               {"make_dataset_arguments_hidden"}),
    "no_prefetch": ({"make_dataset": [(".prefetch(tf.data.AUTOTUNE)", "")]}, {"make_dataset_prefetch_hidden"}),
    "remainder_kept": ({"make_dataset": [("drop_remainder=True", "drop_remainder=False")]}, {"make_dataset_shapes"}),
    "pixels_not_scaled": ({"make_dataset": [(" * 2.0 - 1.0", "")]},
                          {"make_dataset_range", "make_dataset_labels_hidden"}),
    # get_generator
    "generator_default_slope": ({GEN: [("x = layers.Dense(256)(x)\n        x = layers.LeakyReLU(negative_slope=0.2)(x)",
                                        "x = layers.Dense(256)(x)\n        x = layers.LeakyReLU()(x)")]},
                                {"generator_outputs_hidden"}),
    "class_before_noise": ({GEN: [("layers.Concatenate()([noise, class_vector])",
                                   "layers.Concatenate()([class_vector, noise])")]},
                           {"generator_outputs_hidden"}),
    "generator_without_reshape": ({GEN: [("        x = layers.Reshape(image_shape)(x)\n", "")]},
                                  {"generator_outputs_hidden"}),
    "generator_dropout": ({GEN: [("x = layers.Dense(512)(x)\n", "x = layers.Dropout(0.3)(x)\n        x = layers.Dense(512)(x)\n"),
                                 ("x = layers.Conv2DTranspose(32,", "x = layers.Dropout(0.3)(x)\n        x = layers.Conv2DTranspose(32,")]},
                          {"generator_training_mode_hidden"}),
    "latent_dim_hard_coded": ({GEN: [("keras.Input((latent_dim,), name=\"noise\")", "keras.Input((100,), name=\"noise\")")]},
                              {"generator_arguments_hidden"}),
    "generator_unknown_kind_accepted": ({GEN: [('    elif kind == "conv":\n        height', '    else:\n        height'),
                                                ('    else:\n        raise ValueError(f"unknown generator kind', '    if False:\n        raise ValueError(f"unknown generator kind')]},
                                        {"generator_arguments_hidden"}),
    # get_discriminator
    "discriminator_sigmoid": ({DIS: [("logit = layers.Dense(1)(x)", "logit = layers.Dense(1, activation='sigmoid')(x)")]},
                              {"discriminator_outputs_hidden"}),
    "average_pooling": ({DIS: [("layers.GlobalMaxPooling2D()", "layers.GlobalAveragePooling2D()")]},
                        {"discriminator_outputs_hidden"}),
    "flat_logits": ({DIS: [("logit = layers.Dense(1)(x)", "logit = layers.Reshape(())(layers.Dense(1)(x))")]},
                    {"discriminator_outputs_hidden"}),
    "maps_before_image": ({DIS: [("layers.Concatenate()([image, maps])", "layers.Concatenate()([maps, image])")]},
                          {"discriminator_outputs_hidden"}),
    "discriminator_dropout": ({DIS: [("x = layers.Dense(256)(x)", "x = layers.Dropout(0.3)(x)\n        x = layers.Dense(256)(x)"),
                                     ("x = layers.GlobalMaxPooling2D()(x)", "x = layers.Dropout(0.3)(x)\n        x = layers.GlobalMaxPooling2D()(x)")]},
                              {"discriminator_training_mode_hidden"}),
    "discriminator_unknown_kind_accepted": ({DIS: [('    elif kind == "conv":\n        x = image', '    else:\n        x = image'),
                                                    ('    else:\n        raise ValueError(f"unknown discriminator kind', '    if False:\n        raise ValueError(f"unknown discriminator kind')]},
                                            {"discriminator_arguments_hidden"}),
    # DiscriminatorAccuracy
    "logits_above_half": ({ACC: [("y_pred > 0.0", "y_pred > 0.5")]},
                          {"discriminator_accuracy_values", "discriminator_accuracy_hidden",
                           "discriminator_accuracy_thresholds_hidden"}),
    "mean_of_batch_accuracies": ({ACC: [('self.correct.assign_add(ops.sum(hits))\n        self.total.assign_add(ops.cast(ops.size(hits), "float32"))',
                                         'self.correct.assign_add(ops.mean(hits))\n        self.total.assign_add(1.0)')]},
                                 {"discriminator_accuracy_values", "discriminator_accuracy_hidden"}),
    "logit_zero_counts_real": ({ACC: [("y_pred > 0.0", "y_pred >= 0.0")]},
                               {"discriminator_accuracy_thresholds_hidden"}),
    "labels_equal_one": ({ACC: [("y_true > 0.5", "ops.equal(y_true, 1.0)")]},
                         {"discriminator_accuracy_thresholds_hidden"}),
    "numpy_in_update_state": ({ACC: [('        y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))\n'
                                      '        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))\n',
                                      '        y_true = np.asarray(y_true, dtype=np.float32).reshape(-1)\n'
                                      '        y_pred = np.asarray(y_pred, dtype=np.float32).reshape(-1)\n')]},
                              {"discriminator_accuracy_graph_hidden"}),
    "shapes_broadcast": ({ACC: [('        y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))\n'
                                 '        y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))\n', '')]},
                         {"discriminator_accuracy_graph_hidden"}),
    "nan_before_update": ({ACC: [("ops.divide_no_nan(self.correct, self.total)", "self.correct / self.total")]},
                          {"discriminator_accuracy_values", "discriminator_accuracy_hidden"}),
    # GAN
    "no_super_compile": ({"GAN": [("        super().compile()\n", "")]}, {"gan_fit_history_hidden"}),
    "optimizers_swapped": ({"GAN": [('self.d_optimizer = optimizers["discriminator"]\n        self.g_optimizer = optimizers["generator"]',
                                     'self.d_optimizer = optimizers["generator"]\n        self.g_optimizer = optimizers["discriminator"]')]},
                           {"gan_train_step_losses", "gan_discriminator_update_hidden", "gan_generator_update_hidden"}),
    "noise_reused": ({"GAN": [("        noise = self.sample_noise(batch_size)\n        all_real", "        all_real")]},
                     {"gan_noise_redrawn_hidden", "gan_generator_update_hidden"}),
    "generator_through_old_discriminator": ({"GAN": [
        ("        weights = self.discriminator.trainable_weights\n"
         "        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))\n",
         "        d_grads = tape.gradient(d_loss, self.discriminator.trainable_weights)\n"),
        ("        weights = self.generator.trainable_weights\n",
         "        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_weights))\n"
         "        weights = self.generator.trainable_weights\n")]},
        {"gan_train_step_losses", "gan_generator_update_hidden"}),
    "discriminator_step_moves_generator": ({"GAN": [
        ("        fake_images = self.generator(generator_inputs(noise), training=True)\n"
         "        images = ops.concatenate([fake_images, real_images], axis=0)\n"
         "        if class_vectors is not None:\n"
         "            images = [images, ops.concatenate([class_vectors, class_vectors], axis=0)]\n"
         "        labels = ops.concatenate([ops.zeros((batch_size, 1)), ops.ones((batch_size, 1))], axis=0)\n"
         "        with tf.GradientTape() as tape:\n",
         "        labels = ops.concatenate([ops.zeros((batch_size, 1)), ops.ones((batch_size, 1))], axis=0)\n"
         "        with tf.GradientTape() as tape:\n"
         "            fake_images = self.generator(generator_inputs(noise), training=True)\n"
         "            images = ops.concatenate([fake_images, real_images], axis=0)\n"
         "            if class_vectors is not None:\n"
         "                images = [images, ops.concatenate([class_vectors, class_vectors], axis=0)]\n"),
        ("        weights = self.discriminator.trainable_weights\n", "        weights = self.trainable_weights\n")]},
        {"gan_generator_update_hidden", "gan_train_step_losses"}),
    "generator_step_moves_discriminator": ({"GAN": [
        ("        weights = self.generator.trainable_weights\n", "        weights = self.trainable_weights\n")]},
        {"gan_discriminator_update_hidden"}),
    "discriminator_not_in_training_mode": ({"GAN": [
        ("logits = self.discriminator(images, training=True)", "logits = self.discriminator(images)"),
        ("fake_logits = self.discriminator(fake_inputs, training=True)", "fake_logits = self.discriminator(fake_inputs)")]},
        {"gan_training_flags_hidden"}),
    "loss_roles_swapped": ({"GAN": [('self.d_loss_fn = losses["discriminator"]\n        self.g_loss_fn = losses["generator"]',
                                     'self.d_loss_fn = losses["generator"]\n        self.g_loss_fn = losses["discriminator"]')]},
                           {"gan_loss_roles_hidden"}),
    "metric_gets_probabilities": ({"GAN": [("metric.update_state(labels, logits)",
                                            "metric.update_state(labels, ops.sigmoid(logits))")]},
                                  {"gan_compiled_metric_hidden"}),
    "raw_losses_returned": ({"GAN": [('logs = {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}',
                                      'logs = {"d_loss": d_loss, "g_loss": g_loss}')]},
                            {"gan_logs_hidden"}),
    "tracker_missing_from_metrics": ({"GAN": [("return [self.d_loss_tracker, self.g_loss_tracker, *self.gan_metrics.values()]",
                                               "return [self.d_loss_tracker, *self.gan_metrics.values()]")]},
                                     {"gan_fit_history_hidden", "gan_metrics_property_hidden"}),
    "random_classes_for_fakes": ({"GAN": [
        ("        def generator_inputs(noise):\n"
         "            return noise if class_vectors is None else [noise, class_vectors]\n",
         "        def generator_inputs(noise):\n"
         "            if class_vectors is None:\n"
         "                return noise\n"
         "            index = keras.random.randint((batch_size,), 0, ops.shape(class_vectors)[1])\n"
         "            return [noise, ops.one_hot(index, ops.shape(class_vectors)[1])]\n")]},
        {"gan_conditional_step_hidden"}),
    "loss_not_averaged": ({"GAN": [("d_loss = ops.mean(self.d_loss_fn(labels, logits))", "d_loss = self.d_loss_fn(labels, logits)"),
                                   ("g_loss = ops.mean(self.g_loss_fn(all_real, fake_logits))", "g_loss = self.g_loss_fn(all_real, fake_logits)")]},
                          {"gan_loss_callables_hidden"}),
    # SampleGridCallback
    "callback_uniform_noise": ({"SampleGridCallback": [("default_rng(seed).normal(size=(num_images, latent_dim))",
                                                        "default_rng(seed).uniform(-1, 1, size=(num_images, latent_dim))")]},
                               {"sample_grid_callback_images_hidden", "sample_grid_callback_conditional_hidden"}),
    "callback_seed_ignored": ({"SampleGridCallback": [("default_rng(seed)", "default_rng()")]},
                              {"sample_grid_callback_images_hidden", "sample_grid_callback_conditional_hidden"}),
    "callback_not_rescaled": ({"SampleGridCallback": [("save_image_grid((images + 1.0) / 2.0, path)",
                                                       "save_image_grid(images, path)")]},
                              {"sample_grid_callback_images_hidden", "sample_grid_callback_conditional_hidden"}),
    "callback_training_mode": ({"SampleGridCallback": [("self.model.generator(inputs, training=False)",
                                                        "self.model.generator(inputs, training=True)")]},
                               {"sample_grid_callback_images_hidden"}),
    "callback_classes_ignored": ({"SampleGridCallback": [
        ("inputs = self.noise if self.class_vectors is None else [self.noise, self.class_vectors]",
         "inputs = self.noise if self.class_vectors is None else [self.noise, np.zeros_like(self.class_vectors)]")]},
        {"sample_grid_callback_conditional_hidden"}),
}
BUNDLES = {  # per bundle: the members' checks are disjoint, and their edits touch different lines
    "wrong_bundle_a": ("shuffle_after_batch", "generator_default_slope", "generator_unknown_kind_accepted",
                       "discriminator_sigmoid", "discriminator_unknown_kind_accepted", "logits_above_half",
                       "numpy_in_update_state", "no_super_compile", "optimizers_swapped",
                       "discriminator_not_in_training_mode", "loss_roles_swapped", "callback_uniform_noise"),
    "wrong_bundle_b": ("small_shuffle_buffer", "class_before_noise", "average_pooling", "nan_before_update",
                       "labels_equal_one", "shapes_broadcast", "noise_reused", "generator_step_moves_discriminator",
                       "metric_gets_probabilities", "tracker_missing_from_metrics", "callback_seed_ignored"),
    "wrong_bundle_c": ("labels_shuffled_apart", "generator_without_reshape", "flat_logits",
                       "mean_of_batch_accuracies", "logit_zero_counts_real", "generator_through_old_discriminator", "raw_losses_returned",
                       "random_classes_for_fakes", "callback_not_rescaled"),
    "wrong_bundle_d": ("shuffle_seed_ignored", "ten_classes_hard_coded", "no_prefetch", "remainder_kept",
                       "cache_after_shuffle", "pixels_not_scaled", "generator_dropout", "latent_dim_hard_coded",
                       "maps_before_image", "discriminator_dropout", "discriminator_step_moves_generator",
                       "loss_not_averaged", "callback_training_mode", "callback_classes_ignored"),
}
SLOW_ONLY = ("same_order_every_epoch",)  # edits the line shuffle_seed_ignored edits; graded alone in the slow run


def variant(changes: dict) -> nbformat.NotebookNode:
    """The source notebook with some solution cells rewritten (see the module docstring)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    seen = set()
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid not in changes:
            continue
        change = changes[gid]
        if isinstance(change, str):
            header = cell.source.split("### BEGIN SOLUTION")[0].rstrip() + "\n"
            cell.source = header + "".join(f"    {line}\n" for line in change.splitlines())
        else:
            for old, new in change:
                assert cell.source.count(old) == 1, f"{gid}: {old!r} is not in the solution exactly once"
                cell.source = cell.source.replace(old, new)
        seen.add(gid)
    assert seen == set(changes), f"no solution cells {set(changes) - seen} in {NOTEBOOK.name}"
    return nb


def bundle(members) -> dict:
    changes: dict = {}
    for member in members:
        for gid, change in WRONG[member][0].items():
            if isinstance(changes.get(gid), list) and isinstance(change, list):
                changes[gid] = changes[gid] + change
            else:
                assert gid not in changes, f"two members of a bundle replace the whole of {gid}"
                changes[gid] = change
    return changes


def _grade(tmp_path, submissions: dict[str, nbformat.NotebookNode]) -> dict[str, dict]:
    for student, nb in submissions.items():
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK.name)
    records = grade(assignment=ASSIGNMENT, submitted_dir=tmp_path / "submitted", out_dir=tmp_path / "out",
                    jobs=2, limits=LIMITS, progress=False, feedback=False)
    return {r["student_id"]: r for r in records}


_lost = variants.lost_checks


@pytest.mark.slow  # `make test` budget: .ci/run runs every variant harness after it (make test-ci-slow)
def test_correct_variants_and_wrong_bundles(tmp_path):
    submissions = {"correct_variants": variant(CORRECT)}
    submissions.update({name: variant(bundle(members)) for name, members in BUNDLES.items()})
    records = _grade(tmp_path, submissions)
    assert _lost(records["correct_variants"]) == set(), records["correct_variants"]["checks"]
    assert {name: _lost(records[name]) for name in BUNDLES} == {
        name: set().union(*(WRONG[m][1] for m in members)) for name, members in BUNDLES.items()}


@pytest.mark.slow
def test_each_wrong_variant_alone(tmp_path):
    records = _grade(tmp_path, {name: variant(changes) for name, (changes, _) in WRONG.items()})
    assert {name: _lost(records[name]) for name in WRONG} == {name: expected for name, (_, expected) in WRONG.items()}


def test_bundles_cover_every_wrong_variant_once():
    members = [m for members in BUNDLES.values() for m in members] + list(SLOW_ONLY)
    assert sorted(members) == sorted(WRONG)
    for members in BUNDLES.values():
        checks = [c for m in members for c in WRONG[m][1]]
        assert len(checks) == len(set(checks)), "bundled variants must not share a check"
    for name, (changes, _) in WRONG.items():
        variant(changes)  # every edit applies to the source as it is
    for members in BUNDLES.values():
        variant(bundle(members))  # and the edits of a bundle apply together


def test_every_check_is_lost_by_some_wrong_variant():
    """No hidden behaviour check goes untested: each autograded cell is the target of some wrong variant."""
    from autograder.notebook import is_autograded_test

    checks = {grade_id(c) for c in nbformat.read(NOTEBOOK, as_version=4).cells if is_autograded_test(c)}
    targeted = set().union(*(expected for _, expected in WRONG.values()))
    assert checks - targeted <= {"sample_grid_callback", "conditional_generator_uses_class",
                                 "generator_param_counts", "discriminator_param_counts", "gan_compile_missing_key"}
