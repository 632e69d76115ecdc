"""Shared piece of the detection metrics: the area under a precision/recall curve.

Plain NumPy, as is the metrics' IoU (:func:`kssd.boxes.iou_numpy`), so evaluation stays quick.
"""

import numpy as np

AP_METHODS = ("area", "11point")


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
