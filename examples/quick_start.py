"""Quick start: train a tiny SSD on generated shapes, detect on a photo-sized image, export it.

Runs in under a minute on a laptop CPU:

1. build ``tiny_ssd`` (3 classes: circle, square, triangle);
2. train it briefly on the generated shapes dataset (``kssd_zoo.datasets.shapes`` records
   through ``kssd.data.load_dataset``);
3. detect on a new 200x300 image (not the training size: the inference graph letterboxes it
   and returns boxes in its pixels) with ``kssd.inference.detect``;
4. export to a SavedModel (with resize, decode and NMS inside) and check it.

Usage: ``python examples/quick_start.py [--out /tmp/kssd_quick_start] [--epochs 4]``
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np

import kssd_zoo
from kssd.data import load_dataset
from kssd.export import export
from kssd.inference import detect
from kssd_zoo.datasets.shapes import shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "kssd_quick_start"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()

    model = kssd_zoo.tiny_ssd(steps_per_epoch=40)
    model.compile_from_spec(optimizer=keras.optimizers.Adam(3e-3))  # faster start than the spec's 1e-3
    train = load_dataset(
        shapes(num_images=640, seed=0), model, batch_size=16, augmentation="none", seed=0, repeat=True
    )
    model.fit(train, epochs=args.epochs, steps_per_epoch=40, verbose=2)

    record = shapes(num_images=1, image_size=(200, 300), split="test", seed=1)[0]
    results = detect(model, record["image"], score_threshold=0.25)[0]
    print(
        "ground truth:",
        [(int(c), np.round(b).astype(int).tolist()) for b, c in zip(record["boxes"], record["labels"])],
    )
    for box, name, score in zip(results["boxes"], results["class_names"], results["scores"]):
        print(f"detected {name:8s} {score:.2f} at {np.round(box).astype(int).tolist()}")

    path = os.path.join(args.out, "tiny_ssd_saved_model")
    report = export(model, "saved_model", path, overwrite=True, score_threshold=0.25)
    print(
        f"SavedModel at {path}: verified against Keras ({report['verification']['matched']} detections match)"
    )
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
