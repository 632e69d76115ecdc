"""Pairwise intersection over union for corner-form boxes."""

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
    return ops.where(union > 0.0, inter / ops.maximum(union, 1e-12), 0.0)
