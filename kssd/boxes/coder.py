"""The SSD box coder: offsets of ground-truth boxes relative to anchors, with variances."""

from kssd.backend import ops_for
from kssd.boxes.formats import center_to_corners, corners_to_center

DEFAULT_VARIANCES = (0.1, 0.2)


def _check_variances(variances):
    if len(variances) != 2 or min(variances) <= 0:
        raise ValueError(f"`variances` must be two positive numbers (centre, size), got {tuple(variances)}")


def encode(boxes, anchors, variances=DEFAULT_VARIANCES):
    """Encode corner boxes as SSD offsets against centre-form anchors.

    ``t_xy = (g_xy - a_xy) / (v0 * a_wh)`` and ``t_wh = log(g_wh / a_wh) / v1``.

    Args:
        boxes: tensor (..., A, 4) ``xyxy`` normalized, one box per anchor.
        anchors: tensor (A, 4) ``(cx, cy, w, h)`` normalized.
        variances: (centre, size) variances, default ``(0.1, 0.2)``.

    Returns:
        Tensor (..., A, 4) of offsets. Boxes must have positive width and height.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import encode
        >>> anchors = np.array([[0.5, 0.5, 0.25, 0.25]])
        >>> np.asarray(encode(np.array([[0.4, 0.375, 0.65, 0.625]]), anchors), "float64").round(4)
        array([[1., 0., 0., 0.]])
    """
    _check_variances(variances)
    ops = ops_for(boxes, anchors)
    centre = corners_to_center(boxes)
    t_xy = (centre[..., :2] - anchors[..., :2]) / (variances[0] * anchors[..., 2:])
    t_wh = ops.log(centre[..., 2:] / anchors[..., 2:]) / variances[1]
    return ops.concatenate([t_xy, t_wh], axis=-1)


def decode(offsets, anchors, variances=DEFAULT_VARIANCES):
    """Decode SSD offsets back to corner boxes (inverse of :func:`encode`).

    Args:
        offsets: tensor (..., A, 4) encoded offsets.
        anchors: tensor (A, 4) ``(cx, cy, w, h)`` normalized.
        variances: (centre, size) variances, default ``(0.1, 0.2)``.

    Returns:
        Tensor (..., A, 4) ``xyxy`` normalized.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import decode
        >>> anchors = np.array([[0.5, 0.5, 0.2, 0.2]])
        >>> np.asarray(decode(np.array([[1., 0., 0., 0.]]), anchors), "float64").round(4)
        array([[0.42, 0.4 , 0.62, 0.6 ]])
    """
    _check_variances(variances)
    ops = ops_for(offsets, anchors)
    xy = anchors[..., :2] + offsets[..., :2] * variances[0] * anchors[..., 2:]
    wh = anchors[..., 2:] * ops.exp(offsets[..., 2:] * variances[1])
    return center_to_corners(ops.concatenate([xy, wh], axis=-1))
