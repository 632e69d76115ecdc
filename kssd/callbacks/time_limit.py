"""TimeLimit: stop training once a wall-clock budget is spent."""

import time

import keras

_STOP_COUNTERS = {}  # id(strategy) -> tf.function summing the workers' stop flags


def agree_on_stop(model, stop):
    """``stop`` of this process OR-ed over the workers of a multi-worker run (itself elsewhere).

    A callback that stops ``fit`` on a local condition (a time budget) must stop every worker
    at the same point, or the others wait forever in the next step's collectives. In a
    ``MultiWorkerMirroredStrategy`` run the flags are all-reduced (summed); everywhere else,
    including JAX, ``stop`` is returned as is.

    Examples:
        >>> import keras
        >>> from kssd.callbacks.time_limit import agree_on_stop
        >>> agree_on_stop(keras.Sequential([keras.Input((1,))]), True)
        True
    """
    if keras.backend.backend() != "tensorflow":
        return stop
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None)
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or getattr(resolver, "task_type", None) is None:
        return stop
    count = _STOP_COUNTERS.get(id(strategy))
    if count is None:

        @tf.function
        def count(flag):  # traced once: eager collectives are slow and warn on every call
            return strategy.reduce("SUM", strategy.run(tf.identity, args=(flag,)), axis=None)

        _STOP_COUNTERS[id(strategy)] = count
    return bool(count(tf.constant(1.0 if stop else 0.0)).numpy() > 0)


class TimeLimit(keras.callbacks.Callback):
    """Stop ``fit`` once ``seconds`` of training have passed.

    In a multi-worker run every worker stops at the same check (see :func:`agree_on_stop`).

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
        if agree_on_stop(self.model, time.perf_counter() - self._start >= self.seconds):
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.per_batch:
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()
