"""NonMaxSuppression (alias NMS): batched per-class greedy NMS as a Keras layer.

Also holds :data:`POSTPROCESS_DEFAULTS`, the one set of post-processing defaults of kssd.
"""

import functools
import math
import types

import keras
from keras import ops

from kssd.boxes.iou import iou

IMPLEMENTATIONS = ("portable", "tensorflow")

#: kssd's post-processing defaults, in one place (read-only; copy with ``dict(...)``).
#: :class:`NonMaxSuppression` takes its constructor defaults from here, and
#: :func:`kssd.inference.build_inference_model` and
#: :func:`kssd.inference.detect_fn.make_detect_fn` fall back to it where a model brings no
#: ``postprocess`` of its own. ``max_detections_per_class=None`` means "= ``max_detections``":
#: a per-class limit at least as large as the total never changes the result.
POSTPROCESS_DEFAULTS = types.MappingProxyType(
    {
        "score_threshold": 0.5,
        "iou_threshold": 0.45,
        "max_detections": 200,
        "max_detections_per_class": None,
    }
)

# Candidates per image and class that the portable path ranks and suppresses first (see
# _portable_nms). Not a limit on the result: where it could matter the full loop runs.
_STAGE_SIZE = 512

# Largest anchor count for which the TensorFlow path's per-class rank scores (M - rank, with
# M <= anchors) are exact, distinct float32 values.
_MAX_EXACT_ANCHORS = 2**24


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")


def _empty_kept(candidates, per_class):
    """(B, C, per_class) kept anchor ids (0) and kept scores (-inf): nothing kept yet."""
    zeros = ops.zeros_like(candidates[:, :, :1])  # (B, C, 1)
    kept_scores = zeros + ops.full((per_class,), float("-inf"), dtype="float32")
    kept_ids = ops.cast(zeros, "int32") + ops.zeros((per_class,), dtype="int32")
    return kept_ids, kept_scores


def _greedy_over_anchors(candidates, canonical, iou_threshold, per_class):
    """The greedy loop over every anchor, kept as it was: up to ``per_class`` steps, each one
    vectorized over (B, C, A). Returns (B, C, per_class) kept anchor ids and scores (-inf: none).
    """
    neg_inf = float("-inf")
    flat_coords = ops.reshape(canonical, (-1, 4))
    num_anchors = ops.shape(candidates)[-1]
    anchor_ids = ops.arange(num_anchors, dtype="int32")
    # Row offsets into the flattened (B * A, 4) table, shape (B, 1).
    image_ids = ops.cumsum(ops.ones_like(candidates[:, :1, 0], dtype="int32"), axis=0) - 1
    row_offsets = image_ids * ops.cast(num_anchors, "int32")
    slots = ops.arange(per_class, dtype="int32")
    kept_ids, kept_scores = _empty_kept(candidates, per_class)

    def cond(step, remaining, kept_ids, kept_scores):
        return ops.logical_and(step < per_class, ops.any(remaining > neg_inf))

    def body(step, remaining, kept_ids, kept_scores):
        # top_k (lowest index first on ties) rather than argmax: Keras' TF argmax adds a
        # bitwise op that TFLite has no built-in kernel for.
        best_score, best = ops.top_k(remaining, 1)
        best_score, best = best_score[..., 0], ops.cast(best[..., 0], "int32")  # (B, C)
        picked = ops.take(flat_coords, best + row_offsets, axis=0)  # (B, C, 4)
        # kssd's IoU uses TensorFlow's kernel arithmetic; an empty union gives 0, never
        # suppressing (iou_threshold >= 0).
        overlapping = iou(picked, canonical) > iou_threshold  # (B, C, A)
        drop = ops.logical_or(overlapping, anchor_ids == best[..., None])
        remaining = ops.where(drop, neg_inf, remaining)
        here = slots == step
        kept_ids = ops.where(here, best[..., None], kept_ids)
        kept_scores = ops.where(here, best_score[..., None], kept_scores)
        return step + 1, remaining, kept_ids, kept_scores

    _, _, kept_ids, kept_scores = ops.while_loop(
        cond, body, (ops.convert_to_tensor(0, dtype="int32"), candidates, kept_ids, kept_scores)
    )
    return kept_ids, kept_scores


