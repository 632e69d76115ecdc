"""Where a training step's time goes: ``model.fit`` steps traced with ``tf.profiler``, op time by kind.

Builds a zoo model (default face_ssd), trains it with ``SSDLoss`` and SGD on the same fixed
batch as ``bench_train.py``, traces ``--steps`` steps after a warm-up and sums the duration of
every TensorFlow op executed (the trace's ``tf_Compute`` lines) into kinds: convolutions,
batch normalization, activations, padding, the input normalization layer, the loss with its
hard-negative mining, the optimizer, and the rest; each forward and backward (ops under the
gradient tape). Percentages are shares of the summed op time, which on 2 cores can exceed the
wall time (ops run in parallel). The trace stays in ``--logdir`` for TensorBoard's profile tab.
Usage::

    python benchmarks/profile_train.py [--batch-size 32] [--steps 4]
    TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/profile_train.py   # TensorFlow's own kernels
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kssd  # noqa: E402,F401  (first, so that its TensorFlow defaults apply)

# isort: split
import tensorflow as tf  # noqa: E402
from bench_train import _batch, _dataset, _model, _optimizer  # noqa: E402

KINDS = (  # (kind, substrings of the op's scoped name), first match wins
    ("loss + hard-negative mining", ("ssd_loss",)),
    ("optimizer", ("/sgd/", "sgd/", "AssignVariableOp", "AssignAdd")),
    ("batch normalization", ("_bn", "batchnorm", "batch_normalization", "moments", "FusedBatchNorm")),
    ("convolutions", ("Conv2D", "convolution", "depthwise", "Depthwise")),
    ("input normalization", ("normalization",)),
    ("activations", ("relu", "Relu")),
    ("padding", ("pad", "Pad")),
)


def kind_of(op_name):
    """The kind of one traced op, from its scoped name (``... (backward)`` under the gradient tape)."""
    backward = " backward" if "gradient_tape" in op_name or "Grad" in op_name else " forward"
    for kind, needles in KINDS:
        if any(needle in op_name for needle in needles):
            return kind + ("" if kind == "optimizer" else backward)
    return "other" + backward


def op_times(logdir):
    """{op name: total picoseconds} over the trace's TensorFlow compute lines."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    if not files:
        raise SystemExit(f"no *.xplane.pb trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(max(files, key=os.path.getmtime), "rb") as stream:
        space.ParseFromString(stream.read())
    times = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name and not name.startswith(("Executor", "ParallelFor")):
                    times[name] += event.duration_ps
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description="profile model.fit training steps")
    parser.add_argument("--model", default="face_ssd", help="zoo model name (default face_ssd)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="traced steps (default 4)")
    parser.add_argument("--logdir", help="where the trace is written (default: a new temporary folder)")
    args = parser.parse_args(argv)
    from kssd.losses import SSDLoss

    model = _model(args.model)
    images, targets = _batch(model, args.batch_size)
    model.compile(optimizer=_optimizer(), loss=SSDLoss())
    data = _dataset(images, targets)
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    logdir = args.logdir or tempfile.mkdtemp(prefix="kssd-profile-")
    tf.profiler.experimental.start(logdir)
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
    wall = (time.perf_counter() - started) / args.steps
    tf.profiler.experimental.stop()
    by_kind = collections.Counter()
    for name, picoseconds in op_times(logdir).items():
        by_kind[kind_of(name)] += picoseconds
    total = sum(by_kind.values())
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default")
    print(
        f"{args.model}, batch {args.batch_size}, {args.steps} traced fit steps, TF_ENABLE_ONEDNN_OPTS={onednn}"
    )
    print(f"wall {1000 * wall:.0f} ms per step; summed op time {total / 1e9 / args.steps:.0f} ms per step")
    print(f"{'kind':<40}{'ms/step':>9}{'share':>8}")
    for kind, picoseconds in by_kind.most_common():
        print(f"{kind:<40}{picoseconds / 1e9 / args.steps:>9.1f}{100 * picoseconds / total:>7.1f}%")
    print(f"trace: {logdir} (tensorboard --logdir {logdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
