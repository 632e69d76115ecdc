"""Box format conversion.

kssd works internally with two forms: corners ``xyxy`` (normalized or pixels) and
centre form ``center_xywh`` (what anchors use). Every other format goes through
``keras.utils.bounding_boxes.convert_format``, so Keras-style data plugs in directly.
"""

import keras

from kssd.backend import ops_for

KNOWN_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def center_to_corners(boxes):
    """Convert ``(cx, cy, w, h)`` boxes to ``(x1, y1, x2, y2)``.

    Args:
        boxes: tensor (..., 4) in centre form.

    Returns:
        Tensor (..., 4) in corner form, same units.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import center_to_corners
        >>> np.asarray(center_to_corners(np.array([[0.5, 0.5, 0.2, 0.4]])), "float64").round(6)
        array([[0.4, 0.3, 0.6, 0.7]])
    """
    ops = ops_for(boxes)
    centre, size = boxes[..., :2], boxes[..., 2:]
    return ops.concatenate([centre - size / 2.0, centre + size / 2.0], axis=-1)


def corners_to_center(boxes):
    """Convert ``(x1, y1, x2, y2)`` boxes to ``(cx, cy, w, h)``.

    Args:
        boxes: tensor (..., 4) in corner form.

    Returns:
        Tensor (..., 4) in centre form, same units.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import corners_to_center
        >>> np.asarray(corners_to_center(np.array([[0.4, 0.3, 0.6, 0.7]])), "float64").round(6)
        array([[0.5, 0.5, 0.2, 0.4]])
    """
    ops = ops_for(boxes)
    low, high = boxes[..., :2], boxes[..., 2:]
    return ops.concatenate([(low + high) / 2.0, high - low], axis=-1)


def convert_format(boxes, source, target, height=None, width=None):
    """Convert boxes between formats (thin wrapper over ``keras.utils.bounding_boxes``).

    Args:
        boxes: tensor (..., 4).
        source: format of ``boxes``, one of ``KNOWN_FORMATS``.
        target: wanted format, one of ``KNOWN_FORMATS``.
        height: image height in pixels, needed between relative and absolute formats.
        width: image width in pixels, likewise.

    Returns:
        Tensor (..., 4) in ``target`` format, float32.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import convert_format
        >>> np.asarray(convert_format(np.array([[10., 20., 30., 40.]]), "xywh", "xyxy"))
        array([[10., 20., 40., 60.]], dtype=float32)
    """
    for name, value in (("source", source), ("target", target)):
        if value not in KNOWN_FORMATS:
            raise ValueError(f"`{name}` must be one of {KNOWN_FORMATS}, got {value!r}")
    if source == target:
        return boxes
    return keras.utils.bounding_boxes.convert_format(
        boxes, source=source, target=target, height=height, width=width
    )
