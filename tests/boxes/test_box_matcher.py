"""Anchor matching: hand cases and a brute-force re-implementation of the rule."""

import functools

import keras
import numpy as np
import pytest

from kssd.boxes import match_anchors


def np_(x):
    return keras.ops.convert_to_numpy(x)


def _iou(p, q):
    w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = w * h
    union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
    return inter / union if union > 0 else 0.0


def brute_force_match(gt, valid, anchors, threshold):
    """The rule, one anchor and one box at a time.

    1. every anchor takes the valid box of highest IoU (first one on ties) if IoU >= threshold;
    2. every valid box, in order, forces its best anchor (first one on ties), so a later box
       overwrites an earlier one on the same anchor.
    """
    overlaps = np.array([[_iou(g, a) for a in anchors] for g in gt]).reshape(len(gt), len(anchors))
    matched = np.zeros(len(anchors), int)
    positive = np.zeros(len(anchors), bool)
    for a in range(len(anchors)):
        best, best_iou = None, -1.0
        for g in range(len(gt)):
            if valid[g] and overlaps[g, a] > best_iou:
                best, best_iou = g, overlaps[g, a]
        if best is not None and best_iou >= threshold:
            matched[a], positive[a] = best, True
    for g in range(len(gt)):
        if valid[g]:
            a = int(np.argmax(overlaps[g]))
            matched[a], positive[a] = g, True
    return matched, positive


ANCHORS = np.array(
    [[0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 1.0, 0.5], [0.0, 0.5, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0],
     [0.25, 0.25, 0.75, 0.75]], "float32",
)


def test_threshold_and_argmax_gt():
    gt = np.array([[0.0, 0.0, 0.5, 0.55], [0.5, 0.5, 1.0, 0.95]], "float32")
    idx, pos = match_anchors(gt, np.array([True, True]), ANCHORS, match_threshold=0.5)
    assert np_(pos).tolist() == [True, False, False, True, False]
    assert np_(idx).tolist() == [0, 0, 0, 1, 0]  # 0 where negative


def test_forced_best_anchor_below_threshold(compiled):
    # IoU 0.04 / 0.25 = 0.16 with anchor 4 (it contains the box), 0.01 / 0.28 with anchors 0-3
    gt = np.array([[0.4, 0.4, 0.6, 0.6]], "float32")
    match = compiled(functools.partial(match_anchors, match_threshold=0.45))
    idx, pos = match(gt, np.array([True]), ANCHORS)
    assert np_(pos).tolist() == [False, False, False, False, True]
    assert np_(idx)[4] == 0


def test_last_box_wins_when_two_boxes_force_the_same_anchor(compiled):
    gt = np.array([[0.3, 0.3, 0.7, 0.7], [0.35, 0.35, 0.65, 0.65]], "float32")  # both -> anchor 4
    match = compiled(functools.partial(match_anchors, match_threshold=0.99))
    idx, pos = match(gt, np.array([True, True]), ANCHORS)
    assert np_(pos).tolist() == [False, False, False, False, True]
    assert np_(idx)[4] == 1
    expected_idx, expected_pos = brute_force_match(gt, [True, True], ANCHORS, 0.99)
    assert expected_idx[4] == 1 and expected_pos.tolist() == np_(pos).tolist()


def test_padding_rows_are_ignored(compiled):
    # Row 1 duplicates anchor 1 exactly but is marked invalid: it must not match anything.
    gt = np.array([[0.5, 0.5, 1.0, 1.0], [0.5, 0.0, 1.0, 0.5], [0, 0, 0, 0]], "float32")
    match = compiled(match_anchors)
    idx, pos = match(gt, np.array([True, False, False]), ANCHORS)
    assert np_(pos).tolist() == [False, False, False, True, False]
    assert np_(idx)[3] == 0
    # All rows invalid: no positive at all.
    _, pos = match(gt, np.array([False, False, False]), ANCHORS)
    assert not np_(pos).any()


@pytest.mark.parametrize("seed", range(6))
def test_random_cases_against_brute_force(seed, compiled):
    rng = np.random.default_rng(seed)
    num_gt, num_anchors = int(rng.integers(1, 7)), 40
    centres = rng.uniform(0.1, 0.9, (num_anchors, 2))
    sizes = rng.uniform(0.05, 0.4, (num_anchors, 2))
    anchors = np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype("float32")
    low = rng.uniform(0.0, 0.7, (num_gt, 2))
    gt = np.concatenate([low, low + rng.uniform(0.05, 0.3, (num_gt, 2))], -1).astype("float32")
    valid = rng.uniform(size=num_gt) < 0.8
    valid[0] = True
    threshold = float(rng.choice([0.3, 0.45, 0.5]))
    match = compiled(functools.partial(match_anchors, match_threshold=threshold))
    idx, pos = match(gt, valid, anchors)
    expected_idx, expected_pos = brute_force_match(gt, valid, anchors, threshold)
    np.testing.assert_array_equal(np_(pos), expected_pos)
    np.testing.assert_array_equal(np_(idx)[expected_pos], expected_idx[expected_pos])
    assert np.all(np_(idx)[~expected_pos] == 0)
    # every valid box owns at least one anchor, unless a later box took its best anchor
    # (the rule has no bipartite resolution of such conflicts)
    owners = set(np_(idx)[np_(pos)].tolist())
    best = {g: int(np.argmax([brute_iou for brute_iou in _row(gt[g], anchors)]))
            for g in np.flatnonzero(valid)}
    for g, a in best.items():
        if not any(best[h] == a for h in best if h > g):
            assert g in owners


def _row(box, anchors):
    return [_iou(box, a) for a in anchors]
