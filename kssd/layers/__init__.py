"""Keras layers for SSD detectors.

``AnchorBoxes`` (anchors for the runtime input size), ``DecodeDetections`` (offsets + logits
-> boxes + probabilities), ``NonMaxSuppression`` (alias ``NMS``), ``L2Normalization`` and ``BatchNormalization``
(Keras' layer, trained with TensorFlow's fused kernel).
All are registered for Keras serialization under the package name ``kssd``.
``POSTPROCESS_DEFAULTS`` holds kssd's post-processing defaults (score/IoU thresholds and
detection counts), shared by ``NonMaxSuppression``, :func:`kssd.inference.build_inference_model`
and evaluation.

Examples:
    >>> from kssd.layers import NMS, NonMaxSuppression
    >>> NMS is NonMaxSuppression
    True
    >>> from kssd.layers import POSTPROCESS_DEFAULTS
    >>> dict(POSTPROCESS_DEFAULTS)["max_detections"], NMS().per_class_limit
    (200, 200)
"""

from kssd.layers.anchor_boxes import AnchorBoxes
from kssd.layers.batch_normalization import BatchNormalization
from kssd.layers.decode_detections import DecodeDetections
from kssd.layers.l2_normalization import L2Normalization
from kssd.layers.non_max_suppression import NMS, POSTPROCESS_DEFAULTS, NonMaxSuppression

__all__ = [
    "AnchorBoxes",
    "BatchNormalization",
    "DecodeDetections",
    "L2Normalization",
    "NMS",
    "NonMaxSuppression",
    "POSTPROCESS_DEFAULTS",
]
