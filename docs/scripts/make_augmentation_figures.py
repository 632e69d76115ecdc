"""Draw the augmentation pictures of docs/guides/data_pipelines.md into docs/images/.

The input is a generated shapes image (kssd_zoo.datasets.shapes), so the figures hold no
third-party photo. Each figure shows the input, then the same input through a chain under
several seeds, boxes drawn in green with OpenCV.

Usage::

    python docs/scripts/make_augmentation_figures.py [--out docs/images]
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kssd.data.augment import face_augment, ssd_augment  # noqa: E402
from kssd.data.augment_geometric import resize  # noqa: E402
from kssd_zoo.datasets import shapes  # noqa: E402

OUT_SIZE = (120, 160)  # (height, width) of each tile, the 240x320 face input at half scale
PAD = 4


def draw(image, boxes, title):
    tile = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        cv2.rectangle(tile, (x1, y1), (x2 - 1, y2 - 1), (0, 255, 0), 1)
    cv2.putText(tile, title, (3, 11), cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def grid(tiles, columns):
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + columns - 1) // columns
    canvas = np.full((rows * (h + PAD) + PAD, columns * (w + PAD) + PAD, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        canvas[
            PAD + r * (h + PAD) : PAD + r * (h + PAD) + h, PAD + c * (w + PAD) : PAD + c * (w + PAD) + w
        ] = tile
    return canvas


def figure(chain, record, seeds, name, columns=4):
    image = tf.constant(record["image"], tf.float32)
    boxes = tf.constant(record["boxes"])
    labels = tf.constant(record["labels"])
    shown, shown_boxes = resize(image, boxes, OUT_SIZE)
    tiles = [draw(shown.numpy(), shown_boxes.numpy(), "input")]
    for s in seeds:
        out, b, _ = chain(image, boxes, labels, tf.constant([s, 0], tf.int64), OUT_SIZE)
        tiles.append(draw(out.numpy(), b.numpy(), f"seed {s}"))
    return grid(tiles, columns)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "images"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = shapes(
        num_images=1,
        image_size=(300, 400),
        seed=5,
        max_objects=8,
        min_objects=6,
        size_range=(0.06, 0.2),
        noise_std=0.0,
        split="val",
    )[0]
    figures = {
        "augment_face_chain.png": figure(face_augment, record, range(1, 8), "face"),
        "augment_ssd_chain.png": figure(ssd_augment, record, range(1, 8), "ssd"),
    }
    for name, canvas in figures.items():
        path = out / name
        cv2.imwrite(str(path), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{path}: {canvas.shape[1]}x{canvas.shape[0]}, {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
