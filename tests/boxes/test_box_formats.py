"""Box format conversion: centre/corner helpers and convert_format."""

import keras
import numpy as np
import pytest

from kssd.boxes import KNOWN_FORMATS, center_to_corners, convert_format, corners_to_center


def np_(x):
    return keras.ops.convert_to_numpy(x)


def test_center_corner_hand_values_and_round_trip():
    centre = np.array([[0.5, 0.5, 0.2, 0.4], [10.0, 20.0, 4.0, 6.0]], "float32")
    corners = np.array([[0.4, 0.3, 0.6, 0.7], [8.0, 17.0, 12.0, 23.0]], "float32")
    np.testing.assert_allclose(np_(center_to_corners(centre)), corners, atol=1e-6)
    np.testing.assert_allclose(np_(corners_to_center(corners)), centre, atol=1e-6)
    batch = np.stack([centre, centre[::-1]])
    np.testing.assert_allclose(np_(corners_to_center(center_to_corners(batch))), batch, atol=1e-6)


BOX_XYXY = [20.0, 10.0, 60.0, 50.0]  # pixels in a 100 (h) x 200 (w) image
SAME_BOX = {
    "xyxy": BOX_XYXY,
    "yxyx": [10.0, 20.0, 50.0, 60.0],
    "xywh": [20.0, 10.0, 40.0, 40.0],
    "center_xywh": [40.0, 30.0, 40.0, 40.0],
    "center_yxhw": [30.0, 40.0, 40.0, 40.0],
    "rel_xyxy": [0.1, 0.1, 0.3, 0.5],
    "rel_yxyx": [0.1, 0.1, 0.5, 0.3],
    "rel_xywh": [0.1, 0.1, 0.2, 0.4],
    "rel_center_xywh": [0.2, 0.3, 0.2, 0.4],
}


def test_every_known_format_has_a_case():
    assert set(SAME_BOX) == set(KNOWN_FORMATS)


@pytest.mark.parametrize("source", sorted(SAME_BOX))
@pytest.mark.parametrize("target", ["xyxy", "rel_xyxy", "center_xywh"])
def test_convert_format_between_formats(source, target):
    boxes = np.array([SAME_BOX[source]], "float32")
    out = np_(convert_format(boxes, source, target, height=100, width=200))
    np.testing.assert_allclose(out, [SAME_BOX[target]], atol=1e-5)
    back = np_(convert_format(out, target, source, height=100, width=200))
    np.testing.assert_allclose(back, boxes, atol=1e-5)


def test_convert_format_same_format_is_identity():
    boxes = np.array([BOX_XYXY], "float32")
    assert convert_format(boxes, "xyxy", "xyxy") is boxes


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"source": "xyxy", "target": "cxcywh"}, "target"),
        ({"source": "XYXY", "target": "xyxy"}, "source"),
    ],
)
def test_convert_format_unknown_format_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        convert_format(np.zeros((1, 4), "float32"), **kwargs)
