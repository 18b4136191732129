"""Spies and phase probes for the ``keras_sequential_gan`` checks (kernel side; no expected values here)."""
from __future__ import annotations

import numpy as np


def _snapshot(model) -> list[np.ndarray]:
    return [w.numpy().copy() for w in model.weights]


def _changed(before, model) -> bool:
    return any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))


def phase_changes(make_generator, make_discriminator, compile_gan, generator_step, discriminator_step,
                  phases, seed: int) -> list[tuple[str, tuple[bool, bool]]]:
    """Run the student's steps in ``phases`` order on fresh models; for each phase, whether the generator and
    the discriminator changed."""
    generator, discriminator = make_generator(30), make_discriminator()
    gan = compile_gan(generator, discriminator)
    real = np.random.default_rng(seed).uniform(0, 1, size=(8, 28, 28)).astype("float32")
    changes = []
    for phase in phases:
        g, d = _snapshot(generator), _snapshot(discriminator)
        if phase == "generator":
            generator_step(gan, 8, 30)
        else:
            discriminator_step(generator, discriminator, real, 30)
        changes.append((phase, (_changed(g, generator), _changed(d, discriminator))))
    return changes


def record_train_on_batch(models: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Wrap each model's ``train_on_batch`` so every call is recorded as ``(tag, x, y)``; returns the record."""
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []
    for tag, model in models.items():
        original = model.train_on_batch

        def recorded(x=None, y=None, *args, _tag=tag, _original=original, **kwargs):
            calls.append((_tag, np.asarray(x), np.asarray(y)))
            return _original(x, y, *args, **kwargs)

        model.train_on_batch = recorded
    return calls
