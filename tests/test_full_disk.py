"""A real full disk: a small tmpfs mounted for the test (needs root and mount rights; skips otherwise).

Training resumed onto the full disk must fail with an error naming the path (no traceback, no
signal), leave the previous run's files byte-identical and no temporaries, and resume to the end
once there is space again. An export onto the full disk keeps the previous artifact.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kssd_zoo.cli.main import main


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot mount a small tmpfs here: {error}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def _fill(disk):
    """Fill the file system until not one more byte fits; returns the filler file."""
    filler = disk / f"filler-{uuid.uuid4().hex}"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        chunk = 1 << 20
        while chunk:
            try:
                os.write(descriptor, b"\0" * chunk)
            except OSError:
                chunk //= 2
    finally:
        os.close(descriptor)
    return filler


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_training_onto_a_full_disk_fails_cleanly_and_resumes_later(small_disk, capsys):
    run = small_disk / "run"
    base = ["train", "tiny_ssd", "--data", "shapes:8", "--batch-size", "4", "--out", str(run)]
    assert main([*base, "--epochs", "1"]) == 0
    capsys.readouterr()
    checkpoints_before = _snapshot(run / "checkpoints")
    model_before = (run / "model.keras").read_bytes()
    filler = _fill(small_disk)

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "kssd_zoo.cli.main", *base, "--epochs", "2", "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])  # an error, not a signal
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("kssd train: error:") and str(run) in last_line
    assert "No space left on device" in last_line and "Traceback" not in done.stderr
    assert _snapshot(run / "checkpoints") == checkpoints_before
    assert (run / "model.keras").read_bytes() == model_before
    assert not [p for p in run.rglob("*") if ".kssd-" in p.name]

    filler.unlink()
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    assert "epoch-0002" in (run / "checkpoints" / "checkpoint.json").read_text()


@pytest.mark.parametrize("format, name", [("keras", "tiny.keras"), ("saved_model", "tiny_saved_model")])
def test_an_export_onto_a_full_disk_keeps_the_previous_artifact(small_disk, capsys, format, name):
    target = small_disk / name
    command = ["export", "tiny_ssd", "--format", format, "--out", str(target), "--no-verify"]
    with pytest.warns(UserWarning, match="random initial weights"):
        assert main(command) == 0
    before = _snapshot(small_disk)
    filler = _fill(small_disk)
    with pytest.warns(UserWarning, match="random initial weights"):
        code = main([*command, "--overwrite"])
    err = capsys.readouterr().err
    assert code == 1 and str(target) in err and "No space left on device" in err, err
    filler.unlink()
    assert _snapshot(small_disk) == before  # the previous artifact, nothing else