def _greedy_over_ranked(candidates, canonical, size, iou_threshold, per_class, limit=None):
    """The same greedy loop over each class's ``size`` best candidates only.

    Each (image, class) row is first ranked by (score descending, anchor ascending) with
    ``top_k`` (which keeps equal values in index order), so the loop's pick (the highest
    remaining score, lowest position on ties) is the same box as over all anchors; each step
    then costs ``O(B * C * size)`` instead of ``O(B * C * A)``. Greedy NMS decides rank r
    from ranks < r only, so the result over the top ``size`` is the full result wherever a
    row has at most ``size`` candidates or keeps ``per_class`` boxes from them.

    Returns (B, C, per_class) kept anchor ids and scores (-inf: none), and a scalar bool:
    whether that holds for every row, so that the result is the one over all candidates (or
    over the top ``limit`` of each row, if given).
    """
    neg_inf = float("-inf")
    num_anchors = candidates.shape[-1]
    if num_anchors is None or num_anchors < size:
        # Unknown or too few anchors for top_k(size): pad with non-candidates (zero boxes).
        candidates = ops.concatenate(
            [candidates, ops.full((*ops.shape(candidates)[:2], size), neg_inf, dtype="float32")], axis=-1
        )
        canonical = ops.concatenate(
            [canonical, ops.zeros((ops.shape(canonical)[0], size, 4), dtype="float32")], axis=1
        )
    ranked_scores, ranked_ids = ops.top_k(candidates, size)  # (B, C, size)
    ranked_ids = ops.cast(ranked_ids, "int32")
    # One (B, C, size) array per coordinate, and the areas once: the loop then computes IoU
    # with the arithmetic of kssd.boxes.iou (TensorFlow's kernel's) in fewer ops a step.
    x1, y1, x2, y2 = (
        ops.take_along_axis(ops.expand_dims(canonical[..., i], 1), ranked_ids, axis=-1) for i in range(4)
    )
    areas = ops.maximum(x2 - x1, 0.0) * ops.maximum(y2 - y1, 0.0)
    positions = ops.cumsum(ops.ones_like(ranked_ids[:1, :1, :]), axis=-1) - 1  # (1, 1, size)
    last = ops.convert_to_tensor(size - 1, dtype="int32")
    slots = ops.arange(per_class, dtype="int32")
    kept_ids, kept_scores = _empty_kept(candidates, per_class)

    def cond(step, remaining, kept_ids, kept_scores):
        return ops.logical_and(step < per_class, ops.any(remaining > neg_inf))

    def body(step, remaining, kept_ids, kept_scores):
        # Scores are ranked, so the best remaining one (lowest position on ties) is the first
        # one left: a min reduction, not a top_k or an argmax (which Keras' TF backend writes
        # with a bitwise op that TFLite has no built-in kernel for). Nothing left: the last
        # position, whose score is -inf then.
        left = remaining > neg_inf
        best = ops.min(ops.where(left, positions, last), axis=-1, keepdims=True)  # (B, C, 1)
        best_score = ops.take_along_axis(remaining, best, axis=-1)
        p1, q1, p2, q2, picked_area = (ops.take_along_axis(v, best, axis=-1) for v in (x1, y1, x2, y2, areas))
        inter = ops.maximum(ops.minimum(p2, x2) - ops.maximum(p1, x1), 0.0) * ops.maximum(
            ops.minimum(q2, y2) - ops.maximum(q1, y1), 0.0
        )
        union = picked_area + areas - inter
        # An empty union gives 0, never suppressing (iou_threshold >= 0).
        positive = union > 0.0
        overlap = ops.where(positive, inter / ops.where(positive, union, 1.0), 0.0)
        overlapping = overlap > iou_threshold  # (B, C, size)
        drop = ops.logical_or(overlapping, positions <= best)
        remaining = ops.where(drop, neg_inf, remaining)
        here = slots == step
        # Anchor 0 where nothing was kept (a padding position's id may be past the anchors).
        best_id = ops.where(best_score > neg_inf, ops.take_along_axis(ranked_ids, best, axis=-1), 0)
        kept_ids = ops.where(here, best_id, kept_ids)
        kept_scores = ops.where(here, best_score, kept_scores)
        return step + 1, remaining, kept_ids, kept_scores

    _, _, kept_ids, kept_scores = ops.while_loop(
        cond, body, (ops.convert_to_tensor(0, dtype="int32"), ranked_scores, kept_ids, kept_scores)
    )
    counts = ops.sum(ops.cast(candidates > neg_inf, "int32"), axis=-1)  # (B, C)
    if limit is not None:
        counts = ops.minimum(counts, limit)
    kept = ops.sum(ops.cast(kept_scores > neg_inf, "int32"), axis=-1)
    complete = ops.all(ops.logical_or(counts <= size, kept >= per_class))
    return kept_ids, kept_scores, complete


