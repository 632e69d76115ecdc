"""The input-size policy: at which sizes a detector runs on a photo, and how the passes merge.

A detector is trained at one input size (``model.input_size``). A fully convolutional one (step
anchors, ``dynamic``) whose anchors are sizes in pixels (``min_sizes``, as the face detectors
have) finds objects of those pixel sizes, so it can also run at each photo's own size, where
small faces keep their pixels; a model trained on little data may still only know the scale it
saw. Anchors given as fractions of the image (``scales``, the SSD paper's) grow with the input,
so such a model is only run at its trained size. The policy ``"auto"`` runs both where native
makes sense (the trained size, then native, merged per class by NMS) and the trained size
otherwise:

=========  ==========================================================================
policy     passes
=========  ==========================================================================
``auto``   trained size + native for fully convolutional models with pixel-sized
           anchors, else trained size; an export (one graph, one size): native for
           those models, else the trained size (:func:`export_input_size`)
``spec``   the trained size (the photo letterboxed into it)
``native`` the photo's own size, padded to the largest stride (fully convolutional)
``(h, w)`` that size
=========  ==========================================================================

Examples:
    >>> from kssd.inference.passes import describe_input_size, input_size_passes
    >>> from kssd.testing import toy_detector
    >>> model = toy_detector(input_size=(64, 96), dynamic=True)
    >>> input_size_passes(model), describe_input_size(model)
    (['spec', None], 'trained size 64x96 + native (auto)')
    >>> input_size_passes(toy_detector()), describe_input_size(toy_detector())
    (['spec'], 'trained size 64x64 (auto)')
"""

import numpy as np

#: The named policies; an ``(h, w)`` pair is also accepted.
INPUT_SIZE_POLICIES = ("auto", "spec", "native")


def runs_native(model):
    """Whether ``model`` can run at each image's own size (fully convolutional, step anchors)."""
    from kssd.inference.inference_model import resolve_input_size

    try:
        resolve_input_size(model, None)
    except ValueError:
        return False
    return True


def native_by_default(model):
    """Whether ``"auto"`` runs ``model`` at native size: fully convolutional, pixel anchors.

    Examples:
        >>> from kssd.inference.passes import native_by_default
        >>> from kssd.testing import toy_detector
        >>> native_by_default(toy_detector(dynamic=True)), native_by_default(toy_detector())
        (True, False)
    """
    return runs_native(model) and model.anchor_config.get("min_sizes") is not None


def export_input_size(model, input_size="auto"):
    """The one ``input_size`` of an exported graph: ``"auto"`` -> native or the trained size.

    Args:
        model: a :class:`kssd.models.SSDDetector`.
        input_size: ``"auto"`` (native when :func:`native_by_default`, else ``"spec"``) or any
            value :func:`kssd.inference.build_inference_model` takes, returned as is.

    Examples:
        >>> from kssd.inference.passes import export_input_size
        >>> from kssd.testing import toy_detector
        >>> export_input_size(toy_detector(dynamic=True)), export_input_size(toy_detector())
        (None, 'spec')
    """
    if input_size != "auto":
        return input_size
    if getattr(model, "input_size", None) is None or native_by_default(model):
        return None
    return "spec"


def input_size_passes(model, input_size="auto"):
    """The ``input_size`` values of :func:`kssd.inference.detect`, one per pass.

    Args:
        model: a :class:`kssd.models.SSDDetector`.
        input_size: ``"auto"``, ``"spec"``, ``"native"`` / None or ``(h, w)``, default ``"auto"``.

    Returns:
        A list of ``"spec"``, None (native) or ``(h, w)``.
    """
    if input_size == "auto":
        if getattr(model, "input_size", None) is None:
            return [None]
        return ["spec", None] if native_by_default(model) else ["spec"]
    if input_size in ("native", None):
        return [None]
    return [input_size]


def describe_input_size(model, input_size="auto", passes=None):
    """One line naming the passes a policy gives ``model`` (printed in command summaries)."""
    passes = input_size_passes(model, input_size) if passes is None else passes
    words = []
    for size in passes:
        if size == "spec":
            h, w = model.input_size
            words.append(f"trained size {h}x{w}")
        elif size is None:
            words.append("native")
        else:
            words.append(f"{size[0]}x{size[1]}")
    name = input_size if isinstance(input_size, str) else "native" if input_size is None else "fixed"
    return " + ".join(words) + f" ({name})"


