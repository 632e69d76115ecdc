"""Anchor matching: hand cases and brute-force re-implementations of both rules."""

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


def _overlaps(gt, anchors):
    return np.array([[_iou(g, a) for a in anchors] for g in gt]).reshape(len(gt), len(anchors))


def brute_force_bipartite(gt, valid, anchors, threshold, negative_threshold=None):
    """The original SSD's rule, one pair at a time.

    1. repeatedly take the (valid box, anchor) pair of highest IoU among the boxes and
       anchors not yet taken (first box, then first anchor, on ties), until every valid box
       has an anchor;
    2. every other anchor takes the valid box of highest IoU (first on ties) if >= threshold;
    3. unmatched anchors whose best IoU is >= negative_threshold are ignored.
    """
    overlaps = _overlaps(gt, anchors)
    matched = np.zeros(len(anchors), int)
    positive = np.zeros(len(anchors), bool)
    free_boxes = [g for g in range(len(gt)) if valid[g]]
    free_anchors = list(range(len(anchors)))
    while free_boxes and free_anchors:
        best = max((overlaps[g, a], -g, -a) for g in free_boxes for a in free_anchors)
        g, a = -best[1], -best[2]
        matched[a], positive[a] = g, True
        free_boxes.remove(g)
        free_anchors.remove(a)
    ignored = np.zeros(len(anchors), bool)
    for a in free_anchors:
        rows = [g for g in range(len(gt)) if valid[g]]
        if not rows:
            continue
        g = max(rows, key=lambda r: (overlaps[r, a], -r))
        if overlaps[g, a] >= threshold:
            matched[a], positive[a] = g, True
        elif negative_threshold is not None and overlaps[g, a] >= negative_threshold:
            ignored[a] = True
    return matched, positive, ignored


def brute_force_match(gt, valid, anchors, threshold):
    """The "forced" rule, one anchor and one box at a time.

    1. every anchor takes the valid box of highest IoU (first one on ties) if IoU >= threshold;
    2. every valid box, in order, forces its best anchor (first one on ties), so a later box
       overwrites an earlier one on the same anchor.
    """
    overlaps = _overlaps(gt, anchors)
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
    [
        [0.0, 0.0, 0.5, 0.5],
        [0.5, 0.0, 1.0, 0.5],
        [0.0, 0.5, 0.5, 1.0],
        [0.5, 0.5, 1.0, 1.0],
        [0.25, 0.25, 0.75, 0.75],
    ],
    "float32",
)


def test_threshold_and_argmax_gt():
    gt = np.array([[0.0, 0.0, 0.5, 0.55], [0.5, 0.5, 1.0, 0.95]], "float32")
    idx, pos, ignored = match_anchors(gt, np.array([True, True]), ANCHORS, match_threshold=0.5)
    assert not np_(ignored).any()
    assert np_(pos).tolist() == [True, False, False, True, False]
    assert np_(idx).tolist() == [0, 0, 0, 1, 0]  # 0 where negative


def test_forced_best_anchor_below_threshold(compiled):
    # IoU 0.04 / 0.25 = 0.16 with anchor 4 (it contains the box), 0.01 / 0.28 with anchors 0-3
    gt = np.array([[0.4, 0.4, 0.6, 0.6]], "float32")
    match = compiled(functools.partial(match_anchors, match_threshold=0.45))
    idx, pos, _ = match(gt, np.array([True]), ANCHORS)
    assert np_(pos).tolist() == [False, False, False, False, True]
    assert np_(idx)[4] == 0


def test_forced_last_box_wins_when_two_boxes_force_the_same_anchor(compiled):
    gt = np.array([[0.3, 0.3, 0.7, 0.7], [0.35, 0.35, 0.65, 0.65]], "float32")  # both -> anchor 4
    match = compiled(functools.partial(match_anchors, match_threshold=0.99, matching="forced"))
    idx, pos, _ = match(gt, np.array([True, True]), ANCHORS)
    assert np_(pos).tolist() == [False, False, False, False, True]
    assert np_(idx)[4] == 1
    expected_idx, expected_pos = brute_force_match(gt, [True, True], ANCHORS, 0.99)
    assert expected_idx[4] == 1 and expected_pos.tolist() == np_(pos).tolist()


def test_padding_rows_are_ignored(compiled):
    # Row 1 duplicates anchor 1 exactly but is marked invalid: it must not match anything.
    gt = np.array([[0.5, 0.5, 1.0, 1.0], [0.5, 0.0, 1.0, 0.5], [0, 0, 0, 0]], "float32")
    for matching in ("bipartite", "forced"):
        match = compiled(functools.partial(match_anchors, matching=matching))
        idx, pos, _ = match(gt, np.array([True, False, False]), ANCHORS)
        assert np_(pos).tolist() == [False, False, False, True, False]
        assert np_(idx)[3] == 0
        # All rows invalid: no positive at all.
        _, pos, _ = match(gt, np.array([False, False, False]), ANCHORS)
        assert not np_(pos).any()


def test_bipartite_gives_the_second_box_its_next_best_anchor(compiled):
    gt = np.array([[0.3, 0.3, 0.7, 0.7], [0.35, 0.35, 0.65, 0.65]], "float32")  # both -> anchor 4
    match = compiled(functools.partial(match_anchors, match_threshold=0.99))
    idx, pos, _ = match(gt, np.array([True, True]), ANCHORS)
    # box 0 has the higher IoU with anchor 4 (0.64 vs 0.36); box 1's next best are anchors
    # 0-3 (IoU 0.0225 / 0.3175 each): the first one, anchor 0, goes to it
    assert np_(pos).tolist() == [True, False, False, False, True]
    assert np_(idx).tolist() == [1, 0, 0, 0, 0]


