"""Box utilities: formats, IoU, the SSD box coder and the anchor matcher.

Examples:
    >>> import numpy as np
    >>> from kssd import boxes
    >>> a = np.array([[0.5, 0.5, 0.2, 0.2]])
    >>> offsets = boxes.encode(np.array([[0.4, 0.4, 0.6, 0.6]]), a)
    >>> np.asarray(boxes.decode(offsets, a), "float64").round(4)
    array([[0.4, 0.4, 0.6, 0.6]])
"""

from kssd.boxes.coder import DEFAULT_VARIANCES, decode, encode
from kssd.boxes.formats import (
    KNOWN_FORMATS,
    center_to_corners,
    convert_format,
    corners_to_center,
)
from kssd.boxes.iou import box_area, intersection, iou, iou_numpy
from kssd.boxes.matcher import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_MATCHING,
    MATCHING_STRATEGIES,
    check_matching,
    match_anchors,
)

__all__ = [
    "DEFAULT_MATCHING",
    "DEFAULT_MATCH_THRESHOLD",
    "DEFAULT_VARIANCES",
    "KNOWN_FORMATS",
    "MATCHING_STRATEGIES",
    "box_area",
    "center_to_corners",
    "check_matching",
    "convert_format",
    "corners_to_center",
    "decode",
    "encode",
    "intersection",
    "iou",
    "iou_numpy",
    "match_anchors",
]
