"""Why a batch of 8 costs more per image than a batch of 1 in kssd's TFLite export.

``ultraface_rfb`` (released RFB-320 weights) at 320x240 on the WIDER FACE ``0--Parade``
photos of widerface_mini, timed in ``tf.lite.Interpreter``:

* ``network only``: the bare Keras network converted to TFLite (float input, raw outputs);
* ``kssd export``: ``kssd.export.export(..., "tflite")``: uint8 in, letterbox, network, decode
  and the portable NMS (a ``while`` loop over all images at once) out;
* the same export on a batch of 8 copies of the photo with the most faces and of the one with
  the fewest: the NMS loop runs until every image of the batch is done, so a batch costs
  about as many loop steps as its busiest image.

Each row prints the median ms per batch and per image and the ratio of the per-image time to
the batch-1 per-image time of the same model and thread setting (the baseline, same run).
``num_threads`` is the interpreter's (``None``: TFLite's default).

Run: ``python benchmarks/bench_tflite_batch.py [--repeats 10]`` (about a minute on 2 cores).
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_inference import RELEASE, read_photos, timeit  # noqa: E402


def tflite_runner(path, num_threads, batch_shape, dtype):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path, num_threads=num_threads)
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], batch_shape)
    interpreter.allocate_tensors()

    def run(batch):
        interpreter.set_tensor(detail["index"], batch.astype(dtype))
        interpreter.invoke()

    return run


def convert_network(model, path):
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((None, 240, 320, 3), tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], function)
    with open(path, "wb") as handle:
        handle.write(converter.convert())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    photos = read_photos()
    if photos is None:
        return 1
    import kssd_zoo
    from kssd.export import export
    from kssd.export.verify import load_runner

    photos = [cv2.resize(p, (320, 240), interpolation=cv2.INTER_AREA) for p in photos]
    batch8 = np.stack([photos[i % len(photos)] for i in range(8)])
    model = kssd_zoo.ultraface_rfb(weights=str(RELEASE / "version-RFB-320.onnx"), compile=False)
    tmp = tempfile.mkdtemp(prefix="kssd_bench_")
    network_path, export_path = os.path.join(tmp, "network.tflite"), os.path.join(tmp, "rfb.tflite")
    convert_network(model, network_path)
    export(model, "tflite", export_path, verify=False)
    counts = load_runner(export_path, "tflite")(batch8)["num_detections"]
    busiest, quietest = batch8[int(np.argmax(counts))], batch8[int(np.argmin(counts))]
    print(f"faces found per photo of the batch: {counts.tolist()}")

    rows = []
    for threads in (None, 2):
        for label, path, dtype, batches in (
            ("network only", network_path, np.float32, {"photos": batch8}),
            (
                "kssd export",
                export_path,
                np.uint8,
                {
                    "photos": batch8,
                    f"busiest photo x8 ({counts.max()} faces)": np.stack([busiest] * 8),
                    f"quietest photo x8 ({counts.min()} faces)": np.stack([quietest] * 8),
                },
            ),
        ):
            for name, images in batches.items():
                one = tflite_runner(path, threads, (1, 240, 320, 3), dtype)
                base = np.mean([timeit(one, images[i : i + 1], args.repeats) for i in range(8)])
                eight = tflite_runner(path, threads, (8, 240, 320, 3), dtype)
                ms = timeit(eight, images, args.repeats)
                rows.append((threads, label, name, 1, base, base, 1.0))
                rows.append((threads, label, name, 8, ms, ms / 8, ms / 8 / base))
    print()
    print("| num_threads | model | images | batch | ms / batch | ms / image | x batch 1 |")
    print("|---|---|---|---|---|---|---|")
    for threads, label, name, batch, ms, per, ratio in rows:
        print(f"| {threads} | {label} | {name} | {batch} | {ms:.1f} | {per:.1f} | {ratio:.2f} |")
    print("\nbatch-1 rows: the mean over the 8 images of each one's median time alone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
