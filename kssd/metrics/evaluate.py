"""Scoring detections by metric name: the metric registry and the dispatcher over it.

* :data:`METRICS` maps a metric name (``voc07``, ``voc12``, ``widerface``, ``coco``) to its
  scorer ``fn(records, detections, **options) -> dict``; a new metric is one scorer plus one
  ``METRICS.register(name, fn, ...)``; ``kssd train/evaluate --metric`` offer it.
* :func:`detect_records` runs a ``detect_fn`` (e.g.
  :func:`kssd.inference.detect_fn.make_detect_fn`) over kssd records in batches.
* :func:`detection_metrics` scores the detections with one of :data:`METRICS`.

Examples:
    >>> import numpy as np
    >>> from kssd.metrics.evaluate import METRICS, detection_metrics
    >>> records = [{"image_id": "a", "boxes": np.array([[0., 0., 10., 10.]]), "labels": [1]}]
    >>> found = [{"boxes": np.array([[0., 0., 10., 10.]]), "scores": [0.9], "labels": [1]}]
    >>> detection_metrics("voc12", records, found)["mAP"]
    1.0
    >>> METRICS.names()
    ['coco', 'voc07', 'voc12', 'widerface']
"""

import math
import warnings

import numpy as np

from kssd.registry import Registry

#: Score threshold used for evaluation: AP integrates over the whole precision/recall curve, so
#: detections must not be cut at a deployment threshold (0.3-0.5), which truncates recall.
EVAL_SCORE_THRESHOLD = 0.01

#: Metrics by name: ``scorer(records, detections, *, widerface_ground_truth, coco_ground_truth,
#: class_names) -> dict name -> float``, with a one-line ``description``.
METRICS = Registry("metric")


def _load_image(record):
    """The record's image as uint8 RGB (H, W, 3)."""
    image = record.get("image")
    if image is not None:
        return np.asarray(image)
    from kssd.data.images import read_image

    source = record.get("image_path") or record.get("image_bytes")
    if source is None:
        raise ValueError(f"record {record.get('image_id')!r} has no 'image', 'image_path' or 'image_bytes'")
    return read_image(source)


def detect_records(detect_fn, records, *, batch_size=16, progress=False):
    """Run ``detect_fn`` over records in batches; one detections dict per record.

    Args:
        detect_fn: ``detect_fn(list of RGB images) -> list of dicts`` (see
            :func:`kssd.inference.detect_fn.make_detect_fn`).
        records: kssd records (``image``, ``image_path`` or ``image_bytes``).
        batch_size: images per call, default 16.
        progress: show a Keras progress bar, default False.

    Returns:
        List of dicts ``{"boxes", "scores", "labels"}``, aligned with ``records``.

    Raises:
        ValueError: ``detect_fn`` returned a different number of results than images.

    Examples:
        >>> import numpy as np
        >>> from kssd.metrics.evaluate import detect_records
        >>> none = lambda images: [{"boxes": np.zeros((0, 4)), "scores": [], "labels": []}
        ...                        for _ in images]
        >>> len(detect_records(none, [{"image": np.zeros((4, 4, 3), "uint8")}] * 3))
        3
    """
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(records), unit_name="image")
    results = []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        found = list(detect_fn([_load_image(r) for r in chunk]))
        if len(found) != len(chunk):
            raise ValueError(f"detect_fn returned {len(found)} results for {len(chunk)} images")
        results.extend(found)
        if bar is not None:
            bar.add(len(chunk))
    return results


def _widerface_predictions(records, detections):
    predictions = {}
    for record, det in zip(records, detections):
        boxes = np.asarray(det["boxes"], "float64").reshape(-1, 4)
        scores = np.asarray(det["scores"], "float64").reshape(-1)
        predictions[record["image_id"]] = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2], scores]
    return predictions


def _widerface_from_records(records, detections):
    """WIDER-style AP without the official .mat files: every valid face counts ("all")."""
    from kssd.metrics import evaluate_widerface

    gt = {}
    for record in records:
        boxes = np.asarray(record["boxes"], "float64").reshape(-1, 4)
        invalid = np.asarray((record.get("attributes") or {}).get("invalid", np.zeros(len(boxes))))
        keep = np.nonzero(invalid.reshape(-1)[: len(boxes)] == 0)[0] if len(boxes) else np.zeros(0, "int64")
        key = record["image_id"].rsplit(".", 1)[0]
        key = "/".join(key.replace("\\", "/").split("/")[-2:])
        xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
        gt[key] = {"boxes": xywh, "easy": keep, "medium": keep, "hard": keep}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_widerface(_widerface_predictions(records, detections), gt)
    return {"AP_all": result["hard"]}


