"""build_inference_model: uint8 images of any size -> detections in the images' pixels."""

import keras
import numpy as np

from kssd.inference.recover_boxes import RecoverBoxes
from kssd.inference.resize_pad import ResizePad
from kssd.layers import POSTPROCESS_DEFAULTS, AnchorBoxes, DecodeDetections, NonMaxSuppression
from kssd.models import SSDDetector

DETECTION_KEYS = ("boxes", "scores", "classes", "num_detections")


def is_inference_model(model):
    """Whether ``model`` already returns the detection dict (built by :func:`build_inference_model`).

    Examples:
        >>> from kssd.inference import build_inference_model, is_inference_model
        >>> from kssd.testing import toy_detector
        >>> model = toy_detector()
        >>> is_inference_model(model), is_inference_model(build_inference_model(model))
        (False, True)
    """
    outputs = getattr(model, "output", None)
    return isinstance(outputs, dict) and set(DETECTION_KEYS) <= set(outputs)


def check_detector(model):
    """Raise a ValueError saying how to wrap ``model`` unless it is a :class:`~kssd.models.SSDDetector`."""
    if not isinstance(model, SSDDetector):
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} is a {type(model).__name__}, not a "
            "kssd.models.SSDDetector: wrap the network as SSDDetector(backbone, heads, "
            "anchor_generator=AnchorBoxes(...), num_classes=C) so it owns its anchors and "
            "feature maps"
        )


def _max_stride(anchor_args):
    steps = anchor_args.get("steps")
    if not steps:
        return None
    values = []
    for s in steps:
        values.extend(s if isinstance(s, (list, tuple)) else [s])
    return int(max(values))


def _pad_value(model, pad_value):
    if pad_value != "mean":
        return pad_value
    norm = model.normalization or {}
    if "mean" in norm:
        mean = norm["mean"]
        return [float(m) for m in mean] if isinstance(mean, (list, tuple)) else float(mean)
    return 0.0


def resolve_input_size(model, input_size="spec"):
    """The network input size an inference model will use, or None (each image's own size).

    Args:
        model: a :class:`kssd.models.SSDDetector`.
        input_size: ``"spec"`` (the model's own size), None (the image's own size, padded to
            the largest stride; fully convolutional models only) or ``(h, w)``, default "spec".

    Returns:
        ``(h, w)`` or None.

    Raises:
        ValueError: ``None`` or another size for a model that is not fully convolutional,
            or ``"spec"`` for a model without a known size.

    Examples:
        >>> from kssd.inference import resolve_input_size
        >>> from kssd.testing import toy_detector
        >>> resolve_input_size(toy_detector(input_size=(64, 96)))
        (64, 96)
    """
    check_detector(model)
    anchor_args = model.anchor_config
    own = model.input_size
    dynamic = model.dynamic
    if isinstance(input_size, str):
        if input_size != "spec":
            raise ValueError(f'`input_size` must be "spec", None or (height, width), got {input_size!r}')
        if own is None:
            raise ValueError(
                f"model {model.name!r} has no fixed input size: pass input_size=(height, width) or None"
            )
        return own
    if input_size is None:
        if not dynamic or anchor_args.get("steps") is None:
            raise ValueError(
                f"input_size=None runs the network at each image's own size, but model "
                f"{model.name!r} is not fully convolutional with step-based anchors "
                f"(input.dynamic is false or anchors have no steps); use input_size='spec'"
            )
        return None
    if (
        not isinstance(input_size, (list, tuple))
        or len(input_size) != 2
        or not all(isinstance(v, (int, np.integer)) and v > 0 for v in input_size)
    ):
        raise ValueError(
            f'`input_size` must be "spec", None or (height, width) positive ints, got {input_size!r}'
        )
    size = (int(input_size[0]), int(input_size[1]))
    if not dynamic and own is not None and size != own:
        raise ValueError(
            f"model {model.name!r} only runs at {own[0]}x{own[1]} (it is not fully convolutional); "
            f"got input_size={size}"
        )
    return size


