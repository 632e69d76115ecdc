"""Training never loses a run: finished runs are not overwritten, NaN is never saved, damaged
checkpoints fall back to the previous one."""

import json

import keras
import numpy as np
import pytest

from kssd.callbacks import ResumableCheckpoint
from kssd_zoo.cli.main import main
from kssd_zoo.training import train

QUICK = dict(data="shapes:8", batch_size=4, steps_per_epoch=2, max_val_images=0, tensorboard=False, verbose=0)


class PoisonWeights(keras.callbacks.Callback):
    """Sets every weight to NaN after the first batch of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 0:
            for weight in self.model.trainable_weights:
                weight.assign(np.full(weight.shape, np.nan, weight.dtype))


def test_a_finished_run_is_not_replaced_without_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    train("tiny_ssd", epochs=1, out_dir=out, **QUICK)
    before = (out / "model.keras").read_bytes()
    with pytest.raises(FileExistsError, match="holds a previous run .*--resume.*--overwrite"):
        train("tiny_ssd", epochs=1, out_dir=out, **QUICK)
    assert (out / "model.keras").read_bytes() == before
    code = main(["train", "tiny_ssd", "--data", "shapes:8", "--epochs", "1", "--out", str(out)])
    assert code == 2 and "holds a previous run (model.keras, results.json" in capsys.readouterr().err
    result = train("tiny_ssd", epochs=1, out_dir=out, overwrite=True, **QUICK)
    assert result["initial_epoch"] == 0
    assert json.loads((out / "checkpoints" / "checkpoint.json").read_text())["epoch"] == 1
    assert not [p for p in out.rglob("*") if ".kssd-tmp-" in p.name]


def test_a_nan_epoch_is_never_saved_and_the_run_fails_naming_where(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(
        FloatingPointError, match=r"epoch 2, batch 1, optimizer step 4.*last finite checkpoint"
    ):
        train("tiny_ssd", epochs=3, out_dir=out, callbacks=[PoisonWeights(epoch=1)], **QUICK)
    state = json.loads((out / "checkpoints" / "checkpoint.json").read_text())
    assert state["epoch"] == 1 and np.isfinite(state["logs"]["loss"])
    assert not (out / "model.keras").exists()
    assert sorted(p.name for p in (out / "checkpoints").glob("*.h5")) == ["epoch-0001.weights.h5"]
    result = train("tiny_ssd", epochs=2, out_dir=out, resume=True, **QUICK)  # resumes from epoch 1
    assert result["initial_epoch"] == 1 and np.isfinite(result["history"]["loss"]).all()
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in result["model"].weights)


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    out = tmp_path / "run"
    first = train("tiny_ssd", epochs=2, out_dir=out, **QUICK)
    newest = out / "checkpoints" / "epoch-0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:1000])
    model = first["model"]
    with pytest.warns(UserWarning, match="epoch-0002.weights.h5: cannot be loaded"):
        assert ResumableCheckpoint(out / "checkpoints").restore(model) == 1
    assert int(model.optimizer.iterations) == 2
