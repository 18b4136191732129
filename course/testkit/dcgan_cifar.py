"""Stand-ins for the ``dcgan_cifar`` checks of the train steps and checkpoints (kernel side; no expected values)."""
from __future__ import annotations

import numpy as np


def tiny_models():
    """A 4-d latent -> 8x8x3 tanh generator and a Flatten -> sigmoid discriminator (fast stand-ins)."""
    import keras
    from keras import layers

    g = keras.Sequential([keras.Input((4,)), layers.Dense(8 * 8 * 3, activation="tanh"), layers.Reshape((8, 8, 3))])
    d = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    return g, d


def weights(*models) -> list[np.ndarray]:
    """Copies of every weight of the models, in order."""
    return [np.array(w) for model in models for w in model.weights]