def build_inference_model(
    model,
    input_size="spec",
    resize="letterbox",
    *,
    score_threshold=None,
    iou_threshold=None,
    max_detections=None,
    max_detections_per_class=None,
    pad_value="mean",
    nms_implementation="portable",
    name=None,
):
    """Wrap a detector into an end-to-end graph: uint8 RGB images in, pixel boxes out.

    Graph: ``images`` uint8 ``(B, H, W, 3)`` (any H, W; one size per batch) ->
    :class:`ResizePad` -> the detector's :attr:`~kssd.models.SSDDetector.network` (``y_pred``
    and the feature maps in one pass) -> the detector's :class:`kssd.layers.AnchorBoxes` on
    those feature maps -> :class:`kssd.layers.DecodeDetections` with its variances -> its
    :class:`kssd.layers.NonMaxSuppression` settings -> :class:`RecoverBoxes`. Every layer
    is registered, so the result saves to ``.keras`` and exports to SavedModel, TFLite and
    ONNX (see :func:`kssd.export.export`).

    Input size policy:

    * ``input_size="spec"`` (default): the model's own size. ``resize="letterbox"`` keeps the
      aspect ratio and pads at the bottom/right with ``pad_value``; ``resize="stretch"``
      resizes to the size.
    * ``input_size=None``: fully convolutional models (``dynamic``, step-based anchors) run at
      each image's own size, padded at the bottom/right to a multiple of the largest
      stride (``resize`` is ignored). Finds small, distant faces that shrink away at the
      model's size; costs time proportional to the pixel count.
    * ``input_size=(h, w)``: letterbox/stretch to that size (fully convolutional models).

    Args:
        model: a :class:`kssd.models.SSDDetector` (a kssd_zoo ``Detector`` is one).
        input_size: ``"spec"`` (the model's own ``input_size``), None or ``(h, w)``, default
            ``"spec"``.
        resize: ``"letterbox"`` or ``"stretch"``, default ``"letterbox"``.
        score_threshold: default None (the detector's ``postprocess``).
        iou_threshold: default None (the detector's).
        max_detections: detections per image K, default None (the detector's).
        max_detections_per_class: default None (the detector's, else ``max_detections``).
        pad_value: padding colour (0..255, a number or RGB), or ``"mean"`` (default): the
            mean of the detector's ``normalization`` (padding normalizes to 0), or 0 (black)
            for ``scale``/``offset`` normalization.
        nms_implementation: ``"portable"`` (keras.ops while loop; exports everywhere) or
            ``"tensorflow"`` (``combined_non_max_suppression``; not TFLite built-in),
            default ``"portable"``.
        name: model name, default None (``"<model>_inference"``).

    Returns:
        A ``keras.Model`` taking uint8 ``(B, H, W, 3)`` and returning
        ``{"boxes": (B, K, 4) xyxy pixels of the input images, "scores": (B, K),
        "classes": (B, K) int32 in 1..C (0 = padding), "num_detections": (B,)}``.

    Raises:
        ValueError: not an ``SSDDetector``, or an unusable ``input_size``/``resize``.

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import build_inference_model
        >>> from kssd.testing import toy_detector
        >>> infer = build_inference_model(toy_detector(), max_detections=5)
        >>> out = infer(np.zeros((2, 90, 160, 3), "uint8"))
        >>> sorted(out), tuple(out["boxes"].shape)
        (['boxes', 'classes', 'num_detections', 'scores'], (2, 5, 4))
    """
    if resize not in ("letterbox", "stretch"):
        raise ValueError(f'`resize` must be "letterbox" or "stretch", got {resize!r}')
    size = resolve_input_size(model, input_size)
    images = keras.Input((None, None, 3), dtype="uint8", name="images")
    net_input, info = _resize_pad(model, size, resize, pad_value)(images)
    nms = _detections(
        model,
        net_input,
        nms_implementation,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
        max_detections_per_class=max_detections_per_class,
    )
    boxes = RecoverBoxes(name="recover_boxes")(nms["boxes"], info)
    outputs = {
        "boxes": boxes,
        "scores": nms["scores"],
        "classes": nms["classes"],
        "num_detections": nms["num_detections"],
    }
    return keras.Model(images, outputs, name=name or f"{model.name}_inference")


