"""Target encoding: ground-truth boxes and labels -> per-anchor training targets ``y_true``.

``y_true`` is (A, 5): four encoded offsets (see :mod:`kssd.boxes.coder`), then the class id as
float: 0 = background, -1 = ignored (an anchor in the matching's neutral zone, left out of both
loss terms). Matching is :func:`kssd.boxes.match_anchors` (by default one anchor of its own for
every box, then IoU >= ``match_threshold``), measured against corner-form anchors.
"""

import numpy as np

from kssd.backend import ops_for
from kssd.boxes.coder import DEFAULT_BOX_CODING, DEFAULT_VARIANCES, check_box_coding, encode
from kssd.boxes.formats import KNOWN_FORMATS, center_to_corners, convert_format
from kssd.boxes.matcher import DEFAULT_MATCH_THRESHOLD, DEFAULT_MATCHING, check_matching, match_anchors

#: Class id of an ignored anchor in ``y_true`` (neither positive nor negative).
IGNORED_CLASS = -1.0


def _encode_one(
    boxes, labels, anchors, match_threshold, variances, matching, negative_threshold, ops, box_coding
):
    # A zero-area padding row keeps N >= 1 so reductions over boxes are defined even for
    # background-only images; it is marked invalid and never matched.
    boxes = ops.concatenate([ops.cast(boxes, "float32"), ops.zeros((1, 4), "float32")], axis=0)
    labels = ops.concatenate([ops.cast(labels, "float32"), ops.zeros((1,), "float32")], axis=0)
    size = boxes[:, 2:] - boxes[:, :2]
    valid = ops.logical_and(labels > 0, ops.logical_and(size[:, 0] > 0, size[:, 1] > 0))

    matched, positive, ignored = match_anchors(
        boxes, valid, center_to_corners(anchors), match_threshold, matching, negative_threshold
    )
    matched_boxes = ops.take(boxes, matched, axis=0)
    # Background anchors get a harmless unit box so their offsets stay finite (log(0) = -inf
    # would turn into NaN gradients even when masked out of the loss).
    unit = ops.convert_to_tensor(np.array([[0.0, 0.0, 1.0, 1.0]], "float32"))
    matched_boxes = ops.where(ops.expand_dims(positive, -1), matched_boxes, unit)
    offsets = encode(matched_boxes, anchors, variances, box_coding)
    offsets = ops.where(ops.expand_dims(positive, -1), offsets, 0.0)
    classes = ops.where(positive, ops.take(labels, matched, axis=0), 0.0)
    classes = ops.where(ignored, IGNORED_CLASS, classes)
    return ops.concatenate([offsets, ops.expand_dims(classes, -1)], axis=-1)


def encode_targets(
    boxes,
    labels,
    anchors,
    match_threshold=DEFAULT_MATCH_THRESHOLD,
    variances=DEFAULT_VARIANCES,
    matching=DEFAULT_MATCHING,
    negative_threshold=None,
    box_coding=DEFAULT_BOX_CODING,
):
    """Encode one image's ground truth (or a padded batch) against anchors.

    Args:
        boxes: (N, 4) or padded (B, N, 4) ``xyxy`` boxes normalized to [0, 1].
        labels: (N,) or (B, N) object class ids in 1..C (num_classes = C, 0 = background);
            rows with label <= 0 or zero area are padding and ignored.
        anchors: (A, 4) ``(cx, cy, w, h)`` normalized anchors, e.g. from
            :func:`kssd.anchors.generate_anchors`.
        match_threshold: minimum IoU for a match besides each box's own anchor, default 0.45.
        variances: box-coder variances ``(centre, size)``, default ``(0.1, 0.2)``.
        matching: how each box gets its own anchor, ``"bipartite"`` (default, one to one)
            or ``"forced"`` (best anchor, last box wins); see :func:`kssd.boxes.match_anchors`.
        negative_threshold: unmatched anchors with best IoU >= this are ignored (class id -1),
            default None (no neutral zone).
        box_coding: ``"ssd"`` (default) or ``"linear"`` (MediaPipe's scale-based sizes), see
            :mod:`kssd.boxes.coder`.

    Returns:
        float32 (A, 5) or (B, A, 5): offsets then class id (0 = background, -1 = ignored);
        all background when no box.

    Examples:
        >>> import numpy as np
        >>> from kssd.encoding import encode_targets
        >>> anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]], "float32")
        >>> y = encode_targets(np.array([[0.5, 0.5, 1.0, 1.0]]), np.array([1]), anchors)
        >>> np.asarray(y)[:, 4].tolist()
        [0.0, 1.0]
    """
    check_matching(matching, match_threshold, negative_threshold)
    check_box_coding(box_coding)
    ops = ops_for(boxes, labels, anchors)
    anchors = ops.cast(anchors, "float32")

    def encode_one(image_boxes, image_labels):
        return _encode_one(
            image_boxes,
            image_labels,
            anchors,
            match_threshold,
            variances,
            matching,
            negative_threshold,
            ops,
            box_coding,
        )

    if len(boxes.shape) == 3:
        return ops.vectorized_map(
            lambda args: encode_one(args[0], args[1]),
            (ops.cast(boxes, "float32"), ops.cast(labels, "float32")),
        )
    if len(boxes.shape) != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"`boxes` must have shape (N, 4) or (B, N, 4), got {tuple(boxes.shape)}")
    return encode_one(boxes, labels)


