"""Anchor generation: value-for-value with the prior boxes of the slim face SSD tutorial, SSD300, order, errors."""

import math

import numpy as np
import pytest

from kssd.anchors import anchors_per_cell, feature_map_sizes, generate_anchors, level_box_sizes

FACE_STEPS = [8, 16, 32, 64]
FACE_MIN_SIZES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
SSD300_SCALES = [0.1, 0.2, 0.375, 0.55, 0.725, 0.9, 1.075]
SSD300_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]


def reference_prior_boxes(image_size, steps, min_sizes):
    """Prior boxes as the slim face SSD tutorial describes them (own loop code): cell by cell, size by size."""
    height, width = image_size
    out = []
    for step, sizes in zip(steps, min_sizes):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        for i in range(rows):
            for j in range(cols):
                for size in sizes:
                    size_h, size_w = (size, size) if isinstance(size, int) else size
                    out.append(
                        [(j + 0.5) * step / width, (i + 0.5) * step / height, size_w / width, size_h / height]
                    )
    return np.array(out, dtype="float64")


def test_face_anchors_equal_the_tutorial_prior_boxes():
    anchors = generate_anchors((240, 320), steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES)
    assert anchors.dtype == np.float32 and anchors.shape == (4420, 4)
    np.testing.assert_allclose(
        anchors, reference_prior_boxes((240, 320), FACE_STEPS, FACE_MIN_SIZES), atol=1e-6
    )
    np.testing.assert_allclose(anchors[0], [0.0125, 0.016666667, 0.03125, 0.041666667], atol=1e-6)
    np.testing.assert_allclose(anchors[-1], [0.9, 0.93333333, 0.8, 1.06666667], atol=1e-6)
    # the tutorial's printed rows 2, 3 and the last three
    np.testing.assert_allclose(
        anchors[1:3], [[0.0125, 0.01666667, 0.05, 0.06666667], [0.0125, 0.01666667, 0.075, 0.1]], atol=1e-6
    )
    np.testing.assert_allclose(
        anchors[-3:-1], [[0.9, 0.93333333, 0.4, 0.53333333], [0.9, 0.93333333, 0.6, 0.8]], atol=1e-6
    )


def test_non_divisible_size_and_rectangular_min_sizes_follow_the_reference():
    min_sizes = [[10, (12, 20)], [32], [(64, 40)], [128, 256]]
    anchors = generate_anchors((250, 330), steps=FACE_STEPS, min_sizes=min_sizes)
    reference = reference_prior_boxes((250, 330), FACE_STEPS, min_sizes)
    assert anchors.shape == reference.shape == ((32 * 42) * 2 + 16 * 21 + 8 * 11 + 4 * 6 * 2, 4)
    np.testing.assert_allclose(anchors, reference, atol=1e-6)


def test_feature_map_sizes_use_ceil():
    assert feature_map_sizes((240, 320), steps=FACE_STEPS) == [(30, 40), (15, 20), (8, 10), (4, 5)]
    assert feature_map_sizes((250, 330), steps=[64]) == [(4, 6)]
    assert feature_map_sizes(300, feature_sizes=[38, (3, 5)]) == [(38, 38), (3, 5)]


def test_ssd300_voc_has_8732_anchors_and_the_per_cell_order():
    anchors = generate_anchors(
        300, feature_sizes=[38, 19, 10, 5, 3, 1], scales=SSD300_SCALES, aspect_ratios=SSD300_RATIOS
    )
    assert anchors.shape == (8732, 4)
    assert anchors_per_cell(scales=SSD300_SCALES, aspect_ratios=SSD300_RATIOS) == [4, 6, 6, 6, 4, 4]
    r2, r3 = math.sqrt(2), math.sqrt(3)
    c = 0.5 / 38
    # first cell of level 0: 1:1, extra sqrt(s0 s1), then 2 and 1/2
    np.testing.assert_allclose(
        anchors[:4],
        [
            [c, c, 0.1, 0.1],
            [c, c, math.sqrt(0.02), math.sqrt(0.02)],
            [c, c, 0.1 * r2, 0.1 / r2],
            [c, c, 0.1 / r2, 0.1 * r2],
        ],
        atol=1e-6,
    )
    # second cell is one column to the right (row-major), same sizes
    np.testing.assert_allclose(anchors[4:8, 0], 1.5 / 38, atol=1e-7)
    np.testing.assert_allclose(anchors[4:8, 1], c, atol=1e-7)
    np.testing.assert_allclose(anchors[4:8, 2:], anchors[:4, 2:], atol=1e-7)
    # the cell of row 1, column 0 of level 0 comes after the 38 cells of row 0
    np.testing.assert_allclose(anchors[38 * 4, :2], [c, 1.5 / 38], atol=1e-7)
    # level 1 starts after 38*38*4 anchors with 6 boxes per cell: ..., 3 and 1/3
    start = 38 * 38 * 4
    s = 0.2
    np.testing.assert_allclose(
        anchors[start : start + 6],
        [
            [0.5 / 19, 0.5 / 19, s, s],
            [0.5 / 19, 0.5 / 19, math.sqrt(s * 0.375), math.sqrt(s * 0.375)],
            [0.5 / 19, 0.5 / 19, s * r2, s / r2],
            [0.5 / 19, 0.5 / 19, s / r2, s * r2],
            [0.5 / 19, 0.5 / 19, s * r3, s / r3],
            [0.5 / 19, 0.5 / 19, s / r3, s * r3],
        ],
        atol=1e-6,
    )
    # last level: a single centred cell, extra box uses the last scale 1.075
    np.testing.assert_allclose(anchors[-4:, :2], 0.5, atol=1e-7)
    np.testing.assert_allclose(anchors[-3, 2:], math.sqrt(0.9 * 1.075), atol=1e-6)