def _resize_pad(model, size, resize, pad_value):
    """The :class:`ResizePad` of the inference model at ``size`` (None: pad for native size)."""
    padding = _pad_value(model, pad_value)
    if size is None:
        stride = _max_stride(model.anchor_config)
        return ResizePad("pad", pad_to_multiple=stride, pad_value=padding, name="resize_pad")
    return ResizePad(resize, target_size=size, pad_value=padding, name="resize_pad")


def build_network_input_model(
    model,
    input_size="spec",
    *,
    score_threshold=None,
    iou_threshold=None,
    max_detections=None,
    max_detections_per_class=None,
    resize="letterbox",
    pad_value="mean",
    nms_implementation="portable",
    name=None,
):
    """The part of :func:`build_inference_model` after :class:`ResizePad`: network input in,
    detections normalized to it out.

    For images that were each brought to the network input size on their own (by the
    ``ResizePad`` of that inference model, so with the same arithmetic), which lets images
    of different sizes share one batch; :func:`kssd.inference.detect` does that. Returns the
    model and that ``ResizePad``; map the boxes back to each image with its own
    ``image_info`` (:class:`RecoverBoxes`).

    Args:
        model, input_size, score_threshold, iou_threshold, max_detections,
        max_detections_per_class, resize, pad_value, nms_implementation, name: as in
            :func:`build_inference_model` (``input_size`` must be a fixed size here).

    Returns:
        ``(core, resize_pad)``: a ``keras.Model`` taking float32 ``(B, h, w, 3)`` (0..255,
        resized and padded) and returning the dict of :func:`build_inference_model` with
        ``"boxes"`` ``xyxy`` in 0..1 of the network input, and the :class:`ResizePad` that
        makes one such image (``(1, h, w, 3)``) and its ``image_info`` from a uint8 image.

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import RecoverBoxes
        >>> from kssd.inference.inference_model import build_network_input_model
        >>> from kssd.testing import toy_detector
        >>> core, resize_pad = build_network_input_model(toy_detector(), max_detections=5)
        >>> prepared = [resize_pad(np.zeros((1, h, 90, 3), "uint8")) for h in (40, 70)]
        >>> out = core(np.concatenate([np.asarray(x) for x, _ in prepared]))
        >>> tuple(out["boxes"].shape), tuple(RecoverBoxes()(out["boxes"][1], prepared[1][1]).shape)
        ((2, 5, 4), (5, 4))
    """
    size = resolve_input_size(model, input_size)
    if size is None:
        raise ValueError("build_network_input_model needs a fixed input_size ('spec' or (h, w)), got None")
    net_input = keras.Input((*size, 3), dtype="float32", name="network_input")
    outputs = _detections(
        model,
        net_input,
        nms_implementation,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
        max_detections_per_class=max_detections_per_class,
    )
    core = keras.Model(net_input, outputs, name=name or f"{model.name}_network_input")
    return core, _resize_pad(model, size, resize, pad_value)


def _detections(model, net_input, nms_implementation, **overrides):
    """Network, anchors, decoding and NMS on ``net_input``: the NMS dict, boxes in 0..1.

    ``overrides``: the NMS settings of :func:`build_inference_model`; the detector's
    ``postprocess`` < them, and None never overrides.
    """
    post = dict(POSTPROCESS_DEFAULTS)
    post.update({k: v for k, v in model.postprocess.items() if v is not None})
    post.update({k: v for k, v in overrides.items() if v is not None})
    per_class = post["max_detections_per_class"]  # None: NonMaxSuppression uses max_detections
    outputs = model.network(net_input)
    generator = model.anchor_generator
    anchor_boxes = AnchorBoxes.from_config(dict(generator.get_config(), name="anchor_boxes"))
    anchors = anchor_boxes(net_input, outputs["feature_maps"])
    decode = DecodeDetections(
        variances=list(model.variances),
        box_coding=getattr(model, "box_coding", "ssd"),
        name="decode_detections",
    )
    decoded = decode(outputs["y_pred"], anchors)
    return NonMaxSuppression(
        score_threshold=float(post["score_threshold"]),
        iou_threshold=float(post["iou_threshold"]),
        max_detections_per_class=None if per_class is None else int(per_class),
        max_detections=int(post["max_detections"]),
        implementation=nms_implementation,
        name="non_max_suppression",
    )(decoded["boxes"], decoded["scores"])
