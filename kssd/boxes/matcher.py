"""Anchor matching: which ground-truth box each anchor is responsible for."""

from kssd.backend import ops_for
from kssd.boxes.iou import iou

#: Matching strategies of :func:`match_anchors`.
MATCHING_STRATEGIES = ("bipartite", "forced")
#: The defaults every encoder, pipeline, detector and zoo spec share.
DEFAULT_MATCHING = "bipartite"
DEFAULT_MATCH_THRESHOLD = 0.45

# Below every IoU (IoU >= 0): marks padding rows and pairs already taken.
_TAKEN = -2.0


def matching_problems(matching, match_threshold, negative_threshold):
    """Every problem with matching settings, as ``(argument, message)`` pairs (none: valid).

    The one statement of the rules: :func:`check_matching` raises the first problem, the zoo's
    spec validation reports them all with their YAML lines.

    Examples:
        >>> from kssd.boxes.matcher import matching_problems
        >>> matching_problems("hungarian", 0.5, 0.6)
        [('matching', "expected one of bipartite, forced, got 'hungarian'"), ('negative_threshold', 'expected None or a number > 0 and <= match_threshold (0.5), got 0.6')]
    """
    problems = []
    if matching not in MATCHING_STRATEGIES:
        problems.append(("matching", f"expected one of {', '.join(MATCHING_STRATEGIES)}, got {matching!r}"))
    number = (int, float)
    threshold_ok = isinstance(match_threshold, number) and not isinstance(match_threshold, bool)
    if not threshold_ok or not 0.0 < float(match_threshold) <= 1.0:
        problems.append(("match_threshold", f"expected a number > 0 and <= 1, got {match_threshold!r}"))
        threshold_ok = False
    if negative_threshold is not None:
        high = float(match_threshold) if threshold_ok else 1.0
        is_number = isinstance(negative_threshold, number) and not isinstance(negative_threshold, bool)
        if not is_number or not 0.0 < float(negative_threshold) <= high:
            bound = f"match_threshold ({match_threshold})" if threshold_ok else "1"
            problems.append(
                (
                    "negative_threshold",
                    f"expected None or a number > 0 and <= {bound}, got {negative_threshold!r}",
                )
            )
    return problems


def check_matching(matching, match_threshold, negative_threshold):
    """Validate matching settings; raise a ``ValueError`` naming the argument.

    Examples:
        >>> from kssd.boxes.matcher import check_matching
        >>> check_matching("bipartite", 0.5, 0.4)
        >>> check_matching("hungarian", 0.5, None)
        Traceback (most recent call last):
        ...
        ValueError: `matching`: expected one of bipartite, forced, got 'hungarian'
    """
    problems = matching_problems(matching, match_threshold, negative_threshold)
    if problems:
        argument, message = problems[0]
        raise ValueError(f"`{argument}`: {message}")


def _bipartite_assignment(overlaps, valid, ops):
    """Greedy one-to-one assignment of valid boxes to anchors by highest remaining IoU.

    The sequential rule (take the best remaining (box, anchor) pair, remove its row and
    column, repeat) is computed in rounds: in each round every *mutual best* pair (the box's
    best remaining anchor, whose best remaining box is that box) is assigned at once. Pairs
    are ordered by (IoU descending, box index ascending, anchor index ascending), a strict
    order, so a mutual best pair is exactly what the sequential rule would take, and each
    round takes at least the globally best pair: at most N rounds, usually a few.

    Returns int32 (N,): the anchor assigned to each box, -1 for padding rows.
    """
    num_gt, num_anchors = ops.shape(overlaps)[0], ops.shape(overlaps)[1]
    gt_ids = ops.arange(num_gt, dtype="int32")
    anchor_ids = ops.expand_dims(ops.arange(num_anchors, dtype="int32"), 0)  # (1, A)
    remaining = ops.where(ops.expand_dims(valid, -1), overlaps, _TAKEN)
    assigned = ops.full((num_gt,), -1, dtype="int32")

    def cond(remaining, assigned):
        return ops.any(remaining > _TAKEN)

    def body(remaining, assigned):
        row_best = ops.cast(ops.argmax(remaining, axis=1), "int32")  # (N,) first on ties
        row_value = ops.max(remaining, axis=1)
        col_best = ops.cast(ops.argmax(remaining, axis=0), "int32")  # (A,) first on ties
        mutual = ops.logical_and(ops.take(col_best, row_best) == gt_ids, row_value > _TAKEN)
        assigned = ops.where(mutual, row_best, assigned)
        pairs = ops.logical_and(
            ops.expand_dims(mutual, 1), ops.expand_dims(row_best, 1) == anchor_ids
        )  # (N, A)
        drop = ops.logical_or(ops.expand_dims(mutual, 1), ops.any(pairs, axis=0, keepdims=True))
        return ops.where(drop, _TAKEN, remaining), assigned

    _, assigned = ops.while_loop(cond, body, (remaining, assigned))
    return assigned


