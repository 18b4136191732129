"""gan_1d_conditional: correct alternatives keep full marks; each typical mistake loses exactly its own checks.

Each variant rewrites the bodies of solution cells of the source notebook (the mistakes are the ones the
instructor notes of the source's hidden test cells list). Grading one submission through the real pipeline costs
about a minute on 2 cores (TensorFlow start, two short training cells), so the default run grades two through
it (the first bundle of correct alternatives and one bundle of wrong variants) and runs every variant in
process, on the test cells of the part of the notebook it rewrites (interactive semantics: the whole cell runs
with the public and instructor answer files). The slow run grades the other bundles and every wrong variant on
its own through the pipeline.
"""
from __future__ import annotations


import nbformat
import pytest

from autograder.notebook import grade_id
from autograder.paths import SOURCE_DIR

import variants

pytestmark = pytest.mark.notebook
ASSIGNMENT = "gan_1d_conditional"
NOTEBOOK = SOURCE_DIR / ASSIGNMENT / "gan_1d_conditional.ipynb"
LIMITS = variants.LIMITS

# Two submissions of correct alternatives (functional / Sequential / subclassed models, NumPy / SciPy / TF,
# equivalent formulas, other legal orders); each must keep full marks.
CORRECT_A = {
    # the 0/0 in the branch np.where discards raises a RuntimeWarning: allowed
    "optimal_discriminator": "a, b = p_data(x), p_g(x)\nreturn np.where(a + b > 0, a / (a + b), 0.5)",
    "gan_value": (
        "from scipy.integrate import trapezoid\n"
        "d, p, q = discriminator(x), p_data(x), p_g(x)\n"
        "with np.errstate(divide='ignore', invalid='ignore'):\n"
        "    f = np.where(p > 0, p * np.log(d), 0.0) + np.where(q > 0, q * np.log(1 - d), 0.0)\n"
        "return float(trapezoid(f, x))"),
    "generator_loss_gradients": "from scipy.special import expit\ns = expit(logits)\nreturn -s, s - 1",
    "build_generator_1d": (
        "return keras.Sequential([keras.Input((latent_dim,)), layers.Dense(64, activation='relu'),\n"
        "                         layers.Dense(64, activation='relu'), layers.Dense(1)])"),
    "build_discriminator_1d": (
        "class Discriminator(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.hidden = layers.Dense(32, activation='relu')\n"
        "        self.logit = layers.Dense(1)\n"
        "    def call(self, x):\n"
        "        return self.logit(self.hidden(x))\n"
        "return Discriminator()"),
    "d_loss": (
        "xent = tf.nn.sigmoid_cross_entropy_with_logits\n"
        "return (tf.reduce_mean(xent(labels=tf.ones_like(d_real), logits=d_real))\n"
        "        + tf.reduce_mean(xent(labels=tf.zeros_like(d_fake), logits=d_fake)))"),
    "g_loss": "return tf.reduce_mean(tf.nn.softplus(-d_fake))",
    # two tapes, the generator updated first, Keras 3's optimizer.apply, trainable_weights
    "train_step": (
        "with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:\n"
        "    fake = generator(noise, training=True)\n"
        "    d_fake = discriminator(fake, training=True)\n"
        "    d_real = discriminator(real_data, training=True)\n"
        "    g_value = g_loss(d_fake)\n"
        "    d_value = d_loss(d_real, d_fake)\n"
        "g_optimizer.apply(g_tape.gradient(g_value, generator.trainable_weights), generator.trainable_weights)\n"
        "d_optimizer.apply(d_tape.gradient(d_value, discriminator.trainable_weights), discriminator.trainable_weights)\n"
        "return d_value, g_value"),
    # a Sequential label subnetwork with ELU layers, the label features first, ReLU layers after the convolutions
    "build_conditional_generator": (
        "noise, condition = keras.Input((latent_dim,)), keras.Input((10,))\n"
        "label_net = keras.Sequential([layers.Dense(32), layers.ELU(), layers.Dense(64), layers.Activation('elu')])\n"
        "x = layers.Reshape((1, 1, latent_dim + 64))(layers.Concatenate()([label_net(condition), noise]))\n"
        "for filters, strides, bias in ((128, 1, True), (64, 2, True), (32, 2, False)):\n"
        "    x = layers.ReLU()(layers.Conv2DTranspose(filters, 5, strides=strides, use_bias=bias)(x))\n"
        "return keras.Model([noise, condition], layers.Conv2D(1, 2, use_bias=False, activation='sigmoid')(x))"),
    "build_conditional_discriminator": (
        "class Discriminator(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.convs = [layers.Conv2D(f, 3, strides=2, padding='same', activation='relu') for f in (32, 64, 96)]\n"
        "        self.label_1 = layers.Dense(32, activation='elu')\n"
        "        self.label_2 = layers.Dense(64, activation='elu')\n"
        "        self.hidden = layers.Dense(128, activation='relu')\n"
        "        self.logit = layers.Dense(1)\n"
        "    def call(self, inputs):\n"
        "        image, condition = inputs\n"
        "        for conv in self.convs:\n"
        "            image = conv(image)\n"
        "        label = self.label_2(self.label_1(condition))\n"
        "        joined = keras.ops.concatenate([label, keras.ops.reshape(image, (-1, 1536))], axis=1)\n"
        "        return self.logit(self.hidden(joined))\n"
        "return Discriminator()"),
}
CORRECT_B = {
    "optimal_discriminator": (
        "a, b = np.asarray(p_data(x), float), np.asarray(p_g(x), float)\n"
        "return np.divide(a, a + b, out=np.full(np.shape(a), 0.5), where=(a + b) > 0)"),
    "gan_value": (
        "from scipy.special import xlogy\n"
        "d = discriminator(x)\n"
        "f = xlogy(p_data(x), d) + xlogy(p_g(x), 1.0 - d)\n"
        "return float(np.sum(np.diff(x) * (f[1:] + f[:-1]) / 2))"),
    "generator_loss_gradients": "s = tf.sigmoid(tf.constant(logits, tf.float64)).numpy()\nreturn -s, s - 1.0",
    "build_generator_1d": (
        "class Generator(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.hidden = [layers.Dense(64, activation='relu'), layers.Dense(64, activation='relu')]\n"
        "        self.sample = layers.Dense(1)\n"
        "    def call(self, z):\n"
        "        for layer in self.hidden:\n"
        "            z = layer(z)\n"
        "        return self.sample(z)\n"
        "return Generator()"),
    "build_discriminator_1d": (
        "return keras.Sequential([keras.Input((1,)), layers.Dense(32), layers.ReLU(), layers.Dense(1)])"),
    "d_loss": "return tf.reduce_mean(tf.nn.softplus(-d_real)) + tf.reduce_mean(tf.nn.softplus(d_fake))",
    "g_loss": "return keras.losses.BinaryCrossentropy(from_logits=True)(tf.ones_like(d_fake), d_fake)",
    # the discriminator updated before the generator's gradient is taken from the same persistent tape
    "train_step": (
        "with tf.GradientTape(persistent=True) as tape:\n"
        "    d_real = discriminator(real_data)\n"
        "    d_fake = discriminator(generator(noise))\n"
        "    d_value, g_value = d_loss(d_real, d_fake), g_loss(d_fake)\n"
        "d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables\n"
        "d_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars), d_vars))\n"
        "g_optimizer.apply_gradients(zip(tape.gradient(g_value, g_vars), g_vars))\n"
        "return d_value, g_value"),
    "build_conditional_generator": (
        "class Generator(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.label_1 = layers.Dense(32, activation='elu')\n"
        "        self.label_2 = layers.Dense(64, activation='elu')\n"
        "        self.up = [layers.Conv2DTranspose(128, 5, activation='relu'),\n"
        "                   layers.Conv2DTranspose(64, 5, strides=2, activation='relu'),\n"
        "                   layers.Conv2DTranspose(32, 5, strides=2, activation='relu', use_bias=False)]\n"
        "        self.image = layers.Conv2D(1, 2, activation='sigmoid', use_bias=False)\n"
        "    def call(self, inputs):\n"
        "        noise, condition = inputs\n"
        "        x = keras.ops.concatenate([noise, self.label_2(self.label_1(condition))], axis=1)\n"
        "        x = keras.ops.reshape(x, (-1, 1, 1, latent_dim + 64))\n"
        "        for layer in self.up:\n"
        "            x = layer(x)\n"
        "        return self.image(x)\n"
        "return Generator()"),
    "build_conditional_discriminator": (
        "image, condition = keras.Input((28, 28, 1)), keras.Input((10,))\n"
        "x = image\n"
        "for filters in (32, 64, 96):\n"
        "    x = layers.ReLU()(layers.Conv2D(filters, 3, strides=2, padding='same')(x))\n"
        "label = layers.Dense(64, activation='elu')(layers.Dense(32, activation='elu')(condition))\n"
        "x = layers.Concatenate()([layers.Reshape((1536,))(x), label])\n"
        "return keras.Model([image, condition], layers.Dense(1)(layers.Dense(128, activation='relu')(x)))"),
}

