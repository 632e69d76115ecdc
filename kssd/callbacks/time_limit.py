"""TimeLimit: stop training once a wall-clock budget is spent."""

import time

import keras


def stop_agreement(model):
    """A function ``stop -> bool`` that OR-s a local stop flag over the workers of ``model``'s run.

    A callback that stops ``fit`` on a local condition (a time budget) must stop every worker
    at the same point, or the others wait forever in the next step's collectives. In a
    ``MultiWorkerMirroredStrategy`` run the function all-reduces (sums) the flags, traced once
    (eager collectives are slow and warn on every call); everywhere else, including JAX, it
    returns the flag as is.

    Examples:
        >>> import keras
        >>> from kssd.callbacks.time_limit import stop_agreement
        >>> stop_agreement(keras.Sequential([keras.Input((1,))]))(True)
        True
    """
    if keras.backend.backend() != "tensorflow":
        return bool
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None)
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or getattr(resolver, "task_type", None) is None:
        return bool

    @tf.function
    def count(flag):
        return strategy.reduce("SUM", strategy.run(tf.identity, args=(flag,)), axis=None)

    return lambda stop: bool(count(tf.constant(1.0 if stop else 0.0)).numpy() > 0)


class TimeLimit(keras.callbacks.Callback):
    """Stop ``fit`` once ``seconds`` of training have passed.

    In a multi-worker run every worker stops at the same check (see :func:`stop_agreement`).

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
        self._agree = bool

    def _check(self):
        if self._agree(time.perf_counter() - self._start >= self.seconds):
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._agree = stop_agreement(self.model)
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.per_batch:
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()
