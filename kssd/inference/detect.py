"""detect(): run a detector on images (arrays or files) and get one dict of NumPy results per image."""

import os
import warnings
import weakref

import keras
import numpy as np

from kssd.inference.inference_model import (
    DETECTION_KEYS,
    build_inference_model,
    build_network_input_model,
    is_inference_model,
    resolve_input_size,
)
from kssd.inference.passes import input_size_passes, merge_detections
from kssd.inference.recover_boxes import RecoverBoxes

_CACHE = weakref.WeakKeyDictionary()


def to_rgb_uint8(image, name="image"):
    """Convert one image (array or file) into uint8 RGB ``(H, W, 3)``, or raise a clear error.

    Conversions (documented behaviour, not errors): a file is decoded with
    :func:`kssd.data.images.read_image` (EXIF orientation applied; 16-bit and RGBA files
    are converted there); a 2-D or 1-channel array is grayscale and repeated to RGB; a
    4-channel array is RGBA and its alpha channel is dropped (not composited); uint16
    arrays are scaled to 8 bits (``round(x / 257)``); float arrays are taken as 0..255
    (clipped and rounded; a warning is given when all values are within 0..1, which
    usually means an image scaled to 0..1). Arrays are assumed RGB (OpenCV's
    ``cv2.imread`` gives BGR: convert with ``cv2.cvtColor(x, cv2.COLOR_BGR2RGB)``).

    Args:
        image: a path (str or PathLike), encoded bytes, or an array ``(H, W)``,
            ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``.
        name: how to call the image in error messages, default "image".

    Returns:
        uint8 array ``(H, W, 3)``.

    Raises:
        kssd.data.images.ImageReadError: an unreadable, empty, truncated or non-image file.
        ValueError: an empty array, a wrong shape or an unsupported dtype (naming ``name``).

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import to_rgb_uint8
        >>> to_rgb_uint8(np.full((2, 3), 65535, "uint16")).shape, int(to_rgb_uint8(np.full((2, 3), 65535, "uint16")).max())
        ((2, 3, 3), 255)
    """
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        from kssd.data.images import read_image

        return read_image(image)
    array = np.asarray(image)
    if array.dtype == object or array.dtype.kind not in "uif":
        raise ValueError(
            f"{name}: expected an image array (uint8 RGB) or a file path, got dtype {array.dtype}"
        )
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{name}: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: empty image (shape {array.shape})")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = array[..., :3]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.uint16:
        return np.round(array / 257.0).astype(np.uint8)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: the float image holds NaN or infinite values")
        if array.max() <= 1.0 and array.max() > 0:
            warnings.warn(
                f"{name}: float image with values in 0..1; kssd expects 0..255 (multiply by 255)",
                stacklevel=3,
            )
        return np.clip(np.round(array), 0, 255).astype(np.uint8)
    if array.min() < 0 or array.max() > 255:
        raise ValueError(
            f"{name}: integer image of dtype {array.dtype} with values outside 0..255 "
            f"(min {array.min()}, max {array.max()}); convert it to uint8 first"
        )
    return array.astype(np.uint8)


def _compiled(model):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return model


def _runner(model, settings, options):
    """How :func:`detect` runs ``model`` with ``options``, cached per model and settings.

    Returns ``(call, resize_pad, recover)``. For a detector at a fixed input size, ``call``
    runs the model of :func:`build_network_input_model` (compiled), ``resize_pad`` is its
    :class:`kssd.inference.ResizePad` and ``recover`` a :class:`RecoverBoxes`: each image is
    resized on its own, images of any sizes share a batch, and each image's boxes go back to
    its pixels. Otherwise ``resize_pad`` and ``recover`` are None and ``call`` runs the whole
    inference model (one image size per batch). ``settings`` is the hashable cache key made
    from ``options`` by :func:`_freeze`; the models are built from ``options`` themselves.
    """
    per_model = _CACHE.setdefault(model, {})
    if settings not in per_model:
        if is_inference_model(model):
            per_model[settings] = (_compiled(model), None, None)
        elif resolve_input_size(model, options["input_size"]) is None:
            per_model[settings] = (_compiled(build_inference_model(model, **options)), None, None)
        else:
            core, resize_pad = build_network_input_model(model, **options)
            per_model[settings] = (_compiled(core), resize_pad, RecoverBoxes())
    return per_model[settings]


