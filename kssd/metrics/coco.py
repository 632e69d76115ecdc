"""COCO box AP through pycocotools, and conversion of kssd detections to COCO results."""

import contextlib
import copy
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
_MAX_NAMES = 5


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise ImportError(
            "kssd.metrics.coco_map needs pycocotools, which is not installed: pip install pycocotools"
        ) from error
    return COCO, COCOeval


def _load_json(source, what):
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{what} file not found: {path}")
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    return source


def _coco_from_dict(COCO, dataset):
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _check_results(results, image_ids, category_ids):
    if not isinstance(results, list):
        raise ValueError(
            f"detections must be a list of COCO results (dicts with image_id, category_id, bbox, "
            f"score), got {type(results).__name__}"
        )
    clean = []
    bad_images, bad_categories = set(), set()
    for index, item in enumerate(results):
        try:
            image_id, category_id = item["image_id"], item["category_id"]
            bbox, score = item["bbox"], item["score"]
        except (KeyError, TypeError):
            raise ValueError(
                f"detections[{index}] must be a dict with image_id, category_id, bbox and score, got {item!r}"
            ) from None
        bbox = [float(v) for v in np.asarray(bbox, dtype=np.float64).ravel()]
        if len(bbox) != 4 or not np.all(np.isfinite(bbox)) or not np.isfinite(float(score)):
            raise ValueError(
                f"detections[{index}] needs a finite bbox [x, y, w, h] and score, got "
                f"bbox={item['bbox']!r} score={score!r}"
            )
        if image_id not in image_ids:
            bad_images.add(image_id)
        if category_id not in category_ids:
            bad_categories.add(category_id)
        clean.append({"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": float(score)})
    if bad_images:
        raise ValueError(
            f"detections name {len(bad_images)} image id(s) that are not in the ground truth, "
            f"e.g. {sorted(bad_images, key=str)[:_MAX_NAMES]}"
        )
    if bad_categories:
        raise ValueError(
            f"detections name {len(bad_categories)} category id(s) that are not in the ground "
            f"truth's categories, e.g. {sorted(bad_categories, key=str)[:_MAX_NAMES]}; use the "
            f"dataset's original category ids (see coco_category_mapping)"
        )
    return clean


def coco_map(ground_truth, detections, image_ids=None, verbose=False):
    """The 12 standard COCO box metrics, computed by pycocotools' ``COCOeval``.

    AP is averaged over IoU thresholds 0.50:0.05:0.95 and over categories, with pycocotools'
    101-point interpolation; ``iscrowd`` annotations are handled by pycocotools (detections
    matching a crowd region are ignored, crowd regions are never missed); categories keep the
    dataset's original ids. Area ranges: small < 32², medium 32²..96², large > 96² pixels.

    Args:
        ground_truth: path to a COCO instances JSON file, or the loaded dict (it is not modified).
        detections: COCO results: a list of dicts ``{"image_id", "category_id", "bbox": [x, y, w,
            h] pixels, "score"}`` (see :func:`detections_to_coco`), or a path to such a JSON file.
            An empty list gives zeros.
        image_ids: optional iterable of image ids to evaluate, default None = every image of the
            ground truth.
        verbose: bool, default False. Print pycocotools' own summary table.

    Returns:
        dict with keys "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs",
        "ARm", "ARl" (floats; pycocotools reports -1.0 where a value is undefined, e.g. APs when
        there are no small objects).

    Raises:
        ImportError: pycocotools is not installed.
        ValueError: a detection names an image id or category id absent from the ground truth,
            or is malformed.

    Examples:
        >>> from kssd.metrics import coco_map
        >>> gt = {"images": [{"id": 1, "width": 100, "height": 100}],
        ...       "categories": [{"id": 18, "name": "dog"}],
        ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 18, "iscrowd": 0,
        ...                        "bbox": [10, 10, 50, 40], "area": 2000.0}]}
        >>> stats = coco_map(gt, [{"image_id": 1, "category_id": 18, "bbox": [10, 10, 50, 40],
        ...                        "score": 0.9}])
        >>> round(stats["AP"], 3), round(stats["AP50"], 3), stats["APs"]
        (1.0, 1.0, -1.0)
    """
    COCO, COCOeval = _pycocotools()
    dataset = copy.deepcopy(_load_json(ground_truth, "COCO ground-truth"))
    if not isinstance(dataset, Mapping) or "images" not in dataset or "annotations" not in dataset:
        raise ValueError(
            "ground_truth must be a COCO instances dataset with 'images', 'annotations' and 'categories'"
        )
    dataset.setdefault("categories", [])
    coco_gt = _coco_from_dict(COCO, dataset)
    results = _check_results(
        _load_json(detections, "COCO results"), set(coco_gt.getImgIds()), set(coco_gt.getCatIds())
    )
    if results:
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(results)
    else:  # pycocotools' loadRes cannot take an empty list
        coco_dt = _coco_from_dict(
            COCO,
            {
                "images": list(dataset["images"]),
                "categories": copy.deepcopy(dataset["categories"]),
                "annotations": [],
            },
        )
    evaluator = COCOeval(coco_gt, coco_dt, "bbox")
    if image_ids is not None:
        image_ids = list(image_ids)
        unknown = [i for i in image_ids if i not in coco_gt.imgs]
        if unknown:
            raise ValueError(
                f"image_ids holds {len(unknown)} id(s) not in the ground truth, e.g. {unknown[:_MAX_NAMES]}"
            )
        evaluator.params.imgIds = image_ids
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(COCO_STAT_NAMES, evaluator.stats)}


