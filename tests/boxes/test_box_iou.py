"""IoU and box area against hand-computed values and a brute-force reference."""

import keras
import numpy as np
import pytest

from kssd.boxes import box_area, intersection, iou, iou_numpy


def np_(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),  # partial overlap: 1 / (4 + 4 - 1)
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),  # identical
        ([0, 0, 1, 1], [2, 2, 3, 3], 0.0),  # disjoint
        ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),  # touching edge only
        ([0, 0, 4, 4], [1, 1, 2, 2], 1 / 16),  # contained
        ([1, 1, 2, 2], [0, 0, 4, 4], 1 / 16),  # containing (symmetric)
        ([0, 0, 2, 1], [1, 0, 3, 1], 1 / 3),  # half overlap along x
        ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),  # both degenerate: empty union -> 0, not NaN
        ([0, 0, 0, 2], [0, 0, 2, 2], 0.0),  # zero-width box against a real one
        ([0.1, 0.2, 0.3, 0.6], [0.2, 0.4, 0.4, 0.8], 0.02 / 0.14),  # 0.1 x 0.2 of 0.08 + 0.08
    ],
)
def test_iou_hand_values(a, b, expected):
    value = np_(iou(np.array([a], "float32"), np.array([b], "float32")))
    assert value.shape == (1, 1)
    assert value[0, 0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),
        ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),  # touching edge only
        ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),  # empty union -> 0
        ([0, 0, 4, 4], [1, 1, 2, 2], 1 / 16),
    ],
)
def test_iou_numpy_hand_values_match_the_tensor_iou(a, b, expected):
    value = iou_numpy([a], [b])
    assert value.dtype == np.float64 and value.shape == (1, 1)
    assert value[0, 0] == pytest.approx(expected, abs=1e-12)
    assert value[0, 0] == pytest.approx(
        float(np_(iou(np.array([a], "float32"), np.array([b], "float32")))[0, 0])
    )


def test_iou_numpy_inclusive_pixels_and_empty_inputs():
    # Inclusive pixel indices: [0, 9] spans 10 pixels, so boxes sharing column 9 overlap.
    assert iou_numpy([0, 0, 9, 9], [9, 0, 18, 9])[0, 0] == 0.0
    assert iou_numpy([0, 0, 9, 9], [9, 0, 18, 9], inclusive_pixels=True)[0, 0] == pytest.approx(10 / 190)
    assert iou_numpy(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_box_area_and_intersection_hand_values():
    boxes = np.array([[0, 0, 2, 3], [1, 1, 1, 5], [3, 3, 1, 1]], "float32")
    np.testing.assert_allclose(np_(box_area(boxes)), [6.0, 0.0, 0.0])  # inverted -> 0
    inter = np_(intersection(boxes[:1], np.array([[1, 1, 4, 4], [5, 5, 6, 6]], "float32")))
    np.testing.assert_allclose(inter, [[2.0, 0.0]])


def _brute_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = w * h
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def _random_boxes(rng, n):
    low = rng.uniform(0, 0.8, (n, 2))
    return np.concatenate([low, low + rng.uniform(0.01, 0.5, (n, 2))], -1).astype("float32")


def test_iou_random_against_brute_force_and_batched(compiled):
    iou_fn = compiled(iou)
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 7), _random_boxes(rng, 11)
    value = np_(iou_fn(a, b))
    assert value.shape == (7, 11)
    np.testing.assert_allclose(value, _brute_iou(a, b), atol=1e-6)
    np.testing.assert_allclose(np_(iou_fn(b, a)), value.T, atol=1e-7)
    assert value.min() >= 0.0 and value.max() <= 1.0
    np.testing.assert_allclose(iou_numpy(a, b), value, atol=1e-6)
    # Leading batch dimensions broadcast.
    batch_a = np.stack([a, a[::-1]])
    batch_b = np.stack([b, b])
    batched = np_(iou_fn(batch_a, batch_b))
    assert batched.shape == (2, 7, 11)
    np.testing.assert_allclose(batched[1], value[::-1], atol=1e-7)
