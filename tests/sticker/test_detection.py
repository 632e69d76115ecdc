"""Merging the detections of several passes goes through kssd's NMS layer."""

import numpy as np

from kssd_zoo.sticker.detection import merge_detections


def _greedy_reference(boxes, scores, iou_threshold):
    """Greedy NMS written out box by box: best score first, ties by lowest index."""
    from kssd.boxes import iou_numpy

    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(iou_numpy(boxes[i], boxes[j])[0, 0] <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def test_merge_keeps_the_best_of_overlapping_boxes_in_pixels():
    boxes = np.array([[100, 100, 200, 200], [105, 102, 205, 198], [400, 50, 480, 150]], np.float32)
    kept, scores = merge_detections(boxes, [0.8, 0.9, 0.75], 0.4)
    np.testing.assert_array_equal(kept, boxes[[1, 2]])
    np.testing.assert_allclose(scores, [0.9, 0.75])


def test_merge_matches_greedy_nms_with_ties_and_a_fixed_limit():
    rng = np.random.default_rng(0)
    for trial in range(6):
        n = int(rng.integers(1, 40))
        low = rng.uniform(0, 600, (n, 2))
        boxes = np.concatenate([low, low + rng.uniform(10, 150, (n, 2))], 1).astype(np.float32)
        scores = rng.choice([0.7, 0.8, 0.9], n) if trial % 2 else rng.uniform(0.5, 1.0, n)
        scores = scores.astype(np.float32)
        expected = _greedy_reference(boxes, scores, 0.4)
        kept, kept_scores = merge_detections(boxes, scores, 0.4, max_detections=64)
        np.testing.assert_array_equal(kept, boxes[expected])
        np.testing.assert_array_equal(kept_scores, scores[expected])


def test_merge_of_nothing_is_empty():
    kept, scores = merge_detections(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert kept.shape == (0, 4) and scores.shape == (0,)
