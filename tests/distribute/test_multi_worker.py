"""MultiWorkerMirroredStrategy: 2 worker processes on 127.0.0.1, killed with SIGKILL and resumed."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.cli.test_train_cli import _weights

EPOCHS = 6
TRAIN = [
    "train",
    "tiny_ssd",
    "--data",
    "shapes:24",
    "--batch-size",
    "8",
    "--steps-per-epoch",
    "2",
    "--epochs",
    str(EPOCHS),
    "--max-val-images",
    "0",
    "--no-tensorboard",
    "--verbose",
    "0",
    "--distribute",
    "multi_worker",
]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(out, scratch, *extra):
    """Both workers of a fresh 2-worker cluster running ``kssd train``; worker 0 is the chief."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(config), TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(scratch))
        log = open(scratch / f"worker-{index}-{time.monotonic_ns()}.log", "w")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "kssd_zoo.cli", *TRAIN, "--out", str(out), *extra],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


def _finish(processes, timeout=400):
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return [process.returncode for process in processes]


def _logs(scratch):
    return "\n".join(p.read_text()[-2000:] for p in sorted(scratch.glob("worker-*.log")))


@pytest.mark.slow
def test_killed_multi_worker_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"

    # --time-limit makes every epoch end agree across workers (an all-reduce); 1000 s never stops it.
    assert _finish(_start_workers(straight, scratch, "--time-limit", "1000")) == [0, 0], _logs(scratch)
    results = json.loads((straight / "results.json").read_text())
    assert results["distribution"]["num_workers"] == 2 and results["distribution"]["num_replicas"] == 2
    assert results["batch_size"] == {"global": 8, "per_replica": 4, "replicas": 2}
    # Only the chief wrote the run folder; the other worker's temporary folder is gone.
    assert sorted(p.name for p in straight.iterdir()) == [
        "checkpoints",
        "history.csv",
        "model.keras",
        "results.json",
    ]
    assert not [p for p in scratch.iterdir() if p.name.startswith("kssd-worker-")]

    processes = _start_workers(interrupted, scratch)
    state_file = interrupted / "checkpoints" / "checkpoint.json"
    deadline = time.monotonic() + 300
    while not state_file.exists() and time.monotonic() < deadline and processes[0].poll() is None:
        time.sleep(0.02)
    for process in processes:
        process.send_signal(signal.SIGKILL)
    _finish(processes)
    killed_at = json.loads(state_file.read_text())["epoch"]
    assert 1 <= killed_at < EPOCHS and not (interrupted / "results.json").exists(), _logs(scratch)

    assert _finish(_start_workers(interrupted, scratch, "--resume")) == [0, 0], _logs(scratch)
    resumed = json.loads((interrupted / "results.json").read_text())
    assert resumed["initial_epoch"] == killed_at
    got = _weights(interrupted / "checkpoints" / f"epoch-{EPOCHS:04d}.weights.h5")
    want = _weights(straight / "checkpoints" / f"epoch-{EPOCHS:04d}.weights.h5")
    assert got.keys() == want.keys() and any("optimizer" in k for k in got)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(resumed["history"]["loss"], results["history"]["loss"][killed_at:], rtol=1e-4)