_SOLUTION_TRAIN_STEP_HEAD = (
    "with tf.GradientTape(persistent=True) as tape:\n"
    "    fake = generator(noise, training=True)\n"
    "    d_real = discriminator(real_data, training=True)\n"
    "    d_fake = discriminator(fake, training=True)\n"
    "    d_value, g_value = d_loss(d_real, d_fake), g_loss(d_fake)\n"
    "d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables\n")
_FUNCTIONAL_CGEN = (
    "noise, condition = keras.Input((latent_dim,)), keras.Input((10,))\n"
    "label = layers.Dense(64, activation='{label_act}')(layers.Dense(32, activation='{label_act}')(condition))\n"
    "x = layers.Reshape((1, 1, latent_dim + 64))(layers.Concatenate()([noise, label]))\n"
    "x = layers.Conv2DTranspose(128, 5, activation='relu')(x)\n"
    "x = layers.Conv2DTranspose(64, 5, strides=2, activation='relu')(x){dropout}\n"
    "x = layers.Conv2DTranspose(32, 5, strides=2, activation='{last_act}', use_bias=False)(x)\n"
    "return keras.Model([noise, condition], layers.Conv2D(1, 2, activation='{out_act}', use_bias=False)(x))")
_FUNCTIONAL_CDISC = (
    "image, condition = keras.Input((28, 28, 1)), keras.Input((10,))\n"
    "x = image\n"
    "for filters in (32, 64, 96):\n"
    "    x = layers.Conv2D(filters, 3, strides=2, padding='same', activation={conv_act})(x){dropout}\n"
    "label = layers.Dense(64, activation='elu')(layers.Dense(32, activation='elu')(condition))\n"
    "x = layers.Concatenate()([layers.Flatten()(x), label])\n"
    "x = layers.Dense(128, activation='{hidden_act}')(x)\n"
    "return keras.Model([image, condition], layers.Dense(1, activation={out_act})(x))")