def _portable_nms(
    boxes,
    scores,
    score_threshold,
    iou_threshold,
    per_class,
    max_detections,
    pre_nms_top_k=None,
    stage_size=_STAGE_SIZE,
):
    """Per-class greedy NMS with keras.ops only (see NonMaxSuppression for the semantics).

    The loop runs over each class's best ``stage_size`` candidates (:func:`_greedy_over_ranked`);
    where that could differ from the loop over all of them (or over the top ``pre_nms_top_k``),
    that loop runs instead, under ``ops.cond``: the result never depends on ``stage_size``.
    ``stage_size=None`` runs the loop over all anchors only (as before the ranking).
    """
    num_classes = scores.shape[-1] - 1
    neg_inf = float("-inf")

    # Candidates: (B, C, A) scores, -inf where not a candidate (below threshold or NaN).
    objects = ops.transpose(scores[..., 1:], (0, 2, 1))
    candidates = ops.where(objects > score_threshold, objects, neg_inf)
    # Corner order made canonical for the overlap test, as TensorFlow's kernel does.
    low = ops.minimum(boxes[..., :2], boxes[..., 2:])
    high = ops.maximum(boxes[..., :2], boxes[..., 2:])
    canonical = ops.concatenate([low, high], axis=-1)  # (B, A, 4)

    num_anchors = boxes.shape[1]
    limit = pre_nms_top_k  # None: every candidate
    if limit is not None and num_anchors is not None and limit >= num_anchors:
        limit = None
    if stage_size is None:
        if limit is not None:
            raise ValueError("stage_size=None runs the loop over all anchors: no pre_nms_top_k")
        kept_ids, kept_scores = _greedy_over_anchors(candidates, canonical, iou_threshold, per_class)
    elif limit is not None and limit <= stage_size:
        kept_ids, kept_scores, _ = _greedy_over_ranked(candidates, canonical, limit, iou_threshold, per_class)
    elif limit is None and num_anchors is not None and num_anchors <= stage_size:
        kept_ids, kept_scores, _ = _greedy_over_ranked(
            candidates, canonical, num_anchors, iou_threshold, per_class
        )
    else:
        staged = _greedy_over_ranked(candidates, canonical, stage_size, iou_threshold, per_class, limit)
        if limit is None:

            def full():
                return _greedy_over_anchors(candidates, canonical, iou_threshold, per_class)
        else:

            def full():
                return _greedy_over_ranked(candidates, canonical, limit, iou_threshold, per_class)[:2]

        kept_ids, kept_scores = ops.cond(staged[2], lambda: staged[:2], full)

    # Merge classes: (B, C * per_class), class-major so that score ties keep class order.
    flat_scores = ops.reshape(kept_scores, (-1, num_classes * per_class))
    flat_ids = ops.reshape(kept_ids, (-1, num_classes * per_class))
    class_of_slot = ops.repeat(ops.arange(1, num_classes + 1, dtype="int32"), per_class)
    k = min(max_detections, num_classes * per_class)
    top_scores, top_slots = ops.top_k(flat_scores, k, sorted=True)
    valid = top_scores > neg_inf
    top_ids = ops.take_along_axis(flat_ids, top_slots, axis=1)
    out_boxes = ops.stack([ops.take_along_axis(boxes[..., i], top_ids, axis=1) for i in range(4)], axis=-1)
    classes = ops.take(class_of_slot, top_slots)
    out_boxes = ops.where(valid[..., None], out_boxes, 0.0)
    out_scores = ops.where(valid, top_scores, 0.0)
    classes = ops.where(valid, classes, 0)
    pad = max_detections - k
    if pad:
        out_boxes = ops.pad(out_boxes, [[0, 0], [0, pad], [0, 0]])
        out_scores = ops.pad(out_scores, [[0, 0], [0, pad]])
        classes = ops.pad(classes, [[0, 0], [0, pad]])
    return {
        "boxes": out_boxes,
        "scores": out_scores,
        "classes": classes,
        "num_detections": ops.sum(ops.cast(valid, "int32"), axis=1),
    }


