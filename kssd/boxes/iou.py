"""Pairwise intersection over union for corner-form boxes.

:func:`iou` works on tensors (any Keras backend, tf.data, inside graphs); :func:`iou_numpy`
is its float64 NumPy twin for evaluation code, with the inclusive-pixel convention of the
PASCAL VOC and WIDER FACE tools as an option.
"""

import numpy as np

from kssd.backend import ops_for


def box_area(boxes):
    """Area of ``xyxy`` boxes; degenerate boxes have area 0.

    Args:
        boxes: tensor (..., 4) ``xyxy``.

    Returns:
        Tensor (...,).

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import box_area
        >>> float(box_area(np.array([0., 0., 2., 3.])))
        6.0
    """
    ops = ops_for(boxes)
    size = ops.maximum(boxes[..., 2:] - boxes[..., :2], 0.0)
    return size[..., 0] * size[..., 1]


def intersection(boxes_a, boxes_b):
    """Pairwise intersection areas of ``xyxy`` boxes (..., N, 4) and (..., M, 4) -> (..., N, M)."""
    ops = ops_for(boxes_a, boxes_b)
    a = ops.expand_dims(boxes_a, -2)
    b = ops.expand_dims(boxes_b, -3)
    low = ops.maximum(a[..., :2], b[..., :2])
    high = ops.minimum(a[..., 2:], b[..., 2:])
    size = ops.maximum(high - low, 0.0)
    return size[..., 0] * size[..., 1]


def iou(boxes_a, boxes_b):
    """Pairwise IoU of corner-form boxes.

    Args:
        boxes_a: tensor (..., N, 4) ``xyxy``.
        boxes_b: tensor (..., M, 4) ``xyxy`` (same leading dims or broadcastable).

    Returns:
        Tensor (..., N, M) of IoU in [0, 1]; pairs whose union is empty give 0.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import iou
        >>> a = np.array([[0., 0., 2., 2.]])
        >>> b = np.array([[1., 1., 3., 3.], [0., 0., 2., 2.]])
        >>> np.asarray(iou(a, b), "float64").round(4)
        array([[0.1429, 1.    ]])
    """
    ops = ops_for(boxes_a, boxes_b)
    inter = intersection(boxes_a, boxes_b)
    union = ops.expand_dims(box_area(boxes_a), -1) + ops.expand_dims(box_area(boxes_b), -2) - inter
    # Divide by the union itself (TensorFlow's NMS kernel arithmetic), by 1 where it is empty.
    positive = union > 0.0
    return ops.where(positive, inter / ops.where(positive, union, 1.0), 0.0)


def iou_numpy(boxes_a, boxes_b, inclusive_pixels=False):
    """Pairwise IoU of ``xyxy`` boxes in float64 NumPy: the evaluation twin of :func:`iou`.

    Args:
        boxes_a: array-like (N, 4) ``xyxy`` (anything reshapeable to it, e.g. one box).
        boxes_b: array-like (M, 4) ``xyxy``.
        inclusive_pixels: bool, default False. When True the coordinates are inclusive pixel
            indices, so a box spans ``right - left + 1`` pixels (the PASCAL VOC devkit and WIDER
            FACE convention). When False a box spans ``right - left`` (continuous coordinates, as
            in COCO and :func:`iou`).

    Returns:
        float64 array (N, M) of IoU; pairs without overlap (or with an empty union) give 0.

    Examples:
        >>> from kssd.boxes import iou_numpy
        >>> a = [[0, 0, 2, 2]]
        >>> b = [[1, 1, 3, 3], [0, 0, 2, 2]]
        >>> iou_numpy(a, b).round(4)
        array([[0.1429, 1.    ]])
        >>> iou_numpy(a, b, inclusive_pixels=True).round(4)
        array([[0.2857, 1.    ]])
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    one = 1.0 if inclusive_pixels else 0.0
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter_w = right - left + one
    inter_h = bottom - top + one
    overlapping = (inter_w > 0) & (inter_h > 0)
    inter = np.where(overlapping, inter_w * inter_h, 0.0)
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlapping & (union > 0), inter / union, 0.0)
