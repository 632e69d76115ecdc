"""Build and train two small custom SSD detectors on generated data (runs in well under a minute).

1. Directly from Keras layers + kssd: a backbone and one head per level handed to
   kssd.models.SSDDetector, which owns its anchors, matching and decoder, so `fit` trains,
   `predict` returns boxes, and detection, evaluation, export and stickers take the same calls as
   for a zoo model. No YAML.
2. From a small YAML spec with kssd_zoo, including a block registered by this script.

Run: python examples/custom_detector_from_layers.py
"""

import argparse
import tempfile
from pathlib import Path

import keras
import numpy as np

import kssd_zoo
from kssd.anchors import anchors_per_cell
from kssd.encoding import encode_targets
from kssd.export import export
from kssd.inference import detect
from kssd.inference.detect_fn import make_detect_fn
from kssd.layers import NMS, AnchorBoxes, BatchNormalization
from kssd.losses import SSDLoss
from kssd.metrics import detect_records, detection_metrics
from kssd.models import SSDDetector
from kssd_zoo.blocks import register_block
from kssd_zoo.sticker import Stickerer

SIZE = 96  # input height and width
NUM_CLASSES = 2  # objects only; class 0 is background


def make_data(anchors, count=16, seed=0):
    """Random images with one bright square (class 1) or dark square (class 2) each.

    Returns images, encoded targets and the squares (pixels ``x0 y0 x1 y1``, class)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(80, 160, (count, SIZE, SIZE, 3)).astype("float32")
    targets, squares = [], []
    for i in range(count):
        side = rng.integers(16, 48)
        x0, y0 = rng.integers(0, SIZE - side, size=2)
        label = 1 + i % 2
        images[i, y0 : y0 + side, x0 : x0 + side] = 250.0 if label == 1 else 5.0
        box = np.array([[x0, y0, x0 + side, y0 + side]], "float32") / SIZE  # rel xyxy
        targets.append(np.asarray(encode_targets(box, np.array([label]), anchors)))
        squares.append(([int(x0), int(y0), int(x0 + side), int(y0 + side)], label))
    return images, np.stack(targets).astype("float32"), squares


# ---------------------------------------------------------------- 1. from layers, no YAML
ANCHOR_ARGS = dict(steps=[8, 16], scales=[0.2, 0.4, 0.7], aspect_ratios=[[2], [2]])


def detector_from_layers():
    """A backbone with two detection levels, one head per level, handed to SSDDetector."""
    cells = anchors_per_cell(scales=ANCHOR_ARGS["scales"], aspect_ratios=ANCHOR_ARGS["aspect_ratios"])
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    features = []
    for filters in (16, 32, 64, 64):  # strides 2, 4, 8, 16
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
        features.append(x)
    backbone = keras.Model(inputs, features[2:], name="layers_ssd")  # levels at stride 8 and 16

    def head(anchors_in_cell):
        """Per level: box offsets and class logits for each anchor of each cell."""

        def predict(feature_map):
            locations = keras.layers.Conv2D(anchors_in_cell * 4, 3, padding="same")(feature_map)
            logits = keras.layers.Conv2D(anchors_in_cell * (NUM_CLASSES + 1), 3, padding="same")(feature_map)
            return locations, logits

        return predict

    model = SSDDetector(
        backbone,
        [head(n) for n in cells],
        anchor_generator=AnchorBoxes(**ANCHOR_ARGS),
        num_classes=NUM_CLASSES,
        class_names=["bright", "dark"],
        prediction_decoder=NMS(score_threshold=0.3, max_detections=10),
        normalization={"scale": 1 / 255.0, "offset": 0.0},
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=SSDLoss(neg_pos_ratio=3))
    return model


def same_calls_as_a_zoo_model(model, images, squares):
    """Detect at any image size, evaluate, export and sticker: the calls a zoo model takes."""
    photos = [image.astype("uint8") for image in images[:8]]
    records = [
        {"image_id": str(i), "image": photo, "boxes": np.array([box], "float32"), "labels": np.array([label])}
        for i, (photo, (box, label)) in enumerate(zip(photos, squares))
    ]
    found = detect_records(make_detect_fn(model), records)
    print(
        "  voc07 on 8 training images:",
        detection_metrics("voc07", records, found, class_names=model.class_names),
    )
    wide = detect(model, np.pad(photos[0], ((0, 0), (0, 48), (0, 0)), constant_values=120))[
        0
    ]  # any size: letterboxed
    print(f"  detect on a 96x144 photo: {len(wide['boxes'])} boxes, classes {wide['class_names']}")
    report = export(model, "keras", Path(tempfile.mkdtemp()) / "layers_ssd_inference.keras")
    print(f"  exported {report['format']} to {report['path']} (verified: {report['verification']['ok']})")
    stickered, faces = Stickerer(model=model, class_name="bright", landmarks="none")(photos[0])
    print(f"  stickered image {stickered.shape} with {len(faces)} sticker(s) on bright squares")


# ---------------------------------------------------------------- 2. from a YAML spec
@register_block("double_conv")
def double_conv(inputs, *, name, filters, strides=2):
    """Two 3x3 conv + BN + ReLU; the first one strided. Layers are named after the node."""
    x = inputs
    for i, s in enumerate((strides, 1)):
        x = keras.layers.Conv2D(
            filters, 3, strides=s, padding="same", use_bias=False, name=f"{name}_conv{i}"
        )(x)
        x = BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


SPEC = """\
name: squares_ssd
description: Two-level toy detector for bright and dark squares.
input: {shape: [96, 96, 3], dynamic: true}
normalization: {mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5]}
num_classes: 2
class_names: [bright, dark]
backbone:
  - {name: stem, block: conv_bn, from: input, args: {filters: 16, strides: 2}}
  - {name: s4, block: double_conv, args: {filters: 32}}
  - {name: s8, block: double_conv, args: {filters: 64}}
  - {name: s16, block: conv_dw, args: {filters: 64, strides: 2}}