def _check_tensorflow_anchors(num_anchors):
    if num_anchors is not None and num_anchors > _MAX_EXACT_ANCHORS:
        raise ValueError(
            f'implementation="tensorflow" handles at most {_MAX_EXACT_ANCHORS} anchors per image, '
            f'got {num_anchors}: use implementation="portable"'
        )


def _tensorflow_nms(
    boxes, scores, score_threshold, iou_threshold, per_class, max_detections, pre_nms_top_k=None
):
    """The same NMS with TensorFlow's ``CombinedNonMaxSuppression`` kernel, tie for tie.

    The kernel alone breaks exact score ties in no fixed order (within a class and in its
    merge across classes). So each class's candidates are first ranked by (score descending,
    anchor index ascending) and the kernel is given the distinct scores ``M - rank``: it then
    keeps, per class, exactly the boxes of the greedy rule, in rank order. The kept boxes
    (class, rank) are mapped back to their scores and merged here as the portable path
    merges them: by score, ties in class order, then in kept order. Ranks go as deep as the
    most candidates of any class, so the cost follows the number of candidates.
    """
    import tensorflow as tf

    num_classes = scores.shape[-1] - 1
    _check_tensorflow_anchors(boxes.shape[1])
    neg_inf = float("-inf")
    batch = tf.shape(scores)[0]
    objects = tf.transpose(scores[..., 1:], (0, 2, 1))  # (B, C, A)
    is_candidate = objects > score_threshold  # NaN never is
    counts = tf.reduce_sum(tf.cast(is_candidate, tf.int32), axis=-1)  # (B, C)
    if pre_nms_top_k is not None:
        counts = tf.minimum(counts, pre_nms_top_k)  # only the top ranks become candidates
    # Each class's candidates by (score descending, anchor ascending): top_k keeps equal
    # values in index order. Only as many ranks as the most candidates of any class (M), at
    # least 1: no zero-sized tensors when nothing is a candidate (ONNX's Reshape reads a 0 in
    # a target shape as "keep this dimension", so (B, C * 0) fails in onnxruntime).
    depth = tf.maximum(tf.reduce_max(counts), 1)
    ranked_scores, ranked = tf.math.top_k(
        tf.where(is_candidate, objects, neg_inf), k=depth
    )  # (B, C, M): ranked[b, c, r] is the anchor of rank r
    ranks = tf.range(depth)
    # The kernel gets the distinct scores M - rank (>= 1; 0 for non-candidates), written back
    # to each class's anchors. Past a class's candidates, ranked holds other (non-candidate,
    # distinct) anchors, which get the 0 they already have.
    rank_scores = tf.where(ranks < counts[..., None], tf.cast(depth - ranks, tf.float32), 0.0)
    shape = tf.shape(ranked)
    indices = tf.stack(
        [
            tf.broadcast_to(tf.range(batch)[:, None, None], shape),
            tf.broadcast_to(tf.range(num_classes)[None, :, None], shape),
            ranked,
        ],
        axis=-1,
    )  # (B, C, M, 3)
    distinct = tf.scatter_nd(indices, rank_scores, tf.shape(objects))  # (B, C, A)
    total = num_classes * per_class  # room for every kept box: the kernel truncates nothing
    nms_boxes, nms_distinct, nms_classes, count = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :],  # the kernel reads two corner pairs, so xyxy works unchanged
        tf.transpose(distinct, (0, 2, 1)),
        max_output_size_per_class=per_class,
        max_total_size=total,
        iou_threshold=iou_threshold,
        score_threshold=0.5,  # candidates have distinct scores >= 1, the others 0
        pad_per_class=False,
        clip_boxes=False,
    )
    kept = tf.range(total)[None, :] < count[:, None]  # (B, T)
    kept_rank = depth - tf.cast(nms_distinct, tf.int32)
    kept_class = tf.where(kept, tf.cast(nms_classes, tf.int32), 0)  # 0..C-1
    # Position in the class-major (class, rank) score table; C * M (an extra -inf) for padding.
    kept_position = tf.where(kept, kept_class * depth + kept_rank, num_classes * depth)
    table = tf.reshape(ranked_scores, (batch, num_classes * depth))
    table = tf.concat([table, tf.fill((batch, 1), neg_inf)], axis=1)
    kept_scores = tf.gather(table, kept_position, batch_dims=1)
    # Class order and rank order within a class (ascending positions; the kernel's own order
    # mixes classes), then a stable sort by score: ties keep class order, then kept order.
    _, by_class = tf.math.top_k(-kept_position, k=total)
    k = min(max_detections, total)
    top_scores, top = tf.math.top_k(tf.gather(kept_scores, by_class, batch_dims=1), k=k)
    slots = tf.gather(by_class, top, batch_dims=1)
    valid = top_scores > neg_inf
    out_boxes = tf.where(valid[..., None], tf.gather(nms_boxes, slots, batch_dims=1), 0.0)
    # Finite before the select: in onnxruntime, a batch with no candidate at all otherwise
    # scores NaN (tf2onnx rewrites some selects as arithmetic, where -inf x 0 is NaN).
    out_scores = tf.where(valid, tf.maximum(top_scores, tf.float32.min), 0.0)
    classes = tf.where(valid, tf.gather(kept_class, slots, batch_dims=1) + 1, 0)
    pad = max_detections - k
    if pad:
        out_boxes = tf.pad(out_boxes, [[0, 0], [0, pad], [0, 0]])
        out_scores = tf.pad(out_scores, [[0, 0], [0, pad]])
        classes = tf.pad(classes, [[0, 0], [0, pad]])
    return {
        "boxes": out_boxes,
        "scores": out_scores,
        "classes": classes,
        "num_detections": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
    }