def cgen(label_act="elu", last_act="relu", out_act="sigmoid", dropout=""):
    return _FUNCTIONAL_CGEN.format(label_act=label_act, last_act=last_act, out_act=out_act, dropout=dropout)


def cdisc(conv_act="'relu'", hidden_act="relu", out_act="None", dropout=""):
    return _FUNCTIONAL_CDISC.format(conv_act=conv_act, hidden_act=hidden_act, out_act=out_act, dropout=dropout)


# name: (solution bodies, checks it must lose)
WRONG = {
    # optimal_discriminator
    "dstar_inverted": ({"optimal_discriminator": (
        "a, b = p_data(x), p_g(x)\nreturn np.where(a + b > 0, b / np.where(a + b > 0, a + b, 1), 0.5)")},
                       {"optimal_discriminator_values", "optimal_discriminator_hidden"}),
    "dstar_no_half": ({"optimal_discriminator": "a, b = p_data(x), p_g(x)\nreturn a / (a + b)"},
                      {"optimal_discriminator_hidden"}),
    "dstar_epsilon": ({"optimal_discriminator": "a, b = p_data(x), p_g(x)\nreturn a / (a + b + 1e-12)"},
                      {"optimal_discriminator_values", "optimal_discriminator_hidden"}),
    # gan_value
    "value_rectangle_rule": ({"gan_value": (
        "from scipy.special import xlogy\nd = discriminator(x)\nf = xlogy(p_data(x), d) + xlogy(p_g(x), 1 - d)\n"
        "return float(np.sum(f[:-1] * np.diff(x)))")}, {"gan_value_uneven_grid_hidden"}),
    "value_mean_times_range": ({"gan_value": (
        "from scipy.special import xlogy\nd = discriminator(x)\nf = xlogy(p_data(x), d) + xlogy(p_g(x), 1 - d)\n"
        "return float(np.mean(f) * (x[-1] - x[0]))")}, {"gan_value_values", "gan_value_uneven_grid_hidden"}),
    "value_even_spacing": ({"gan_value": (
        "from scipy.special import xlogy\nd = discriminator(x)\nf = xlogy(p_data(x), d) + xlogy(p_g(x), 1 - d)\n"
        "return float(np.trapezoid(f, dx=x[1] - x[0]))")}, {"gan_value_uneven_grid_hidden"}),
    "value_plain_log": ({"gan_value": (
        "d = discriminator(x)\n"
        "return float(np.trapezoid(p_data(x) * np.log(d) + p_g(x) * np.log(1 - d), x))")}, {"gan_value_hidden"}),
    "value_terms_swapped": ({"gan_value": (
        "from scipy.special import xlogy\nd = discriminator(x)\n"
        "return float(np.trapezoid(xlogy(p_g(x), d) + xlogy(p_data(x), 1 - d), x))")},
        {"gan_value_values", "gan_value_hidden", "gan_value_uneven_grid_hidden"}),
    # generator_loss_gradients
    "gradients_unstable_sigmoid": ({"generator_loss_gradients": (
        "s = np.exp(logits) / (1 + np.exp(logits))\nreturn -s, s - 1")}, {"generator_loss_gradients_large_hidden"}),
    "gradients_chain_rule": ({"generator_loss_gradients": (
        "s = 1 / (1 + np.exp(-logits))\nreturn -s * (1 - s) / (1 - s), -(s * (1 - s)) / s")},
        {"generator_loss_gradients_large_hidden"}),
    "gradients_autodiff_of_log": ({"generator_loss_gradients": (
        "l = tf.constant(logits, tf.float64)\n"
        "with tf.GradientTape(persistent=True) as tape:\n"
        "    tape.watch(l)\n"
        "    saturating = tf.math.log(1 - tf.sigmoid(l))\n"
        "    non_saturating = -tf.math.log(tf.sigmoid(l))\n"
        "return tape.gradient(saturating, l).numpy(), tape.gradient(non_saturating, l).numpy()")},
        {"generator_loss_gradients_large_hidden"}),
    "gradients_swapped": ({"generator_loss_gradients": "s = 1 / (1 + np.exp(-logits))\nreturn s - 1, -s"},
                          {"generator_loss_gradients_values", "generator_loss_gradients_large_hidden"}),
    # 1-D models
    "generator_fixed_latent": ({"build_generator_1d": (
        "z = keras.Input((100,))\nh = layers.Dense(64, activation='relu')(layers.Dense(64, activation='relu')(z))\n"
        "return keras.Model(z, layers.Dense(1)(h))")}, {"generator_1d_behaviour_hidden"}),
    "generator_dropout": ({"build_generator_1d": (
        "z = keras.Input((latent_dim,))\nh = layers.Dropout(0.3)(layers.Dense(64, activation='relu')(z))\n"
        "h = layers.Dense(64, activation='relu')(h)\nreturn keras.Model(z, layers.Dense(1)(h))")},
        {"generator_1d_behaviour_hidden"}),
    "generator_he_init": ({"build_generator_1d": (
        "z = keras.Input((latent_dim,))\n"
        "h = layers.Dense(64, activation='relu', kernel_initializer='he_normal')(z)\n"
        "h = layers.Dense(64, activation='relu', kernel_initializer='he_normal')(h)\n"
        "return keras.Model(z, layers.Dense(1)(h))")}, {"models_1d_initializers_hidden"}),
    "generator_tanh_output": ({"build_generator_1d": (
        "return keras.Sequential([keras.Input((latent_dim,)), layers.Dense(64, activation='relu'),\n"
        "    layers.Dense(64, activation='relu'), layers.Dense(1, activation='tanh')])")},
        {"generator_1d_behaviour_hidden"}),
    "discriminator_sigmoid": ({"build_discriminator_1d": (
        "return keras.Sequential([keras.Input((1,)), layers.Dense(32, activation='relu'),\n"
        "    layers.Dense(1, activation='sigmoid')])")}, {"discriminator_1d_behaviour_hidden"}),
    "discriminator_dropout": ({"build_discriminator_1d": (
        "return keras.Sequential([keras.Input((1,)), layers.Dense(32, activation='relu'), layers.Dropout(0.3),\n"
        "    layers.Dense(1)])")}, {"discriminator_1d_behaviour_hidden"}),
    # losses
    "d_loss_labels_swapped": ({"d_loss": (
        "bce = keras.losses.BinaryCrossentropy(from_logits=True)\n"
        "return bce(tf.zeros_like(d_real), d_real) + bce(tf.ones_like(d_fake), d_fake)")},
        {"d_loss_values", "losses_hidden", "losses_large_logits_hidden"}),
    "d_loss_joint_mean": ({"d_loss": (
        "bce = keras.losses.BinaryCrossentropy(from_logits=True)\n"
        "return bce(tf.concat([tf.ones_like(d_real), tf.zeros_like(d_fake)], 0), tf.concat([d_real, d_fake], 0))")},
        {"d_loss_values", "losses_hidden", "losses_large_logits_hidden"}),
    "d_loss_unstable_log": ({"d_loss": (
        "return -tf.reduce_mean(tf.math.log(tf.sigmoid(d_real))) - tf.reduce_mean(tf.math.log(1 - tf.sigmoid(d_fake)))")},
        {"losses_large_logits_hidden"}),
    "losses_on_probabilities": ({
        "d_loss": ("bce = keras.losses.BinaryCrossentropy()\n"
                   "return bce(tf.ones_like(d_real), tf.sigmoid(d_real)) + bce(tf.zeros_like(d_fake), tf.sigmoid(d_fake))"),
        "g_loss": "return keras.losses.BinaryCrossentropy()(tf.ones_like(d_fake), tf.sigmoid(d_fake))"},
        {"losses_large_logits_hidden"}),
    "g_loss_saturating": ({"g_loss": (
        "return -keras.losses.BinaryCrossentropy(from_logits=True)(tf.zeros_like(d_fake), d_fake)")},
        {"g_loss_values", "losses_hidden", "losses_large_logits_hidden"}),
    "g_loss_unstable_log": ({"g_loss": "return -tf.reduce_mean(tf.math.log(tf.sigmoid(d_fake)))"},
                            {"losses_large_logits_hidden"}),
    # train_step
    "one_optimizer": ({"train_step": _SOLUTION_TRAIN_STEP_HEAD + (
        "d_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars) + tape.gradient(g_value, g_vars), d_vars + g_vars))\n"
        "return d_value, g_value")}, {"train_step_updates_hidden", "train_step_gradients_hidden"}),
    "optimizers_swapped": ({"train_step": _SOLUTION_TRAIN_STEP_HEAD + (
        "g_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars), d_vars))\n"
        "d_optimizer.apply_gradients(zip(tape.gradient(g_value, g_vars), g_vars))\n"
        "return d_value, g_value")}, {"train_step_updates_hidden", "train_step_gradients_hidden"}),
    "generator_grads_from_d_loss": ({"train_step": _SOLUTION_TRAIN_STEP_HEAD + (
        "d_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars), d_vars))\n"
        "g_optimizer.apply_gradients(zip(tape.gradient(d_value, g_vars), g_vars))  # copied line, loss not changed\n"
        "return d_value, g_value")}, {"train_step_gradients_hidden"}),
    "one_loss_for_both": ({"train_step": (
        "with tf.GradientTape(persistent=True) as tape:\n"
        "    d_real = discriminator(real_data, training=True)\n"
        "    d_fake = discriminator(generator(noise, training=True), training=True)\n"
        "    d_value, g_value = d_loss(d_real, d_fake), g_loss(d_fake)\n"
        "    total = d_value + g_value\n"
        "d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables\n"
        "d_optimizer.apply_gradients(zip(tape.gradient(total, d_vars), d_vars))\n"
        "g_optimizer.apply_gradients(zip(tape.gradient(total, g_vars), g_vars))\n"
        "return d_value, g_value")},
        # train_step_updates_hidden compares D's change with one d_optimizer step of d_loss's gradient
        {"train_step_gradients_hidden", "train_step_updates_hidden"}),
    "sequential_updates": ({"train_step": (
        "with tf.GradientTape() as tape:\n"
        "    d_value = d_loss(discriminator(real_data), discriminator(generator(noise)))\n"
        "d_vars = discriminator.trainable_variables\n"
        "d_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars), d_vars))\n"
        "with tf.GradientTape() as tape:\n"
        "    g_value = g_loss(discriminator(generator(noise)))\n"
        "g_optimizer.apply_gradients(zip(tape.gradient(g_value, generator.trainable_variables), generator.trainable_variables))\n"
        "return d_value, g_value")}, {"train_step_losses", "train_step_gradients_hidden"}),
    "fresh_noise_for_generator": ({"train_step": (
        "with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:\n"
        "    d_value = d_loss(discriminator(real_data), discriminator(generator(noise)))\n"
        "    g_value = g_loss(discriminator(generator(tf.random.normal(tf.shape(noise)))))\n"
        "d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables\n"
        "d_optimizer.apply_gradients(zip(d_tape.gradient(d_value, d_vars), d_vars))\n"
        "g_optimizer.apply_gradients(zip(g_tape.gradient(g_value, g_vars), g_vars))\n"
        "return d_value, g_value")}, {"train_step_losses", "train_step_gradients_hidden"}),
    "generator_ascent": ({"train_step": _SOLUTION_TRAIN_STEP_HEAD + (
        "d_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars), d_vars))\n"
        "g_optimizer.apply_gradients(zip([-g for g in tape.gradient(g_value, g_vars)], g_vars))\n"
        "return d_value, g_value")}, {"train_step_gradients_hidden"}),
    "not_traceable": ({"train_step": _SOLUTION_TRAIN_STEP_HEAD + (
        "d_optimizer.apply_gradients(zip(tape.gradient(d_value, d_vars), d_vars))\n"
        "g_optimizer.apply_gradients(zip(tape.gradient(g_value, g_vars), g_vars))\n"
        "return float(d_value.numpy()), float(g_value.numpy())")}, {"train_step_updates_hidden"}),
    # conditional generator
    "cgen_relu_label": ({"build_conditional_generator": cgen(label_act="relu")},
                        {"conditional_generator_behaviour_hidden"}),
    "cgen_last_deconv_linear": ({"build_conditional_generator": cgen(last_act="linear")},
                                {"conditional_generator_behaviour_hidden"}),
    "cgen_tanh_output": ({"build_conditional_generator": cgen(out_act="tanh")},
                         {"conditional_generator_label_hidden", "conditional_generator_behaviour_hidden"}),
    "cgen_dropout": ({"build_conditional_generator": cgen(dropout="\nx = layers.Dropout(0.3)(x)")},
                     {"conditional_generator_behaviour_hidden"}),
    "cgen_embedding": ({"build_conditional_generator": (
        "noise, condition = keras.Input((latent_dim,)), keras.Input((1,))\n"
        "label = layers.Flatten()(layers.Embedding(10, 64)(condition))\n"
        "x = layers.Reshape((1, 1, latent_dim + 64))(layers.Concatenate()([noise, label]))\n"
        "x = layers.Conv2DTranspose(128, 5, activation='relu')(x)\n"
        "x = layers.Conv2DTranspose(64, 5, strides=2, activation='relu')(x)\n"
        "x = layers.Conv2DTranspose(32, 5, strides=2, activation='relu', use_bias=False)(x)\n"
        "return keras.Model([noise, condition], layers.Conv2D(1, 2, activation='sigmoid', use_bias=False)(x))")},
        {"conditional_generator_param_count", "conditional_generator_label_hidden",
         "conditional_generator_behaviour_hidden"}),
    # the book's scalar class index instead of the one-hot vector: another parameter count, and the checks' one-hot
    # calls fail
    "cgen_scalar_label": ({"build_conditional_generator": cgen().replace("keras.Input((10,))", "keras.Input((1,))")},
                          {"conditional_generator_param_count", "conditional_generator_label_hidden",
                           "conditional_generator_behaviour_hidden"}),
    "cdisc_scalar_label": ({"build_conditional_discriminator": cdisc().replace("keras.Input((10,))", "keras.Input((1,))")},
                           {"conditional_discriminator_param_count", "conditional_discriminator_hidden",
                            "conditional_discriminator_behaviour_hidden"}),
    # conditional discriminator
    "cdisc_dropout": ({"build_conditional_discriminator": cdisc(dropout="\n    x = layers.Dropout(0.3)(x)")},
                      {"conditional_discriminator_behaviour_hidden"}),
    "cdisc_leaky_relu": ({"build_conditional_discriminator": cdisc(conv_act="layers.LeakyReLU(0.2)")},
                         {"conditional_discriminator_behaviour_hidden"}),
    "cdisc_sigmoid": ({"build_conditional_discriminator": cdisc(out_act="'sigmoid'")},
                      {"conditional_discriminator_hidden", "conditional_discriminator_behaviour_hidden"}),
    "cdisc_linear_hidden": ({"build_conditional_discriminator": cdisc(hidden_act="linear")},
                            {"conditional_discriminator_behaviour_hidden"}),
    "cdisc_label_ignored": ({"build_conditional_discriminator": (
        "image, condition = keras.Input((28, 28, 1)), keras.Input((10,))\n"
        "x = image\n"
        "for filters in (32, 64, 96):\n"
        "    x = layers.Conv2D(filters, 3, strides=2, padding='same', activation='relu')(x)\n"
        "x = layers.Dense(128, activation='relu')(layers.Flatten()(x))\n"
        "return keras.Model([image, condition], layers.Dense(1)(x))")},
        {"conditional_discriminator_param_count", "conditional_discriminator_hidden",
         "conditional_discriminator_behaviour_hidden"}),
}
BUNDLES = {
    "wrong_bundle_a": ("dstar_no_half", "value_rectangle_rule", "gradients_unstable_sigmoid", "generator_dropout",
                       "discriminator_sigmoid", "d_loss_unstable_log", "one_loss_for_both", "cgen_relu_label",
                       "cdisc_dropout"),
    "wrong_bundle_b": ("dstar_inverted", "value_plain_log", "gradients_swapped", "generator_he_init",
                       "discriminator_dropout", "g_loss_saturating", "not_traceable", "cgen_last_deconv_linear",
                       "cdisc_leaky_relu"),
    "wrong_bundle_c": ("dstar_epsilon", "value_mean_times_range", "gradients_chain_rule", "generator_fixed_latent",
                       "d_loss_joint_mean", "sequential_updates", "cgen_tanh_output", "cdisc_sigmoid"),
    "wrong_bundle_d": ("value_even_spacing", "gradients_autodiff_of_log", "generator_tanh_output",
                       "losses_on_probabilities", "optimizers_swapped", "cgen_dropout", "cdisc_linear_hidden"),
    "wrong_bundle_e": ("value_terms_swapped", "g_loss_unstable_log", "generator_grads_from_d_loss",
                       "cgen_embedding", "cdisc_label_ignored"),
    "wrong_bundle_i": ("cgen_scalar_label", "cdisc_scalar_label"),
    "wrong_bundle_f": ("d_loss_labels_swapped", "fresh_noise_for_generator"),
    "wrong_bundle_g": ("one_optimizer",),
    "wrong_bundle_h": ("generator_ascent",),
}


