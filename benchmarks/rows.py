"""One benchmark row per training section of every assignment, each built from its source notebook's own code.

A ``Row`` wraps what the notebook trains when a student runs it interactively: the models, optimizers, data,
batch size and training length come from the notebook's locked training cell (``notebook_code.run_until_call``
runs it up to the call of its training driver and evaluates that call's arguments), and ``Row.train(n)``
advances training by ``n`` steps with the notebook's own compiled step or driver:

=============== ==================== ===================================================================
row             assignment           what ``train(n)`` calls (all from the notebook)
=============== ==================== ===================================================================
vanilla, lsgan, gan_basics           ``make_train_step(...)`` (solution), fed by a tf.data pipeline
dcgan
model_gan       keras_model_gan      ``GAN.train_step`` through Keras' compiled ``train_function`` (what
model_cgan                           ``fit`` calls per batch), on the notebook's ``make_dataset``
seq_gan,        keras_sequential_gan ``discriminator_step`` + ``generator_step`` (solutions; each a Keras
seq_dcgan                            ``train_on_batch``), on the notebook's ``tf.data`` batches
cifar_dcgan     dcgan_cifar          ``train(..., steps=done + n)`` (solution), resuming from its own
                                     checkpoints in a temporary folder
gan_1d          gan_1d_conditional   ``train_gan_1d`` (locked helper), the notebook's whole run at once
fashion_cgan    gan_1d_conditional   ``conditional_step`` from ``make_conditional_train_step`` (locked
                                     helper) over the notebook's ``batches``
=============== ==================== ===================================================================

The eager baseline is the same ``train`` with ``tf.config.run_functions_eagerly(True)`` (every tf.function,
Keras' included, runs op by op). FLOPs per step are counted analytically from the layer shapes
(``gans.model_flops``: matmuls and convolutions, backward = 2 x forward) with the multipliers each step's
structure implies (``flops_how`` says which).
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from benchmarks import gans
from benchmarks.notebook_code import (NOTEBOOKS, NotebookCodeError, call_arguments, load_namespace, run_after_call,
                                      run_until_call)

#: row name -> (assignment, title, kind). kind: "image", "conditional" or "1d".
ROWS = {
    "vanilla": ("gan_basics", "Vanilla GAN (dense, MNIST)", "image"),
    "lsgan": ("gan_basics", "LSGAN (dense, MNIST)", "image"),
    "dcgan": ("gan_basics", "DCGAN (MNIST)", "image"),
    "model_gan": ("keras_model_gan", "keras.Model GAN (conv, MNIST)", "image"),
    "model_cgan": ("keras_model_gan", "keras.Model conditional GAN (dense, MNIST)", "conditional"),
    "seq_gan": ("keras_sequential_gan", "Sequential GAN (dense, Fashion-MNIST)", "image"),
    "seq_dcgan": ("keras_sequential_gan", "Sequential DCGAN (Fashion-MNIST)", "image"),
    "cifar_dcgan": ("dcgan_cifar", "Chollet's DCGAN (CIFAR-10 frogs)", "image"),
    "gan_1d": ("gan_1d_conditional", "1-D GAN (N(10, 0.1^2))", "1d"),
    "fashion_cgan": ("gan_1d_conditional", "Conditional GAN (Fashion-MNIST)", "conditional"),
}
ROW_NAMES = tuple(ROWS)
#: Rows that are DCGANs (target >= 90% of the real IS; other image GANs >= 70%).
DCGAN_ROWS = ("dcgan", "model_gan", "seq_dcgan", "cifar_dcgan")
IS_TARGET = {"image": 0.7, "dcgan": 0.9}
CONDITIONAL_ACCURACY_TARGET = 0.8
ONE_D_TARGETS = {"mean_within": 0.5, "std_below": 1.0}

#: FLOPs per example of one step, in units of forward passes of G and D (backward = 2 x forward):
#: two-phase steps (D on real + fake, then G through D) = 4 F_G + 9 F_D; one shared forward pass with two
#: gradients (gan_1d_conditional's train_step / conditional step) = 3 F_G + 8 F_D.
TWO_PHASE = (4, 9, "batch x (4 F_G + 9 F_D): G forward for D's batch, D forward + backward on real and fake, "
                   "then G and D forward + backward")
SHARED_PASS = (3, 8, "batch x (3 F_G + 8 F_D): one forward pass (G, D on real and fake), D backward twice "
                     "(real, fake) for D's loss, D and G backward for G's loss")


@dataclass
class Row:
    name: str
    assignment: str
    title: str
    kind: str  # "image", "conditional" or "1d"
    dataset: str | None  # classifier data set the samples are scored with; None: no classifier applies
    data_note: str  # what the row trains on
    batch_size: int
    train_size: int  # training examples (for epochs); 0 for the 1-D GAN (fresh samples every step)
    notebook_steps: int  # steps of the notebook's interactive run
    train: Callable[[int], tuple[list, list]]  # n -> (d losses, g losses) of n more steps
    sample: Callable  # (n, seed) -> images (n, 28, 28, 1) in [0, 1] | (images, labels) | 1-D samples (n,)
    G: object
    D: object
    flop_multipliers: tuple
    chunk: int = 1  # steps per train() call in the budget loop
    traces: Callable[[], int | None] = lambda: None
    finish: Callable[[], None] = lambda: None  # what the notebook's cell does after training, before sampling
    extra: dict = field(default_factory=dict)

    @property
    def flops_per_step(self) -> int:
        g, d, _ = self.flop_multipliers
        return self.batch_size * (g * gans.model_flops(self.G) + d * gans.model_flops(self.D))

    @property
    def flops_how(self) -> str:
        return self.flop_multipliers[2]

    @property
    def is_target(self) -> float | None:
        if self.kind == "1d" or self.dataset is None:
            return None
        return IS_TARGET["dcgan"] if self.name in DCGAN_ROWS else IS_TARGET["image"]


def _floats(pairs):
    d, g = zip(*pairs) if pairs else ((), ())
    return [float(v) for v in d], [float(v) for v in g]


def _unit(images, low=-1.0):
    """Images in [low, 1] -> (N, 28, 28, 1) float32 in [0, 1]."""
    array = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
    return np.clip((array - low) / (1.0 - low), 0.0, 1.0)


def _data_note(namespace) -> str:
    """The lines the notebook's cells printed about their data (loader announcements, stand-in notes)."""
    keep = [line.strip() for text in namespace.get("__output__", []) for line in text.splitlines()
            if any(word in line for word in ("MNIST", "CIFAR", "NOTE", "Note", "stand-in", "images"))]
    return " | ".join(dict.fromkeys(keep))


