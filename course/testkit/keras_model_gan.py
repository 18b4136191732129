"""Stand-ins for the ``keras_model_gan`` checks of ``GAN`` (kernel side; no expected values here)."""
from __future__ import annotations


def tiny_models(num_classes=None):
    """The small generator (noise 4 -> image 2x2x3) and discriminator (-> logit) of the GAN checks."""
    import keras
    from keras import layers

    noise, image = keras.Input((4,)), keras.Input((2, 2, 3))
    x, y = noise, layers.Flatten()(image)
    if num_classes:
        class_vector = keras.Input((num_classes,))
        x, y = layers.Concatenate()([noise, class_vector]), layers.Concatenate()([y, class_vector])
    x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(8)(x))
    x = layers.Reshape((2, 2, 3))(layers.Dense(12, activation="tanh")(x))
    y = layers.Dense(1)(layers.LeakyReLU(negative_slope=0.2)(layers.Dense(8)(y)))
    generator = keras.Model([noise, class_vector] if num_classes else noise, x)
    discriminator = keras.Model([image, class_vector] if num_classes else image, y)
    return generator, discriminator


def check_compile(gan, d_optimizer=None, g_optimizer=None, d_loss=None, g_loss=None, metrics=None):
    """Compile ``gan`` with the checks' optimizers (Adam for D, RMSprop for G) and losses."""
    import keras

    gan.compile(
        optimizers={"discriminator": d_optimizer or keras.optimizers.Adam(0.01, beta_1=0.5),
                    "generator": g_optimizer or keras.optimizers.RMSprop(0.01)},
        losses={"discriminator": d_loss or keras.losses.BinaryCrossentropy(from_logits=True),
                "generator": g_loss or keras.losses.BinaryCrossentropy(from_logits=True)},
        metrics=metrics)
