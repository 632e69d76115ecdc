"""Inference: any image size in, boxes in the image's pixels out.

:func:`build_inference_model` wraps a detector into one graph (resize/pad, network, anchors,
decode, NMS, box recovery) that :mod:`kssd.export` writes to deployment formats;
:func:`detect` runs it on NumPy images or files and returns one dict per image.

Examples:
    >>> from kssd.inference import build_inference_model, detect
    >>> callable(build_inference_model) and callable(detect)
    True
"""

from kssd import _deferred_imports

if _deferred_imports.deferring(__name__):  # the console script, until a name is used
    __getattr__ = _deferred_imports.module_getattr(__name__)

else:
    from kssd.inference.detect import detect, to_rgb_uint8
    from kssd.inference.inference_model import (
        DETECTION_KEYS,
        build_inference_model,
        is_inference_model,
        resolve_input_size,
    )
    from kssd.inference.passes import (
        INPUT_SIZE_POLICIES,
        describe_input_size,
        input_size_passes,
        merge_detections,
    )
    from kssd.inference.recover_boxes import RecoverBoxes
    from kssd.inference.resize_pad import ResizePad

__all__ = [
    "DETECTION_KEYS",
    "INPUT_SIZE_POLICIES",
    "RecoverBoxes",
    "ResizePad",
    "build_inference_model",
    "describe_input_size",
    "detect",
    "input_size_passes",
    "is_inference_model",
    "merge_detections",
    "resolve_input_size",
    "to_rgb_uint8",
]
