"""Keras layers for SSD detectors.

``AnchorBoxes`` (anchors for the runtime input size), ``DecodeDetections`` (offsets + logits
-> boxes + probabilities), ``NonMaxSuppression`` (alias ``NMS``) and ``L2Normalization``.
All are registered for Keras serialization under the package name ``kssd``.

Examples:
    >>> from kssd.layers import NMS, NonMaxSuppression
    >>> NMS is NonMaxSuppression
    True
"""

from kssd.layers.anchor_boxes import AnchorBoxes
from kssd.layers.decode_detections import DecodeDetections
from kssd.layers.l2_normalization import L2Normalization
from kssd.layers.non_max_suppression import NMS, NonMaxSuppression

__all__ = ["AnchorBoxes", "DecodeDetections", "L2Normalization", "NMS", "NonMaxSuppression"]