def test_face_cell_order_is_sizes_within_a_cell_then_columns_then_rows():
    anchors = generate_anchors((240, 320), steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES)
    level0 = anchors[: 30 * 40 * 3].reshape(30, 40, 3, 4)
    np.testing.assert_allclose(
        level0[..., 0], ((np.arange(40) + 0.5) * 8 / 320)[None, :, None] * np.ones((30, 1, 3)), atol=1e-6
    )
    np.testing.assert_allclose(
        level0[..., 1], ((np.arange(30) + 0.5) * 8 / 240)[:, None, None] * np.ones((1, 40, 3)), atol=1e-6
    )
    np.testing.assert_allclose(level0[0, 0, :, 2], [10 / 320, 16 / 320, 24 / 320], atol=1e-7)


def test_clip():
    raw = generate_anchors((240, 320), steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES)
    clipped = generate_anchors((240, 320), steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES, clip=True)
    assert raw.max() > 1.0 and clipped.max() == 1.0 and clipped.min() >= 0.0
    np.testing.assert_allclose(clipped, np.clip(raw, 0.0, 1.0))
    np.testing.assert_allclose(clipped[-1], [0.9, 0.93333333, 0.8, 1.0], atol=1e-6)


def test_level_box_sizes_pixel_and_relative():
    sizes, relative = level_box_sizes(min_sizes=[[10, (12, 20)]])
    assert not relative
    np.testing.assert_allclose(sizes[0], [[10, 10], [20, 12]])  # (w, h); (h, w) given
    sizes, relative = level_box_sizes(scales=[0.2, 0.8], aspect_ratios=[[4]], extra_box=False)
    assert relative
    np.testing.assert_allclose(sizes[0], [[0.2, 0.2], [0.4, 0.1], [0.1, 0.4]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=[8, 16, 32], min_sizes=FACE_MIN_SIZES), "steps"),
        (dict(steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES[:3]), "min_sizes"),
        (dict(steps=FACE_STEPS, min_sizes=[[10, 0], [32], [64], [128]]), r"min_sizes\[0\]"),
        (dict(steps=FACE_STEPS, min_sizes=[[10], [-32], [64], [128]]), r"min_sizes\[1\]"),
        (dict(steps=FACE_STEPS, min_sizes=[[10], [], [64], [128]]), r"min_sizes\[1\]"),
        (dict(steps=[8, 16, 0, 64], min_sizes=FACE_MIN_SIZES), "steps"),
        (
            dict(feature_sizes=[38, 19, 10, 5, 3, 1], scales=SSD300_SCALES[:-1], aspect_ratios=SSD300_RATIOS),
            "scales",
        ),
        (dict(feature_sizes=[38, 19, 10, 5, 3, 1], scales=SSD300_SCALES[:-1]), "scales"),
        (dict(feature_sizes=[1], scales=[0.5]), "scales"),
        (dict(feature_sizes=[2], scales=[0.5, -0.1]), "scales"),
        (dict(feature_sizes=[2], scales=[0.5, 0.9], aspect_ratios=[[0]]), "aspect_ratios"),
        (dict(feature_sizes=[0], scales=[0.5, 0.9]), "feature_sizes"),
        (dict(steps=FACE_STEPS), "min_sizes"),
        (dict(steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES, scales=SSD300_SCALES), "min_sizes"),
        (dict(min_sizes=FACE_MIN_SIZES), "steps"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_anchors((240, 320), **kwargs)


@pytest.mark.parametrize("image_size", [(240,), (0, 320), "240x320"])
def test_bad_image_size(image_size):
    with pytest.raises(ValueError, match="image_size"):
        generate_anchors(image_size, steps=FACE_STEPS, min_sizes=FACE_MIN_SIZES)


def test_grid_centres_equal_explicit_feature_sizes_and_validate():
    sizes = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
    grid = generate_anchors((240, 320), steps=[8, 16, 32, 64], min_sizes=sizes, centers="grid")
    explicit = generate_anchors(
        (240, 320), feature_sizes=[(30, 40), (15, 20), (8, 10), (4, 5)], min_sizes=sizes
    )
    np.testing.assert_array_equal(grid, explicit)
    # Level 3 (step 32, 8 rows over 240 px): the last row's centre is 7.5 / 8, not 7.5 * 32 / 240.
    step = generate_anchors((240, 320), steps=[8, 16, 32, 64], min_sizes=sizes)
    assert not np.allclose(grid, step)
    with pytest.raises(ValueError, match="centers"):
        generate_anchors((240, 320), steps=[8], min_sizes=[[10]], centers="middle")
    with pytest.raises(ValueError, match="centers"):
        generate_anchors((240, 320), feature_sizes=[4], min_sizes=[[10]], centers="step")
