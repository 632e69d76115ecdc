"""build_inference_model: uint8 images of any size -> detections in the images' pixels."""

import keras
import numpy as np

from kssd.inference.level_grids import LevelGrids
from kssd.inference.recover_boxes import RecoverBoxes
from kssd.inference.resize_pad import ResizePad
from kssd.layers import POSTPROCESS_DEFAULTS, AnchorBoxes, DecodeDetections, NonMaxSuppression

DETECTION_KEYS = ("boxes", "scores", "classes", "num_detections")


def is_inference_model(model):
    """Whether ``model`` already returns the detection dict (built by :func:`build_inference_model`).

    Examples:
        >>> import kssd_zoo
        >>> from kssd.inference import build_inference_model, is_inference_model
        >>> model = kssd_zoo.tiny_ssd(compile=False)
        >>> is_inference_model(model), is_inference_model(build_inference_model(model))
        (False, True)
    """
    outputs = getattr(model, "output", None)
    return isinstance(outputs, dict) and set(DETECTION_KEYS) <= set(outputs)


_ANCHOR_BOX_KEYS = ("steps", "min_sizes", "scales", "aspect_ratios", "extra_box", "clip", "centers")


def _anchor_args(model, anchors):
    """Anchor generator arguments (dict) from ``anchors`` or the detector's ``anchor_config``."""
    if anchors is None:
        config = getattr(model, "anchor_config", None)
        if config is None:
            raise ValueError(
                f"model {model.name!r} does not own its anchors (it is not a "
                "kssd.models.SSDDetector): wrap it in SSDDetector, or pass `anchors=` as a dict "
                "of kssd.anchors.generate_anchors arguments (steps, min_sizes or "
                "scales/aspect_ratios, ...) or an AnchorBoxes layer or its config"
            )
        return dict(config)
    if isinstance(anchors, AnchorBoxes):
        anchors = anchors.get_config()
    if not isinstance(anchors, dict):
        raise ValueError(
            "`anchors` must be a dict of kssd.anchors.generate_anchors arguments, an AnchorBoxes "
            f"layer or an AnchorBoxes config, got {type(anchors).__name__}"
        )
    allowed = set(_ANCHOR_BOX_KEYS) | {"feature_sizes"}
    return {k: v for k, v in anchors.items() if k in allowed}


def _max_stride(anchor_args):
    steps = anchor_args.get("steps")
    if not steps:
        return None
    values = []
    for s in steps:
        values.extend(s if isinstance(s, (list, tuple)) else [s])
    return int(max(values))


def _model_input_size(model):
    size = getattr(model, "input_size", None)
    if size is not None:
        return tuple(int(v) for v in size)
    shape = (
        tuple(model.input_shape) if not isinstance(model.input_shape, list) else tuple(model.input_shape[0])
    )
    if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
        return int(shape[1]), int(shape[2])
    return None


def _is_dynamic(model, anchor_args):
    dynamic = getattr(model, "dynamic", None)
    if dynamic is not None:
        return bool(dynamic)
    shape = (
        tuple(model.input_shape) if not isinstance(model.input_shape, list) else tuple(model.input_shape[0])
    )
    return shape[1] is None and shape[2] is None and anchor_args.get("steps") is not None


def _pad_value(model, pad_value):
    if pad_value != "mean":
        return pad_value
    norm = getattr(model, "normalization", None) or {}
    if "mean" in norm:
        mean = norm["mean"]
        return [float(m) for m in mean] if isinstance(mean, (list, tuple)) else float(mean)
    return 0.0


