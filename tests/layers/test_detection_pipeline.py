"""A small SSD-like functional model using all four kssd layers: runs and survives save/load."""

import keras
import numpy as np
import pytest

from kssd.anchors import anchors_per_cell, generate_anchors
from kssd.layers import NMS, AnchorBoxes, DecodeDetections, L2Normalization
from kssd.testing import run_model_saving_test

STEPS = [8, 16]
MIN_SIZES = [[8, 16], [24, 32, 48]]
NUM_CLASSES = 2  # object classes; logits have NUM_CLASSES + 1 channels (0 = background)


def _conv(filters, strides=1, activation=None):
    # Zeros at build (JAX compiles a random initializer per kernel shape, which is slow);
    # the weights are drawn with NumPy in _model_and_images.
    return keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", activation=activation, kernel_initializer="zeros"
    )


def build_tiny_ssd(image_shape=(64, 64, 3)):
    images = keras.Input(image_shape, name="images")
    x = _conv(4, 2, "relu")(images)
    x = _conv(8, 2, "relu")(x)
    p8 = _conv(8, 2, "relu")(x)
    p16 = _conv(8, 2, "relu")(p8)
    p8 = L2Normalization(gamma_init=20.0)(p8)
    heads = []
    for fmap, n in zip([p8, p16], anchors_per_cell(min_sizes=MIN_SIZES)):
        y = _conv(n * (4 + NUM_CLASSES + 1))(fmap)
        heads.append(keras.layers.Reshape((-1, 4 + NUM_CLASSES + 1))(y))
    y_pred = keras.layers.Concatenate(axis=1, name="y_pred")(heads)
    anchors = AnchorBoxes(steps=STEPS, min_sizes=MIN_SIZES)(images, [p8, p16])
    decoded = DecodeDetections(variances=(0.1, 0.2))(y_pred, anchors)
    detections = NMS(score_threshold=0.2, iou_threshold=0.45, max_detections=10)(
        decoded["boxes"], decoded["scores"]
    )
    outputs = dict(detections, y_pred=y_pred, anchors=anchors)
    return keras.Model(images, outputs, name="tiny_ssd")


def _model_and_images():
    model = build_tiny_ssd()
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            fan_in = 9 * layer.kernel.shape[2]
            layer.kernel.assign(rng.normal(0, np.sqrt(2 / fan_in), layer.kernel.shape).astype("float32"))
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    return model, images


def test_tiny_ssd_runs_and_round_trips_through_keras_file():
    model, images = _model_and_images()
    out = model(images)
    expected_anchors = generate_anchors((64, 64), steps=STEPS, min_sizes=MIN_SIZES)
    np.testing.assert_allclose(np.asarray(out["anchors"]), expected_anchors, atol=1e-6)
    assert tuple(out["y_pred"].shape) == (2, len(expected_anchors), 4 + NUM_CLASSES + 1)
    assert tuple(out["boxes"].shape) == (2, 10, 4)
    num = np.asarray(out["num_detections"])
    assert np.all((num >= 0) & (num <= 10))
    loaded = run_model_saving_test(model, images, rtol=1e-5, atol=1e-5)
    kinds = {type(layer).__name__ for layer in loaded.layers}
    assert {"AnchorBoxes", "DecodeDetections", "NonMaxSuppression", "L2Normalization"} <= kinds


@pytest.mark.slow
def test_tiny_ssd_loads_in_a_fresh_process_with_only_import_kssd():
    model, images = _model_and_images()
    run_model_saving_test(model, images, rtol=1e-5, atol=1e-5, fresh_process=True)
