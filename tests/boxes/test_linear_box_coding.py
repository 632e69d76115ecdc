"""The "linear" box coding (MediaPipe's scale-based sizes) next to the default SSD coding."""

import numpy as np
import pytest

from kssd.boxes.coder import BOX_CODINGS, decode, encode
from kssd.encoding import TargetEncoder, encode_targets
from kssd.layers import DecodeDetections

ANCHORS = np.array([[0.5, 0.5, 0.2, 0.4], [0.25, 0.75, 1.0, 1.0]], "float32")


def test_linear_decode_by_hand():
    # centre = a + t * v0 * a_wh, size = t * v1 * a_wh (no exp)
    offsets = np.array([[1.0, -2.0, 10.0, 5.0], [12.8, 0.0, 64.0, 32.0]], "float32")
    out = np.asarray(decode(offsets, ANCHORS, (0.1, 0.2), "linear"), "float64")
    cx, cy, w, h = 0.5 + 0.1 * 0.2, 0.5 - 0.2 * 0.4, 2.0 * 0.2, 1.0 * 0.4
    np.testing.assert_allclose(out[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], atol=1e-6)
    # MediaPipe: x_scale = w_scale = 128 is variances (1/128, 1/128) on unit anchors: pixels / 128
    out = np.asarray(decode(offsets[1:], ANCHORS[1:], (1 / 128, 1 / 128), "linear"), "float64")
    np.testing.assert_allclose(out[0], [0.35 - 0.25, 0.75 - 0.125, 0.35 + 0.25, 0.75 + 0.125], atol=1e-6)


def test_linear_encode_inverts_decode_and_ssd_is_unchanged():
    boxes = np.array([[0.4, 0.3, 0.7, 0.6], [0.1, 0.2, 0.5, 0.9]], "float32")
    offsets = encode(boxes, ANCHORS, (0.1, 0.2), "linear")
    np.testing.assert_allclose(np.asarray(decode(offsets, ANCHORS, (0.1, 0.2), "linear")), boxes, atol=1e-6)
    np.testing.assert_allclose(np.asarray(offsets)[0, 2:], [0.3 / (0.2 * 0.2), 0.3 / (0.2 * 0.4)], rtol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(encode(boxes, ANCHORS)), np.asarray(encode(boxes, ANCHORS, box_coding="ssd"))
    )
    assert BOX_CODINGS == ("ssd", "linear")
    with pytest.raises(ValueError, match="box_coding"):
        encode(boxes, ANCHORS, box_coding="exp")


def test_decode_detections_box_coding_option():
    y_pred = np.array([[[1.0, 0.0, 2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]]], "float32")
    layer = DecodeDetections(variances=(0.1, 0.5), clip=False, box_coding="linear")
    boxes = np.asarray(layer(y_pred, ANCHORS)["boxes"])
    np.testing.assert_allclose(
        boxes, np.asarray(decode(y_pred[..., :4], ANCHORS, (0.1, 0.5), "linear")), atol=1e-7
    )
    assert layer.get_config()["box_coding"] == "linear"
    assert DecodeDetections.from_config(layer.get_config()).box_coding == "linear"
    assert DecodeDetections().get_config()["box_coding"] == "ssd"
    with pytest.raises(ValueError, match="box_coding"):
        DecodeDetections(box_coding="log")


def test_target_encoding_with_the_linear_coding():
    anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]], "float32")
    boxes, labels = np.array([[0.5, 0.5, 1.0, 1.0]], "float32"), np.array([1])
    y = np.asarray(encode_targets(boxes, labels, anchors, variances=(0.1, 0.2), box_coding="linear"))
    np.testing.assert_allclose(y[1], [0.0, 0.0, 5.0, 5.0, 1.0], atol=1e-6)  # 0.5 / (0.2 * 0.5)
    ssd = np.asarray(encode_targets(boxes, labels, anchors))
    np.testing.assert_allclose(ssd[1, :4], 0.0, atol=1e-6)
    encoder = TargetEncoder(anchors, box_coding="linear", bounding_box_format="xyxy", image_size=(100, 100))
    out = np.asarray(encoder({"boxes": np.array([[50.0, 50.0, 100.0, 100.0]]), "labels": np.array([1])}))
    np.testing.assert_allclose(out, y, atol=1e-6)
