"""Stand-ins for the ``gan_basics`` checks of ``make_train_step``: small models, optimizers and reference losses
of the check's own, so that only the student's ``make_train_step`` is tested."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TinyGan:
    D: object
    G: object
    D_solver: object
    G_solver: object
    real: object  # (8, 784) float32 images in [-1, 1]
    noise: object  # (8, 4) float32 noise

    @staticmethod
    def d_loss(logits_real, logits_fake):
        import tensorflow as tf

        xent = tf.nn.sigmoid_cross_entropy_with_logits
        return (tf.reduce_mean(xent(labels=tf.ones_like(logits_real), logits=logits_real))
                + tf.reduce_mean(xent(labels=tf.zeros_like(logits_fake), logits=logits_fake)))

    @staticmethod
    def g_loss(logits_fake):
        import tensorflow as tf

        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(logits_fake),
                                                                      logits=logits_fake))


def tiny_gan(answers) -> TinyGan:
    """A fresh small GAN (D: 784 -> 8 -> LeakyReLU(0.01) -> 1, G: 4 -> 784 tanh) with Adam(1e-3, beta_1=0.5)
    solvers; its weights (``train_step_d_seed``, ``train_step_g_seed``) and its batch (``train_step_real``,
    ``train_step_noise``) come from the answer file, so the NumPy reference can follow its training exactly."""
    import keras
    import tensorflow as tf

    from course.checks import set_seeded_weights

    D = keras.Sequential([keras.Input((784,)), keras.layers.Dense(8), keras.layers.LeakyReLU(0.01),
                          keras.layers.Dense(1)])
    G = keras.Sequential([keras.Input((4,)), keras.layers.Dense(784, activation="tanh")])
    set_seeded_weights(D, int(answers["train_step_d_seed"]))
    set_seeded_weights(G, int(answers["train_step_g_seed"]))
    return TinyGan(D=D, G=G, D_solver=keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.5),
                   G_solver=keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.5),
                   real=tf.constant(np.asarray(answers["train_step_real"], np.float32)),
                   noise=tf.constant(np.asarray(answers["train_step_noise"], np.float32)))
