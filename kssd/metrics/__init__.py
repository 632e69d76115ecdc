"""Detection metrics: PASCAL VOC mAP, the WIDER FACE protocol and COCO AP (pycocotools).

:func:`detection_metrics` scores detections of kssd records by metric name (the
:data:`METRICS` registry, :mod:`kssd.metrics.evaluate`); :func:`detect_records` produces them
with a ``detect_fn`` (:func:`kssd.inference.detect_fn.make_detect_fn`).

The metrics work on plain NumPy arrays and Python mappings; they import no deep-learning
framework themselves. scipy is needed for the WIDER FACE ``.mat`` files and pycocotools for COCO
AP; both are imported only when those functions run.

Examples:
    >>> import numpy as np
    >>> from kssd import metrics
    >>> gt = {"a": {"boxes": np.array([[0, 0, 10, 10]]), "labels": [1]}}
    >>> det = {"a": {"boxes": np.array([[0, 0, 10, 10]]), "labels": [1], "scores": [0.9]}}
    >>> metrics.voc_map(gt, det)["mAP"]
    1.0
"""

from kssd.metrics.ap import average_precision
from kssd.metrics.coco import coco_category_mapping, coco_map, detections_to_coco
from kssd.metrics.evaluate import EVAL_SCORE_THRESHOLD, METRICS, detect_records, detection_metrics
from kssd.metrics.voc import read_map_folder, voc_map
from kssd.metrics.widerface import (
    evaluate_widerface,
    load_widerface_ground_truth,
    read_widerface_predictions,
    write_widerface_predictions,
)

__all__ = [
    "EVAL_SCORE_THRESHOLD",
    "METRICS",
    "average_precision",
    "coco_category_mapping",
    "coco_map",
    "detect_records",
    "detection_metrics",
    "detections_to_coco",
    "evaluate_widerface",
    "load_widerface_ground_truth",
    "read_map_folder",
    "read_widerface_predictions",
    "voc_map",
    "write_widerface_predictions",
]
