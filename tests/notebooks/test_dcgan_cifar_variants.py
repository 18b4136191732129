'''dcgan_cifar: correct variants keep full marks; each typical mistake loses exactly its own checks.

Each variant rewrites the bodies of solution cells of the source notebook (one body per function, so a bundle
holds at most one variant of each function). The default run grades the correct variants together and a
selection of wrong variants in bundles whose checks do not overlap (a bundle loses the union of its members'
checks); the slow run grades every wrong variant on its own. The mistakes come from the notebook's text and its
seed (Chollet's CIFAR-10 frog DCGAN); the instructor notes in the source notebook's hidden cells list them with
the check that catches each.
'''
from __future__ import annotations

import textwrap

import nbformat
import pytest

from autograder.notebook import grade_id
from autograder.paths import SOURCE_DIR

import variants

pytestmark = pytest.mark.notebook
ASSIGNMENT = "dcgan_cifar"
NOTEBOOK = SOURCE_DIR / ASSIGNMENT / "dcgan_cifar.ipynb"
LIMITS = variants.LIMITS

# ----------------------------------------------------------------------------------------------------------
# Correct alternatives: other APIs (Sequential, functional with other layer spellings, a schedule class, NumPy
# draws in another order, two discriminator calls, os.path, other legal orders of writes and draws).
# ----------------------------------------------------------------------------------------------------------
CORRECT = {
    "build_generator": """
model = keras.Sequential([keras.Input((latent_dim,)), layers.Dense(128 * (height // 2) * (width // 2)),
                          layers.LeakyReLU(), layers.Reshape((height // 2, width // 2, 128))])
model.add(layers.Conv2D(256, 5, padding="same"))
model.add(layers.LeakyReLU(negative_slope=0.3))
model.add(layers.Conv2DTranspose(256, (4, 4), strides=(2, 2), padding="same"))
model.add(layers.LeakyReLU(0.3))
for _ in range(2):
    model.add(layers.Conv2D(256, (5, 5), padding="same", activation=keras.layers.LeakyReLU(0.3)))
model.add(layers.Conv2D(channels, 7, padding="same"))
model.add(layers.Activation("tanh"))
return model""",
    # Dropout right before Flatten drops the same features as right after it.
    "build_discriminator": """
images = keras.Input((height, width, channels))
x = layers.LeakyReLU()(layers.Conv2D(128, kernel_size=3, padding="valid")(images))
for _ in range(3):
    x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2D(128, 4, strides=2)(x))
x = layers.Dropout(rate=0.4)(x)
x = layers.Flatten()(x)
return keras.Model(images, layers.Activation("sigmoid")(layers.Dense(1)(x)))""",
    "make_optimizers": """
class KerasTwoDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, rate):
        self.rate = rate

    def __call__(self, step):
        return self.rate / (1.0 + 1e-8 * tf.cast(step, tf.float32))

d_optimizer = keras.optimizers.RMSprop(learning_rate=KerasTwoDecay(8e-4), rho=0.9, clipvalue=1.0)
g_optimizer = keras.optimizers.RMSprop(
    learning_rate=keras.optimizers.schedules.InverseTimeDecay(4e-4, 1, 1e-8, staircase=True), clipvalue=1)
return d_optimizer, g_optimizer""",
    "make_labels": """
rng = np.random.default_rng() if rng is None else rng
real = rng.uniform(0.0, noise, size=(batch_size, 1))
generated = 1.0 - rng.uniform(0.0, noise, size=(batch_size, 1))
return np.vstack([generated, real]).astype("float32"), np.zeros_like(real, dtype="float32")""",
    "discriminator_step": """
bce = keras.losses.BinaryCrossentropy()
half = tf.shape(latent_vectors)[0]
with tf.GradientTape() as tape:
    fake = generator(latent_vectors, training=True)
    loss = 0.5 * (bce(labels[:half], discriminator(fake, training=True))
                  + bce(labels[half:], discriminator(real_images, training=True)))
grads = tape.gradient(loss, discriminator.trainable_variables)
d_optimizer.apply(grads, discriminator.trainable_variables)
return loss""",
    "generator_step": """
with tf.GradientTape() as tape:
    p = tf.clip_by_value(discriminator(generator(latent_vectors, training=True), training=True), 1e-7, 1 - 1e-7)
    t = tf.cast(misleading_targets, p.dtype)
    loss = -tf.reduce_mean(t * tf.math.log(p) + (1.0 - t) * tf.math.log(1.0 - p))
variables = generator.trainable_variables
g_optimizer.apply_gradients(list(zip(tape.gradient(loss, variables), variables)))
return loss""",
    # PNG first (the text orders only state.json after the weights), os.path, json.dump.
    "save_checkpoint": """
import os
os.makedirs(out_dir, exist_ok=True)
png = Path(out_dir) / "samples_step_{:06d}.png".format(step)
save_image_grid(np.asarray(generator(sample_latents)), png)
generator.save_weights(os.path.join(str(out_dir), "generator.weights.h5"))
discriminator.save_weights(str(Path(out_dir) / "discriminator.weights.h5"))
with open(os.path.join(str(out_dir), "state.json"), "w") as handle:
    json.dump({"step": int(step)}, handle)
return png""",
    # Another per-step seeding, draws in another order, sampling without replacement, rng.normal, a while loop,
    # a final save that may repeat the periodic one.
    "train": """
out_dir = Path(out_dir)
step = 0
if (out_dir / "state.json").exists():
    step = int(json.loads((out_dir / "state.json").read_text())["step"])
    for model, name in ((generator, "generator"), (discriminator, "discriminator")):
        model.load_weights(str(out_dir / f"{name}.weights.h5"))
    print("resuming at step", step)
else:
    print("no checkpoint: starting at step 0")
latent_dim = generator.input_shape[-1]
specs = [tf.TensorSpec((None,) + tuple(images.shape[1:]), tf.float32), tf.TensorSpec((None, latent_dim), tf.float32),
         tf.TensorSpec((None, 1), tf.float32)]

@tf.function(input_signature=specs)
def d_step(real, z, labels):
    return discriminator_step(generator, discriminator, d_optimizer, real, z, labels)

@tf.function(input_signature=specs[1:])
def g_step(z, targets):
    return generator_step(generator, discriminator, g_optimizer, z, targets)

sample_latents = np.random.default_rng(seed).normal(size=(16, latent_dim)).astype("float32")
history = {"step": [], "d_loss": [], "g_loss": []}
while step < steps:
    rng = np.random.default_rng(seed * 1_000_003 + step)
    z = rng.normal(size=(batch_size, latent_dim)).astype("float32")
    labels, targets = make_labels(batch_size, rng=rng)
    real = images[rng.choice(len(images), size=batch_size, replace=False)].astype("float32")
    d_loss = float(d_step(real, z, labels))
    g_loss = float(g_step(rng.normal(size=(batch_size, latent_dim)).astype("float32"), targets))
    step += 1
    history["step"].append(step)
    history["d_loss"].append(d_loss)
    history["g_loss"].append(g_loss)
    if step % save_every == 0:
        save_checkpoint(out_dir, step, generator, discriminator, sample_latents)
if history["step"]:
    save_checkpoint(out_dir, steps, generator, discriminator, sample_latents)
return history""",
}