def _class_names(model):
    names = getattr(model, "class_names", None)
    return list(names) if names else None


def detect(
    model,
    images,
    score_threshold=None,
    iou_threshold=None,
    max_detections=None,
    input_size="spec",
    resize="letterbox",
    batch_size=8,
    class_names=None,
    **kwargs,
):
    """Detect objects in one image or a list of images of any sizes.

    At a fixed input size (``"spec"`` or ``(h, w)``) each image is resized or letterboxed on
    its own (the inference model's :class:`kssd.inference.ResizePad`), so images of any sizes
    share batches of ``batch_size``; at native size, images of the same size are batched
    together. The graphs (:func:`kssd.inference.build_inference_model`) are built once per
    model and settings and cached.

    Args:
        model: a :class:`kssd.models.SSDDetector` (a kssd_zoo ``Detector`` is one), or an
            inference model from ``build_inference_model`` (then the threshold arguments
            must stay None).
        images: one image or a list; each a uint8 RGB array ``(H, W, 3)`` or a file path
            (conversions as in :func:`to_rgb_uint8`).
        score_threshold: default None (the detector's ``postprocess``).
        iou_threshold: default None (the detector's).
        max_detections: default None (the detector's).
        input_size: ``"spec"``, None / ``"native"`` (each image at its own size, padded;
            fully convolutional models), ``(h, w)``, or ``"auto"`` (the trained size and native,
            merged per class: see :mod:`kssd.inference.passes`), default ``"spec"``.
        resize: ``"letterbox"`` or ``"stretch"``, default ``"letterbox"``.
        batch_size: images per call, default 8.
        class_names: names of classes 1..C, default None (the model's ``class_names``).
        **kwargs: more :func:`build_inference_model` arguments (``pad_value``,
            ``max_detections_per_class``, ``nms_implementation``: default ``"tensorflow"``,
            the NMS kernel, on the TensorFlow backend, else ``"portable"``).

    Returns:
        A list with one dict per image (also for a single image): ``"boxes"`` float32
        ``(N, 4)`` xyxy in the image's pixels, ``"scores"`` float32 ``(N,)``, ``"classes"``
        int ``(N,)`` in 1..C, ``"class_names"`` list of N str (or the ids as str when no
        names are known), sorted by score.

    Raises:
        ValueError: bad images (naming the index or file) or settings.
        kssd.data.images.ImageReadError: an unreadable image file.

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import detect
        >>> from kssd.testing import toy_detector
        >>> model = toy_detector()
        >>> results = detect(model, [np.zeros((60, 90, 3), "uint8"), np.zeros((30, 40, 3), "uint8")],
        ...                  score_threshold=0.99)
        >>> len(results), sorted(results[0])
        (2, ['boxes', 'class_names', 'classes', 'scores'])
    """
    if input_size == "native":
        input_size = None
    if input_size == "auto" and not is_inference_model(model):
        passes = input_size_passes(model, "auto")
        if len(passes) > 1:
            return _detect_passes(
                model,
                images,
                passes,
                score_threshold,
                iou_threshold,
                max_detections,
                class_names,
                resize=resize,
                batch_size=batch_size,
                **kwargs,
            )
        input_size = passes[0]
    single = isinstance(images, (str, os.PathLike, bytes)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object
    )
    items = [images] if single else list(images)
    arrays = []
    for i, item in enumerate(items):
        label = f"images[{i}] ({item})" if isinstance(item, (str, os.PathLike)) else f"images[{i}]"
        arrays.append(to_rgb_uint8(item, name=label))
    if is_inference_model(model):
        if any(v is not None for v in (score_threshold, iou_threshold, max_detections)) or kwargs:
            raise ValueError(
                "`model` is already an inference model with fixed thresholds; pass the detector "
                "itself to change score_threshold/iou_threshold/max_detections"
            )
        settings, options = (), {}
    else:
        options = dict(kwargs)
        # In process, TensorFlow's NMS kernel where the backend has it: the same detections
        # as the portable loop (tie for tie, tested), and far faster when thousands of boxes
        # are candidates (evaluation's 0.01 threshold); exports choose their own.
        options.setdefault(
            "nms_implementation", "tensorflow" if keras.backend.backend() == "tensorflow" else "portable"
        )
        options.update(
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
            input_size=tuple(input_size) if isinstance(input_size, list) else input_size,
            resize=resize,
        )
        settings = tuple(sorted((k, _freeze(v)) for k, v in options.items()))
    call, resize_pad, recover = _runner(model, settings, options)
    names = class_names or _class_names(model)
    results = [None] * len(arrays)
    step = max(1, int(batch_size))
    if resize_pad is None:
        # One graph from uint8 images: the images of a batch must share one size.
        by_shape = {}
        for i, array in enumerate(arrays):
            by_shape.setdefault(array.shape, []).append(i)
        chunks = [
            indices[s : s + step] for indices in by_shape.values() for s in range(0, len(indices), step)
        ]
    else:
        chunks = [list(range(s, min(s + step, len(arrays)))) for s in range(0, len(arrays), step)]
    for chunk in chunks:
        if resize_pad is None:
            out = call(np.stack([arrays[i] for i in chunk]))
            infos = None
        else:
            prepared = [resize_pad(arrays[i][None]) for i in chunk]
            out = call(keras.ops.concatenate([net_input for net_input, _ in prepared]))
            infos = [info for _, info in prepared]
        out = {k: keras.ops.convert_to_numpy(out[k]) for k in DETECTION_KEYS}
        for row, i in enumerate(chunk):
            n = int(out["num_detections"][row])
            boxes = out["boxes"][row, :n]
            if infos is not None:  # normalized to the network input: to this image's pixels
                boxes = keras.ops.convert_to_numpy(recover(boxes, infos[row]))
            classes = out["classes"][row, :n].astype(np.int64)
            results[i] = {
                "boxes": boxes.astype(np.float32),
                "scores": out["scores"][row, :n].astype(np.float32),
                "classes": classes,
                "class_names": [
                    names[c - 1] if names and 0 < c <= len(names) else str(int(c)) for c in classes
                ],
            }
    return results