# ---------------------------------------------------------------------------------------------------------
# gan_basics

def _gan_basics(name: str, seed: int) -> Row:
    # The notebook's training cell runs up to its run_a_gan call, which builds the models and solvers (with the
    # generator's weight average, course.training) and fixes the training length (max_steps, from the data's
    # size with training_length). The row compiles make_train_step (solution) on exactly those and feeds it by
    # tf.data; `finish` runs the rest of the cell (use_weight_average) before the samples are drawn.
    path = gans.GAN_BASICS
    namespace = load_namespace(path, extra_ids=("load_data", "training_length"))
    cell = {"vanilla": "train_vanilla_gan", "lsgan": "train_lsgan", "dcgan": "train_dcgan"}[name]
    call = run_until_call(namespace, path, cell, "run_a_gan")
    arguments = call_arguments(namespace, call, namespace["run_a_gan"])
    images = namespace["train_images"] if arguments["images"] is None else arguments["images"]
    gan = gans.compiled_gan(name, namespace, arguments["D"], arguments["G"], arguments["D_solver"],
                            arguments["G_solver"], arguments["discriminator_loss"], arguments["generator_loss"],
                            images, labels=np.zeros(0), batch_size=int(arguments["batch_size"]),
                            noise_dim=int(arguments["noise_dim"]))
    batches = iter(gan.pipeline(seed=seed))

    def train(n):
        return _floats([gan.compiled_step(*next(batches)) for _ in range(n)])

    def sample(n, seed=0):
        return _unit(gan.generate(n, seed=seed))

    return Row(name=name, assignment="gan_basics", title=ROWS[name][1], kind="image", dataset="mnist",
               data_note=_data_note(namespace), batch_size=gan.batch_size, train_size=len(gan.images),
               notebook_steps=int(arguments["max_steps"]), train=train, sample=sample, G=gan.G, D=gan.D,
               flop_multipliers=TWO_PHASE, traces=gan.compiled_step.experimental_get_tracing_count,
               finish=lambda: run_after_call(namespace, path, cell, "run_a_gan", only=("use_weight_average",)),
               extra={"gan": gan, "G_solver": arguments["G_solver"]})