def _solution(gid: str, dedent: bool = True) -> str:
    """The source's solution body of one function, to build wrong variants by small edits."""
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if grade_id(cell) == gid:
            body = cell.source.split("### BEGIN SOLUTION\n")[1].split("    ### END SOLUTION")[0]
            return textwrap.dedent(body) if dedent else body
    raise KeyError(gid)


def _edit(gid: str, old: str, new: str) -> dict[str, str]:
    """The solution of ``gid`` with ``old`` (as indented in the cell) replaced by ``new``, dedented."""
    body = _solution(gid, dedent=False)
    assert old in body, f"{old!r} not in the solution of {gid}"
    return {gid: textwrap.dedent(body.replace(old, new))}


GEN, DISC, OPT, LAB = "build_generator", "build_discriminator", "make_optimizers", "make_labels"
DSTEP, GSTEP, CKPT, TRAIN = "discriminator_step", "generator_step", "save_checkpoint", "train"
SCHEDULE = "keras.optimizers.schedules.InverseTimeDecay(rate, decay_steps=1, decay_rate=1e-8)"
RMSPROP = "keras.optimizers.RMSprop(learning_rate=schedule, clipvalue=1.0)"
RNG = "rng = np.random.default_rng([seed, step])"

# name: (solution bodies, checks it must lose)
WRONG = {
    # build_generator
    "gen_dropout": (_edit(GEN, "    x = layers.Reshape(", "    x = layers.Dropout(0.3)(x)\n    x = layers.Reshape("),
                    {"generator_training_mode_hidden"}),
    "gen_slope_0_2": (_edit(GEN, "negative_slope=0.3", "negative_slope=0.2"),
                      {"generator_behaviour_hidden", "generator_training_mode_hidden"}),
    "gen_transpose_kernel_5": (_edit(GEN, "Conv2DTranspose(256, 4,", "Conv2DTranspose(256, 5,"),
                               {"generator_param_count", "generator_behaviour_hidden", "generator_training_mode_hidden"}),
    # build_discriminator
    "disc_no_dropout": (_edit(DISC, "    x = layers.Dropout(0.4)(x)\n", ""),
                        {"discriminator_behaviour_hidden", "discriminator_dropout_behaviour_hidden"}),
    "disc_dropout_0_5": (_edit(DISC, "Dropout(0.4)", "Dropout(0.5)"),
                         {"discriminator_behaviour_hidden", "discriminator_dropout_behaviour_hidden"}),
    "disc_dropout_after_dense": (_edit(DISC, """    x = layers.Dropout(0.4)(x)
    probability = layers.Dense(1, activation="sigmoid")(x)""", """    probability = layers.Dense(1, activation="sigmoid")(x)
    probability = layers.Dropout(0.4)(probability)"""), {"discriminator_dropout_behaviour_hidden"}),
    "disc_same_padding": (_edit(DISC, "layers.Conv2D(128, 4, strides=2)", "layers.Conv2D(128, 4, strides=2, padding='same')"),
                          {"discriminator_param_count", "discriminator_behaviour_hidden",
                           "discriminator_dropout_behaviour_hidden"}),
    # make_optimizers
    "opt_no_clip": (_edit(OPT, RMSPROP, "keras.optimizers.RMSprop(learning_rate=schedule)"),
                    {"optimizers_clip_decay_hidden", "optimizers_update_hidden"}),
    "opt_clipnorm": (_edit(OPT, RMSPROP, "keras.optimizers.RMSprop(learning_rate=schedule, clipnorm=1.0)"),
                     {"optimizers_clip_decay_hidden", "optimizers_update_hidden"}),
    "opt_no_decay": (_edit(OPT, RMSPROP, "keras.optimizers.RMSprop(learning_rate=rate, clipvalue=1.0)"),
                     {"optimizers_clip_decay_hidden", "optimizers_update_hidden"}),
    "opt_weight_decay": (_edit(OPT, RMSPROP, "keras.optimizers.RMSprop(learning_rate=rate, clipvalue=1.0, weight_decay=1e-8)"),
                         {"optimizers_clip_decay_hidden", "optimizers_update_hidden"}),
    "opt_rho": (_edit(OPT, RMSPROP, "keras.optimizers.RMSprop(learning_rate=schedule, clipvalue=1.0, rho=0.99)"),
                {"optimizers_update_hidden"}),
    "opt_adam": (_edit(OPT, RMSPROP, "keras.optimizers.Adam(learning_rate=schedule, clipvalue=1.0)"),
                 {"optimizers_learning_rates", "optimizers_update_hidden"}),
    "opt_shared": (_edit(OPT, "return rmsprop(8e-4), rmsprop(4e-4)", "shared = rmsprop(8e-4)\nreturn shared, shared"),
                   {"optimizers_learning_rates", "optimizers_clip_decay_hidden", "optimizers_update_hidden"}),
    # make_labels
    "labels_book_noise": (_edit(LAB, "generated = 1.0 - noise * rng.random((batch_size, 1))",
                                "generated = 1.0 + noise * rng.random((batch_size, 1))"),
                          {"labels_values", "labels_noise_hidden"}),
    "labels_paper_convention": (_edit(LAB, "d_labels = np.concatenate([generated, real])",
                                      "d_labels = np.concatenate([1.0 - generated, 1.0 - real])"),
                                {"labels_values", "labels_noise_hidden"}),
    "labels_one_u": (_edit(LAB, """    generated = 1.0 - noise * rng.random((batch_size, 1))
    real = noise * rng.random((batch_size, 1))""", """    u = rng.random((batch_size, 1))
    generated, real = 1.0 - noise * u, noise * u"""),
                     {"labels_noise_hidden"}),
    "labels_scalar_u": (_edit(LAB, "generated = 1.0 - noise * rng.random((batch_size, 1))\n    real = noise * rng.random((batch_size, 1))",
                              "u = rng.random()\n    generated = np.full((batch_size, 1), 1.0 - noise * u)\n"
                              "    real = np.full((batch_size, 1), noise * u)"),
                        {"labels_noise_hidden"}),
    "labels_global_random": (_edit(LAB, "noise * rng.random((batch_size, 1))", "noise * np.random.random((batch_size, 1))"),
                             {"labels_noise_hidden"}),
    "labels_fixed_default_rng": (_edit(LAB, "rng = np.random.default_rng()", "rng = np.random.default_rng(0)"),
                                 {"labels_default_rng_hidden"}),
    "labels_targets_ones": (_edit(LAB, "misleading_targets = np.zeros(", "misleading_targets = np.ones("),
                            {"labels_values", "labels_noise_hidden"}),
    # discriminator_step
    "dstep_real_first": (_edit(DSTEP, "tf.concat([generated, real_images]", "tf.concat([real_images, generated]"),
                         {"discriminator_step_loss", "discriminator_step_weights_hidden",
                          "discriminator_step_training_hidden", "discriminator_step_gradients_hidden"}),
    "dstep_no_training": (_edit(DSTEP, "discriminator(combined, training=True)", "discriminator(combined)"),
                          {"discriminator_step_training_hidden"}),
    "dstep_gradient_of_sum": (_edit(DSTEP, """        loss = tf.reduce_mean(keras.losses.binary_crossentropy(labels, probabilities))
    gradients = tape.gradient(loss,""", """        per_row = keras.losses.binary_crossentropy(labels, probabilities)
        loss, total = tf.reduce_mean(per_row), tf.reduce_sum(per_row)
    gradients = tape.gradient(total,"""),
                              {"discriminator_step_gradients_hidden"}),
    "dstep_numpy_concat": (_edit(DSTEP, "combined = tf.concat([generated, real_images], axis=0)",
                                 "combined = np.concatenate([np.asarray(generated), np.asarray(real_images)])"),
                           {"discriminator_step_weights_hidden", "train_checkpoints", "train_resume_hidden"}),
    "dstep_updates_generator": ({DSTEP: _edit(DSTEP, """    with tf.GradientTape() as tape:
        probabilities""", """    with tf.GradientTape() as tape:
        generated = generator(latent_vectors, training=True)
        combined = tf.concat([generated, real_images], axis=0)
        probabilities""").get(DSTEP).replace("discriminator.trainable_variables",
                                              "discriminator.trainable_variables + generator.trainable_variables")},
                                {"discriminator_step_weights_hidden"}),
    "dstep_applies_twice": (_edit(DSTEP, "    return loss", "    d_optimizer.apply_gradients(zip(gradients, discriminator.trainable_variables))\n    return loss"),
                            {"discriminator_step_weights_hidden", "discriminator_step_gradients_hidden"}),
    # generator_step
    "gstep_targets_ones": (_edit(GSTEP, "binary_crossentropy(misleading_targets,", "binary_crossentropy(tf.ones_like(misleading_targets),"),
                           {"generator_step_loss", "generator_step_training_hidden", "generator_step_gradients_hidden"}),
    "gstep_freezes_discriminator": (_edit(GSTEP, "    with tf.GradientTape()", "    discriminator.trainable = False\n    with tf.GradientTape()"),
                                    {"generator_step_weights_hidden"}),
    "gstep_no_training": (_edit(GSTEP, "discriminator(generated, training=True)", "discriminator(generated, training=False)"),
                          {"generator_step_training_hidden"}),
    "gstep_updates_both": (_edit(GSTEP, "generator.trainable_variables",
                                 "generator.trainable_variables + discriminator.trainable_variables"),
                           {"generator_step_weights_hidden"}),
    "gstep_sum": (_edit(GSTEP, "loss = tf.reduce_mean(", "loss = tf.reduce_sum("),
                  {"generator_step_loss", "generator_step_training_hidden", "generator_step_gradients_hidden"}),
    # save_checkpoint
    "ckpt_state_first": (_edit(CKPT, """    generator.save_weights(out_dir / "generator.weights.h5")
    discriminator.save_weights(out_dir / "discriminator.weights.h5")
    (out_dir / "state.json").write_text(json.dumps({"step": int(step)}))""", """    (out_dir / "state.json").write_text(json.dumps({"step": int(step)}))
    generator.save_weights(out_dir / "generator.weights.h5")
    discriminator.save_weights(out_dir / "discriminator.weights.h5")"""), {"save_checkpoint_order_hidden"}),
    "ckpt_no_parents": (_edit(CKPT, "out_dir.mkdir(parents=True, exist_ok=True)", "out_dir.mkdir(exist_ok=True)"),
                        {"save_checkpoint_folders_hidden"}),
    "ckpt_first_sample_only": (_edit(CKPT, "save_image_grid(samples,", "save_image_grid(samples[:1],"),
                               {"save_checkpoint_png_hidden"}),
    # train
    "train_extra_steps": ({TRAIN: _edit(TRAIN, "for step in range(start, steps):", "for step in range(start, start + steps):").get(TRAIN)
                          .replace("done == steps", "done == start + steps")},
                          {"train_resume_hidden", "train_resume_stream_hidden", "train_saves_hidden"}),
    "train_one_rng": ({TRAIN: _edit(TRAIN, f"        {RNG}\n", "").get(TRAIN)
                      .replace("history = {", "rng = np.random.default_rng(seed)\nhistory = {")},
                      {"train_resume_stream_hidden"}),
    "train_no_load": (_edit(TRAIN, """        generator.load_weights(out_dir / "generator.weights.h5")
        discriminator.load_weights(out_dir / "discriminator.weights.h5")
""", ""), {"train_resume_hidden"}),
    "train_walk": (_edit(TRAIN, "real = np.asarray(images[rng.integers(0, len(images), batch_size)], dtype=np.float32)",
                         "first = (step * batch_size) % len(images)\n        "
                         "real = np.asarray(images[first:first + batch_size], dtype=np.float32)"),
                   {"train_batches_hidden"}),
    "train_reuses_latents": (_edit(TRAIN, """        z = rng.standard_normal((batch_size, latent_dim)).astype(np.float32)
        g_loss""", "        g_loss"), {"train_latents_hidden"}),
    "train_uniform_latents": (_edit(TRAIN, "standard_normal((batch_size, latent_dim))", "uniform(-1, 1, (batch_size, latent_dim))"),
                              {"train_latents_hidden"}),
    "train_clean_labels": (_edit(TRAIN, "d_labels, targets = make_labels(batch_size, rng=rng)",
                                 "d_labels = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))]).astype(np.float32)\n"
                                 "        targets = np.zeros((batch_size, 1), np.float32)"),
                           {"train_labels_hidden"}),
    "train_swapped_history": (_edit(TRAIN, """        history["d_loss"].append(float(d_loss))
        history["g_loss"].append(float(g_loss))""", """        history["d_loss"].append(float(g_loss))
        history["g_loss"].append(float(d_loss))"""), {"train_history_hidden"}),
    "train_no_final_save": (_edit(TRAIN, "if done % save_every == 0 or done == steps:", "if done % save_every == 0:"),
                            {"train_checkpoints", "train_resume_hidden", "train_resume_stream_hidden", "train_saves_hidden"}),
    "train_sample_latents_per_save": (_edit(TRAIN, "save_checkpoint(out_dir, done, generator, discriminator, sample_latents)",
                                            "save_checkpoint(out_dir, done, generator, discriminator,\n"
                                            "                            rng.standard_normal((16, latent_dim)).astype(np.float32))"),
                                      {"train_saves_hidden"}),
}

