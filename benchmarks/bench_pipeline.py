"""Throughput of the face training pipeline next to face_ssd's training step.

The input pipeline must outrun the training step, or the accelerator waits on data. This script
measures, on the current machine:

* **pipeline**: images/s of ``kssd.data.load_dataset`` with the face augmentation chain and
  target encoding (read TFRecord -> decode -> crop/pad/resize/flip/distort -> encode 4420
  anchors -> batch), from TFRecords of ../shared/data/faces/widerface_mini (repeated), or of
  the generated shapes dataset when ../shared is absent;
* **train step**: images/s of ``kssd_zoo.face_ssd()`` ``model.fit`` steps on one fixed batch;

and prints them with their ratio (target: pipeline >= 1.5x train step).

Usage::

    python benchmarks/bench_pipeline.py [--batch-size 32] [--batches 20] [--steps 20]
                                        [--source auto|widerface|shapes]
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
WIDER = SHARED / "data" / "faces" / "widerface_mini"


def write_source(kind, out_dir):
    """Write the benchmark TFRecords; return (description, number of images)."""
    from kssd.data.tfrecord import write_tfrecords

    if kind == "auto":
        kind = "widerface" if WIDER.exists() else "shapes"
    if kind == "widerface":
        from kssd.data.widerface import WiderFaceReader

        records = list(WiderFaceReader(WIDER, split="train"))
        desc = f"widerface_mini TFRecords ({len(records)} photos, repeated)"
    else:
        from kssd_zoo.datasets import shapes

        records = shapes(num_images=256, image_size=(480, 640), max_objects=8, encode_png=True)
        desc = f"shapes TFRecords ({len(records)} PNG 480x640 images, repeated)"
    write_tfrecords(records, out_dir, "train", num_shards=2, overwrite=True)
    return desc, len(records)


def time_pipeline(model, source_dir, batch_size, batches, seed=0):
    from kssd.data.pipeline import load_dataset

    ds = load_dataset(
        source_dir,
        model,
        split="train",
        batch_size=batch_size,
        augmentation="face",
        seed=seed,
        repeat=True,
        cache=True,
        shuffle_buffer=64,
    )
    iterator = iter(ds)
    for _ in range(3):  # warm up: tracing, autotune, cache fill
        next(iterator)
    start = time.perf_counter()
    positives = 0
    for _ in range(batches):
        _, y = next(iterator)
        positives += int(tf.reduce_sum(tf.cast(y[..., 4] > 0, tf.int32)))
    elapsed = time.perf_counter() - start
    return batches * batch_size / elapsed, positives / (batches * batch_size)


def time_train_step(model, source_dir, batch_size, steps):
    from kssd.data.pipeline import load_dataset

    x, y = next(
        iter(
            load_dataset(
                source_dir,
                model,
                split="train",
                batch_size=batch_size,
                augmentation="face",
                seed=1,
                repeat=True,
            )
        )
    )
    fixed = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(fixed, steps_per_epoch=3, epochs=1, verbose=0)  # compile the train function
    start = time.perf_counter()
    model.fit(fixed, steps_per_epoch=steps, epochs=1, verbose=0)
    elapsed = time.perf_counter() - start
    return steps * batch_size / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20, help="timed pipeline batches")
    parser.add_argument("--steps", type=int, default=20, help="timed train steps")
    parser.add_argument("--source", choices=["auto", "widerface", "shapes"], default="auto")
    args = parser.parse_args(argv)

    import kssd_zoo

    model = kssd_zoo.face_ssd()
    with tempfile.TemporaryDirectory() as tmp:
        desc, _ = write_source(args.source, tmp)
        pipe_ips, pos_per_image = time_pipeline(model, tmp, args.batch_size, args.batches)
        step_ips = time_train_step(model, tmp, args.batch_size, args.steps)

    gpus = tf.config.list_physical_devices("GPU")
    device = f"GPU x{len(gpus)}" if gpus else "CPU only"
    ratio = pipe_ips / step_ips
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {device}, "
        f"TensorFlow {tf.__version__}, Python {sys.version.split()[0]}"
    )
    print(f"data: {desc}; batch size {args.batch_size}; input 240x320, 4420 anchors")
    print()
    rows = [
        ("face pipeline (load_dataset, augmentation='face')", f"{pipe_ips:10.1f}"),
        ("face_ssd train step (model.fit, fixed batch)", f"{step_ips:10.1f}"),
        ("ratio pipeline / train step", f"{ratio:10.2f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | {'images/s':>11} |")
    print(f"|{'-' * (width + 2)}|{'-' * 13}|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value:>11} |")
    print()
    print(f"positive anchors per training image: {pos_per_image:.1f}")
    print(
        "target: pipeline >= 1.5x train step -> "
        + ("met" if ratio >= 1.5 else "NOT met (the accelerator would wait on data)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