def with_bodies(bodies: dict[str, str]) -> nbformat.NotebookNode:
    return variants.with_bodies(NOTEBOOK, bodies)


def _grade(tmp_path, submissions: dict[str, nbformat.NotebookNode], feedback: bool = False) -> dict[str, dict]:
    return variants.grade_submissions(tmp_path, ASSIGNMENT, NOTEBOOK, submissions, feedback)


_lost = variants.lost_checks


@pytest.mark.slow  # `make test` budget: .ci/run runs every variant harness after it (make test-ci-slow)
def test_correct_alternatives_and_a_wrong_bundle_through_the_grader(tmp_path):
    records = _grade(tmp_path, {"correct_a": with_bodies(CORRECT_A),
                                "wrong_bundle_a": with_bodies(
                                    variants.bundle_bodies(WRONG, BUNDLES["wrong_bundle_a"]))},
                     feedback=True)
    assert _lost(records["correct_a"]) == set(), [c for c in records["correct_a"]["checks"] if not c["passed"]]
    assert _lost(records["wrong_bundle_a"]) == set().union(*(WRONG[m][1] for m in BUNDLES["wrong_bundle_a"]))
    variants.assert_no_hidden_line_in_feedback(tmp_path / "out", ASSIGNMENT, NOTEBOOK, records,
                                               at_least=40)


