"""Training on several devices: ``--distribute`` to a ``tf.distribute`` strategy or a ``keras.distribution``.

kssd writes no distribution machinery of its own: with the TensorFlow backend a run uses
``tf.distribute`` (``MirroredStrategy`` for the GPUs of one machine,
``MultiWorkerMirroredStrategy`` for several machines described by ``TF_CONFIG``,
``TPUStrategy``), with JAX ``keras.distribution.DataParallel`` over the visible devices.
:func:`resolve_distribution` turns a name or an object into a :class:`Distributed` run that
says how many replicas there are, whether this process is the chief (the one that writes the
run folder) and gives the scope the model, optimizer, loss and metrics are created in.

Examples:
    >>> from kssd_zoo.training.distribute import resolve_distribution
    >>> run = resolve_distribution("none")
    >>> run.num_replicas, run.is_chief, run.describe()
    (1, True, 'one device')
"""

import contextlib
import json
import os
from dataclasses import dataclass

import keras

#: The values of ``kssd train --distribute``.
DISTRIBUTE_CHOICES = ("none", "mirrored", "multi_worker", "tpu")


@dataclass
class Distributed:
    """How one training process takes part in a (possibly) distributed run.

    Attributes:
        kind: ``"none"``, ``"mirrored"``, ``"multi_worker"``, ``"tpu"``, ``"data_parallel"``
            (JAX) or the class name of a strategy / distribution passed in.
        strategy: the ``tf.distribute.Strategy``, or None.
        distribution: the ``keras.distribution.Distribution`` (JAX), or None.
        num_replicas: model copies that each take a slice of the global batch.
        devices: the devices of this process's replicas (names).
        num_workers: processes of the run (1 unless multi-worker).
        worker_index: this process's index among them.
        is_chief: whether this process writes the run folder (checkpoints, ``model.keras``,
            ``results.json``, logs) and evaluates.
    """

    kind: str
    strategy: object = None
    distribution: object = None
    num_replicas: int = 1
    devices: tuple = ()
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    def scope(self):
        """The context the model, optimizer, loss and metrics must be created in."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()

    @property
    def synchronizes_batch_norm(self):
        """Whether BatchNormalization must be told to reduce its statistics over replicas.

        ``tf.distribute`` replicas each normalize their own slice unless the layer is
        ``synchronized``; ``keras.distribution`` (JAX) computes over the global batch anyway.
        """
        return self.strategy is not None and self.num_replicas > 1

    @property
    def engine(self):
        """Class name of the strategy or distribution, None on one device."""
        return None if self.kind == "none" else type(self.strategy or self.distribution).__name__

    def describe(self):
        """One line: replicas, engine, devices, workers."""
        if self.kind == "none":
            return "one device"
        where = f" on {', '.join(self.devices)}" if self.devices else ""
        workers = f", worker {self.worker_index} of {self.num_workers}" if self.num_workers > 1 else ""
        role = " (chief)" if self.num_workers > 1 and self.is_chief else ""
        return f"{self.num_replicas} replica(s), {self.engine}{where}{workers}{role}"

    def as_dict(self):
        """The JSON-friendly summary ``results.json`` records."""
        return {
            "kind": self.kind,
            "engine": self.engine,
            "num_replicas": self.num_replicas,
            "devices": list(self.devices),
            "num_workers": self.num_workers,
            "worker_index": self.worker_index,
            "is_chief": self.is_chief,
        }


def _tensorflow_devices(count):
    """Names of ``count`` local devices for MirroredStrategy: GPUs, else logical CPUs.

    Without a GPU, ``count`` > 1 splits the CPU into that many logical devices (for testing a
    distributed run on one machine); that must happen before TensorFlow initializes its
    runtime, i.e. before the first op of the process.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = len(gpus) if count is None else count
        if count > len(gpus):
            raise ValueError(f"--devices {count}: this machine has {len(gpus)} GPU(s)")
        return [f"/gpu:{i}" for i in range(count)]
    count = 1 if count is None else count
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if count > 1 and (current is None or len(current) != count):
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            raise RuntimeError(
                f"--devices {count}: no GPU here, and the CPU can no longer be split into {count} "
                "logical devices because TensorFlow is already initialized; choose the devices "
                "before anything runs a TensorFlow op (e.g. at the start of the script)"
            ) from None
    return [f"/cpu:{i}" for i in range(count)]