def resolve_input_size(model, input_size="spec", anchors=None):
    """The network input size an inference model will use, or None (each image's own size).

    Args:
        model: the detector (a kssd_zoo Detector or a keras.Model returning y_pred).
        input_size: ``"spec"`` (the model's own size), None (the image's own size, padded to
            the largest stride; fully convolutional models only) or ``(h, w)``, default "spec".
        anchors: anchor arguments for models without a spec, default None.

    Returns:
        ``(h, w)`` or None.

    Raises:
        ValueError: ``None`` or another size for a model that is not fully convolutional,
            or ``"spec"`` for a model without a known size.

    Examples:
        >>> import kssd_zoo
        >>> from kssd.inference import resolve_input_size
        >>> resolve_input_size(kssd_zoo.tiny_ssd(compile=False))
        (128, 128)
    """
    anchor_args = _anchor_args(model, anchors)
    own = _model_input_size(model)
    dynamic = _is_dynamic(model, anchor_args)
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
    score_threshold=None,
    iou_threshold=None,
    max_detections=None,
    max_detections_per_class=None,
    pad_value="mean",
    anchors=None,
    variances=None,
    nms_implementation="portable",
    name=None,
):
    """Wrap a detector into an end-to-end graph: uint8 RGB images in, pixel boxes out.

    Graph: ``images`` uint8 ``(B, H, W, 3)`` (any H, W; one size per batch) ->
    :class:`ResizePad` -> the network -> :class:`kssd.layers.AnchorBoxes` (anchors for the
    actual network input size, grids from :class:`LevelGrids`) ->
    :class:`kssd.layers.DecodeDetections` -> :class:`kssd.layers.NonMaxSuppression` ->
    :class:`RecoverBoxes`. Every layer is registered, so the result saves to ``.keras`` and
    exports to SavedModel, TFLite and ONNX (see :func:`kssd.export.export`).

    Input size policy:

    * ``input_size="spec"`` (default): the model's own size. ``resize="letterbox"`` keeps the
      aspect ratio and pads at the bottom/right with ``pad_value``; ``resize="stretch"``
      resizes to the size.
    * ``input_size=None``: fully convolutional models (``dynamic``, step-based anchors) run at
      each image's own size, padded at the bottom/right to a multiple of the largest
      stride (``resize`` is ignored). Finds small, distant faces that shrink away at the
      spec size; costs time proportional to the pixel count.
    * ``input_size=(h, w)``: letterbox/stretch to that size (fully convolutional models).

    Args:
        model: a :class:`kssd.models.SSDDetector` (a kssd_zoo ``Detector`` is one) or any
            ``keras.Model`` mapping RGB float images (0..255) to ``y_pred``
            ``(B, A, 4 + C + 1)`` (C = num_classes object classes, logit 0 = background).
        input_size: ``"spec"`` (the model's own ``input_size``), None or ``(h, w)``, default
            ``"spec"``.
        resize: ``"letterbox"`` or ``"stretch"``, default ``"letterbox"``.
        score_threshold: default None (the detector's ``postprocess``, else
            :data:`kssd.layers.POSTPROCESS_DEFAULTS`: 0.5).
        iou_threshold: default None (the detector's, else the shared default 0.45).
        max_detections: detections per image K, default None (the detector's, else the
            shared default 200).
        max_detections_per_class: default None (the detector's, else ``max_detections``).
        pad_value: padding colour (0..255, a number or RGB), or ``"mean"`` (default): the
            mean of the detector's ``normalization`` (padding normalizes to 0), or 0 (black)
            for ``scale``/``offset`` normalization and for plain Keras models.
        anchors: for plain Keras models (not an ``SSDDetector``): a dict of
            :func:`kssd.anchors.generate_anchors` arguments, an ``AnchorBoxes`` layer or
            its config, default None (the detector's ``anchor_config``).
        variances: box coder variances, default None (the detector's, else ``(0.1, 0.2)``).
        nms_implementation: ``"portable"`` (keras.ops while loop; exports everywhere) or
            ``"tensorflow"`` (``combined_non_max_suppression``; not TFLite built-in),
            default ``"portable"``.
        name: model name, default None (``"<model>_inference"``).

    Returns:
        A ``keras.Model`` taking uint8 ``(B, H, W, 3)`` and returning
        ``{"boxes": (B, K, 4) xyxy pixels of the input images, "scores": (B, K),
        "classes": (B, K) int32 in 1..C (0 = padding), "num_detections": (B,)}``.

    Raises:
        ValueError: an unusable ``input_size``/``resize`` or missing anchor information.

    Examples:
        >>> import numpy as np, kssd_zoo
        >>> from kssd.inference import build_inference_model
        >>> infer = build_inference_model(kssd_zoo.tiny_ssd(compile=False), max_detections=5)
        >>> out = infer(np.zeros((2, 90, 160, 3), "uint8"))
        >>> sorted(out), tuple(out["boxes"].shape)
        (['boxes', 'classes', 'num_detections', 'scores'], (2, 5, 4))
    """
    if resize not in ("letterbox", "stretch"):
        raise ValueError(f'`resize` must be "letterbox" or "stretch", got {resize!r}')
    anchor_args = _anchor_args(model, anchors)
    size = resolve_input_size(model, input_size, anchors)
    # Shared defaults < the detector's postprocess < arguments; None never overrides.
    post = dict(POSTPROCESS_DEFAULTS)
    own_post = getattr(model, "postprocess", None) or {}
    post.update({k: v for k, v in own_post.items() if v is not None})
    overrides = {
        "score_threshold": score_threshold,
        "iou_threshold": iou_threshold,
        "max_detections": max_detections,
        "max_detections_per_class": max_detections_per_class,
    }
    post.update({k: v for k, v in overrides.items() if v is not None})
    per_class = post["max_detections_per_class"]  # None: NonMaxSuppression uses max_detections
    if variances is None:
        variances = tuple(getattr(model, "variances", None) or (0.1, 0.2))

    images = keras.Input((None, None, 3), dtype="uint8", name="images")
    if size is None:
        prep = ResizePad(
            "pad",
            pad_to_multiple=_max_stride(anchor_args),
            pad_value=_pad_value(model, pad_value),
            name="resize_pad",
        )
    else:
        prep = ResizePad(resize, target_size=size, pad_value=_pad_value(model, pad_value), name="resize_pad")
    net_input, info = prep(images)
    y_pred = model(net_input)
    if isinstance(y_pred, (list, tuple, dict)):
        raise ValueError(f"model {model.name!r} must return one y_pred tensor (B, A, 4 + C + 1)")
    steps = anchor_args.get("steps")
    feature_sizes = anchor_args.get("feature_sizes") if size is not None else None
    grids = LevelGrids(steps=steps, feature_sizes=feature_sizes, name="level_grids")(net_input)
    box_args = {k: anchor_args[k] for k in _ANCHOR_BOX_KEYS if k in anchor_args}
    anchors_t = AnchorBoxes(**box_args, name="anchor_boxes")(net_input, grids)
    decoded = DecodeDetections(variances=list(variances), name="decode_detections")(y_pred, anchors_t)
    nms = NonMaxSuppression(
        score_threshold=float(post["score_threshold"]),
        iou_threshold=float(post["iou_threshold"]),
        max_detections_per_class=None if per_class is None else int(per_class),
        max_detections=int(post["max_detections"]),
        implementation=nms_implementation,
        name="non_max_suppression",
    )(decoded["boxes"], decoded["scores"])
    boxes = RecoverBoxes(name="recover_boxes")(nms["boxes"], info)
    outputs = {
        "boxes": boxes,
        "scores": nms["scores"],
        "classes": nms["classes"],
        "num_detections": nms["num_detections"],
    }
    return keras.Model(images, outputs, name=name or f"{model.name}_inference")