# Default run: a few bundles (at most one variant per function; no two members share a check).
BUNDLES = {
    "wrong_bundle_a": ("gen_dropout", "disc_dropout_after_dense", "opt_rho", "labels_one_u", "dstep_no_training",
                       "gstep_freezes_discriminator", "ckpt_state_first", "train_one_rng"),
    "wrong_bundle_b": ("gen_slope_0_2", "disc_no_dropout", "opt_no_decay", "labels_fixed_default_rng",
                       "dstep_gradient_of_sum", "gstep_no_training", "ckpt_no_parents", "train_walk"),
    "wrong_bundle_c": ("opt_weight_decay", "labels_scalar_u", "dstep_updates_generator", "gstep_updates_both",
                       "ckpt_first_sample_only", "train_reuses_latents"),
}
# Variants whose checks no default bundle covers are graded alone in the slow run only (each listed there).


def with_bodies(bodies: dict[str, str]) -> nbformat.NotebookNode:
    return variants.with_bodies(NOTEBOOK, bodies)


def _grade(tmp_path, submissions: dict[str, nbformat.NotebookNode], feedback: bool = False) -> dict[str, dict]:
    return variants.grade_submissions(tmp_path, ASSIGNMENT, NOTEBOOK, submissions, feedback)


_lost = variants.lost_checks