# ---------------------------------------------------------------------------------------------------------
# keras_model_gan

def _keras_model_gan(name: str, seed: int) -> Row:
    import keras

    path = NOTEBOOKS["keras_model_gan"]
    namespace = load_namespace(path)
    keras.utils.set_random_seed(seed)
    call = run_until_call(namespace, path, "train_unconditional", "fit")
    if name == "model_cgan":  # the conditional cell reuses the unconditional cell's images and labels
        call = run_until_call(namespace, path, "train_conditional", "fit")
    arguments = call_arguments(namespace, call)
    gan, dataset = arguments["__self__"], arguments["args"][0]
    per_epoch = int(dataset.cardinality())
    conditional = name == "model_cgan"
    # Keras builds the model and the optimizer state on fit's first batch; the row's first step goes through
    # fit for that, every later step through the compiled train_function fit calls per batch.
    state = {"iterator": None}

    def train(n):
        pairs = []
        for _ in range(n):
            if state["iterator"] is None:
                logs = gan.fit(dataset.take(1), epochs=1, verbose=0).history
                pairs.append((logs["d_loss"][0], logs["g_loss"][0]))
                gan.make_train_function()
                state["iterator"] = iter(dataset.repeat())
                continue
            gan.reset_metrics()  # per-step losses (fit resets once per epoch)
            logs = gan.train_function(state["iterator"])
            pairs.append((logs["d_loss"], logs["g_loss"]))
        return _floats(pairs)

    latent_dim = int(gan.latent_dim)
    classes = int(namespace["NUM_CLASSES"])

    def sample(n, seed=0):
        noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
        if not conditional:
            return _unit(gan.generator(noise, training=False))
        labels = np.arange(n) % classes
        one_hot = np.eye(classes, dtype=np.float32)[labels]
        return _unit(gan.generator([noise, one_hot], training=False)), labels

    images = np.asarray(namespace["cond_images" if conditional else "images"])
    return Row(name=name, assignment="keras_model_gan", title=ROWS[name][1], kind=ROWS[name][2], dataset="mnist",
               data_note=_data_note(namespace), batch_size=_batch_size(dataset), train_size=per_epoch * _batch_size(dataset),
               notebook_steps=int(arguments["epochs"]) * per_epoch, train=train, sample=sample,
               G=gan.generator, D=gan.discriminator, flop_multipliers=TWO_PHASE,
               extra={"images_loaded": len(images)})


def _batch_size(dataset) -> int:
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    return int(spec.shape[0])


# ---------------------------------------------------------------------------------------------------------
# keras_sequential_gan

def _keras_sequential_gan(name: str, seed: int) -> Row:
    import keras
    import tensorflow as tf

    path = NOTEBOOKS["keras_sequential_gan"]
    namespace = load_namespace(path, extra_ids=("load_data",))
    keras.utils.set_random_seed(seed)
    cell = "train_dense_gan" if name == "seq_gan" else "train_dcgan"
    call = run_until_call(namespace, path, cell, "train_gan")
    arguments = call_arguments(namespace, call, namespace["train_gan"])
    gan, dataset = arguments["gan"], arguments["dataset"]
    batch_size, codings_size = int(arguments["batch_size"]), int(arguments["codings_size"])
    generator, discriminator = gan.layers
    per_epoch = int(dataset.cardinality())
    batches = iter(dataset.repeat())
    discriminator_step, generator_step = namespace["discriminator_step"], namespace["generator_step"]

    def train(n):  # train_gan's body for n batches: phase 1, then phase 2
        pairs = []
        for _ in range(n):
            real = next(batches)
            pairs.append((discriminator_step(generator, discriminator, real, codings_size),
                          generator_step(gan, batch_size, codings_size)))
        return _floats(pairs)

    low = -1.0 if name == "seq_dcgan" else 0.0  # the DCGAN trains on scale_for_tanh images

    def sample(n, seed=0):
        tf.random.set_seed(seed)
        return _unit(generator(tf.random.normal((n, codings_size)), training=False), low=low)

    data_name = namespace.get("data_name")
    dataset_name = {"Fashion-MNIST": "fashion_mnist", "MNIST": "mnist"}.get(data_name)
    return Row(name=name, assignment="keras_sequential_gan", title=ROWS[name][1], kind="image",
               dataset=dataset_name, data_note=f"{data_name}; " + _data_note(namespace), batch_size=batch_size,
               train_size=per_epoch * batch_size, notebook_steps=int(arguments["n_epochs"]) * per_epoch,
               train=train, sample=sample, G=generator, D=discriminator, flop_multipliers=TWO_PHASE,
               finish=lambda: run_after_call(namespace, path, cell, "train_gan", only=("use_weight_average",)),
               extra={"sequential_gan": gan})