def merge_detections(boxes, scores, iou_threshold, max_detections=None, classes=None):
    """Merge the boxes of several passes by greedy NMS per class, in NumPy.

    The rule and its ties are those of :class:`kssd.layers.NonMaxSuppression` (and its float32
    IoU arithmetic): per class, best score first (ties: lowest index first), a box whose IoU with
    a kept box is above ``iou_threshold`` is dropped; the classes' kept boxes are then merged by
    score, equal scores in class order. It needs no Keras (the sticker application merges its
    passes with it on its TFLite runtime) and takes a fraction of a millisecond on the few
    hundred boxes of a photo's passes.

    Args:
        boxes: (N, 4) xyxy boxes (any units: IoU does not depend on them).
        scores: (N,) scores; every box is a candidate, whatever its score.
        iou_threshold: a box whose IoU with a higher-scored kept box of its class is above this
            is dropped.
        max_detections: most boxes kept, default None (N).
        classes: (N,) class ids, default None (one class).

    Returns:
        ``(boxes, scores, classes)``: float32 (K, 4), (K,) and int64 (K,), best score first
        (ties: lowest index first).

    Examples:
        >>> import numpy as np
        >>> from kssd.inference.passes import merge_detections
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], "float32")
        >>> kept, scores, classes = merge_detections(boxes, np.array([0.9, 0.8, 0.7]), 0.5,
        ...                                          classes=np.array([1, 1, 2]))
        >>> kept.tolist(), classes.tolist()
        ([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]], [1, 2])
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    classes = np.ones(len(boxes), np.int64) if classes is None else np.asarray(classes, np.int64).reshape(-1)
    limit = int(max_detections) if max_detections is not None else len(boxes)
    if len(boxes) == 0 or limit == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    # NMS's canonical corners: (min, min, max, max) of each box's two points.
    canonical = np.concatenate(
        [np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1
    )
    kept = []
    for class_id in np.unique(classes):  # ascending: equal scores merge in class order
        members = np.flatnonzero(classes == class_id)
        ranked = members[np.argsort(-scores[members], kind="stable")]
        kept.append(ranked[_greedy_nms(canonical[ranked], np.float32(iou_threshold), limit)])
    kept = np.concatenate(kept)
    kept = kept[np.argsort(-scores[kept], kind="stable")][:limit]
    return boxes[kept], scores[kept], classes[kept]


def _greedy_nms(ranked_boxes, iou_threshold, limit):
    """Positions kept by greedy NMS over boxes ranked best first (float32, as the NMS layer)."""
    x1, y1, x2, y2 = ranked_boxes.T
    areas = np.maximum(x2 - x1, np.float32(0)) * np.maximum(y2 - y1, np.float32(0))
    left = np.ones(len(ranked_boxes), bool)
    kept = []
    while len(kept) < limit and left.any():
        best = int(np.argmax(left))  # the best-ranked box still left
        kept.append(best)
        inter = np.maximum(np.minimum(x2[best], x2) - np.maximum(x1[best], x1), np.float32(0)) * np.maximum(
            np.minimum(y2[best], y2) - np.maximum(y1[best], y1), np.float32(0)
        )
        union = areas[best] + areas - inter
        positive = union > 0
        overlap = np.where(positive, inter / np.where(positive, union, np.float32(1)), np.float32(0))
        left &= ~(overlap > iou_threshold)
        left[: best + 1] = False
    return np.asarray(kept, np.int64)


def suppress_nested(boxes, scores, containment=0.75, score_ratio=0.5):
    """Indices of the boxes to keep after dropping boxes nested inside a larger detection.

    NMS by IoU keeps a small box lying inside a larger one (a face and a second box on its
    eyes and nose have a low IoU). A box is dropped when at least ``containment`` of its area
    lies inside a larger kept box scoring at least ``score_ratio`` times its score; boxes are
    visited from the largest, so a chain of nested boxes keeps only the outermost.

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,) scores.
        containment: fraction of a box's area inside the larger box, default 0.75.
        score_ratio: the larger box must score at least this times the nested one, default 0.5.

    Returns:
        int64 (K,) indices into ``boxes``, in their original order.

    Examples:
        >>> from kssd.inference.passes import suppress_nested
        >>> suppress_nested([[0, 0, 10, 10], [2, 2, 6, 6], [20, 0, 30, 10]], [0.9, 0.8, 0.7]).tolist()
        [0, 2]
        >>> suppress_nested([[0, 0, 10, 10], [2, 2, 6, 6]], [0.3, 0.9]).tolist()  # weak outer box
        [0, 1]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inside = np.prod(np.clip(high - low, 0, None), axis=2) / np.maximum(area[:, None], 1e-12)
    kept = np.ones(len(boxes), bool)
    for i in np.argsort(-area, kind="stable"):
        outer = kept & (area > area[i]) & (inside[i] >= containment) & (scores >= score_ratio * scores[i])
        if outer.any():
            kept[i] = False
    return np.flatnonzero(kept)
