"""ResumableCheckpoint: crash-safe checkpoints that resume training exactly."""

import json
import math
import re
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from kssd.compat import optimizer_learning_rate
from kssd.files import remove_stale_temporaries, write_atomically, write_text_atomically

STATE_FILE = "checkpoint.json"
_WEIGHTS = re.compile(r"^epoch-(\d+)\.weights\.h5$")


def _finite(logs, model):
    """Whether the epoch's logged losses and the model's weights are all finite.

    Only losses (``loss``, ``val_loss``, ``..._loss``) count: other logged numbers may be NaN by
    design, e.g. :class:`~kssd.callbacks.DetectionEvaluator` logs NaN on the epochs it skips.
    """
    for key, value in (logs or {}).items():
        if not (key == "loss" or key.endswith("_loss")):
            continue
        try:
            if not math.isfinite(float(value)):
                return False
        except (TypeError, ValueError):
            continue
    return all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)


def optimizer_step(optimizer):
    """``optimizer.iterations`` as an int, also when a tf.distribute strategy mirrors it."""
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def _constant_rate(optimizer):
    """The optimizer's learning rate when it is a constant (a variable), else None."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if isinstance(optimizer_learning_rate(optimizer), keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class ResumableCheckpoint(keras.callbacks.Callback):
    """Save model weights, optimizer state and epoch after every epoch, atomically.

    Each save writes ``epoch-NNNN.weights.h5`` (model weights *and* optimizer variables,
    including ``iterations``, the step of learning-rate schedules) into a temporary file that is
    renamed into place (``os.replace``), then rewrites ``checkpoint.json`` (epoch, file name,
    optimizer iterations, the epoch's logs) the same way. The JSON is only switched to a weight
    file that is completely written, so a process killed at any moment leaves the previous good
    checkpoint in force; the temporaries a killed run left are deleted when training starts.
    The ``keep`` newest weight files are kept.

    An epoch whose logged loss or whose weights are not finite (NaN, inf) is never saved, so
    the last finite checkpoint stays the one :meth:`restore` uses (``skipped_epochs`` lists the
    epochs left out). When the newest weight file cannot be loaded (truncated, damaged),
    :meth:`restore` warns and falls back to the newest older one that loads.

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
        self.skipped_epochs = []

    # ----------------------------------------------------------------------------- state
    @property
    def state_path(self):
        return self.directory / STATE_FILE

    def latest(self):
        """The last good checkpoint's state dict (``epoch``, ``weights``, ...), or None."""
        if not self.state_path.is_file():
            return None
        try:
            return json.loads(self.state_path.read_text())
        except ValueError as error:  # cannot happen with atomic writes, but say what it is
            raise ValueError(f"{self.state_path}: not a valid checkpoint state ({error})") from None

    def _weight_files(self):
        """``[(epoch, path), ...]`` of the weight files present, newest first."""
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _WEIGHTS.match(p.name))]
        return sorted(found, reverse=True)

    def restore(self, model=None):
        """Load the last good checkpoint into ``model``; returns the epochs already done (0 if none).

        The model must be compiled with the same optimizer type; its optimizer is built first so
        that its moments and ``iterations`` are loaded too. A constant learning rate is an
        optimizer variable as well: the rate the model was compiled with wins over the
        checkpoint's, and a change is printed. A newest weight file that is missing or does not
        load is skipped with a warning for the newest older one that does.
        """
        model = model if model is not None else self.model
        state = self.latest()
        if state is None:
            return 0
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        configured = _constant_rate(optimizer) if optimizer is not None else None
        candidates = [(e, p) for e, p in self._weight_files() if e <= int(state["epoch"])]
        if not candidates:
            raise FileNotFoundError(
                f"{self.state_path} names {state['weights']}, but no checkpoint weights are in {self.directory}"
            )
        epoch = None
        for candidate_epoch, path in candidates:
            try:
                model.load_weights(path)
            except Exception as error:  # h5py/Keras raise many kinds for a damaged file
                warnings.warn(
                    f"{path}: cannot be loaded ({type(error).__name__}: {error}); trying the previous checkpoint",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            epoch = candidate_epoch
            break
        if epoch is None:
            raise ValueError(f"{self.directory}: no checkpoint weight file loads (all are damaged)")
        newest = path.name == state["weights"]
        if newest and optimizer is not None and optimizer_step(optimizer) != int(state["iterations"]):
            raise ValueError(
                f"{self.directory / state['weights']}: optimizer iterations after loading are "
                f"{optimizer_step(optimizer)}, expected {state['iterations']}; compile the model "
                "with the same optimizer as the checkpointed run"
            )
        if not newest:
            print(f"resuming from {path.name} (epoch {epoch}) instead of the damaged {state['weights']}")
        restored = _constant_rate(optimizer) if configured is not None else None
        if restored is not None and not math.isclose(restored, configured, rel_tol=1e-6):
            optimizer.learning_rate = configured
            print(f"learning rate {configured:g} as configured (the checkpoint had {restored:g})")
        return int(epoch)

    # ------------------------------------------------------------------------- callbacks
    def on_train_begin(self, logs=None):
        self.skipped_epochs = []
        removed = remove_stale_temporaries(self.directory)
        if removed and self.verbose:
            print(f"removed {removed} temporary file(s) a killed run left in {self.directory}")

    def on_epoch_end(self, epoch, logs=None):
        epochs = (self.params or {}).get("epochs")
        last = epochs is not None and epoch + 1 >= epochs
        if (epoch + 1) % self.every == 0 or last:
            if not _finite(logs, self.model):
                self.skipped_epochs.append(epoch + 1)
                print(
                    f"\nEpoch {epoch + 1}: not checkpointed (non-finite loss or weights); the last "
                    f"finite checkpoint in {self.directory} is kept"
                )
                return
            self.save(epoch + 1, logs)

    def save(self, epoch, logs=None):
        """Write the checkpoint of ``epoch`` completed epochs (atomically)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch:04d}.weights.h5"
        started = time.perf_counter()
        write_atomically(self.directory / name, self.model.save_weights)
        optimizer = getattr(self.model, "optimizer", None)
        state = {
            "epoch": int(epoch),
            "weights": name,
            "iterations": optimizer_step(optimizer) if optimizer is not None else 0,
            "logs": {
                k: float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, (int, float)) or hasattr(v, "__float__")
            },
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_text_atomically(self.state_path, json.dumps(state, indent=1))
        self._prune(keep_name=name)
        if self.verbose:
            print(
                f"\nEpoch {epoch}: checkpoint {self.directory / name} ({time.perf_counter() - started:.1f} s)"
            )

    def _prune(self, keep_name):
        found = sorted(
            (int(m.group(1)), p) for p in self.directory.iterdir() if (m := _WEIGHTS.match(p.name))
        )
        kept = {p.name for _, p in found[-self.keep :]} | {keep_name}
        for _, path in found:
            if path.name not in kept:
                path.unlink()
