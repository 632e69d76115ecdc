"""Inference: any image size in, boxes in the image's pixels out.

:func:`build_inference_model` wraps a detector into one graph (resize/pad, network, anchors,
decode, NMS, box recovery) that :mod:`kssd.export` writes to deployment formats;
:func:`detect` runs it on NumPy images or files and returns one dict per image.

Examples:
    >>> from kssd.inference import build_inference_model, detect
    >>> callable(build_inference_model) and callable(detect)
    True
"""

from kssd.inference.detect import detect, to_rgb_uint8
from kssd.inference.inference_model import (
    DETECTION_KEYS,
    build_inference_model,
    is_inference_model,
    resolve_input_size,
)
from kssd.inference.recover_boxes import RecoverBoxes
from kssd.inference.resize_pad import ResizePad

__all__ = [
    "DETECTION_KEYS",
    "RecoverBoxes",
    "ResizePad",
    "build_inference_model",
    "detect",
    "is_inference_model",
    "resolve_input_size",
    "to_rgb_uint8",
]
