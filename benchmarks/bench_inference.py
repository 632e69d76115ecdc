"""End-to-end face detection latency: kssd (Keras/TF, SavedModel, TFLite, ONNX) vs UltraFace and dlib.

Every row times preprocessing, the network, decoding and NMS on the same real photos
(WIDER FACE ``0--Parade``, resized to the benchmark size), batch 1 and batch 8, and prints
median milliseconds per batch and per image, with the ratio against the released UltraFace
RFB ONNX model in onnxruntime at the same size and batch (the baseline, measured in this run).

* kssd rows: ``kssd_zoo.ultraface_rfb`` with the released RFB-320 weights, wrapped by
  ``kssd.inference.build_inference_model`` and exported with ``kssd.export.export``, in two
  input policies: ``letterbox`` (the spec's 240x320, so 640x480 photos are shrunk) and, at
  640x480, ``native`` (``input_size=None``: the fully convolutional network runs at 640x480,
  the work the release's RFB-640 file does).
* UltraFace release rows: ``version-RFB-320.onnx`` at 320x240 and ``version-RFB-640.onnx`` at
  640x480 (they contain decode but not NMS); preprocessing (cv2 resize, normalization, NCHW)
  and OpenCV's ``cv2.dnn.NMSBoxes`` (score 0.7, IoU 0.3) are added in Python and timed.
  The release files have a fixed batch of 1, so batch 8 is 8 calls.
* dlib: ``dlib.get_frontal_face_detector()`` (HOG), upsampling 0, one image at a time.

``GFLOP/s`` is the network's achieved rate: its forward FLOPs at the size it runs at (counted by
TensorFlow's profiler on the kssd model; the release files are the same network) x images/s,
with its share of this CPU's FP32 peak (``benchmarks/_compute.py``); pre- and post-processing
are in the time but not in the FLOPs.

Run: ``python benchmarks/bench_inference.py [--repeats 10]`` (about 3-4 minutes on 2 cores).
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
IMAGES = SHARED / "data" / "faces" / "widerface_mini" / "WIDER_train" / "images" / "0--Parade"
RELEASE = SHARED / "models" / "ultraface"
SIZES = ((240, 320), (480, 640))
BATCHES = (1, 8)


def timeit(fn, batch, repeats, warmup=2):
    for _ in range(warmup):
        fn(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def read_photos():
    """The benchmark photos (RGB uint8), or None after saying what is missing."""
    files = sorted(glob.glob(str(IMAGES / "*.jpg")))
    if not files or not (RELEASE / "version-RFB-320.onnx").exists():
        print(f"needs {IMAGES} and {RELEASE} (the ../shared folder)", file=sys.stderr)
        return None
    return [cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for f in files]


def release_runner(size):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    name = "version-RFB-320.onnx" if size == (240, 320) else "version-RFB-640.onnx"
    session = ort.InferenceSession(str(RELEASE / name), options, providers=["CPUExecutionProvider"])
    h, w = session.get_inputs()[0].shape[2:]

    def one(image):
        x = cv2.resize(image, (w, h)).astype(np.float32)
        x = ((x - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = session.run(None, {"input": x})
        conf = scores[0, :, 1]
        keep = conf > 0.7
        b = boxes[0][keep] * np.array([image.shape[1], image.shape[0]] * 2, np.float32)
        xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), conf[keep].tolist(), 0.7, 0.3)
        return b[np.asarray(idx, int).ravel()] if len(idx) else b[:0]

    return lambda batch: [one(im) for im in batch]


def dlib_runner():
    import dlib

    detector = dlib.get_frontal_face_detector()
    return lambda batch: [detector(im, 0) for im in batch]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    photos = read_photos()
    if photos is None:
        return 1
    import tensorflow as tf
    from _compute import network_flops

    import kssd_zoo
    from kssd.export import export
    from kssd.export.verify import load_runner
    from kssd.inference import build_inference_model

    model = kssd_zoo.ultraface_rfb(weights=str(RELEASE / "version-RFB-320.onnx"), compile=False)
    flops = {size: network_flops(model, (*size, 3)) for size in SIZES}
    tmp = tempfile.mkdtemp(prefix="kssd_bench_")
    runners = {}
    for policy, input_size in (("letterbox", "spec"), ("native", None)):
        infer = build_inference_model(model, input_size=input_size)
        keras_fn = tf.function(infer, reduce_retracing=True)
        runners[policy] = {"kssd Keras/TF (tf.function)": lambda b, f=keras_fn: f(tf.constant(b))}
        for fmt, suffix in (("saved_model", ""), ("tflite", ".tflite"), ("onnx", ".onnx")):
            path = os.path.join(tmp, f"ultraface_rfb_{policy}{suffix}")
            report = export(infer, fmt, path, verify_images=photos[:2])
            verification = report["verification"]
            print(
                f"exported {fmt} ({policy}): verified {verification['matched']} detections, max "
                f"box diff {verification['max_box_diff']:.2g} px, max score diff "
                f"{verification['max_score_diff']:.2g}"
            )
            label = {
                "saved_model": "kssd SavedModel",
                "tflite": "kssd TFLite (float32)",
                "onnx": "kssd ONNX (onnxruntime)",
            }[fmt]
            runners[policy][label] = load_runner(path, fmt)
    dlib_run = dlib_runner()
    rows = []
    for size in SIZES:
        images = [cv2.resize(p, (size[1], size[0]), interpolation=cv2.INTER_AREA) for p in photos]
        base_run = release_runner(size)
        # at 320x240 the two policies are the same computation: time it once
        policies = ("letterbox",) if size == (240, 320) else ("letterbox", "native")
        for batch_size in BATCHES:
            batch = np.stack([images[i % len(images)] for i in range(batch_size)])
            base = timeit(base_run, batch, args.repeats)
            results = [(f"UltraFace release ONNX {'320' if size[0] == 240 else '640'} + cv2 NMS", base)]
            for policy in policies:
                for label, run in runners[policy].items():
                    results.append((f"{label}, {policy}", timeit(run, batch, args.repeats)))
            results.append(("dlib HOG (CPU)", timeit(dlib_run, batch, max(3, args.repeats // 3), warmup=1)))
            for label, ms in results:
                runs_at = (240, 320) if ("letterbox" in label or "320" in label) else size
                gflop = None if label.startswith("dlib") else flops[runs_at] / 1e9
                rows.append(
                    (f"{size[1]}x{size[0]}", batch_size, label, ms, ms / batch_size, ms / base, gflop)
                )
    from _compute import cpu_peak_gflops

    peak, formula = cpu_peak_gflops()
    print()
    print(
        f"network: {', '.join(f'{w}x{h} {f / 1e9:.2f} GFLOP' for (h, w), f in flops.items())}; CPU peak {peak:.0f} GFLOP/s = {formula}"
    )
    print("| image | batch | detector | ms / batch | ms / image | x baseline | GFLOP/s (% peak) |")
    print("|---|---|---|---|---|---|---|")
    for size, batch_size, label, ms, per, ratio, gflop in rows:
        rate = "-" if gflop is None else f"{gflop * 1000 / per:.1f} ({100 * gflop * 1000 / per / peak:.1f} %)"
        print(f"| {size} | {batch_size} | {label} | {ms:.1f} | {per:.1f} | {ratio:.2f} | {rate} |")
    print(
        "\nbaseline = UltraFace release ONNX in onnxruntime (+ cv2 NMS) at the same size and batch; "
        "kssd 'letterbox' rows shrink every photo to 240x320, 'native' rows run at the photo's size."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