def detection_metrics(
    metric, records, detections, *, widerface_ground_truth=None, coco_ground_truth=None, class_names=None
):
    """Score detections of ``records`` with a named metric.

    Args:
        metric: a name of :data:`METRICS`: ``"voc07"`` (11-point AP at IoU 0.5), ``"voc12"`` (all-point AP at IoU
            0.5), ``"widerface"`` (easy/medium/hard AP with the official ``.mat`` ground truth,
            or "AP_all" over every valid face of the records when it is not given) or
            ``"coco"`` (pycocotools AP; built from the records when no COCO JSON is given).
        records: the evaluated kssd records (``image_id``, ``boxes`` absolute xyxy,
            ``labels`` 1..C, optional ``attributes`` with VOC ``difficult`` / WIDER
            ``invalid``).
        detections: one dict per record (``boxes`` xyxy pixels, ``scores``, ``labels``).
        widerface_ground_truth: folder of the official WIDER val ``.mat`` files or the loaded
            dict, default None.
        coco_ground_truth: COCO instances JSON path or dict, default None. With it, records'
            ``image_id`` must be the file names of its images and labels 1..C map to its
            categories in increasing id order.
        class_names: names for per-class entries (index i -> class id i + 1), default None.

    Returns:
        dict name -> float: ``"mAP"`` and ``"AP/<class>"`` (VOC); ``"easy"``, ``"medium"``,
        ``"hard"`` or ``"AP_all"`` (WIDER); ``"AP"``, ``"AP50"``, ``"AP75"``, ... (COCO).

    Raises:
        ValueError: unknown metric, or the metric's own errors (e.g. predictions for images
            that are not in the ground truth: the message names them).

    Examples:
        >>> import numpy as np
        >>> from kssd.metrics.evaluate import detection_metrics
        >>> records = [{"image_id": "a", "boxes": np.array([[0., 0., 10., 10.]]), "labels": [2]}]
        >>> found = [{"boxes": np.array([[0., 0., 10., 10.]]), "scores": [0.9], "labels": [2]}]
        >>> detection_metrics("voc07", records, found, class_names=["cat", "dog"])
        {'mAP': 1.0, 'AP/dog': 1.0}
    """
    scorer = METRICS.get(metric)  # UnknownNameError (a ValueError) naming close matches
    if len(records) != len(detections):
        raise ValueError(f"{len(records)} records but {len(detections)} detection results")
    return scorer(
        records,
        detections,
        widerface_ground_truth=widerface_ground_truth,
        coco_ground_truth=coco_ground_truth,
        class_names=class_names,
    )


def _voc_metrics(records, detections, *, method, class_names=None, **_):
    from kssd.metrics import voc_map

    gt, det = {}, {}
    for record, found in zip(records, detections):
        entry = {
            "boxes": np.asarray(record["boxes"], "float64").reshape(-1, 4),
            "labels": np.asarray(record["labels"]).reshape(-1),
        }
        difficult = (record.get("attributes") or {}).get("difficult")
        if difficult is not None:
            entry["difficult"] = np.asarray(difficult, bool).reshape(-1)
        gt[record["image_id"]] = entry
        det[record["image_id"]] = found
    result = voc_map(gt, det, iou_threshold=0.5, method=method)
    out = {"mAP": float(result["mAP"])}
    for label, ap in result["per_class"].items():
        name = label
        if (
            class_names is not None
            and isinstance(label, (int, np.integer))
            and 1 <= int(label) <= len(class_names)
        ):
            name = class_names[int(label) - 1]
        out[f"AP/{name}"] = float(ap)
    return out


def _voc07_metrics(records, detections, **options):
    return _voc_metrics(records, detections, method="11point", **options)


def _voc12_metrics(records, detections, **options):
    return _voc_metrics(records, detections, method="area", **options)


