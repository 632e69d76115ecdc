"""``kssd train``, run in-process on tiny generated data."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from kssd.compat import all_layers
from kssd_zoo.cli.main import main

TINY = [
    "--batch-size",
    "8",
    "--steps-per-epoch",
    "2",
    "--max-val-images",
    "0",
    "--no-tensorboard",
    "--verbose",
    "0",
]


def _weights(path):
    arrays = {}
    with h5py.File(path, "r") as handle:

        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                arrays[name] = item[()]

        handle.visititems(visit)
    return arrays


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--data",
        "--val-data",
        "--resume",
        "--mixed-precision",
        "--jit-compile",
        "--out",
        "--weights",
        "--epochs",
        "--batch-size",
    ):
        assert option in text


def _kssd(*args):
    """Run the ``kssd`` command in a fresh process, as a user (or a restart after a kill) does."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "kssd_zoo.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_killed_run_resumes_exactly(tmp_path):
    """2 epochs, process ends, resume to 4 == an uninterrupted 4-epoch run (weights, optimizer)."""
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    common = ["train", "tiny_ssd", "--data", "shapes:24", *TINY]
    _kssd(*common, "--epochs", "2", "--out", str(interrupted))
    state = json.loads((interrupted / "checkpoints" / "checkpoint.json").read_text())
    assert (state["epoch"], state["iterations"]) == (2, 4)
    out = _kssd(*common, "--epochs", "4", "--out", str(interrupted), "--resume")
    assert "resumed from" in out and "2 epoch(s) done, optimizer step 4" in out
    _kssd(*common, "--epochs", "4", "--out", str(straight))

    states = [
        json.loads((run / "checkpoints" / "checkpoint.json").read_text()) for run in (interrupted, straight)
    ]
    assert [(s["epoch"], s["iterations"]) for s in states] == [(4, 8), (4, 8)]
    got = _weights(interrupted / "checkpoints" / "epoch-0004.weights.h5")
    want = _weights(straight / "checkpoints" / "epoch-0004.weights.h5")
    assert got.keys() == want.keys() and any("optimizer" in k for k in got)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    history = (interrupted / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["0", "1", "2", "3"]


def test_data_without_positives_warns_before_training(tmp_path, capsys):
    from kssd.data import write_tfrecords
    from kssd_zoo.datasets import shapes

    records = shapes(num_images=8, encode_png=True)
    for record in records:  # 1-pixel boxes: dropped by the pipeline's min_box_size
        record["boxes"] = np.array([[5, 5, 6, 6]], "float32")
        record["labels"] = np.array([1], "int32")
    write_tfrecords(records, tmp_path / "tf", "train", class_names=["circle", "square", "triangle"])
    with pytest.warns(UserWarning, match="no positive anchors"):
        code = main(
            [
                "train",
                "tiny_ssd",
                "--data",
                str(tmp_path / "tf"),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--steps-per-epoch",
                "1",
                "--max-val-images",
                "0",
                "--no-tensorboard",
                "--verbose",
                "2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
    assert code == 0
    out = capsys.readouterr().out
    assert "no positive anchors in its first 12 images" in out
    assert out.index("WARNING") < out.index("training tiny_ssd")


def test_bad_arguments_are_named(tmp_path, capsys):
    assert main(["train", "tiny_ssd", "--data", "shapes:8", "--epochs", "0"]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err
    assert main(["train", "tiny_ssd", "--data", str(tmp_path / "missing")]) == 2
    assert "data not found" in capsys.readouterr().err


def test_bn_momentum_option_is_checked_and_applied(tmp_path, capsys):
    assert main(["train", "tiny_ssd", "--data", "shapes:8", "--bn-momentum", "2"]) == 2
    assert "--bn-momentum must be in [0, 1]" in capsys.readouterr().err

    import keras

    from kssd_zoo.training import train

    result = train(
        "tiny_ssd",
        "shapes:8",
        epochs=1,
        batch_size=4,
        steps_per_epoch=1,
        max_val_images=0,
        tensorboard=False,
        verbose=0,
        batch_norm_momentum=0.5,
        out_dir=tmp_path / "run",
    )
    momenta = {
        layer.momentum
        for layer in all_layers(result["model"])
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.5}


def test_resume_uses_the_configured_learning_rate(tmp_path, capsys):
    """The checkpoint holds the optimizer's rate variable; a rate given to the resumed run wins."""
    from kssd_zoo.training import train

    common = dict(
        data="shapes:8",
        batch_size=4,
        steps_per_epoch=1,
        max_val_images=0,
        tensorboard=False,
        verbose=0,
        out_dir=tmp_path / "run",
    )
    train("tiny_ssd", epochs=1, learning_rate=1e-3, **common)
    result = train("tiny_ssd", epochs=2, learning_rate=3e-4, resume=True, **common)
    assert float(result["model"].optimizer.learning_rate) == pytest.approx(3e-4)
    assert int(result["model"].optimizer.iterations) == 2
    assert "learning rate 0.0003 as configured (the checkpoint had 0.001)" in capsys.readouterr().out
    result = train("tiny_ssd", epochs=3, learning_rate=3e-4, resume=True, **common)
    assert float(result["model"].optimizer.learning_rate) == pytest.approx(3e-4)
    assert "as configured" not in capsys.readouterr().out