def _cluster_role(strategy):
    """``(num_workers, worker_index, is_chief)`` from a strategy's cluster resolver (TF_CONFIG)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or task_type is None:
        return 1, 0, True
    cluster = resolver.cluster_spec().as_dict()
    members = [(kind, index) for kind in ("chief", "worker") for index in range(len(cluster.get(kind, ())))]
    me = (task_type, int(resolver.task_id or 0))
    position = members.index(me) if me in members else 0
    chief = ("chief", 0) if "chief" in cluster else ("worker", 0)
    return max(len(members), 1), position, me == chief


def _from_strategy(strategy, kind):
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"strategy={type(strategy).__name__}: a tf.distribute strategy needs the TensorFlow "
            f"backend (KERAS_BACKEND=tensorflow); with {keras.backend.backend()} pass a "
            "keras.distribution such as keras.distribution.DataParallel()"
        )
    num_workers, worker_index, is_chief = _cluster_role(strategy)
    devices = [str(d).split("device:")[-1] for d in getattr(strategy.extended, "worker_devices", ()) or ()]
    if kind == "multi_worker":
        from kssd.compat import patch_multi_worker_reduction

        patch_multi_worker_reduction()
    return Distributed(
        kind=kind,
        strategy=strategy,
        num_replicas=int(strategy.num_replicas_in_sync),
        devices=tuple(devices),
        num_workers=num_workers,
        worker_index=worker_index,
        is_chief=is_chief,
    )


def _from_distribution(distribution, kind):
    import jax

    mesh = distribution.device_mesh
    return Distributed(
        kind=kind,
        distribution=distribution,
        num_replicas=int(mesh.shape[0]) if mesh.shape else 1,
        devices=tuple(str(d) for d in mesh.devices.flatten()),
        num_workers=jax.process_count(),
        worker_index=jax.process_index(),
        is_chief=jax.process_index() == 0,
    )


def _jax_distribution(name, devices):
    if name in ("multi_worker", "tpu"):
        raise ValueError(
            f"--distribute {name} runs on the TensorFlow backend; with JAX use --distribute "
            "mirrored (keras.distribution.DataParallel over the visible devices: GPUs, TPU cores "
            "or CPUs), and for several hosts call keras.distribution.initialize() in a script "
            "and pass strategy=keras.distribution.DataParallel() to train()"
        )
    visible = keras.distribution.list_devices()
    count = len(visible) if devices is None else devices
    if count > len(visible):
        raise ValueError(
            f"--devices {count}: JAX sees {len(visible)} device(s) ({', '.join(visible)}); on a "
            f"CPU-only machine set XLA_FLAGS=--xla_force_host_platform_device_count={count} "
            "before starting Python"
        )
    return _from_distribution(keras.distribution.DataParallel(devices=visible[:count]), "data_parallel")


def resolve_distribution(strategy=None, devices=None):
    """The :class:`Distributed` run for ``strategy`` (a name, a strategy or a distribution).

    Args:
        strategy: None or ``"none"`` (one device); ``"mirrored"`` (TensorFlow:
            ``MirroredStrategy`` over the local GPUs, or over ``devices`` logical CPUs on a
            machine without GPU; JAX: ``keras.distribution.DataParallel`` over the visible
            devices); ``"multi_worker"`` (``MultiWorkerMirroredStrategy``, cluster from
            ``TF_CONFIG``); ``"tpu"`` (``TPUStrategy``, TPU from ``TPU_NAME``, untested here);
            or a ``tf.distribute.Strategy`` / ``keras.distribution.Distribution`` object.
        devices: local devices to use, default None (all GPUs; one CPU). Only with
            ``"mirrored"``.

    Returns:
        :class:`Distributed`.

    Raises:
        ValueError: an unknown name, ``devices`` where it does not apply, or more devices than
            there are (one line saying what is available).
    """
    if devices is not None and (int(devices) != devices or devices < 1):
        raise ValueError(f"--devices must be a positive integer, got {devices!r}")
    if strategy is None:
        strategy = "none"
    if not isinstance(strategy, str):
        if hasattr(strategy, "device_mesh"):  # keras.distribution.DataParallel, ModelParallel
            return _from_distribution(strategy, type(strategy).__name__)
        return _from_strategy(strategy, type(strategy).__name__)
    if strategy not in DISTRIBUTE_CHOICES:
        raise ValueError(f"--distribute {strategy!r}: expected one of {', '.join(DISTRIBUTE_CHOICES)}")
    if devices is not None and strategy != "mirrored":
        raise ValueError(
            f"--devices applies to --distribute mirrored (one machine), not {strategy}: a multi-worker "
            "run uses each worker's local GPUs, a TPU run all its cores"
        )
    if strategy == "none":
        return Distributed(kind="none")
    if keras.backend.backend() == "jax":
        return _jax_distribution(strategy, devices)
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"--distribute {strategy}: needs the TensorFlow or JAX backend")
    import tensorflow as tf

    if strategy == "mirrored":
        return _from_strategy(tf.distribute.MirroredStrategy(_tensorflow_devices(devices)), strategy)
    if strategy == "multi_worker":
        if "TF_CONFIG" in os.environ:
            try:
                json.loads(os.environ["TF_CONFIG"])
            except ValueError as error:
                raise ValueError(f"TF_CONFIG is not valid JSON ({error})") from None
        return _from_strategy(tf.distribute.MultiWorkerMirroredStrategy(), strategy)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"--distribute tpu: no TPU found ({message}); set TPU_NAME or run on a TPU VM"
        ) from None
    return _from_strategy(tf.distribute.TPUStrategy(resolver), strategy)


def check_global_batch(batch_size, run):
    """Raise a one-line ValueError unless ``batch_size`` splits evenly over ``run``'s replicas."""
    replicas = run.num_replicas
    if batch_size % replicas:
        lower = max(batch_size // replicas, 1) * replicas
        raise ValueError(
            f"--batch-size {batch_size} is the global batch and must be a multiple of the "
            f"{replicas} replicas ({run.describe()}): e.g. {lower} or {lower + replicas}"
        )
    return batch_size // replicas


@contextlib.contextmanager
def synchronized_batch_norm(model, enabled):
    """Within the block, every BatchNormalization of ``model`` reduces statistics over replicas.

    The layers are put back afterwards, so a saved ``model.keras`` keeps ``synchronized=False``
    and loads under any backend.
    """
    from kssd.compat import all_layers

    layers = [
        layer
        for layer in all_layers(model)
        if enabled and isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
    ]
    for layer in layers:
        layer.synchronized = True
    try:
        yield len(layers)
    finally:
        for layer in layers:
            layer.synchronized = False
