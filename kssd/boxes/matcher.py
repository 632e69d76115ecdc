"""Anchor matching: which ground-truth box each anchor is responsible for."""

from kssd.backend import ops_for
from kssd.boxes.iou import iou


def match_anchors(gt_boxes, gt_valid, anchor_corners, match_threshold=0.45):
    """Match anchors to ground truth the SSD way (best-anchor forcing + IoU threshold).

    Each valid ground-truth box first claims the anchor it overlaps most (even below the
    threshold, so every object gets at least one anchor); every other anchor takes the box
    it overlaps most if that IoU is at least ``match_threshold``. Written with tensor ops
    only (no Python loop over boxes), so it runs inside tf.data and under ``jit``.

    Args:
        gt_boxes: tensor (N, 4) ``xyxy`` normalized; N may be 0 only if padded by the caller.
        gt_valid: bool tensor (N,), False for padding rows.
        anchor_corners: tensor (A, 4) anchors in ``xyxy`` (not centre form).
        match_threshold: minimum IoU for a non-forced match, default 0.45.

    Returns:
        ``(matched_index, positive)``: int32 (A,) index of the matched box (0 where
        negative) and bool (A,) positive mask.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import match_anchors
        >>> anchors = np.array([[0., 0., .5, .5], [.5, .5, 1., 1.], [0., .5, .5, 1.]])
        >>> gt = np.array([[.5, .5, .9, .9]])
        >>> idx, pos = match_anchors(gt, np.array([True]), anchors)
        >>> np.asarray(pos).tolist()
        [False, True, False]
    """
    ops = ops_for(gt_boxes, anchor_corners)
    overlaps = iou(gt_boxes, anchor_corners)  # (N, A)
    valid = ops.expand_dims(ops.cast(gt_valid, "bool"), -1)
    overlaps = ops.where(valid, overlaps, -1.0)

    best_gt_overlap = ops.max(overlaps, axis=0)  # (A,)
    best_gt_index = ops.cast(ops.argmax(overlaps, axis=0), "int32")

    # Forced matches: anchor a is the best anchor of valid box g.
    num_anchors = ops.shape(anchor_corners)[0]
    best_anchor = ops.cast(ops.argmax(overlaps, axis=1), "int32")  # (N,)
    anchor_ids = ops.arange(num_anchors, dtype="int32")
    is_forced = ops.logical_and(
        ops.equal(ops.expand_dims(best_anchor, 1), ops.expand_dims(anchor_ids, 0)), valid
    )  # (N, A)
    # When several boxes force the same anchor, the last one wins (as in the seed's scatter).
    num_gt = ops.shape(gt_boxes)[0]
    gt_rank = ops.expand_dims(ops.arange(1, num_gt + 1, dtype="int32"), 1)
    forced_gt = ops.max(ops.where(is_forced, gt_rank, 0), axis=0)  # (A,), 0 = not forced
    forced = forced_gt > 0

    matched_index = ops.where(forced, forced_gt - 1, best_gt_index)
    positive = ops.logical_or(forced, best_gt_overlap >= match_threshold)
    matched_index = ops.where(positive, matched_index, 0)
    return matched_index, positive
