"""TFLite export: built-in ops only (no Flex delegate), optional float16 / int8 quantization."""

import os
import tempfile

QUANTIZATIONS = (None, "float16", "int8")


def export_tflite(inference_model, path, quantization=None, representative_images=None):
    """Convert ``inference_model`` (through a SavedModel) to a ``.tflite`` file.

    Only TFLite built-in ops are allowed (``OpsSet.TFLITE_BUILTINS``); a graph needing the
    Flex delegate fails to convert. The model keeps a ``serve`` signature with input
    ``images`` (uint8, every dimension resizable) and the detection dict as outputs.

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.
        path: output ``.tflite`` file.
        quantization: None (float32), ``"float16"`` (float16 weights) or ``"int8"``
            (int8 weights, activations quantized on the fly: TFLite "dynamic range"
            quantization), default None. Full-integer calibration with a representative
            dataset crashes TensorFlow 2.21's calibrator on the NMS while loop, so it is
            not offered.
        representative_images: accepted for forward compatibility, unused, default None.

    Returns:
        ``path``.

    Raises:
        ValueError: unknown ``quantization`` or int8 without images.
        Exception: the converter's error (see :func:`kssd.export.export`, which names the layer).
    """
    import tensorflow as tf

    from kssd.export.saved_model import ENDPOINT, export_saved_model

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}, got {quantization!r}")
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "saved_model")
        export_saved_model(inference_model, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[ENDPOINT])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        data = converter.convert()
    with open(path, "wb") as handle:
        handle.write(data)
    return path
