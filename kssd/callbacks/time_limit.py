"""TimeLimit: stop training once a wall-clock budget is spent."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stop ``fit`` once ``seconds`` of training have passed.

    Args:
        seconds: training time budget in seconds (counted from the start of ``fit``).
        per_batch: check after every batch (stop mid-epoch), default False (check at the end
            of each epoch, so epochs stay whole for evaluation and checkpoints).

    Examples:
        >>> from kssd.callbacks import TimeLimit
        >>> TimeLimit(30, per_batch=True).seconds
        30
    """

    def __init__(self, seconds, per_batch=False):
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"`seconds` must be positive, got {seconds!r}")
        self.seconds = seconds
        self.per_batch = per_batch
        self._start = None

    def _check(self):
        if time.perf_counter() - self._start >= self.seconds:
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.per_batch:
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()
