"""TFLite export: built-in ops only (no Flex delegate), optional float16 / int8 quantization.

``quantization="int8"`` is full-integer post-training quantization of the network with
activation ranges calibrated on representative images, while preprocessing, anchors, box
decoding and the NMS while loop stay float32. TensorFlow's converter cannot do this on its
own for the end-to-end graph: given a representative dataset it also quantizes the NMS
(including the ``-inf`` fill of its score buffer), and the resulting file aborts the TFLite
runtime (``QuantizeMultiplierSmallerThanOneExp`` check in the int8 ``ADD`` kernel's Prepare)
on its first invocation. Denylisting the NMS nodes by name fails too (the quantizer rejects a
``while_body`` whose result types it has refined). So the export calibrates only
(``_experimental_calibrate_only``), keeps the recorded ranges of the network's tensors
alone, and quantizes with TensorFlow's MLIR quantizer, the non-network nodes denylisted.
"""

import os
import re
import tempfile

QUANTIZATIONS = (None, "float16", "int8", "dynamic_int8")

# Layers of kssd.inference.build_inference_model that are not the network: kept float32.
_FLOAT_LAYERS = (
    "InputLayer",
    "ResizePad",
    "AnchorBoxes",
    "DecodeDetections",
    "NonMaxSuppression",
    "RecoverBoxes",
)
# TFLite operators whose int8 version is a network layer doing arithmetic (as opposed to moving
# data: reshape, pad, concatenation...).
_COMPUTE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL")


def _network_pattern(inference_model):
    """A regex matching TFLite tensor names produced inside the network's name scope(s)."""
    names = [layer.name for layer in inference_model.layers if type(layer).__name__ not in _FLOAT_LAYERS]
    if not names:
        raise ValueError(
            f"model {inference_model.name!r} has no network layer besides the pre/post-processing "
            f"layers {_FLOAT_LAYERS}: nothing to quantize to int8"
        )
    # Keras scopes a layer call as "<name>" or "<name>_<n>"; fused TFLite names join with ";".
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(^|/)({alternatives})(_\d+)?/")


def _representative_dataset(images):
    """A calibration generator over uint8 RGB images of any sizes (batch 1 each)."""
    import numpy as np

    checked = []
    for index, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"`representative_images[{index}]` must be a uint8 RGB image (H, W, 3), got dtype "
                f"{image.dtype} shape {image.shape}"
            )
        checked.append(image[None])

    def generate():
        for image in checked:
            yield {"images": image}

    return generate


def _name(tensor):
    """A flatbuffer tensor's name as text."""
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def _first_name(tensor):
    """The first of a fused tensor's ``;``-joined names (the op that produced it)."""
    return _name(tensor).split(";")[0]


def _network_only_int8(calibrated, pattern):
    """Quantize a calibrated float model, the network's tensors only.

    Args:
        calibrated: TFLite flatbuffer bytes with calibration ranges (min/max) on tensors.
        pattern: regex (see :func:`_network_pattern`) matching the network's tensor names.

    Returns:
        The quantized flatbuffer bytes.
    """
    from kssd.compat import tflite_model_from_bytes, tflite_model_to_bytes, tflite_quantize_calibrated

    model = tflite_model_from_bytes(calibrated)
    denylist = []
    for index, subgraph in enumerate(model.subgraphs):
        # Subgraph 0 is the signature's graph; the others are the NMS while loop's cond/body.
        for tensor in subgraph.tensors:
            in_network = index == 0 and pattern.search(_first_name(tensor))
            if not in_network and tensor.quantization is not None and tensor.quantization.min is not None:
                tensor.quantization = None  # no range: the quantizer leaves it float32
        if index == 0:
            for op in subgraph.operators:
                for out in op.outputs:
                    tensor = subgraph.tensors[out]
                    if not pattern.search(_first_name(tensor)):
                        denylist.append(_name(tensor))
    # The same call as tf.lite.experimental.QuantizationDebugger.get_nondebug_quantized_model.
    return tflite_quantize_calibrated(tflite_model_to_bytes(model), denylisted_nodes=denylist)