class TargetEncoder:
    """Callable form of :func:`encode_targets` for data pipelines (tf.data ``map``).

    Takes Keras-style ground truth ``{"boxes", "labels"}`` (``"classes"`` is accepted as an
    alias) in any ``bounding_box_format`` and returns ``y_true`` (A, 5).

    Args:
        anchors: (A, 4) centre-form normalized anchors.
        match_threshold: default 0.45.
        variances: default ``(0.1, 0.2)``.
        matching: ``"bipartite"`` (default) or ``"forced"``, see :func:`encode_targets`.
        negative_threshold: neutral-zone lower edge, default None (no neutral zone).
        box_coding: ``"ssd"`` (default) or ``"linear"``, see :func:`encode_targets`.
        bounding_box_format: format of incoming boxes, default ``"rel_xyxy"``; absolute
            formats need ``image_size``.
        image_size: ``(height, width)`` of the images the boxes refer to, for absolute formats.

    Examples:
        >>> import numpy as np
        >>> from kssd.encoding import TargetEncoder
        >>> anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]], "float32")
        >>> enc = TargetEncoder(anchors, bounding_box_format="xyxy", image_size=(100, 100))
        >>> y = enc({"boxes": np.array([[50., 50., 100., 100.]]), "labels": np.array([1])})
        >>> np.asarray(y).shape
        (2, 5)
    """

    def __init__(
        self,
        anchors,
        match_threshold=DEFAULT_MATCH_THRESHOLD,
        variances=DEFAULT_VARIANCES,
        bounding_box_format="rel_xyxy",
        image_size=None,
        matching=DEFAULT_MATCHING,
        negative_threshold=None,
        box_coding=DEFAULT_BOX_CODING,
    ):
        self.anchors = np.asarray(anchors, dtype="float32")
        if self.anchors.ndim != 2 or self.anchors.shape[-1] != 4:
            raise ValueError(f"`anchors` must have shape (A, 4), got {self.anchors.shape}")
        if bounding_box_format not in KNOWN_FORMATS:
            raise ValueError(
                f"`bounding_box_format` must be one of {KNOWN_FORMATS}, got {bounding_box_format!r}"
            )
        if not bounding_box_format.startswith("rel_") and image_size is None:
            raise ValueError(f"bounding_box_format={bounding_box_format!r} is absolute: pass `image_size`")
        check_matching(matching, match_threshold, negative_threshold)
        check_box_coding(box_coding)
        self.box_coding = box_coding
        self.match_threshold = match_threshold
        self.matching = matching
        self.negative_threshold = negative_threshold
        self.variances = tuple(variances)
        self.bounding_box_format = bounding_box_format
        self.image_size = image_size

    def __call__(self, ground_truth):
        if "labels" in ground_truth:
            labels = ground_truth["labels"]
        elif "classes" in ground_truth:
            labels = ground_truth["classes"]
        else:
            raise ValueError("ground truth needs a 'labels' (or 'classes') entry")
        boxes = ground_truth["boxes"]
        if self.bounding_box_format != "rel_xyxy":
            height, width = (None, None) if self.image_size is None else self.image_size
            boxes = convert_format(boxes, self.bounding_box_format, "rel_xyxy", height=height, width=width)
        return encode_targets(
            boxes,
            labels,
            self.anchors,
            self.match_threshold,
            self.variances,
            self.matching,
            self.negative_threshold,
            self.box_coding,
        )