_COMPILED = {}


def _compiled_portable_nms(num_scores, per_class, max_detections, pre_nms_top_k=None, stage_size=_STAGE_SIZE):
    """``_portable_nms`` compiled once per setting (and, under JAX, per input shape).

    Run op by op, the loop would pay Python dispatch for every op of every step (TensorFlow
    eager) or recompile ``lax.while_loop`` on every call (JAX eager). TensorFlow gets one
    graph per (score columns, counts) with free batch and anchor dimensions; thresholds are
    runtime inputs. Inside an outer ``tf.function`` / ``jax.jit`` it is simply inlined.
    """
    backend = keras.backend.backend()
    key = (backend, num_scores, per_class, max_detections, pre_nms_top_k, stage_size)
    if key not in _COMPILED:
        fn = functools.partial(
            _portable_nms,
            per_class=per_class,
            max_detections=max_detections,
            pre_nms_top_k=pre_nms_top_k,
            stage_size=stage_size,
        )
        if backend == "jax":
            import jax

            fn = jax.jit(fn)
        elif backend == "tensorflow":
            import tensorflow as tf

            fn = tf.function(
                fn,
                input_signature=[
                    tf.TensorSpec((None, None, 4), tf.float32),
                    tf.TensorSpec((None, None, num_scores), tf.float32),
                    tf.TensorSpec((), tf.float32),
                    tf.TensorSpec((), tf.float32),
                ],
            )
        _COMPILED[key] = fn
    return _COMPILED[key]


