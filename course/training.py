"""Training helpers the notebooks' locked cells use: an exponential moving average of the generator's weights.

A GAN's generator never settles: each step moves it against the discriminator of the moment, so its weights
jitter around a good solution and any one snapshot draws noisier images than their average would. Keras
optimizers can keep that average themselves (``use_ema=True``: after every update, average = momentum *
average + (1 - momentum) * weights), and ``finalize_variable_values`` copies it into the model at the end.
These two functions switch that on for an optimizer a student built, without changing what it does to the
weights during training, and copy the average in afterwards.
"""
from __future__ import annotations


def _check_momentum(momentum: float) -> None:
    if not 0.0 < momentum < 1.0:
        raise ValueError(f"momentum must be between 0 and 1, got {momentum}")


def with_weight_average(optimizer, momentum: float = 0.99):
    """The same optimizer (class and settings), also keeping an exponential moving average of the weights.

    Inputs:
    - optimizer: a Keras optimizer that has not taken a step yet (get_solvers' generator optimizer).
    - momentum: weight of the old average at each update; the average spans about 1 / (1 - momentum) steps.

    Returns:
    A new optimizer that updates the weights exactly as `optimizer` would. If `optimizer` cannot be rebuilt
    from its config (not a Keras optimizer, or a subclass whose constructor takes other arguments), it is
    returned unchanged and a note says training goes on without the average.
    """
    import keras

    _check_momentum(momentum)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        print(f"Note: {type(optimizer).__name__} is not a Keras optimizer: training without a weight average.")
        return optimizer
    if int(optimizer.iterations) > 0:
        raise ValueError("with_weight_average needs an optimizer that has not taken a step yet: "
                         "call it right after get_solvers()")
    config = {**optimizer.get_config(), "use_ema": True, "ema_momentum": float(momentum),
              "ema_overwrite_frequency": None}  # None: the average never replaces the weights during training
    try:
        return type(optimizer).from_config(config)
    except (TypeError, ValueError) as error:  # a subclass whose constructor takes other arguments
        print(f"Note: cannot rebuild {type(optimizer).__name__} with a weight average ({error}): "
              "training without it.")
        return optimizer


def keep_weight_average(optimizer, momentum: float = 0.999) -> bool:
    """Switch the average on in place, for an optimizer a compiled model already holds (``gan.optimizer``
    after ``compile_gan``), before its first step. Training itself is unchanged.

    Returns True when the optimizer now keeps the average; False (with a note) when it cannot: not a Keras
    optimizer, or one that has already built its state (its first step ran, or it was built by hand).
    """
    import keras

    _check_momentum(momentum)
    if not isinstance(optimizer, keras.optimizers.Optimizer) or optimizer.built:
        print(f"Note: {type(optimizer).__name__} cannot keep a weight average from here on: training without it.")
        return False
    # Keras reads these when it builds the optimizer's state (at the first step) and at every update.
    optimizer.use_ema, optimizer.ema_momentum, optimizer.ema_overwrite_frequency = True, float(momentum), None
    return True


def use_weight_average(optimizer, model) -> bool:
    """Copy the optimizer's average of `model`'s trainable weights into the model (once, after training).

    Returns True when the model now holds the average; False (weights unchanged) when the optimizer keeps
    none or has not trained this model.
    """
    variables = list(model.trainable_variables)
    average = getattr(optimizer, "_model_variables_moving_average", None)
    if not getattr(optimizer, "use_ema", False) or not average or int(optimizer.iterations) == 0:
        return False
    tracked = {id(v) for v in getattr(optimizer, "_trainable_variables", [])}
    if not variables or any(id(v) not in tracked for v in variables):
        return False
    optimizer.finalize_variable_values(variables)
    return True