def coco_category_mapping(ground_truth):
    """Maps contiguous kssd class ids 1..C to a COCO dataset's original category ids.

    kssd numbers object classes 1..C (0 is background); COCO category ids have gaps (1..90 for
    80 classes). Classes are assigned in increasing category-id order.

    Args:
        ground_truth: path to a COCO instances JSON file, or the loaded dict.

    Returns:
        dict {class id: category id}.

    Examples:
        >>> from kssd.metrics import coco_category_mapping
        >>> coco_category_mapping({"categories": [{"id": 90, "name": "toothbrush"},
        ...                                       {"id": 1, "name": "person"}]})
        {1: 1, 2: 90}
    """
    dataset = _load_json(ground_truth, "COCO ground-truth")
    ids = sorted(int(c["id"]) for c in dataset.get("categories", []))
    return {index + 1: category for index, category in enumerate(ids)}


def detections_to_coco(detections, image_ids, category_ids=None):
    """Converts kssd detections (``xyxy`` pixel boxes) to a COCO results list.

    Args:
        detections: kssd detections dict {"boxes": (B, K, 4) ``xyxy`` pixels, "scores": (B, K),
            "classes": (B, K), "num_detections": (B,)} (zero-padded to K; entries past
            ``num_detections`` are dropped), or one image's dict without the batch axis
            ("boxes" (K, 4), ...; "num_detections" optional). NumPy arrays or tensors.
        image_ids: sequence of B COCO image ids (one per batch row), or a single id for an
            unbatched dict.
        category_ids: mapping {kssd class id: COCO category id}, default None (class ids are
            used as category ids). See :func:`coco_category_mapping`.

    Returns:
        list of dicts {"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ready for
        :func:`coco_map` or ``json.dump``.

    Raises:
        ValueError: shapes disagree, or a class id has no entry in ``category_ids``.

    Examples:
        >>> import numpy as np
        >>> from kssd.metrics import detections_to_coco
        >>> det = {"boxes": np.array([[[10., 20., 50., 60.], [0., 0., 0., 0.]]]),
        ...        "scores": np.array([[0.9, 0.0]]), "classes": np.array([[3, 0]]),
        ...        "num_detections": np.array([1])}
        >>> detections_to_coco(det, image_ids=[42], category_ids={3: 3, 1: 1})
        [{'image_id': 42, 'category_id': 3, 'bbox': [10.0, 20.0, 40.0, 40.0], 'score': 0.9}]
    """
    for key in ("boxes", "scores", "classes"):
        if key not in detections:
            raise ValueError(f"detections has no {key!r} key; keys are {sorted(detections)}")
    boxes = np.asarray(detections["boxes"], dtype=np.float64)
    scores = np.asarray(detections["scores"], dtype=np.float64)
    classes = np.asarray(detections["classes"])
    counts = detections.get("num_detections")
    if boxes.ndim == 2:
        boxes, scores, classes = boxes[None], scores[None], classes[None]
        image_ids = [image_ids]
        counts = None if counts is None else np.asarray(counts).reshape(1)
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"detections['boxes'] must be (B, K, 4) or (K, 4), got {boxes.shape}")
    if scores.shape != boxes.shape[:2] or classes.shape != boxes.shape[:2]:
        raise ValueError(
            f"detections['scores'] {scores.shape} and ['classes'] {classes.shape} must match "
            f"boxes {boxes.shape[:2]}"
        )
    image_ids = list(image_ids)
    if len(image_ids) != boxes.shape[0]:
        raise ValueError(f"got {len(image_ids)} image_ids for a batch of {boxes.shape[0]}")
    if counts is None:
        counts = np.full(boxes.shape[0], boxes.shape[1])
    counts = np.asarray(counts).astype(np.int64).reshape(-1)
    results, unmapped = [], set()
    for row, image_id in enumerate(image_ids):
        image_id = image_id.item() if isinstance(image_id, np.generic) else image_id
        for k in range(min(int(counts[row]), boxes.shape[1])):
            label = classes[row, k].item()
            if isinstance(label, float) and label.is_integer():
                label = int(label)
            if category_ids is None:
                category = label
            elif label in category_ids:
                category = category_ids[label]
            else:
                unmapped.add(label)
                continue
            x1, y1, x2, y2 = boxes[row, k]
            results.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "score": float(scores[row, k]),
                }
            )
    if unmapped:
        raise ValueError(
            f"category_ids has no entry for class id(s) {sorted(unmapped, key=str)[:_MAX_NAMES]}"
        )
    return results
