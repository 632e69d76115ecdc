"""``detect_fn(images) -> detections`` from a detector, for evaluation.

:func:`make_detect_fn` wraps :func:`kssd.inference.detect` (resize to the network input, run
the model, decode, per-class NMS, boxes back in each image's pixels) with the defaults of the
detector's ``postprocess`` and the low evaluation score threshold
(:data:`kssd.metrics.evaluate.EVAL_SCORE_THRESHOLD`); :func:`kssd.metrics.detect_records` runs
it over records and :func:`kssd.metrics.detection_metrics` scores the result.
"""

from kssd.metrics.evaluate import EVAL_SCORE_THRESHOLD


def make_detect_fn(
    model,
    *,
    score_threshold=EVAL_SCORE_THRESHOLD,
    iou_threshold=None,
    max_detections=None,
    max_detections_per_class=None,
    image_size=None,
    batch_size=16,
    resize="stretch",
):
    """Build ``detect_fn(images) -> list of dicts`` from an SSD model, via :func:`kssd.inference.detect`.

    Decoding, per-class NMS and the mapping back to each image's pixels are those of
    :func:`kssd.inference.build_inference_model` (one detection path in kssd). Images are
    stretched to the network input by default, the geometry the training pipeline uses.

    Args:
        model: a :class:`kssd.models.SSDDetector` (a kssd_zoo ``Detector`` is one); its
            anchors, variances and ``postprocess`` (the NMS defaults) are used.
        score_threshold: keep scores above this, default 0.01 (evaluation; the spec's
            deployment threshold would truncate the precision/recall curve).
        iou_threshold: NMS IoU, default None = ``model.postprocess``, else
            :data:`kssd.layers.POSTPROCESS_DEFAULTS` (0.45).
        max_detections: per image, default None = ``model.postprocess``, else the shared
            default (200).
        max_detections_per_class: default None = ``model.postprocess``, else ``max_detections``.
        image_size: (h, w) network input, default None = the model's own input size.
        batch_size: images per model call, default 16.
        resize: ``"stretch"`` (default) or ``"letterbox"``.

    Returns:
        A function taking a list of uint8 RGB images (any sizes) and returning one dict per
        image: ``"boxes"`` (K, 4) ``xyxy`` pixels of that image, ``"scores"`` (K,),
        ``"labels"`` (K,) int32 class ids 1..C (also as ``"classes"``).

    Examples:
        >>> import numpy as np
        >>> from kssd.testing import toy_detector
        >>> from kssd.inference.detect_fn import make_detect_fn
        >>> detect_fn = make_detect_fn(toy_detector())
        >>> found = detect_fn([np.zeros((20, 40, 3), "uint8"), np.zeros((64, 64, 3), "uint8")])
        >>> len(found), sorted(found[0]), found[0]["boxes"].shape[-1]
        (2, ['boxes', 'classes', 'labels', 'scores'], 4)
    """
    from kssd.inference import detect
    from kssd.inference.inference_model import check_detector
    from kssd.layers import POSTPROCESS_DEFAULTS

    check_detector(model)
    # Shared defaults < the model's postprocess < arguments; None never overrides.
    post = dict(POSTPROCESS_DEFAULTS)
    post.update({k: v for k, v in model.postprocess.items() if v is not None})
    max_det = int(max_detections or post["max_detections"])
    options = {
        "score_threshold": float(score_threshold),
        "iou_threshold": float(iou_threshold if iou_threshold is not None else post["iou_threshold"]),
        "max_detections": max_det,
        "max_detections_per_class": int(
            max_detections_per_class or post["max_detections_per_class"] or max_det
        ),
        "input_size": tuple(int(v) for v in image_size) if image_size is not None else "spec",
        "resize": resize,
        "batch_size": batch_size,
    }

    def detect_fn(images):
        found = detect(model, list(images), **options)
        return [
            {
                "boxes": f["boxes"],
                "scores": f["scores"],
                "labels": f["classes"].astype("int32"),
                "classes": f["classes"].astype("int32"),
            }
            for f in found
        ]

    return detect_fn


__all__ = ["make_detect_fn"]
