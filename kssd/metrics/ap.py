"""Shared pieces of the detection metrics: pixel IoU and the area under a precision/recall curve.

Everything here is plain NumPy so evaluation stays quick and needs no deep-learning backend.
"""

import numpy as np

AP_METHODS = ("area", "11point")


def pairwise_iou(boxes_a, boxes_b, inclusive_pixels=False):
    """Pairwise IoU of ``xyxy`` boxes in pixels, computed in float64 with NumPy.

    Args:
        boxes_a: array-like (N, 4) ``xyxy``.
        boxes_b: array-like (M, 4) ``xyxy``.
        inclusive_pixels: bool, default False. When True the coordinates are inclusive pixel
            indices, so a box spans ``right - left + 1`` pixels (the PASCAL VOC devkit and WIDER
            FACE convention). When False a box spans ``right - left`` (continuous coordinates, as
            in COCO).

    Returns:
        float64 array (N, M) of IoU; pairs without overlap (or with an empty union) give 0.

    Examples:
        >>> from kssd.metrics import pairwise_iou
        >>> a = [[0, 0, 2, 2]]
        >>> b = [[1, 1, 3, 3], [0, 0, 2, 2]]
        >>> pairwise_iou(a, b).round(4)
        array([[0.1429, 1.    ]])
        >>> pairwise_iou(a, b, inclusive_pixels=True).round(4)
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
        result = np.where(overlapping & (union > 0), inter / union, 0.0)
    return result


def average_precision(recall, precision, method="area"):
    """Area under a precision/recall curve, PASCAL VOC style.

    Args:
        recall: array-like (K,), recall after each ranked detection (non-decreasing).
        precision: array-like (K,), precision after each ranked detection.
        method: str, default "area". "area" is the all-point interpolated AP of VOC2010 and later
            (and of the WIDER FACE evaluation): the precision envelope (running maximum from the
            right) integrated over every recall change. "11point" is the VOC2007 metric: the mean
            over recall levels 0, 0.1, ..., 1 of the highest precision at recall >= that level.

    Returns:
        float in [0, 1]; 0.0 for an empty curve.

    Examples:
        >>> from kssd.metrics import average_precision
        >>> # ranked detections: TP, FP, TP with 2 ground-truth objects
        >>> average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3])
        0.8333333333333333
        >>> round(average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3], method="11point"), 4)
        0.8485
    """
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")
    rec = np.asarray(recall, dtype=np.float64).ravel()
    prec = np.asarray(precision, dtype=np.float64).ravel()
    if rec.shape != prec.shape:
        raise ValueError(f"recall and precision must have the same length, got {rec.size} and {prec.size}")
    if rec.size == 0:
        return 0.0
    prec = np.nan_to_num(prec, nan=0.0)
    if method == "11point":
        total = 0.0
        for level in np.linspace(0.0, 1.0, 11):
            reached = prec[rec >= level]
            total += float(reached.max()) if reached.size else 0.0
        return total / 11.0
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