# The notebook's parts: a variant that rewrites a function of one part can only change that part's checks.
PARTS = [{"optimal_discriminator", "gan_value", "generator_loss_gradients"},
         {"build_generator_1d", "build_discriminator_1d"}, {"d_loss", "g_loss"}, {"train_step"},
         {"build_conditional_generator", "build_conditional_discriminator"}]
DRIVERS = {"train_1d", "train_conditional", "score_conditional"}  # training runs and their scores: no check needs them


def failed_checks_in_process(bodies: dict[str, str], *, every_part: bool = False) -> dict[str, str]:
    """Run the notebook with ``bodies`` in this process (setup, every definition, the test cells of the parts
    the bodies touch, or of all parts); return {grade_id: error} of the test cells that raise."""
    import contextlib
    import io
    import warnings

    from autograder.notebook import is_autograded_test

    touched = set().union(*(part for part in PARTS if every_part or part & set(bodies)))
    namespace: dict = {"__name__": "__main__"}
    failed, owner = {}, None
    for cell in with_bodies(bodies).cells:
        gid = grade_id(cell)
        if cell.cell_type != "code" or gid in DRIVERS:
            continue
        test = is_autograded_test(cell)
        if not test and cell.metadata.get("nbgrader", {}).get("solution"):
            owner = gid
        if test and owner not in touched:
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(cell.source, f"<{gid}>", "exec"), namespace)  # noqa: S102 (our notebook + variants)
        except Exception as error:  # a failing check, or student code that raises: either way the cell fails
            if not test:
                raise
            failed[gid] = f"{type(error).__name__}: {str(error)[:200]}"
    return failed