def _random_case(rng, num_gt, num_anchors, crowded):
    centres = rng.uniform(0.1, 0.9, (num_anchors, 2))
    sizes = rng.uniform(0.05, 0.4, (num_anchors, 2))
    anchors = np.concatenate([centres - sizes / 2, centres + sizes / 2], -1).astype("float32")
    if crowded:  # many boxes around one spot, so that they share best anchors
        low = rng.uniform(0.35, 0.45, (num_gt, 2))
        size = rng.uniform(0.1, 0.2, (num_gt, 2))
    else:
        low = rng.uniform(0.0, 0.7, (num_gt, 2))
        size = rng.uniform(0.05, 0.3, (num_gt, 2))
    gt = np.concatenate([low, low + size], -1).astype("float32")
    return gt, anchors


@pytest.mark.parametrize("seed", range(8))
def test_bipartite_random_crowded_cases_against_brute_force(seed, compiled):
    rng = np.random.default_rng(100 + seed)
    crowded = seed % 2 == 0
    num_gt = int(rng.integers(8, 25)) if crowded else int(rng.integers(1, 7))
    gt, anchors = _random_case(rng, num_gt, 40, crowded)
    if seed == 3:  # exact ties: quantized boxes and anchors
        gt, anchors = np.round(gt * 8) / 8, np.round(anchors * 8) / 8
        gt[:, 2:] = np.maximum(gt[:, 2:], gt[:, :2] + 0.125)
        anchors[:, 2:] = np.maximum(anchors[:, 2:], anchors[:, :2] + 0.125)
    valid = rng.uniform(size=num_gt) < 0.8
    valid[0] = True
    threshold = float(rng.choice([0.3, 0.45, 0.5]))
    negative = None if seed % 4 == 1 else threshold - 0.1
    match = compiled(functools.partial(match_anchors, match_threshold=threshold, negative_threshold=negative))
    idx, pos, ignored = (np_(t) for t in match(gt, valid, anchors))
    expected_idx, expected_pos, expected_ignored = brute_force_bipartite(
        gt, valid, anchors, threshold, negative
    )
    np.testing.assert_array_equal(pos, expected_pos)
    np.testing.assert_array_equal(idx, np.where(expected_pos, expected_idx, 0))
    np.testing.assert_array_equal(ignored, expected_ignored)
    assert not np.any(ignored & pos)
    # every valid box owns at least one anchor, padding rows none
    owners = set(idx[pos].tolist())
    assert owners == set(np.flatnonzero(valid).tolist())
    if crowded:  # the case the forced rule gets wrong: some box loses its only anchor
        _, forced_pos, _ = (np_(t) for t in match_anchors(gt, valid, anchors, 0.99, matching="forced"))
        assert forced_pos.sum() < valid.sum()


@pytest.mark.parametrize("seed", range(6))
def test_forced_random_cases_against_brute_force(seed, compiled):
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
    match = compiled(functools.partial(match_anchors, match_threshold=threshold, matching="forced"))
    idx, pos, _ = match(gt, valid, anchors)
    expected_idx, expected_pos = brute_force_match(gt, valid, anchors, threshold)
    np.testing.assert_array_equal(np_(pos), expected_pos)
    np.testing.assert_array_equal(np_(idx)[expected_pos], expected_idx[expected_pos])
    assert np.all(np_(idx)[~expected_pos] == 0)
    # every valid box owns at least one anchor, unless a later box took its best anchor
    # (the rule has no bipartite resolution of such conflicts)
    owners = set(np_(idx)[np_(pos)].tolist())
    best = {
        g: int(np.argmax([brute_iou for brute_iou in _row(gt[g], anchors)])) for g in np.flatnonzero(valid)
    }
    for g, a in best.items():
        if not any(best[h] == a for h in best if h > g):
            assert g in owners


def _row(box, anchors):
    return [_iou(box, a) for a in anchors]


def test_neutral_zone_hand_case():
    # anchor IoUs with the box: 1.0, 0.5, 0.25, 0
    anchors = np.array([[0, 0, 0.4, 0.4], [0, 0, 0.4, 0.8], [0, 0, 0.8, 0.8], [0.5, 0.5, 1, 1]], "float32")
    gt = np.array([[0, 0, 0.4, 0.4]], "float32")
    _, pos, ignored = match_anchors(
        gt, np.array([True]), anchors, match_threshold=0.6, negative_threshold=0.25
    )
    assert np_(pos).tolist() == [True, False, False, False]
    assert np_(ignored).tolist() == [False, True, True, False]
    _, _, ignored = match_anchors(gt, np.array([True]), anchors, match_threshold=0.6)
    assert not np_(ignored).any()


def test_more_boxes_than_anchors_and_bad_arguments():
    anchors = ANCHORS[:2]
    gt = np.array([[0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5], [0, 0, 0.4, 0.4]], "float32")
    idx, pos, _ = match_anchors(gt, np.ones(3, bool), anchors, 0.99)
    assert np_(pos).tolist() == [True, True] and np_(idx).tolist() == [0, 1]
    with pytest.raises(ValueError, match="`matching`"):
        match_anchors(gt, np.ones(3, bool), anchors, matching="hungarian")
    from kssd.boxes import check_matching

    with pytest.raises(ValueError, match="`negative_threshold`"):
        check_matching("bipartite", 0.5, 0.6)
    with pytest.raises(ValueError, match="`match_threshold`"):
        check_matching("bipartite", 0.0, None)
