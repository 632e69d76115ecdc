"""ResumableCheckpoint: crash-safe checkpoints that resume training exactly."""

import json
import math
import os
import re
import tempfile
import time
from pathlib import Path

import keras

from kssd.compat import optimizer_learning_rate

STATE_FILE = "checkpoint.json"
_WEIGHTS = re.compile(r"^epoch-(\d+)\.weights\.h5$")


def _atomic_write_bytes(path, write):
    """Write through ``write(temp_path)`` into a temp file of the same folder, then rename."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temp)
        with open(temp, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _constant_rate(optimizer):
    """The optimizer's learning rate when it is a constant (a variable), else None."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if isinstance(optimizer_learning_rate(optimizer), keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(optimizer.learning_rate)


class ResumableCheckpoint(keras.callbacks.Callback):
    """Save model weights, optimizer state and epoch after every epoch, atomically.

    Each save writes ``epoch-NNNN.weights.h5`` (model weights *and* optimizer variables,
    including ``iterations``, the step of learning-rate schedules) into a temporary file that is
    renamed into place (``os.replace``), then rewrites ``checkpoint.json`` (epoch, file name,
    optimizer iterations, the epoch's logs) the same way. The JSON is only switched to a weight
    file that is completely written, so a process killed at any moment leaves the previous good
    checkpoint in force; stale temporary files are ignored. The ``keep`` newest weight files are
    kept.

    Resume with :meth:`restore` before ``fit`` and pass the returned epoch as
    ``initial_epoch``: with the same data order this continues exactly where the killed run
    stopped (same weights, same optimizer moments, same schedule step).

    Args:
        directory: checkpoint folder (created if needed).
        every: save every this many epochs (and after the last one), default 1.
        keep: number of weight files kept, default 2.
        verbose: print a line per save, default 0.

    Returns:
        A Keras callback.

    Examples:
        >>> import tempfile, numpy as np, keras
        >>> from kssd.callbacks import ResumableCheckpoint
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("adam", "mse")
        >>> folder = tempfile.mkdtemp()
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[ResumableCheckpoint(folder)])
        >>> again = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> again.compile("adam", "mse")
        >>> ResumableCheckpoint(folder).restore(again), int(again.optimizer.iterations)
        (2, 2)
    """

    def __init__(self, directory, every=1, keep=2, verbose=0):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every!r}")
        if int(keep) < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        self.directory = Path(directory)
        self.every = int(every)
        self.keep = int(keep)
        self.verbose = verbose

    # ----------------------------------------------------------------------------- state
    @property
    def state_path(self):
        return self.directory / STATE_FILE

    def latest(self):
        """The last good checkpoint's state dict (``epoch``, ``weights``, ...), or None."""
        if not self.state_path.is_file():
            return None
        try:
            state = json.loads(self.state_path.read_text())
        except ValueError as error:  # cannot happen with atomic writes, but say what it is
            raise ValueError(f"{self.state_path}: not a valid checkpoint state ({error})") from None
        weights = self.directory / state["weights"]
        if not weights.is_file():
            raise FileNotFoundError(
                f"{self.state_path} names {state['weights']}, which is missing from {self.directory}"
            )
        return state

    def restore(self, model=None):
        """Load the last good checkpoint into ``model``; returns the epochs already done (0 if none).

        The model must be compiled with the same optimizer type; its optimizer is built first so
        that its moments and ``iterations`` are loaded too. A constant learning rate is an
        optimizer variable as well: the rate the model was compiled with wins over the
        checkpoint's, and a change is printed.
        """
        model = model if model is not None else self.model
        state = self.latest()
        if state is None:
            return 0
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        configured = _constant_rate(optimizer) if optimizer is not None else None
        model.load_weights(self.directory / state["weights"])
        if optimizer is not None and int(optimizer.iterations) != int(state["iterations"]):
            raise ValueError(
                f"{self.directory / state['weights']}: optimizer iterations after loading are "
                f"{int(optimizer.iterations)}, expected {state['iterations']}; compile the model "
                "with the same optimizer as the checkpointed run"
            )
        restored = _constant_rate(optimizer) if configured is not None else None
        if restored is not None and not math.isclose(restored, configured, rel_tol=1e-6):
            optimizer.learning_rate = configured
            print(f"learning rate {configured:g} as configured (the checkpoint had {restored:g})")
        return int(state["epoch"])

    # ------------------------------------------------------------------------- callbacks
    def on_epoch_end(self, epoch, logs=None):
        epochs = (self.params or {}).get("epochs")
        last = epochs is not None and epoch + 1 >= epochs
        if (epoch + 1) % self.every == 0 or last:
            self.save(epoch + 1, logs)

    def save(self, epoch, logs=None):
        """Write the checkpoint of ``epoch`` completed epochs (atomically)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch:04d}.weights.h5"
        started = time.perf_counter()
        _atomic_write_bytes(self.directory / name, lambda temp: self._save_weights(temp))
        optimizer = getattr(self.model, "optimizer", None)
        state = {
            "epoch": int(epoch),
            "weights": name,
            "iterations": int(optimizer.iterations) if optimizer is not None else 0,
            "logs": {
                k: float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, (int, float)) or hasattr(v, "__float__")
            },
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

        def write_state(temp):
            Path(temp).write_text(json.dumps(state, indent=1))

        _atomic_write_bytes(self.state_path, write_state)
        self._prune(keep_name=name)
        if self.verbose:
            print(
                f"\nEpoch {epoch}: checkpoint {self.directory / name} ({time.perf_counter() - started:.1f} s)"
            )

    def _save_weights(self, temp):
        # Keras wants the .weights.h5 suffix: write beside the temp name, then move onto it.
        target = f"{temp}.weights.h5"
        try:
            self.model.save_weights(target)
            os.replace(target, temp)
        finally:
            if os.path.exists(target):
                os.remove(target)

    def _prune(self, keep_name):
        found = sorted(
            (int(m.group(1)), p) for p in self.directory.iterdir() if (m := _WEIGHTS.match(p.name))
        )
        kept = {p.name for _, p in found[-self.keep :]} | {keep_name}
        for _, path in found:
            if path.name not in kept:
                path.unlink()
