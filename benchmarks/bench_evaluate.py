"""Benchmark: evaluation speed (detect + score) against the network's own inference time.

Setting: ``mobilenetv2_ssd`` (80 COCO classes, 224x224) with its random initial weights from a
fixed seed (no trained COCO weights can be downloaded here), on the images of
../shared/data/coco128 (128 photos of many sizes), score threshold 0.01, IoU 0.45, 200
detections per image: what ``kssd evaluate MODEL --data coco128 --metric coco`` does. Random
weights put most anchors just above 0.01 in every class, the heaviest case for NMS.

Rows (same run, same images, first call of each path done before timing):

* reference: the network alone (``model.network`` in ``tf.function``) on batches of
  ``--batch-size`` already resized images: the inference-only time of those images;
* before: the evaluation path of kssd before this change: the whole inference graph called on
  each image's own size (images of different sizes could not share a batch) with the
  portable NMS loop;
* now: :func:`kssd.inference.detect` as ``evaluate`` calls it (each image resized on its own,
  batches of any sizes, TensorFlow's NMS kernel), then the same with the portable loop;
* the COCO score (pycocotools) of the detections, and the whole ``evaluate`` (decode of the
  JPEG files, detect, score).

Run:  python benchmarks/bench_evaluate.py   (about 3 minutes; needs ../shared/data/coco128)
Prints a table: images/s per row, x before, and the time per image against the reference.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco128"
SETTINGS = {
    "score_threshold": 0.01,
    "iou_threshold": 0.45,
    "max_detections": 200,
    "max_detections_per_class": 200,
}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def same_detections(a, b):
    return all(
        np.array_equal(x["classes"], y["classes"])
        and np.allclose(x["scores"], y["scores"], atol=1e-5)
        and np.allclose(x["boxes"], y["boxes"], atol=1e-2)
        for x, y in zip(a, b)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-images", type=int, default=128)
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        sys.exit(f"--data {args.data}: not found (the coco128 folder of ../shared/data)")

    from kssd.data.pipeline import prepare_encoded_records
    from kssd.inference import build_inference_model, detect
    from kssd.metrics.evaluate import _load_image, detection_metrics
    from kssd_zoo.loading import load
    from kssd_zoo.training import evaluate
    from kssd_zoo.training.data import resolve_data

    warnings.simplefilter("ignore")
    keras.utils.set_random_seed(0)
    model = load("mobilenetv2_ssd", for_inference=True)
    records, _ = resolve_data(args.data, None)
    records, _ = prepare_encoded_records(records[: args.max_images])
    images = [_load_image(r) for r in records]
    n = len(images)
    b = args.batch_size
    print(
        f"mobilenetv2_ssd (random weights, seed 0), {n} coco128 images, batch {b}, cpu_count={os.cpu_count()}"
    )

    # Reference: the network alone on resized batches.
    size = model.input_size
    network = tf.function(lambda x: model.network(x, training=False)["y_pred"])
    resized = tf.image.resize(np.zeros((b, *size, 3), "float32"), size)
    network(resized)
    batches = [resized] * (n // b) + ([resized[: n % b]] if n % b else [])
    if n % b:
        network(batches[-1])
    t_reference, _ = timed(lambda: [network(x).numpy() for x in batches])

    # Before: one image per call through the whole graph, portable NMS.
    infer = build_inference_model(model, resize="stretch", nms_implementation="portable", **SETTINGS)
    call = tf.function(lambda x: infer(x, training=False), reduce_retracing=True)
    for image in images[:3]:
        call(image[None])
    t_before, before = timed(
        lambda: [{k: v.numpy() for k, v in call(image[None]).items()} for image in images]
    )

    rows = []
    results = {}
    for implementation in ("tensorflow", "portable"):
        options = dict(SETTINGS, resize="stretch", batch_size=b, nms_implementation=implementation)
        detect(model, images[:b], **options)  # builds and traces
        if n % b:
            detect(model, images[: n % b], **options)
        t, results[implementation] = timed(lambda options=options: detect(model, images, **options))
        rows.append((f"now: detect, batches of {b}, nms_implementation={implementation!r}", t))
    found = [
        {"boxes": r["boxes"], "scores": r["scores"], "labels": r["classes"].astype("int32")}
        for r in results["tensorflow"]
    ]
    t_score, _ = timed(lambda: detection_metrics("coco", records, found, class_names=model.class_names))
    t_evaluate, _ = timed(
        lambda: evaluate(model, args.data, "coco", batch_size=b, max_images=n, progress=False)
    )

    agree_kernel = same_detections(results["tensorflow"], results["portable"])
    boxes_before = [
        {
            "classes": out["classes"][0, : out["num_detections"][0]],
            "scores": out["scores"][0, : out["num_detections"][0]],
            "boxes": out["boxes"][0, : out["num_detections"][0]],
        }
        for out in before
    ]
    agree_before = same_detections(results["tensorflow"], boxes_before)
    print(
        f"detections: {sum(len(r['scores']) for r in results['tensorflow'])}; "
        f"kernel == portable: {agree_kernel}; now == before: {agree_before} (scores 1e-5, boxes 0.01 px)"
    )
    table = [
        ("reference: the network alone, resized batches", t_reference),
        ("before: whole graph per image (one size per call), portable NMS", t_before),
        *rows,
        ("COCO score of the detections (pycocotools)", t_score),
        ("evaluate(): JPEG decode + detect + score", t_evaluate),
    ]
    header = f"| {'path':<66} | {'s':>6} | {'images/s':>8} | {'x before':>8} | {'x reference time':>16} |"
    print()
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for name, t in table:
        print(
            f"| {name:<66} | {t:>6.2f} | {n / t:>8.1f} | {t_before / t:>7.2f}x | {t / t_reference:>15.2f}x |"
        )


if __name__ == "__main__":
    main()
