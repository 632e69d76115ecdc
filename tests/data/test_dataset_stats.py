"""Box-size histogram and anchor coverage (kssd.data.stats)."""

import math

import numpy as np
import pytest

from kssd.anchors import generate_anchors
from kssd.data import WiderFaceReader, anchor_coverage, box_size_histogram, make_record
from kssd.data.stats import bucket_labels, format_stats_table

FACE_ANCHORS = dict(steps=[8, 16, 32, 64], min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]])


def test_histogram_measures_after_resizing():
    records = [
        make_record(
            "a",
            [[0, 0, 8, 8], [0, 0, 100, 50], [0, 0, 300, 300]],
            [1, 1, 1],
            image_path="a",
            height=400,
            width=400,
        )
    ]
    assert bucket_labels() == ["<10", "10-20", "20-40", "40-80", "80-160", ">=160"]
    hist = box_size_histogram(records)
    assert hist == {"<10": 1, "10-20": 0, "20-40": 0, "40-80": 1, "80-160": 0, ">=160": 1}
    half = box_size_histogram(records, (200, 200))
    assert half == {"<10": 1, "10-20": 0, "20-40": 1, "40-80": 0, "80-160": 1, ">=160": 0}
    assert box_size_histogram(records, (200, 200), size_measure="min_side")["20-40"] == 1
    # A non-square resize scales x and y separately: 100x50 at (400->100, 400->400).
    assert box_size_histogram(records, (400, 100), size_measure="max_side", edges=(30, 60)) == {
        "<30": 1,
        "30-60": 1,
        ">=60": 1,
    }


def test_anchor_coverage_hand_computed():
    anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.1, 0.1]], np.float32)
    records = [
        make_record(
            "a",
            [
                [0, 0, 50, 50],  # IoU 1 with anchor 0
                [0, 0, 25, 50],  # IoU 0.5
                [70, 70, 75, 75],
            ],  # IoU 0.25 with anchor 1 (10x10)
            [1, 1, 1],
            image_path="a",
            height=100,
            width=100,
        ),
        make_record("b", image_path="b", height=100, width=100),
    ]
    result = anchor_coverage(records, anchors, (100, 100), match_threshold=0.45, edges=(10, 40))
    assert result["boxes"] == 3 and result["covered"] == 2
    assert result["coverage"] == pytest.approx(2 / 3)
    assert result["mean_best_iou"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert result["buckets"]["<10"] == {
        "boxes": 1,
        "covered": 0,
        "coverage": 0.0,
        "mean_best_iou": pytest.approx(0.25),
        "unmatched": None,
    }  # not counted without `matching`
    assert result["buckets"]["10-40"]["covered"] == 1  # 25x50 -> sqrt area 35.4
    assert result["buckets"][">=40"]["coverage"] == 1.0
    strict = anchor_coverage(records, anchors, 100, match_threshold=0.6, edges=(10, 40))
    assert strict["covered"] == 1
    empty = anchor_coverage([records[1]], anchors, (100, 100))
    assert empty["boxes"] == 0 and math.isnan(empty["coverage"])
    table = format_stats_table(box_size_histogram(records, (100, 100), edges=(10, 40)), result)
    assert "66.7%" in table and "covered = best anchor IoU >= 0.45" in table
    with pytest.raises(ValueError, match="image_size"):
        anchor_coverage(records, anchors, None)


def test_face_anchor_coverage_on_widerface_mini(shared):
    records = list(WiderFaceReader(shared("data", "faces", "widerface_mini")))
    anchors = generate_anchors((240, 320), **FACE_ANCHORS)
    result = anchor_coverage(records, anchors, (240, 320), 0.45)
    assert result["boxes"] == 146
    # Measured on the 10 images: at 240x320 most faces shrink under 10 px and only a few
    # reach IoU 0.45 with the smallest (10 px) anchors; every face of 20 px or more does.
    assert result["covered"] == 49
    assert result["buckets"]["<10"]["boxes"] == 95 and result["buckets"]["<10"]["covered"] == 8
    for name in ("20-40", "40-80"):
        bucket = result["buckets"][name]
        assert bucket["boxes"] > 0 and bucket["coverage"] == 1.0


def test_unmatched_boxes_hand_computed():
    # two boxes whose best anchor is anchor 0; the forced rule gives it to the last box only
    anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]], np.float32)
    records = [
        make_record("a", [[0, 0, 50, 50], [0, 0, 40, 40]], [1, 1], image_path="a", height=100, width=100)
    ]
    forced = anchor_coverage(records, anchors, (100, 100), edges=(45,), matching="forced")
    assert forced["unmatched"] == 1 and forced["matching"] == "forced"
    assert forced["buckets"][">=45"]["unmatched"] == 1  # the 50 px box lost its anchor
    assert forced["buckets"]["<45"]["unmatched"] == 0
    bipartite = anchor_coverage(records, anchors, (100, 100), edges=(45,), matching="bipartite")
    assert bipartite["unmatched"] == 0
    table = format_stats_table(box_size_histogram(records, (100, 100), edges=(45,)), forced)
    assert "no anchor" in table and "under forced matching" in table
    with pytest.raises(ValueError, match="`matching`"):
        anchor_coverage(records, anchors, (100, 100), matching="optimal")


def test_face_anchors_leave_no_widerface_mini_face_without_an_anchor(shared):
    records = list(WiderFaceReader(shared("data", "faces", "widerface_mini")))
    anchors = generate_anchors((240, 320), **FACE_ANCHORS)
    forced = anchor_coverage(records, anchors, (240, 320), 0.45, matching="forced")
    assert forced["unmatched"] == 9  # crowded small faces share their best anchor
    assert anchor_coverage(records, anchors, (240, 320), 0.45, matching="bipartite")["unmatched"] == 0