heads: {block: conv_head, from: [s8, s16]}
anchors: {steps: [8, 16], scales: [0.2, 0.4, 0.7], aspect_ratios: [[2], [2]]}
training:
  optimizer: {name: adam}
  schedule: {name: warmup_multistep, initial_learning_rate: 0.002, warmup_epochs: 1, decay_epochs: [3], min_learning_rate: 0.0002}
"""


def detector_from_spec():
    path = Path(tempfile.mkdtemp()) / "squares_ssd.yaml"
    path.write_text(SPEC)
    return kssd_zoo.build(str(path), steps_per_epoch=4)


def main():
    keras.utils.set_random_seed(0)
    model = detector_from_layers()
    x, y, squares = make_data(model.anchors, count=64)
    history = model.fit(x, y, batch_size=8, epochs=30, verbose=0)
    print(
        f"layers model: {model.count_params()} params, {len(model.anchors)} anchors, "
        f"loss {history.history['loss'][0]:.2f} -> {history.history['loss'][-1]:.2f}"
    )
    found = model.predict(x[:1], verbose=0)  # detections, boxes in input pixels
    truth_box, truth_class = squares[0]
    print(
        f"  predict on image 0: {int(found['num_detections'][0])} detections, best "
        f"{model.class_names[int(found['classes'][0, 0]) - 1]} {found['scores'][0, 0]:.2f} at "
        f"{np.round(found['boxes'][0, 0]).tolist()} (truth: {model.class_names[truth_class - 1]} at {truth_box})"
    )
    saved = Path(tempfile.mkdtemp()) / "layers_ssd.keras"
    model.save(saved)
    clone = keras.saving.load_model(saved)  # needs only `import kssd`
    np.testing.assert_allclose(clone.predict(x[:1], verbose=0)["boxes"], found["boxes"], atol=1e-3)
    same_calls_as_a_zoo_model(model, x, squares)

    detector = detector_from_spec()
    x, y, _ = make_data(detector.anchors)
    history = detector.fit(x, y, batch_size=4, epochs=2, verbose=0)
    print(
        f"spec model {detector.name}: {detector.count_params()} params, {len(detector.anchors)} anchors, "
        f"losses {history.history['loss']}"
    )
    assert all(np.isfinite(history.history["loss"]))
    saved = Path(tempfile.mkdtemp()) / "squares_ssd.keras"
    detector.save(saved)
    clone = keras.saving.load_model(saved)
    np.testing.assert_allclose(np.asarray(clone(x[:1])), np.asarray(detector(x[:1])), atol=1e-5)
    print("saved and reloaded:", saved)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
