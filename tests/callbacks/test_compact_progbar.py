"""CompactProgbar keeps per-class metrics off the progress line, and in every other callback's logs."""

import keras
import numpy as np

from kssd.callbacks import CompactProgbar


class PerClassMetrics(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["val_mAP"] = 0.5
        logs.update({f"val_AP/class_{i}": 0.1 * i for i in range(80)})


def test_per_class_metrics_reach_the_history_but_not_the_progress_line(capsys):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 3), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(
        x, y, epochs=1, batch_size=4, callbacks=[PerClassMetrics(), CompactProgbar()], verbose=1
    )
    shown = capsys.readouterr().out
    assert "val_mAP" in shown and "val_AP/" not in shown
    assert len([k for k in history.history if k.startswith("val_AP/")]) == 80