@pytest.mark.slow  # `make test` budget: .ci/run runs every variant harness after it (make test-ci-slow)
def test_every_variant_in_process(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    wrong = {name: failed_checks_in_process(bodies) for name, (bodies, _) in WRONG.items()}
    problems = {name: (sorted(got), sorted(WRONG[name][1])) for name, got in wrong.items()
                if set(got) != WRONG[name][1]}
    assert not problems, problems  # {variant: (lost, expected)}
    for name, correct in (("correct_a", CORRECT_A), ("correct_b", CORRECT_B)):
        assert failed_checks_in_process(correct, every_part=True) == {}, name


@pytest.mark.slow
def test_all_bundles_through_the_grader(tmp_path):
    submissions = {"correct_b": with_bodies(CORRECT_B)}
    submissions.update({bundle: with_bodies(variants.bundle_bodies(WRONG, members))
                        for bundle, members in BUNDLES.items()})
    records = _grade(tmp_path, submissions)
    assert _lost(records["correct_b"]) == set(), [c for c in records["correct_b"]["checks"] if not c["passed"]]
    for bundle, members in BUNDLES.items():
        assert _lost(records[bundle]) == set().union(*(WRONG[m][1] for m in members)), bundle


@pytest.mark.slow
def test_each_wrong_variant_alone(tmp_path):
    records = _grade(tmp_path, {name.replace("_", "-"): with_bodies(bodies) for name, (bodies, _) in WRONG.items()})
    for name, (_, expected) in WRONG.items():
        assert _lost(records[name.replace("_", "-")]) == expected, name


def test_bundles_cover_every_wrong_variant_once():
    members = [m for bundle in BUNDLES.values() for m in bundle]
    assert sorted(members) == sorted(WRONG)
    for bundle in BUNDLES.values():
        checks = [c for m in bundle for c in WRONG[m][1]]
        assert len(checks) == len(set(checks)), "bundled variants must not share a check"
        variants.bundle_bodies(WRONG, bundle)  # and no two rewrite the same function
