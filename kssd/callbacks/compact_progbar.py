"""A Keras progress bar that leaves per-class metrics out of the progress line."""

import keras


class CompactProgbar(keras.callbacks.ProgbarLogger):
    """``keras.callbacks.ProgbarLogger`` without the metrics whose name holds ``/`` (``val_AP/cat``).

    With 80 classes, :class:`kssd.callbacks.DetectionEvaluator` adds 80 ``val_AP/<class>``
    values to every epoch's logs; the stock progress bar prints them all on one line. This one
    shows the others only; the per-class values still reach every other callback (history,
    ``CSVLogger``, TensorBoard) unchanged. Passing it in ``callbacks`` replaces Keras' own bar.

    Examples:
        >>> from kssd.callbacks import CompactProgbar
        >>> CompactProgbar().compact({"loss": 1.0, "val_mAP": 0.5, "val_AP/cat": 0.4})
        {'loss': 1.0, 'val_mAP': 0.5}
    """

    @staticmethod
    def compact(logs):
        """``logs`` without per-class entries (a new dict; the given one is not changed)."""
        return {key: value for key, value in (logs or {}).items() if "/" not in key}

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, self.compact(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, self.compact(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, self.compact(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(self.compact(logs))