# ---------------------------------------------------------------------------------------------------------
# dcgan_cifar

def _dcgan_cifar(name: str, seed: int, batch_size: int | None = None) -> Row:
    import keras

    path = NOTEBOOKS["dcgan_cifar"]
    namespace = load_namespace(path)
    keras.utils.set_random_seed(seed)
    call = run_until_call(namespace, path, "train_frogs", "train")
    arguments = call_arguments(namespace, call, namespace["train"])
    notebook_steps = int(arguments.pop("steps"))
    if batch_size is not None:  # smoke tests only: the notebook's batch of 20 costs seconds per step
        arguments["batch_size"] = int(batch_size)
    out_dir = tempfile.mkdtemp(prefix="bench_cifar_dcgan_")  # never the notebook's dcgan_frogs/
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)  # checkpoints of this process only
    arguments["out_dir"] = out_dir
    images = arguments["images"]
    state = {"done": 0}
    train_function = namespace["train"]

    def train(n):  # the notebook's train() resumes from its checkpoint: n more steps
        history = train_function(**{**arguments, "steps": state["done"] + n})
        state["done"] += n
        return [float(v) for v in history["d_loss"]], [float(v) for v in history["g_loss"]]

    note = _data_note(namespace)
    stand_in = namespace["scored_dataset"] == "mnist"  # load_training_images fell back to MNIST digits
    latent_dim = int(arguments["generator"].input_shape[-1])

    def sample(n, seed=0):
        latents = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
        out = []
        for begin in range(0, n, 250):
            out.append(np.asarray(arguments["generator"](latents[begin:begin + 250], training=False)))
        generated = np.concatenate(out)
        if not stand_in:
            return generated  # CIFAR-10 frogs: no classifier of the course applies
        # The stand-in is MNIST padded to 32x32 and copied into 3 channels: undo both for the MNIST classifier.
        return _unit(generated.mean(axis=-1)[:, 2:30, 2:30])

    return Row(name=name, assignment="dcgan_cifar", title=ROWS[name][1] + (" - MNIST stand-in" if stand_in else ""),
               kind="image", dataset="mnist" if stand_in else None, data_note=note,
               batch_size=int(arguments["batch_size"]), train_size=len(images), notebook_steps=notebook_steps,
               train=train, sample=sample, G=arguments["generator"], D=arguments["discriminator"],
               flop_multipliers=TWO_PHASE, chunk=int(arguments["save_every"]), extra={"out_dir": out_dir})


# ---------------------------------------------------------------------------------------------------------
# gan_1d_conditional

def _gan_1d(name: str, seed: int, batch_size: int | None = None) -> Row:
    import keras
    import tensorflow as tf

    path = NOTEBOOKS["gan_1d_conditional"]
    namespace = load_namespace(path, extra_ids=("sample_real", "train_gan_1d"))
    keras.utils.set_random_seed(seed)
    call = run_until_call(namespace, path, "train_1d", "train_gan_1d")
    arguments = call_arguments(namespace, call, namespace["train_gan_1d"])
    notebook_steps = int(arguments.pop("steps"))
    if batch_size is not None:
        arguments["batch_size"] = int(batch_size)
    train_gan_1d = namespace["train_gan_1d"]

    def train(n):
        # train_gan_1d starts its own optimizers (and re-anchors D's first layer) on every call: the budget
        # loop calls it once, for the whole run (chunk = the notebook's steps).
        history, _ = train_gan_1d(**{**arguments, "steps": n, "snapshot_every": n})
        return history["discriminator"], history["generator"]

    latent_dim = int(arguments["latent_dim"])

    def sample(n, seed=0):
        tf.random.set_seed(seed)
        return np.asarray(arguments["generator"](tf.random.normal((n, latent_dim)), training=False))[:, 0]

    return Row(name=name, assignment="gan_1d_conditional", title=ROWS[name][1], kind="1d", dataset=None,
               data_note=f"fresh samples of N({namespace['TARGET_MEAN']}, {namespace['TARGET_STD']}^2) every step",
               batch_size=int(arguments["batch_size"]), train_size=0, notebook_steps=notebook_steps,
               train=train, sample=sample, G=arguments["generator"], D=arguments["discriminator"],
               flop_multipliers=SHARED_PASS, chunk=notebook_steps,
               extra={"target_mean": float(namespace["TARGET_MEAN"]), "target_std": float(namespace["TARGET_STD"])})