def _widerface_metrics(records, detections, *, widerface_ground_truth=None, **_):
    if widerface_ground_truth is None:
        return _widerface_from_records(records, detections)
    from kssd.metrics import evaluate_widerface, load_widerface_ground_truth
    from kssd.metrics.widerface import _image_key

    gt = widerface_ground_truth
    if not isinstance(gt, dict):
        gt = load_widerface_ground_truth(gt)
    evaluated = {_image_key(r["image_id"]) for r in records}
    missing = [key for key in gt if key not in evaluated]
    if missing:
        warnings.warn(
            f"{len(missing)} of the {len(gt)} images of the WIDER FACE ground truth are not "
            f"in the evaluated data, e.g. {missing[:5]}; the AP covers the "
            f"{len(evaluated)} evaluated images only",
            UserWarning,
            stacklevel=3,
        )
    result = evaluate_widerface(
        _widerface_predictions(records, detections), gt, images=[r["image_id"] for r in records]
    )
    return {k: float(v) for k, v in result.items()}


def _coco_metrics(records, detections, *, coco_ground_truth=None, **_):
    from kssd.metrics import coco_map, detections_to_coco

    if coco_ground_truth is None:
        labels = sorted(
            {int(x) for r in records for x in np.asarray(r["labels"]).reshape(-1)}
            | {int(x) for d in detections for x in np.asarray(d["labels"]).ravel()}
        )
        images, annotations = [], []
        for index, record in enumerate(records):
            images.append(
                {
                    "id": index + 1,
                    "file_name": record["image_id"],
                    "height": int(record.get("height") or 0),
                    "width": int(record.get("width") or 0),
                }
            )
            crowd = np.asarray(
                (record.get("attributes") or {}).get("iscrowd", np.zeros(len(record["labels"])))
            ).reshape(-1)
            for box, label, is_crowd in zip(
                np.asarray(record["boxes"], "float64").reshape(-1, 4),
                np.asarray(record["labels"]).reshape(-1),
                crowd,
            ):
                w, h = box[2] - box[0], box[3] - box[1]
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": index + 1,
                        "category_id": int(label),
                        "iscrowd": int(is_crowd),
                        "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                        "area": float(w * h),
                    }
                )
        ground_truth = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c, "name": str(c)} for c in labels],
        }
        ids = list(range(1, len(records) + 1))
        mapping = None
    else:
        from kssd.metrics import coco_category_mapping
        from kssd.metrics.coco import _load_json

        ground_truth = _load_json(coco_ground_truth, "COCO ground-truth")
        by_name = {}
        for image in ground_truth["images"]:
            by_name[image["file_name"]] = image["id"]
        unknown = [
            r["image_id"]
            for r in records
            if r["image_id"] not in by_name and r["image_id"].split("/")[-1] not in by_name
        ]
        if unknown:
            raise ValueError(
                f"{len(unknown)} evaluated image(s) are not in the COCO ground truth, e.g. {unknown[:5]}"
            )
        ids = [by_name.get(r["image_id"], by_name.get(r["image_id"].split("/")[-1])) for r in records]
        mapping = coco_category_mapping(ground_truth)
    results = []
    for image_id, found in zip(ids, detections):
        results += detections_to_coco(
            {
                "boxes": np.asarray(found["boxes"]).reshape(-1, 4),
                "scores": np.asarray(found["scores"]).reshape(-1),
                "classes": np.asarray(found["labels"]).reshape(-1),
            },
            image_id,
            category_ids=mapping,
        )
    stats = coco_map(ground_truth, results, image_ids=ids)
    return {k: (float(v) if not math.isnan(v) else -1.0) for k, v in stats.items()}


METRICS.register("voc07", _voc07_metrics, description="PASCAL VOC 2007 11-point AP at IoU 0.5")
METRICS.register("voc12", _voc12_metrics, description="PASCAL VOC 2012 all-point AP at IoU 0.5")
METRICS.register(
    "widerface",
    _widerface_metrics,
    description="WIDER FACE easy/medium/hard AP (official .mat ground truth), else AP_all",
)
METRICS.register("coco", _coco_metrics, description="COCO AP@[.5:.95] and friends (pycocotools)")

__all__ = ["EVAL_SCORE_THRESHOLD", "METRICS", "detect_records", "detection_metrics"]
