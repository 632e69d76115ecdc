import json
import os

import keras
import numpy as np
import pytest

from kssd.callbacks import ResumableCheckpoint, WarmUpMultiStep


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    # a step-based schedule, so a wrong restored step would change the updates
    schedule = WarmUpMultiStep(0.05, [9], decay_rate=0.1, warmup_steps=3, min_learning_rate=0.001)
    model.compile(keras.optimizers.Adam(schedule), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(24, 4)).astype("float32"), rng.normal(size=(24, 2)).astype("float32")


def _fit(model, epochs, initial_epoch=0, callbacks=()):
    x, y = _data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )


def test_resume_equals_uninterrupted_run(tmp_path):
    reference = _model(seed=1)
    _fit(reference, 4)

    first = _model(seed=1)
    _fit(first, 2, callbacks=[ResumableCheckpoint(tmp_path)])
    del first  # the process "dies" here

    resumed = _model(seed=7)  # a fresh process: different initial weights
    checkpoint = ResumableCheckpoint(tmp_path)
    start = checkpoint.restore(resumed)
    assert start == 2
    assert int(resumed.optimizer.iterations) == 2 * 3  # 24 samples / 8 = 3 steps per epoch
    _fit(resumed, 4, initial_epoch=start, callbacks=[checkpoint])

    assert int(resumed.optimizer.iterations) == int(reference.optimizer.iterations) == 12
    for got, want in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["epoch"] == 4 and state["iterations"] == 12
    # `keep=2`: only the two newest weight files stay
    assert sorted(p.name for p in tmp_path.glob("*.weights.h5")) == [
        "epoch-0003.weights.h5",
        "epoch-0004.weights.h5",
    ]


def test_restore_keeps_the_compiled_constant_rate(tmp_path, capsys):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    _fit(model, 1, callbacks=[ResumableCheckpoint(tmp_path)])
    again = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    again.compile(keras.optimizers.Adam(3e-4), "mse")
    assert ResumableCheckpoint(tmp_path).restore(again) == 1
    assert float(again.optimizer.learning_rate) == pytest.approx(3e-4)
    assert int(again.optimizer.iterations) == 3
    assert "learning rate 0.0003 as configured (the checkpoint had 0.001)" in capsys.readouterr().out


def test_restore_without_checkpoint_is_epoch_zero(tmp_path):
    assert ResumableCheckpoint(tmp_path / "none").restore(_model(0)) == 0


def test_kill_during_save_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    model = _model(seed=1)
    checkpoint = ResumableCheckpoint(tmp_path)
    _fit(model, 1, callbacks=[checkpoint])
    good = [w.copy() for w in model.get_weights()]

    def dies_half_way(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"\x89HDF partial")  # a torn file ...
        raise KeyboardInterrupt  # ... and the process is killed

    monkeypatch.setattr(type(model), "save_weights", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        _fit(model, 2, initial_epoch=1, callbacks=[checkpoint])
    monkeypatch.undo()

    leftovers = [p.name for p in tmp_path.iterdir()]
    assert sorted(leftovers) == ["checkpoint.json", "epoch-0001.weights.h5"], leftovers
    fresh = _model(seed=3)
    assert ResumableCheckpoint(tmp_path).restore(fresh) == 1
    for got, want in zip(fresh.get_weights(), good):
        np.testing.assert_array_equal(got, want)


def test_state_naming_a_missing_file_is_reported(tmp_path):
    (tmp_path / "checkpoint.json").write_text(
        json.dumps({"epoch": 3, "weights": "epoch-0003.weights.h5", "iterations": 9})
    )
    with pytest.raises(FileNotFoundError, match="epoch-0003.weights.h5"):
        ResumableCheckpoint(tmp_path).restore(_model(0))


def test_every_and_last_epoch(tmp_path):
    model = _model(seed=1)
    _fit(model, 3, callbacks=[ResumableCheckpoint(tmp_path, every=2, keep=5)])
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint.json",
        "epoch-0002.weights.h5",
        "epoch-0003.weights.h5",
    ]


def test_a_non_finite_loss_skips_the_checkpoint_but_a_metric_not_evaluated_does_not(tmp_path, capsys):
    model = _model(seed=1)
    _fit(model, 1)
    checkpoint = ResumableCheckpoint(tmp_path)
    checkpoint.set_model(model)
    checkpoint.set_params({"epochs": 4})
    checkpoint.on_train_begin()
    # DetectionEvaluator logs NaN for its headline metrics on the epochs it does not evaluate.
    checkpoint.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7, "val_AP_all": float("nan")})
    assert (tmp_path / "epoch-0001.weights.h5").is_file()
    checkpoint.on_epoch_end(1, {"loss": float("nan"), "val_AP_all": 0.5})
    checkpoint.on_epoch_end(2, {"loss": 0.5, "val_loss": float("inf")})
    assert checkpoint.skipped_epochs == [2, 3]
    assert not (tmp_path / "epoch-0002.weights.h5").exists()
    assert "Epoch 2: not checkpointed (non-finite loss or weights)" in capsys.readouterr().out
    model.layers[0].kernel.assign(np.full((4, 8), np.nan, "float32"))
    checkpoint.on_epoch_end(3, {"loss": 0.5})
    assert checkpoint.skipped_epochs == [2, 3, 4]
