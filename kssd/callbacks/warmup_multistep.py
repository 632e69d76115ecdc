"""Linear warm-up followed by step decays, as a serializable Keras learning-rate schedule."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kssd")
class WarmUpMultiStep(keras.optimizers.schedules.LearningRateSchedule):
    """Warm up linearly, then keep the rate constant and multiply it by ``decay_rate`` at each boundary.

    With ``s`` the optimizer step:

    * ``s <= warmup_steps`` (and warmup_steps > 0): ``min_learning_rate +
      s * (initial_learning_rate - min_learning_rate) / warmup_steps``;
    * afterwards: ``initial_learning_rate * decay_rate ** k`` where ``k`` is the number of
      boundaries strictly below ``s`` (the rate changes just after a boundary step).

    Steps, not epochs: with ``E`` epochs of ``N`` steps, pass ``warmup_steps = E * N`` and
    ``boundaries = [e * N for e in decay_epochs]`` (``kssd_zoo`` does this from a spec).

    Args:
        initial_learning_rate: rate after warm-up and before the first boundary.
        boundaries: increasing list of step counts.
        decay_rate: factor applied at each boundary, default 0.1.
        warmup_steps: length of the linear warm-up, default 0 (none).
        min_learning_rate: rate at step 0 of the warm-up, default 0.0.

    Returns:
        Calling the schedule with a step returns the float32 learning rate.

    Examples:
        >>> from kssd.callbacks import WarmUpMultiStep
        >>> schedule = WarmUpMultiStep(0.01, [500, 700], warmup_steps=50, min_learning_rate=1e-4)
        >>> [round(float(schedule(s)), 6) for s in (0, 25, 50, 500, 501, 701)]
        [0.0001, 0.00505, 0.01, 0.01, 0.001, 0.0001]
    """

    def __init__(
        self, initial_learning_rate, boundaries, decay_rate=0.1, warmup_steps=0, min_learning_rate=0.0
    ):
        boundaries = [int(b) for b in boundaries]
        if boundaries != sorted(boundaries):
            raise ValueError(f"`boundaries` must be increasing, got {boundaries}")
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps}")
        if initial_learning_rate < 0 or min_learning_rate < 0:
            raise ValueError(
                f"learning rates must be >= 0, got initial_learning_rate={initial_learning_rate}, "
                f"min_learning_rate={min_learning_rate}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.boundaries = boundaries
        self.decay_rate = float(decay_rate)
        self.warmup_steps = int(warmup_steps)
        self.min_learning_rate = float(min_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = ops.convert_to_tensor(self.initial_learning_rate, "float32")
        for boundary in self.boundaries:
            rate = ops.where(step > boundary, rate * self.decay_rate, rate)
        if self.warmup_steps > 0:
            warm = self.min_learning_rate + step * (
                (self.initial_learning_rate - self.min_learning_rate) / self.warmup_steps
            )
            rate = ops.where(step <= self.warmup_steps, warm, rate)
        return rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "boundaries": list(self.boundaries),
            "decay_rate": self.decay_rate,
            "warmup_steps": self.warmup_steps,
            "min_learning_rate": self.min_learning_rate,
        }
