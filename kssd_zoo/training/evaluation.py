"""``evaluate``: detect on a dataset and score the detections with a named metric."""

import os
import time
import warnings
from pathlib import Path

from kssd.data.pipeline import prepare_encoded_records
from kssd.inference.detect_fn import make_detect_fn
from kssd.metrics.evaluate import detect_records, detection_metrics
from kssd_zoo.loading import load
from kssd_zoo.training.data import resolve_data


def _metric_for(model):
    names = [n.lower() for n in (getattr(model, "class_names", None) or [])]
    return "widerface" if names == ["face"] else "voc12"


def _widerface_gt_beside(data, split):
    if split not in (None, "val") or not isinstance(data, str) or not os.path.isdir(data):
        return None
    for folder in ("val_ground_truth", "eval_tools/ground_truth", "ground_truth", "wider_face_split"):
        path = Path(data) / folder
        if (path / "wider_face_val.mat").is_file():
            return path
    return None


def evaluate(
    model,
    data,
    metric=None,
    *,
    split=None,
    batch_size=16,
    score_threshold=0.01,
    max_images=None,
    widerface_ground_truth=None,
    coco_ground_truth=None,
    detect_fn=None,
    progress=True,
    seed=0,
):
    """Detect on a dataset and score the detections.

    Args:
        model: a detector (or anything :func:`kssd_zoo.load` takes).
        data: the data (see :func:`resolve_data`).
        metric: ``voc07``, ``voc12``, ``widerface`` or ``coco``, default None (``widerface``
            for face models, else ``voc12``).
        split: split of ``data``, default None.
        batch_size: default 16.
        score_threshold: detection score threshold, default 0.01.
        max_images: evaluate only the first N images, default None (all).
        widerface_ground_truth: official WIDER val ``.mat`` folder, default None (looked for
            under the dataset root for the val split; else every valid face counts, "AP_all").
        coco_ground_truth: COCO JSON for ``metric="coco"``, default None (built from the records).
        detect_fn: custom ``detect_fn(images) -> list of dicts``, default None (decode + NMS).
        progress: progress bar, default True.
        seed: seed of generated data, default 0.

    Returns:
        dict with ``"metrics"`` (name -> float), ``"metric"``, ``"images"`` (evaluated),
        ``"detections"`` (total count), ``"seconds"``, ``"warnings"`` (messages the metric
        emitted, e.g. images without predictions) and ``"skipped_images"`` (one dict ``image``,
        ``reason``, ``detail`` per unusable image: left out of the evaluation; with a COCO JSON
        as ground truth its boxes still count, as misses).
    """
    model = load(model)
    records, info = resolve_data(data, split, seed=seed)
    if max_images:
        records = records[: int(max_images)]
    records, problems = prepare_encoded_records(records)
    if not records:
        reasons = f" ({len(problems)} unusable, e.g. {problems[0]})" if problems else ""
        raise ValueError(f"--data {data}: no images to evaluate{reasons}")
    metric = metric or _metric_for(model)
    if metric == "widerface" and widerface_ground_truth is None:
        widerface_ground_truth = _widerface_gt_beside(data, info.get("split"))
    detect_fn = detect_fn or make_detect_fn(model, score_threshold=score_threshold, batch_size=batch_size)
    started = time.perf_counter()
    detections = detect_records(detect_fn, records, batch_size=batch_size, progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = detection_metrics(
            metric,
            records,
            detections,
            widerface_ground_truth=widerface_ground_truth,
            coco_ground_truth=coco_ground_truth,
            class_names=getattr(model, "class_names", None),
        )
    return {
        "metrics": metrics,
        "metric": metric,
        "images": len(records),
        "detections": int(sum(len(d["scores"]) for d in detections)),
        "seconds": time.perf_counter() - started,
        "warnings": [str(w.message) for w in caught],
        "skipped_images": [{"image": p.path, "reason": p.reason, "detail": p.detail} for p in problems],
    }
