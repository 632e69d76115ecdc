"""NaNGuard: stop training at the first non-finite loss and say where it happened."""

import math

import keras

from kssd.callbacks.resumable_checkpoint import optimizer_step


class NaNGuard(keras.callbacks.Callback):
    """Stop ``fit`` when the loss becomes NaN or infinite, naming the epoch, batch and value.

    Keras reports the running mean of the epoch's loss after each batch, so the first batch
    whose value is not finite is the batch that produced the bad loss. The guard sets
    ``model.stop_training``, prints (or raises) a message such as ``"NaNGuard: loss is nan at
    epoch 3 (1-based), batch 17 (0-based index in the epoch), optimizer step 217"`` and keeps
    the facts in :attr:`bad_batch`.

    Args:
        monitor: the logged value to check, default ``"loss"`` (all non-finite values of other
            logged ``*loss`` entries are reported with it).
        raise_error: raise ``FloatingPointError`` instead of only stopping, default False.

    Returns:
        A Keras callback; after a stop, ``bad_batch`` is a dict with ``epoch`` (1-based),
        ``batch`` (0-based within the epoch), ``step`` (optimizer iterations) and ``logs``.

    Examples:
        >>> from kssd.callbacks import NaNGuard
        >>> guard = NaNGuard()
        >>> guard.on_epoch_begin(0)
        >>> guard.on_train_batch_end(4, {"loss": float("nan")})  # doctest: +ELLIPSIS
        NaNGuard: loss is nan at epoch 1 (1-based), batch 4 ...
        >>> guard.bad_batch["epoch"], guard.bad_batch["batch"]
        (1, 4)
    """

    def __init__(self, monitor="loss", raise_error=False):
        super().__init__()
        self.monitor = monitor
        self.raise_error = bool(raise_error)
        self.bad_batch = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if math.isfinite(value):
            return
        step = None
        model = self.model
        if model is not None and getattr(model, "optimizer", None) is not None:
            step = optimizer_step(model.optimizer)
        values = {k: float(v) for k, v in logs.items() if _is_number(v)}
        self.bad_batch = {"epoch": self._epoch + 1, "batch": int(batch), "step": step, "logs": values}
        others = ", ".join(f"{k}={v}" for k, v in values.items() if k != self.monitor)
        message = (
            f"NaNGuard: {self.monitor} is {value} at epoch {self._epoch + 1} (1-based), "
            f"batch {batch} (0-based index in the epoch)"
            + (f", optimizer step {step}" if step is not None else "")
            + (f"; other logs: {others}" if others else "")
            + ". Training stopped. Common causes: learning rate too high, boxes with "
            "zero width/height in the data, or float16 overflow."
        )
        if model is not None:
            model.stop_training = True
        if self.raise_error:
            raise FloatingPointError(message)
        print(message)


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
