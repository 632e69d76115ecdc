"""Quick start: train a tiny SSD on generated shapes, detect on a photo-sized image, export it.

Runs in about a minute on a 2-core CPU, with no download and no data of your own:

1. build ``tiny_ssd`` (3 classes: circle, square, triangle);
2. train it briefly (600 steps of 8 images) on the generated shapes dataset
   (``kssd_zoo.datasets.shapes`` records through ``kssd.data.load_dataset``), a quarter of them
   200x300 images letterboxed as at detection time;
3. measure it: mAP@0.5 on 50 held-out generated 200x300 images (``kssd_zoo.training.evaluate``);
4. detect on a new 200x300 image (not the training size: the inference graph letterboxes it
   and returns boxes in its pixels) with ``kssd.inference.detect``, and count the shapes found
   (right class, IoU > 0.5 with the known ground truth);
5. export to a SavedModel (with resize, decode and NMS inside), check it against Keras on that
   image and count what the SavedModel finds there.

The last line reads ``found <k>/<n> shapes`` (Keras) and the SavedModel's count.

Usage: ``python examples/quick_start.py [--out /tmp/kssd_quick_start] [--epochs 6]``
(one epoch = 100 steps; fewer epochs detect less: 2 epochs = 200 steps find few shapes).
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np

import kssd_zoo
from kssd.boxes import iou_numpy
from kssd.data import load_dataset
from kssd.export import export, load_runner
from kssd.inference import detect
from kssd_zoo.datasets.shapes import CLASS_NAMES, shapes
from kssd_zoo.training import evaluate

STEPS_PER_EPOCH = 100
BATCH_SIZE = 8  # on a CPU, 8-image steps learn faster per second than the spec's 32


def hits(boxes, classes, record):
    """Ground-truth shapes found: a detection of the right class with IoU > 0.5 (each used once)."""
    found, used = 0, set()
    overlaps = iou_numpy(np.asarray(record["boxes"]), np.asarray(boxes).reshape(-1, 4))
    for row, label in zip(overlaps, record["labels"]):
        for j in np.argsort(-row):
            if row[j] > 0.5 and int(classes[j]) == int(label) and j not in used:
                found += 1
                used.add(j)
                break
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "kssd_quick_start"))
    parser.add_argument("--epochs", type=int, default=6, help=f"epochs of {STEPS_PER_EPOCH} steps, default 6")
    args = parser.parse_args()
    start = time.perf_counter()
    keras.utils.set_random_seed(0)

    model = kssd_zoo.tiny_ssd(steps_per_epoch=STEPS_PER_EPOCH)
    model.compile_from_spec(optimizer=keras.optimizers.Adam(3e-3))  # the spec's learning rate
    # Mostly images of the training size, plus one in four 200x300 images letterboxed as detect()
    # does (training=False: no augmentation, so resize_mode="pad" applies): without them the
    # model takes the black padding below a wide image for a big square.
    square = shapes(num_images=480, seed=0)
    wide = shapes(num_images=160, image_size=(200, 300), seed=1)
    records = [r for group in zip(square[0::3], square[1::3], square[2::3], wide) for r in group]
    train = load_dataset(
        records, model, batch_size=BATCH_SIZE, training=False, resize_mode="pad", seed=0, repeat=True
    )
    model.fit(train, epochs=args.epochs, steps_per_epoch=STEPS_PER_EPOCH, verbose=2)

    # Measured: mAP@0.5 (VOC) on held-out generated images of the size detected on below.
    held_out = shapes(num_images=50, image_size=(200, 300), split="val", seed=0)
    metrics = evaluate(model, held_out, "voc12", progress=False)["metrics"]
    print(f"mAP@0.5 on 50 held-out 200x300 shape images: {metrics['mAP']:.3f}")

    record = shapes(num_images=1, image_size=(200, 300), split="test", seed=1)[0]
    print(
        "ground truth:",
        [
            (CLASS_NAMES[c - 1], np.round(b).astype(int).tolist())
            for b, c in zip(record["boxes"], record["labels"])
        ],
    )
    results = detect(model, record["image"])[0]  # the spec's score threshold (0.3)
    for box, name, score in zip(results["boxes"], results["class_names"], results["scores"]):
        print(f"detected {name:8s} {score:.2f} at {np.round(box).astype(int).tolist()}")
    found = hits(results["boxes"], results["classes"], record)

    path = os.path.join(args.out, "tiny_ssd_saved_model")
    report = export(model, "saved_model", path, overwrite=True, verify_images=[record["image"]])
    out = load_runner(path, "saved_model")(record["image"][None])
    count = int(out["num_detections"][0])
    exported = hits(out["boxes"][0, :count], out["classes"][0, :count], record)
    print(
        f"SavedModel at {path}: verified against Keras ({report['verification']['matched']} detections match)"
    )
    print(f"done in {time.perf_counter() - start:.0f} s")
    print(
        f"found {found}/{len(record['labels'])} shapes (right class, IoU > 0.5); "
        f"the SavedModel found {exported}/{len(record['labels'])}"
    )


if __name__ == "__main__":
    main()