def _detect_passes(
    model, images, passes, score_threshold, iou_threshold, max_detections, class_names, **kwargs
):
    """:func:`detect` once per input size, merged per image and class by NMS."""
    single = isinstance(images, (str, os.PathLike, bytes)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object
    )
    items = [to_rgb_uint8(images, name="images")] if single else list(images)
    runs = [
        detect(
            model,
            items,
            score_threshold,
            iou_threshold,
            max_detections,
            size,
            class_names=class_names,
            **kwargs,
        )
        for size in passes
    ]
    post = dict(getattr(model, "postprocess", None) or {})
    iou = float(iou_threshold if iou_threshold is not None else post.get("iou_threshold", 0.45))
    limit = int(max_detections if max_detections is not None else post.get("max_detections", 200))
    names = class_names or _class_names(model)
    results = []
    for per_pass in zip(*runs):
        boxes, scores, classes = merge_detections(
            np.concatenate([r["boxes"] for r in per_pass]).reshape(-1, 4),
            np.concatenate([r["scores"] for r in per_pass]),
            iou,
            max_detections=limit * len(passes),
            classes=np.concatenate([r["classes"] for r in per_pass]),
        )
        boxes, scores, classes = boxes[:limit], scores[:limit], classes[:limit]
        results.append(
            {
                "boxes": boxes.astype(np.float32),
                "scores": scores.astype(np.float32),
                "classes": classes,
                "class_names": [
                    names[c - 1] if names and 0 < c <= len(names) else str(int(c)) for c in classes
                ],
            }
        )
    return results


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(value.ravel().tolist())
    return value