def int8_compute_ops(data):
    """Network operators of a ``.tflite`` model (bytes) whose inputs and outputs are all int8.

    Returns:
        Dict ``{operator name: count}`` over convolutions / fully connected layers whose
        activations and weights are int8 (bias int32 allowed).

    Examples:
        >>> from kssd.export.tflite import int8_compute_ops
        >>> callable(int8_compute_ops)
        True
    """
    from kssd.compat import tflite_model_from_bytes, tflite_schema

    schema = tflite_schema()
    model = tflite_model_from_bytes(data)
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    int8, int32 = schema.TensorType.INT8, schema.TensorType.INT32
    counts = {}
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            if name not in _COMPUTE_OPS:
                continue
            inputs = [subgraph.tensors[i].type for i in op.inputs if i >= 0]
            outputs = [subgraph.tensors[i].type for i in op.outputs]
            weights_ok = inputs[:2] == [int8, int8] and all(t in (int8, int32) for t in inputs[2:])
            if weights_ok and set(outputs) == {int8}:
                counts[name] = counts.get(name, 0) + 1
    return counts


def export_tflite(inference_model, path, quantization=None, representative_images=None):
    """Convert ``inference_model`` (through a SavedModel) to a ``.tflite`` file.

    Only TFLite built-in ops are allowed (``OpsSet.TFLITE_BUILTINS``); a graph needing the
    Flex delegate fails to convert. The model keeps a ``serve`` signature with input
    ``images`` (uint8, every dimension resizable) and the detection dict as outputs, whatever
    the quantization.

    Quantization modes:

    * None: float32 throughout.
    * ``"float16"``: float16 weights (dequantized at load), float32 arithmetic.
    * ``"int8"``: full-integer post-training quantization of the network: the detector
      network's convolutions (and the padding, reshapes, concatenations, multiplies and
      additions between them) run in int8 with per-channel int8 weights and activation
      ranges calibrated by running ``representative_images`` through the float model. The
      uint8 image is cast, resized and padded in float32 and quantized once inside the
      network's input normalization; the network output is dequantized to float32 for
      anchors, box decoding, softmax, the NMS while loop and box recovery (quantizing the
      NMS makes the TFLite runtime abort; see the module docstring).
    * ``"dynamic_int8"``: TFLite dynamic-range quantization: int8 weights, activations
      quantized on the fly per batch (float32 between layers); no calibration.

    Args:
        inference_model: a model from :func:`kssd.inference.build_inference_model`.
        path: output ``.tflite`` file.
        quantization: one of :data:`QUANTIZATIONS`, default None.
        representative_images: uint8 RGB images ``(H, W, 3)`` of any sizes used to calibrate
            ``"int8"`` (each runs as a batch of one through the ``serve`` signature; a few
            to a few hundred typical images), default None (required for ``"int8"``,
            ignored otherwise).

    Returns:
        ``path``.

    Raises:
        ValueError: unknown ``quantization``, ``"int8"`` without (or with malformed)
            ``representative_images``, or an inference model without a network layer.
        Exception: the converter's error (see :func:`kssd.export.export`, which names the layer).

    Examples:
        >>> from kssd.export.tflite import QUANTIZATIONS
        >>> QUANTIZATIONS
        (None, 'float16', 'int8', 'dynamic_int8')

        Writing a file (a few seconds; :func:`kssd.export.export` also verifies it):

        >>> import os, tempfile                                            # doctest: +SKIP
        >>> from kssd.export.tflite import export_tflite                   # doctest: +SKIP
        >>> from kssd.export.verify import sample_images                   # doctest: +SKIP
        >>> from kssd.inference import build_inference_model               # doctest: +SKIP
        >>> from kssd.testing import toy_detector                          # doctest: +SKIP
        >>> infer = build_inference_model(toy_detector())                  # doctest: +SKIP
        >>> export_tflite(infer, os.path.join(tempfile.mkdtemp(), "q.tflite"), "int8",
        ...               representative_images=sample_images())           # doctest: +SKIP
    """
    import tensorflow as tf

    from kssd.compat import set_calibrate_only
    from kssd.export.saved_model import ENDPOINT, export_saved_model

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}, got {quantization!r}")
    if quantization == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError(
                'quantization="int8" calibrates activations on `representative_images`: pass a '
                'non-empty list of uint8 RGB images (or use quantization="dynamic_int8")'
            )
        dataset = _representative_dataset(representative_images)
        pattern = _network_pattern(inference_model)
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "saved_model")
        export_saved_model(inference_model, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[ENDPOINT])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "dynamic_int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = dataset
            set_calibrate_only(converter)  # float model + recorded ranges
        data = converter.convert()
    if quantization == "int8":
        data = _network_only_int8(data, pattern)
        if not int8_compute_ops(data):
            raise RuntimeError(
                f"int8 quantization of {inference_model.name!r} produced no int8 convolution: the "
                "network's tensors were not recognised in the converted graph"
            )
    with open(path, "wb") as handle:
        handle.write(data)
    return path
