import keras
import numpy as np
import pytest

from kssd.callbacks import NaNGuard


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


@pytest.mark.parametrize("epoch, batch", [(0, 3), (1, 1)])
def test_reports_epoch_batch_and_step(epoch, batch, capsys):
    keras.utils.set_random_seed(0)
    model = _model()
    per_epoch = 4
    x = np.ones((per_epoch * 4, 3), "float32")
    y = np.ones((per_epoch * 4, 1), "float32")
    # the NaN sample sits in batch `batch`; epochs before `epoch` see clean data
    bad = x.copy()
    bad[batch * 4 + 1] = np.nan

    guard = NaNGuard()
    for e in range(epoch):
        model.fit(
            x, y, batch_size=4, epochs=e + 1, initial_epoch=e, shuffle=False, verbose=0, callbacks=[guard]
        )
    model.fit(
        bad,
        y,
        batch_size=4,
        epochs=epoch + 3,
        initial_epoch=epoch,
        shuffle=False,
        verbose=0,
        callbacks=[guard],
    )
    assert guard.bad_batch["epoch"] == epoch + 1
    assert guard.bad_batch["batch"] == batch
    assert guard.bad_batch["step"] == epoch * per_epoch + batch + 1
    assert model.stop_training
    assert int(model.optimizer.iterations) == epoch * per_epoch + batch + 1  # stopped there
    out = capsys.readouterr().out
    assert f"at epoch {epoch + 1} (1-based), batch {batch}" in out
    assert "loss is nan" in out


def test_raise_error():
    model = _model()
    x = np.full((8, 3), np.nan, "float32")
    with pytest.raises(FloatingPointError, match="epoch 1 .* batch 0"):
        model.fit(
            x, np.ones((8, 1)), batch_size=4, epochs=1, verbose=0, callbacks=[NaNGuard(raise_error=True)]
        )


def test_finite_losses_pass():
    model = _model()
    guard = NaNGuard()
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=2, verbose=0, callbacks=[guard])
    assert guard.bad_batch is None
    assert int(model.optimizer.iterations) == 4