@keras.saving.register_keras_serializable(package="kssd")
class NonMaxSuppression(keras.layers.Layer):
    """Per-class greedy non-maximum suppression over a batch, padded to a fixed size.

    Called as ``NonMaxSuppression()(boxes, scores)`` with ``boxes`` ``(B, A, 4)`` normalized
    ``xyxy`` and ``scores`` ``(B, A, C + 1)`` class probabilities (e.g. the two outputs of
    :class:`kssd.layers.DecodeDetections`). Column 0 is background and is ignored; classes
    1..C (C = ``num_classes`` object classes) are processed independently:

    1. a box is a candidate for class c when its score is ``> score_threshold`` (NaN scores
       never are; ``+inf`` is kept); with ``pre_nms_top_k=k``, only each class's ``k`` best
       candidates (score descending, lowest anchor first on ties) remain candidates;
    2. greedily, the highest remaining candidate is kept and every remaining candidate whose
       IoU with it is ``> iou_threshold`` is dropped, up to ``max_detections_per_class``
       kept boxes;
    3. the kept boxes of all classes are merged and sorted by score (descending), and the
       first ``max_detections`` are returned.

    Ties (exactly equal scores, common with quantized TFLite models and briefly trained
    networks) are broken the same way by both implementations, on every backend:

    * within a class, of equal scores the box with the **lowest anchor index** is kept first
      (as TensorFlow's ``NonMaxSuppressionV3`` kernel does), and so may suppress the others;
    * in the merge, equal scores stay in **class order** (class 1 first), and within a class
      in the order the boxes were kept.

    Apart from ties this is the semantics of ``tf.image.combined_non_max_suppression`` (with
    ``clip_boxes=False``). ``implementation="portable"`` (default) uses only ``keras.ops``: each
    class's candidates are ranked (``top_k``) and a ``while_loop`` keeps one box per class per
    step, vectorized over batch and classes, and stops when no candidate is left or after
    ``max_detections_per_class`` steps (no ``A x A`` matrix). The loop first runs over each
    class's 512 best candidates only; where that could differ from the loop over all of them
    (a class with more candidates keeping fewer than ``max_detections_per_class`` of those
    512), the loop over every anchor runs instead, so the result never depends on it. It runs
    under TensorFlow (eager, ``tf.function``, XLA) and JAX (eager, ``jax.jit``) and converts
    to TFLite built-in ops. ``implementation="tensorflow"`` runs
    TensorFlow's ``CombinedNonMaxSuppression`` kernel on tie-free per-class ranks (so it
    keeps the same boxes as the portable path, ties included); it needs the TensorFlow
    backend and at most 2**24 anchors, and cannot be XLA-compiled or converted to TFLite
    built-ins (ONNX export uses it). The defaults are those of
    :data:`kssd.layers.POSTPROCESS_DEFAULTS`.

    Args:
        score_threshold: minimum class probability (exclusive), default 0.5.
        iou_threshold: IoU above which a lower-scored box is suppressed, in [0, 1], default 0.45.
        max_detections_per_class: boxes kept per class and image, default None (=
            ``max_detections``; a larger per-class limit could not change the result).
        max_detections: boxes returned per image (``K``), default 200.
        implementation: ``"portable"`` (keras.ops, any backend) or ``"tensorflow"``
            (TensorFlow's NMS kernel), default ``"portable"``.
        pre_nms_top_k: positive int or None (default): per image and class, only the
            ``pre_nms_top_k`` highest-scored candidates enter NMS (as torchvision's and
            ssd_keras' ``top_k``). None keeps every candidate (exact greedy NMS). A value can
            change the result only for a class with more than ``pre_nms_top_k`` candidates
            that keeps fewer than ``max_detections_per_class`` boxes from its top
            ``pre_nms_top_k`` (a box ranked lower could then have been kept); it bounds the
            work when a low ``score_threshold`` (e.g. 0.01 for mAP) lets thousands through.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        Dict, zero-padded after ``num_detections`` entries and sorted by score descending:
        ``"boxes"`` float32 ``(B, K, 4)`` xyxy, ``"scores"`` float32 ``(B, K)``,
        ``"classes"`` int32 ``(B, K)`` in 1..C (0 in padding), ``"num_detections"`` int32 ``(B,)``.

    Raises:
        ValueError: a threshold or count out of range, an unknown ``implementation`` (naming
            the argument), or inputs of the wrong rank.

    Examples:
        >>> import numpy as np
        >>> from kssd.layers import NMS
        >>> boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.52], [0.6, 0.6, 0.9, 0.9]]],
        ...                  "float32")
        >>> scores = np.array([[[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]]], "float32")
        >>> out = NMS(max_detections=4)(boxes, scores)
        >>> int(out["num_detections"][0]), np.asarray(out["classes"]).tolist()
        (2, [[1, 1, 0, 0]])
        >>> np.asarray(out["scores"], "float64").round(2).tolist()
        [[0.9, 0.7, 0.0, 0.0]]

        Equal scores: the lower anchor index wins within a class, class order across classes.

        >>> same = np.array([[[0.0, 0.6, 0.6], [0.0, 0.6, 0.6], [0.0, 0.0, 0.0]]], "float32")
        >>> out = NMS(max_detections=3)(boxes, same)
        >>> np.asarray(out["boxes"])[0, :2].tolist() == [boxes[0, 0].tolist()] * 2
        True
        >>> np.asarray(out["classes"]).tolist()
        [[1, 2, 0]]

        ``pre_nms_top_k=1``: only each class's best candidate (anchor 0, class 1) remains.

        >>> out = NMS(max_detections=4, pre_nms_top_k=1)(boxes, scores)
        >>> int(out["num_detections"][0]), np.asarray(out["scores"], "float64").round(2).tolist()
        (1, [[0.9, 0.0, 0.0, 0.0]])
    """

    def __init__(
        self,
        score_threshold=POSTPROCESS_DEFAULTS["score_threshold"],
        iou_threshold=POSTPROCESS_DEFAULTS["iou_threshold"],
        max_detections_per_class=POSTPROCESS_DEFAULTS["max_detections_per_class"],
        max_detections=POSTPROCESS_DEFAULTS["max_detections"],
        implementation="portable",
        pre_nms_top_k=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        try:
            score_value = float(score_threshold)
        except (TypeError, ValueError):
            score_value = math.nan
        if not math.isfinite(score_value):
            raise ValueError(f"`score_threshold` must be a finite number, got {score_threshold!r}")
        try:
            iou_value = float(iou_threshold)
        except (TypeError, ValueError):
            iou_value = math.nan
        if not 0.0 <= iou_value <= 1.0:
            raise ValueError(f"`iou_threshold` must be in [0, 1], got {iou_threshold!r}")
        if max_detections_per_class is not None:
            _check_count(max_detections_per_class, "max_detections_per_class")
        _check_count(max_detections, "max_detections")
        if pre_nms_top_k is not None:
            _check_count(pre_nms_top_k, "pre_nms_top_k")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"`implementation` must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        if implementation == "tensorflow" and keras.backend.backend() != "tensorflow":
            raise ValueError(
                '`implementation="tensorflow"` needs the TensorFlow backend, but the Keras '
                f'backend is {keras.backend.backend()!r}: use implementation="portable"'
            )
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections_per_class = max_detections_per_class
        self.max_detections = max_detections
        self.implementation = implementation
        self.pre_nms_top_k = pre_nms_top_k
        # Private: the portable path's first stage (None: the loop over all anchors, as before
        # the ranking; for benchmarks and tests). Never changes the result.
        self._stage_size = _STAGE_SIZE

    @property
    def per_class_limit(self):
        """The per-class limit in effect: ``max_detections_per_class``, or ``max_detections``."""
        if self.max_detections_per_class is None:
            return self.max_detections
        return self.max_detections_per_class

    @staticmethod
    def _check_inputs(boxes, scores):
        if len(boxes.shape) != 3 or boxes.shape[-1] != 4:
            raise ValueError(
                f"`boxes` must have shape (batch, num_anchors, 4), got shape {tuple(boxes.shape)}"
            )
        if len(scores.shape) != 3 or scores.shape[-1] is None or scores.shape[-1] < 2:
            raise ValueError(
                "`scores` must have shape (batch, num_anchors, num_classes + 1) with a known "
                f"last dim >= 2 (column 0 = background), got shape {tuple(scores.shape)}"
            )
        a_boxes, a_scores = boxes.shape[1], scores.shape[1]
        if a_boxes is not None and a_scores is not None and a_boxes != a_scores:
            raise ValueError(
                f"`boxes` has {a_boxes} anchors (axis 1) but `scores` has {a_scores}: they must match"
            )

    def build(self, boxes_shape, scores_shape=None):
        """No weights to create (the inputs are checked at call time).

        Takes the input shapes by call argument name, as Keras builds layers by shapes;
        ``scores_shape`` may be omitted (a build config with only the first input's shape).
        """

    def call(self, boxes, scores):
        self._check_inputs(boxes, scores)
        boxes = ops.cast(boxes, "float32")
        scores = ops.cast(scores, "float32")
        if self.implementation == "tensorflow":
            return self._tensorflow_nms(boxes, scores)
        return self._portable_nms(boxes, scores)

    def _portable_nms(self, boxes, scores):
        nms = _compiled_portable_nms(
            scores.shape[-1], self.per_class_limit, self.max_detections, self.pre_nms_top_k, self._stage_size
        )
        score_threshold = ops.convert_to_tensor(float(self.score_threshold), dtype="float32")
        iou_threshold = ops.convert_to_tensor(float(self.iou_threshold), dtype="float32")
        return nms(boxes, scores, score_threshold, iou_threshold)

    def _tensorflow_nms(self, boxes, scores):
        nms = functools.partial(
            _tensorflow_nms,
            score_threshold=float(self.score_threshold),
            iou_threshold=float(self.iou_threshold),
            per_class=self.per_class_limit,
            max_detections=self.max_detections,
            pre_nms_top_k=self.pre_nms_top_k,
        )
        import tensorflow as tf

        if tf.executing_eagerly():
            # Eager: one graph per setting instead of op-by-op dispatch (same kernels).
            _check_tensorflow_anchors(boxes.shape[1])
            key = ("tensorflow-kernel", scores.shape[-1], *sorted(nms.keywords.items()))
            if key not in _COMPILED:
                _COMPILED[key] = tf.function(
                    nms,
                    input_signature=[
                        tf.TensorSpec((None, None, 4), tf.float32),
                        tf.TensorSpec((None, None, scores.shape[-1]), tf.float32),
                    ],
                )
            nms = _COMPILED[key]
        return nms(boxes, scores)

    def compute_output_spec(self, boxes, scores):
        self._check_inputs(boxes, scores)
        batch, k = boxes.shape[0], self.max_detections
        return {
            "boxes": keras.KerasTensor((batch, k, 4), dtype="float32"),
            "scores": keras.KerasTensor((batch, k), dtype="float32"),
            "classes": keras.KerasTensor((batch, k), dtype="int32"),
            "num_detections": keras.KerasTensor((batch,), dtype="int32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold,
                "max_detections_per_class": self.max_detections_per_class,
                "max_detections": self.max_detections,
                "implementation": self.implementation,
                "pre_nms_top_k": self.pre_nms_top_k,
            }
        )
        return config


NMS = NonMaxSuppression