def _fashion_cgan(name: str, seed: int) -> Row:
    import keras
    import tensorflow as tf

    path = NOTEBOOKS["gan_1d_conditional"]
    namespace = load_namespace(path, extra_ids=("conditional_helpers",))
    keras.utils.set_random_seed(seed)
    run_until_call(namespace, path, "train_conditional", "conditional_step")  # stops before the training loop
    step, batches = namespace["conditional_step"], namespace["batches"]
    images, labels = namespace["fashion_images"], namespace["fashion_labels"]
    state = {"index": 0}

    def train(n):  # the notebook's loop body, continuing round its batches
        pairs = []
        for _ in range(n):
            start, stop = batches[state["index"] % len(batches)]
            # Tensors, as the compiled step's input_signature makes of the NumPy slices anyway: run eagerly
            # (run_functions_eagerly) the step gets its arguments unconverted, and Keras refuses a mix of a
            # tensor (noise) and an array (labels) in one call.
            pairs.append(step(tf.convert_to_tensor(images[start:stop]), tf.convert_to_tensor(labels[start:stop])))
            state["index"] += 1
        return _floats(pairs)

    generator = namespace["conditional_generator"]
    latent_dim = int(namespace["LATENT_DIM_CGAN"])

    def sample(n, seed=0):
        noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
        wanted = np.arange(n) % 10
        one_hot = np.eye(10, dtype=np.float32)[wanted]  # the notebook's networks take one-hot class vectors
        out = [np.asarray(generator([noise[b:b + 500], one_hot[b:b + 500]], training=False))
               for b in range(0, n, 500)]
        return _unit(np.concatenate(out), low=0.0), wanted

    note = _data_note(namespace)
    dataset_name = namespace["scored_dataset"]  # what load_conditional_data found: fashion_mnist, mnist or None
    first = batches[0]
    return Row(name=name, assignment="gan_1d_conditional", title=ROWS[name][1], kind="conditional",
               dataset=dataset_name, data_note=note, batch_size=int(first[1] - first[0]),
               train_size=len(images), notebook_steps=len(batches), train=train, sample=sample, G=generator,
               D=namespace["conditional_discriminator"], flop_multipliers=SHARED_PASS,
               traces=step.experimental_get_tracing_count)


_BUILDERS = {"gan_basics": _gan_basics, "keras_model_gan": _keras_model_gan,
             "keras_sequential_gan": _keras_sequential_gan}


def build_row(name: str, seed: int = 0, batch_size: int | None = None) -> Row:
    """A freshly initialised (seeded) row, built from its notebook. batch_size overrides the notebook's (for
    smoke tests) where the batch is a driver argument: cifar_dcgan and gan_1d; elsewhere it is refused."""
    from course import data

    if name not in ROWS:
        raise ValueError(f"unknown benchmark row {name!r}; choose from {', '.join(ROW_NAMES)}")
    if batch_size is not None and name not in ("cifar_dcgan", "gan_1d"):
        raise ValueError(f"row {name!r} takes its batch size from the notebook's data pipeline; only "
                         "cifar_dcgan and gan_1d accept batch_size")
    # The loaders announce their source once per process; forget earlier announcements so that this row's
    # notebook cells print (and data_note records) where its data came from.
    data._ANNOUNCED.clear()
    if name == "gan_1d":
        return _gan_1d(name, seed, batch_size)
    if name == "fashion_cgan":
        return _fashion_cgan(name, seed)
    if name == "cifar_dcgan":
        return _dcgan_cifar(name, seed, batch_size)
    return _BUILDERS[ROWS[name][0]](name, seed)


__all__ = ["ROWS", "ROW_NAMES", "Row", "build_row", "NotebookCodeError"]
