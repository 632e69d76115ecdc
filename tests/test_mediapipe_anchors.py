"""kssd.anchors.mediapipe_anchor_args: MediaPipe SsdAnchorsCalculator options as kssd anchors."""

import math

import numpy as np
import pytest

from kssd.anchors import generate_anchors, mediapipe_anchor_args
from kssd.layers import AnchorBoxes


def reference(size, strides, min_scale, max_scale, ratios, interpolated, reduce_lowest, fixed):
    """MediaPipe's calculator cell by cell (independent of the kssd translation)."""
    n = len(strides)

    def scale(i):
        return (min_scale + max_scale) / 2 if n == 1 else min_scale + (max_scale - min_scale) * i / (n - 1)

    rows, layer = [], 0
    while layer < n:
        cell = []
        last = layer
        while last < n and strides[last] == strides[layer]:
            s = scale(last)
            pairs = (
                [(1.0, 0.1), (2.0, s), (0.5, s)] if last == 0 and reduce_lowest else [(r, s) for r in ratios]
            )
            if interpolated > 0 and not (last == 0 and reduce_lowest):
                pairs.append((interpolated, math.sqrt(s * (1.0 if last == n - 1 else scale(last + 1)))))
            cell += pairs
            last += 1
        grid = math.ceil(size / strides[layer])
        for y in range(grid):
            for x in range(grid):
                for r, s in cell:
                    wh = (1.0, 1.0) if fixed else (s * math.sqrt(r), s / math.sqrt(r))
                    rows.append([(x + 0.5) / grid, (y + 0.5) / grid, *wh])
        layer = last
    return np.array(rows, "float32")


@pytest.mark.parametrize(
    "size, strides, ratios, interpolated, reduce_lowest, fixed",
    [
        (128, [8, 16, 16, 16], [1.0], 1.0, False, True),  # BlazeFace short range: 896
        (128, [8, 16, 16, 16], [1.0], 1.0, False, False),
        (300, [16, 32, 64, 128, 256, 512], [1.0, 2.0, 0.5, 3.0, 1.0 / 3], 1.0, True, False),  # SSD MobileNet
        (192, [4], [1.0], 0.0, False, True),  # BlazeFace full range: 2304
    ],
)
def test_equals_the_calculator(size, strides, ratios, interpolated, reduce_lowest, fixed):
    args = mediapipe_anchor_args(
        size,
        strides=strides,
        min_scale=0.2,
        max_scale=0.95,
        aspect_ratios=ratios,
        interpolated_scale_aspect_ratio=interpolated,
        reduce_boxes_in_lowest_layer=reduce_lowest,
        fixed_anchor_size=fixed,
    )
    expected = reference(size, strides, 0.2, 0.95, ratios, interpolated, reduce_lowest, fixed)
    anchors = generate_anchors(size, **args)
    assert anchors.shape == expected.shape
    np.testing.assert_allclose(anchors, expected, atol=1e-6)
    # the layer gives the same anchors from the feature maps
    layer = AnchorBoxes(**args)
    maps = [np.zeros((1, math.ceil(size / s), math.ceil(size / s), 1), "float32") for s in args["steps"]]
    np.testing.assert_allclose(
        np.asarray(layer(np.zeros((1, size, size, 3), "float32"), maps)), expected, atol=1e-6
    )


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="num_layers"):
        mediapipe_anchor_args(128, strides=[8, 16], min_scale=0.1, max_scale=0.7, num_layers=3)
    with pytest.raises(ValueError, match="anchor_offset"):
        mediapipe_anchor_args(128, strides=[8], min_scale=0.1, max_scale=0.7, anchor_offset=0.0)