def _bundle(members) -> nbformat.NotebookNode:
    return with_bodies(variants.bundle_bodies(WRONG, members))


@pytest.mark.slow  # `make test` budget: .ci/run runs every variant harness after it (make test-ci-slow)
def test_correct_variants_and_wrong_bundles(tmp_path):
    submissions = {"correct_variants": with_bodies(CORRECT)}
    submissions.update({bundle: _bundle(members) for bundle, members in BUNDLES.items()})
    records = _grade(tmp_path, submissions, feedback=True)
    assert records["correct_variants"]["status"] == "graded"
    assert _lost(records["correct_variants"]) == set(), records["correct_variants"]["checks"]
    for bundle, members in BUNDLES.items():
        expected = set().union(*(WRONG[m][1] for m in members))
        assert _lost(records[bundle]) == expected, bundle
    variants.assert_no_hidden_line_in_feedback(tmp_path / "out", ASSIGNMENT, NOTEBOOK, records,
                                               at_least=50)


@pytest.mark.slow
def test_each_wrong_variant_alone(tmp_path):
    records = _grade(tmp_path, {name: with_bodies(bodies) for name, (bodies, _) in WRONG.items()})
    for name, (_, expected) in WRONG.items():
        assert _lost(records[name]) == expected, name


def test_bundles_are_disjoint_and_one_variant_per_function():
    members = [m for bundle in BUNDLES.values() for m in bundle]
    assert len(members) == len(set(members)) and set(members) <= set(WRONG)
    for bundle in BUNDLES.values():
        checks = [c for m in bundle for c in WRONG[m][1]]
        assert len(checks) == len(set(checks)), "bundled variants must not share a check"
        functions = [f for m in bundle for f in WRONG[m][0]]
        assert len(functions) == len(set(functions)), "a bundle holds one variant per function"


def test_every_wrong_variant_changes_its_solution():
    for name, (bodies, lost) in WRONG.items():
        assert lost, name
        for gid, body in bodies.items():
            assert body.strip() != _solution(gid).strip(), name