def match_anchors(
    gt_boxes,
    gt_valid,
    anchor_corners,
    match_threshold=DEFAULT_MATCH_THRESHOLD,
    matching=DEFAULT_MATCHING,
    negative_threshold=None,
):
    """Match anchors to ground truth the SSD way: one anchor per box, then an IoU threshold.

    1. Every valid box gets one anchor of its own, even below the threshold:

       * ``"bipartite"`` (default, as the original SSD and ssd_keras): greedy one-to-one
         assignment, the (box, anchor) pair of highest IoU first, then the best of the
         remaining boxes and anchors, and so on; no box is left without an anchor (as long
         as there are at least as many anchors as boxes);
       * ``"forced"``: every box claims its best anchor; when two boxes share one, the last
         box wins and the other gets none from this step (the face SSD tutorial's encoder).
    2. Every other anchor takes the valid box it overlaps most if that IoU is at least
       ``match_threshold``.
    3. With ``negative_threshold``, anchors left unmatched whose best IoU is at least
       ``negative_threshold`` are *ignored* (neither positive nor negative: a neutral zone
       between the two thresholds).

    Ties go to the lower box index, then the lower anchor index. Tensor ops only (a
    ``while_loop`` of rounds, no Python loop over boxes), so it runs in tf.data and under
    ``jit``.

    Args:
        gt_boxes: tensor (N, 4) ``xyxy`` normalized; N may be 0 only if padded by the caller.
        gt_valid: bool tensor (N,), False for padding rows.
        anchor_corners: tensor (A, 4) anchors in ``xyxy`` (not centre form).
        match_threshold: minimum IoU for a threshold match, default 0.45.
        matching: ``"bipartite"`` (default) or ``"forced"``.
        negative_threshold: lower edge of the neutral zone, default None (no neutral zone:
            every unmatched anchor is a negative).

    Returns:
        ``(matched_index, positive, ignored)``: int32 (A,) index of the matched box (0 where
        not positive), bool (A,) positive mask and bool (A,) neutral-zone mask.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import match_anchors
        >>> anchors = np.array([[0., 0., .5, .5], [.5, .5, 1., 1.], [.25, .25, .75, .75]])
        >>> gt = np.array([[.3, .3, .7, .7], [.35, .35, .65, .65]])  # both prefer anchor 2
        >>> idx, pos, _ = match_anchors(gt, np.array([True, True]), anchors, 0.99)
        >>> np.asarray(pos).tolist(), np.asarray(idx).tolist()  # box 1 takes the next best
        ([True, False, True], [1, 0, 0])
    """
    ops = ops_for(gt_boxes, anchor_corners)
    overlaps = iou(gt_boxes, anchor_corners)  # (N, A)
    valid_rows = ops.cast(gt_valid, "bool")
    valid = ops.expand_dims(valid_rows, -1)
    overlaps = ops.where(valid, overlaps, -1.0)

    best_gt_overlap = ops.max(overlaps, axis=0)  # (A,)
    best_gt_index = ops.cast(ops.argmax(overlaps, axis=0), "int32")

    num_anchors = ops.shape(anchor_corners)[0]
    anchor_ids = ops.arange(num_anchors, dtype="int32")
    if matching == "bipartite":
        own_anchor = _bipartite_assignment(overlaps, valid_rows, ops)  # (N,), -1 = none
    elif matching == "forced":
        own_anchor = ops.where(valid_rows, ops.cast(ops.argmax(overlaps, axis=1), "int32"), -1)
    else:
        raise ValueError(f"`matching` must be one of {MATCHING_STRATEGIES}, got {matching!r}")
    owns = ops.equal(ops.expand_dims(own_anchor, 1), ops.expand_dims(anchor_ids, 0))  # (N, A)
    # Under "forced" several boxes may own one anchor: the last one wins.
    num_gt = ops.shape(gt_boxes)[0]
    gt_rank = ops.expand_dims(ops.arange(1, num_gt + 1, dtype="int32"), 1)
    owner = ops.max(ops.where(owns, gt_rank, 0), axis=0)  # (A,), 0 = no owner
    owned = owner > 0

    matched_index = ops.where(owned, owner - 1, best_gt_index)
    positive = ops.logical_or(owned, best_gt_overlap >= match_threshold)
    matched_index = ops.where(positive, matched_index, 0)
    if negative_threshold is None:
        ignored = ops.zeros_like(positive)
    else:
        ignored = ops.logical_and(ops.logical_not(positive), best_gt_overlap >= negative_threshold)
    return matched_index, positive, ignored
