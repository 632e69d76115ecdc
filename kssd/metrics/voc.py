"""PASCAL VOC style mean average precision (VOC2007 11-point and VOC2010+ all-point AP)."""

from pathlib import Path

import numpy as np

from kssd.boxes.iou import iou_numpy
from kssd.metrics.ap import AP_METHODS, average_precision

MATCHING_MODES = ("voc", "greedy")
PIXEL_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw")


def _to_xyxy(boxes, bounding_box_format):
    """Absolute-pixel box formats (Keras names) -> ``xyxy``, in NumPy."""
    if bounding_box_format == "xyxy":
        return boxes
    b = boxes
    if bounding_box_format == "yxyx":
        return b[:, [1, 0, 3, 2]]
    if bounding_box_format == "xywh":
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    if bounding_box_format == "center_yxhw":
        b = b[:, [1, 0, 3, 2]]
    half = b[:, 2:] / 2.0
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def _plain(value):
    """NumPy scalars -> Python scalars, so class keys are ints/strs users can type."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _class_sort_key(name):
    return (isinstance(name, str), name if not isinstance(name, str) else 0, str(name))


def _labels_of(entry, image_id, what):
    if "labels" in entry:
        labels = entry["labels"]
    elif "classes" in entry:
        labels = entry["classes"]
    else:
        raise ValueError(f"{what}[{image_id!r}] has no 'labels' (or 'classes') key; keys are {sorted(entry)}")
    return [_plain(x) for x in np.asarray(labels).ravel().tolist()]


def _boxes_of(entry, image_id, what, bounding_box_format="xyxy"):
    if "boxes" not in entry:
        raise ValueError(f"{what}[{image_id!r}] has no 'boxes' key; keys are {sorted(entry)}")
    boxes = np.asarray(entry["boxes"], dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{what}[{image_id!r}]['boxes'] must have shape (N, 4) xyxy, got {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{what}[{image_id!r}]['boxes'] contains NaN or infinite values")
    return _to_xyxy(boxes, bounding_box_format)


def _parse_ground_truth(ground_truths, bounding_box_format):
    parsed = {}
    for image_id, entry in ground_truths.items():
        boxes = _boxes_of(entry, image_id, "ground_truths", bounding_box_format)
        labels = _labels_of(entry, image_id, "ground_truths")
        if len(labels) != len(boxes):
            raise ValueError(f"ground_truths[{image_id!r}] has {len(boxes)} boxes but {len(labels)} labels")
        difficult = entry.get("difficult")
        if difficult is None:
            difficult = np.zeros(len(boxes), dtype=bool)
        else:
            difficult = np.asarray(difficult, dtype=bool).ravel()
            if len(difficult) != len(boxes):
                raise ValueError(
                    f"ground_truths[{image_id!r}] has {len(boxes)} boxes but "
                    f"{len(difficult)} 'difficult' flags"
                )
        parsed[image_id] = (boxes, labels, difficult)
    return parsed


def _parse_detections(detections, known_images, bounding_box_format):
    unknown = [image_id for image_id in detections if image_id not in known_images]
    if unknown:
        raise ValueError(
            f"detections hold {len(unknown)} image id(s) that are not in ground_truths, e.g. "
            f"{unknown[:5]}; every evaluated image needs a ground-truth entry (use empty "
            f"'boxes' and 'labels' for images without objects)"
        )
    parsed = {}
    for image_id, entry in detections.items():
        boxes = _boxes_of(entry, image_id, "detections", bounding_box_format)
        labels = _labels_of(entry, image_id, "detections")
        if "scores" not in entry:
            raise ValueError(f"detections[{image_id!r}] has no 'scores' key; keys are {sorted(entry)}")
        scores = np.asarray(entry["scores"], dtype=np.float64).ravel()
        count = entry.get("num_detections")
        if count is not None:  # kssd detections are zero-padded to max_detections
            count = int(np.asarray(count))
            boxes, labels, scores = boxes[:count], labels[:count], scores[:count]
        if not len(boxes) == len(labels) == len(scores):
            raise ValueError(
                f"detections[{image_id!r}] has {len(boxes)} boxes, {len(labels)} labels and "
                f"{len(scores)} scores; they must be equal"
            )
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"detections[{image_id!r}]['scores'] contains NaN or infinite values")
        parsed[image_id] = (boxes, labels, scores)
    return parsed


def _evaluate_class(name, gt, dets, iou_threshold, inclusive_pixels, matching):
    """Ranks one class's detections and marks them TP / FP / ignored."""
    gt_boxes = {}
    gt_difficult = {}
    for image_id, (boxes, labels, difficult) in gt.items():
        keep = np.array([label == name for label in labels], dtype=bool)
        if keep.any():
            gt_boxes[image_id] = boxes[keep]
            gt_difficult[image_id] = difficult[keep]
    num_gt = int(sum(int((~d).sum()) for d in gt_difficult.values()))

    det_images, det_boxes, det_scores = [], [], []
    for image_id, (boxes, labels, scores) in dets.items():
        for box, label, score in zip(boxes, labels, scores):
            if label == name:
                det_images.append(image_id)
                det_boxes.append(box)
                det_scores.append(score)
    order = np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="stable")
    used = {image_id: np.zeros(len(b), dtype=bool) for image_id, b in gt_boxes.items()}
    tp = np.zeros(len(order))
    fp = np.zeros(len(order))
    for rank, index in enumerate(order):
        image_id = det_images[index]
        if image_id not in gt_boxes:
            fp[rank] = 1
            continue
        overlaps = iou_numpy(det_boxes[index], gt_boxes[image_id], inclusive_pixels)[0]
        difficult = gt_difficult[image_id]
        taken = used[image_id]
        if matching == "voc":
            best = int(np.argmax(overlaps))
            if overlaps[best] < iou_threshold:
                fp[rank] = 1
            elif difficult[best]:
                pass  # matched a difficult object: neither TP nor FP
            elif taken[best]:
                fp[rank] = 1  # duplicate detection of an already found object
            else:
                tp[rank] = 1
                taken[best] = True
        else:  # greedy: best still-unmatched object, then difficult ones
            free = np.where(~difficult & ~taken & (overlaps >= iou_threshold), overlaps, -1.0)
            if free.max() >= 0:
                best = int(np.argmax(free))
                tp[rank] = 1
                taken[best] = True
            elif np.any(difficult & (overlaps >= iou_threshold)):
                pass
            else:
                fp[rank] = 1
    counted = (tp + fp) > 0
    tp_cum = np.cumsum(tp[counted])
    fp_cum = np.cumsum(fp[counted])
    recall = tp_cum / max(num_gt, 1)
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    return num_gt, len(order), int(tp.sum()), int(fp.sum()), recall, precision


def voc_map(
    ground_truths,
    detections,
    iou_threshold=0.5,
    method="area",
    inclusive_pixels=True,
    matching="voc",
    bounding_box_format="xyxy",
):
    """Mean average precision over classes with PASCAL VOC conventions.

    For each class, all detections of that class (over all images) are ranked by score. Going
    down the ranking, a detection is compared with the ground-truth objects of its class in its
    image: if the best IoU is below ``iou_threshold`` it is a false positive; if the best object
    is marked difficult the detection is ignored (neither TP nor FP); if the best object was
    already found by a higher-scored detection it is a false positive (duplicate); otherwise it is
    a true positive and the object is marked found. Difficult objects do not count towards
    recall. AP is the area under the resulting precision/recall curve, and mAP the mean over the
    classes that have at least one non-difficult ground-truth object. Detections of classes with
    no such object cannot be scored; they are left out of mAP and reported under
    ``"classes_without_ground_truth"`` (this is what the widely used VOC-style mAP tool does, and
    what reproduces its figures).

    Args:
        ground_truths: mapping image id -> dict with "boxes" (N, 4) ``xyxy`` pixels, "labels"
            (N,) class ids or names ("classes" is accepted as an alias) and optional
            "difficult" (N,) bool. Every image with detections must have an entry (use empty
            arrays for images without objects).
        detections: mapping image id -> dict with "boxes" (K, 4) ``xyxy`` pixels, "labels" (or
            "classes") (K,) and "scores" (K,). An optional "num_detections" truncates zero-padded
            kssd outputs. Images missing here have no detections.
        iou_threshold: float, default 0.5. A detection matches an object when IoU >= this.
        method: str, default "area". "area": all-point interpolated AP (VOC2010 and later);
            "11point": the 11-point interpolated AP of VOC2007.
        inclusive_pixels: bool, default True. IoU on inclusive pixel indices (width =
            right - left + 1), as the VOC devkit and the reference mAP tool compute it. Use False
            for continuous coordinates (width = right - left).
        matching: str, default "voc". "voc": each detection is judged against the object with
            the highest IoU, and is a duplicate (FP) if that object is already taken (VOC devkit).
            "greedy": each detection takes the highest-IoU object that is still unmatched (COCO
            style); only when none reaches the threshold can a difficult object absorb it.
        bounding_box_format: str, default "xyxy". Format of all boxes, in pixels: "xyxy",
            "yxyx", "xywh", "center_xywh" or "center_yxhw" (Keras names). Relative formats need
            the image sizes: convert them to pixels first.

    Returns:
        dict with
        "mAP": float, mean AP over the evaluated classes (0.0 when there are none);
        "per_class": {class: AP};
        "num_ground_truth", "num_detections", "true_positives", "false_positives":
        {class: int} for the evaluated classes (difficult objects and ignored detections are
        not counted in them);
        "precision", "recall": {class: float64 array}, the curves after each ranked detection;
        "classes_without_ground_truth": {class: number of detections}, classes seen only in
        detections (or only as difficult objects), left out of mAP.

    Examples:
        >>> import numpy as np
        >>> from kssd.metrics import voc_map
        >>> gt = {"img1": {"boxes": np.array([[10, 10, 50, 50], [60, 60, 90, 90]]),
        ...                "labels": ["cat", "dog"]},
        ...       "img2": {"boxes": np.array([[0, 0, 40, 40]]), "labels": ["cat"]}}
        >>> det = {"img1": {"boxes": np.array([[12, 10, 50, 52], [0, 0, 20, 20]]),
        ...                 "labels": ["cat", "dog"], "scores": [0.9, 0.8]},
        ...        "img2": {"boxes": np.array([[0, 0, 40, 40]]), "labels": ["cat"],
        ...                 "scores": [0.6]}}
        >>> result = voc_map(gt, det)
        >>> result["per_class"]
        {'cat': 1.0, 'dog': 0.0}
        >>> result["mAP"]
        0.5
    """
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")
    if matching not in MATCHING_MODES:
        raise ValueError(f"matching must be one of {MATCHING_MODES}, got {matching!r}")
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if bounding_box_format not in PIXEL_FORMATS:
        raise ValueError(
            f"bounding_box_format must be one of {PIXEL_FORMATS} (pixel coordinates), got "
            f"{bounding_box_format!r}; convert relative boxes to pixels first"
        )
    gt = _parse_ground_truth(ground_truths, bounding_box_format)
    dets = _parse_detections(detections, gt, bounding_box_format)

    gt_classes = {
        label for _, labels, difficult in gt.values() for label, hard in zip(labels, difficult) if not hard
    }
    det_counts = {}
    for _, labels, _ in dets.values():
        for label in labels:
            det_counts[label] = det_counts.get(label, 0) + 1

    result = {
        "mAP": 0.0,
        "per_class": {},
        "num_ground_truth": {},
        "num_detections": {},
        "true_positives": {},
        "false_positives": {},
        "precision": {},
        "recall": {},
        "classes_without_ground_truth": {},
    }
    for name in sorted(gt_classes, key=_class_sort_key):
        num_gt, num_det, tp, fp, recall, precision = _evaluate_class(
            name, gt, dets, float(iou_threshold), inclusive_pixels, matching
        )
        result["per_class"][name] = average_precision(recall, precision, method)
        result["num_ground_truth"][name] = num_gt
        result["num_detections"][name] = num_det
        result["true_positives"][name] = tp
        result["false_positives"][name] = fp
        result["precision"][name] = precision
        result["recall"][name] = recall
    for name in sorted(set(det_counts) - gt_classes, key=_class_sort_key):
        result["classes_without_ground_truth"][name] = det_counts[name]
    if result["per_class"]:
        result["mAP"] = float(np.mean(list(result["per_class"].values())))
    return result


def _numbers(tokens, path, line_number, what):
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f"{path}:{line_number}: expected {what}, got {' '.join(tokens)!r}") from None


def _read_lines(path):
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if tokens:
                yield number, tokens


def read_map_folder(gt_dir, det_dir=None):
    """Reads the one-text-file-per-image layout of the common VOC-style mAP tool.

    Ground-truth files hold one object per line, ``class left top right bottom`` with an optional
    trailing ``difficult``; detection files hold ``class confidence left top right bottom``.
    Coordinates are pixels; class names may contain spaces (the numbers are taken from the end of
    the line). The image id is the file name without ``.txt``. Files are read in sorted order.

    Args:
        gt_dir: folder of ground-truth ``*.txt`` files.
        det_dir: folder of detection ``*.txt`` files, default None (no detections read). An image
            with a ground-truth file but no detection file has no detections.

    Returns:
        (ground_truths, detections), the two mappings :func:`voc_map` takes; class labels are the
        names as strings. ``detections`` is empty when ``det_dir`` is None.

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: a malformed line (the message names file and line), or a detection file for
            an image without a ground-truth file.

    Examples:
        >>> import tempfile, pathlib
        >>> from kssd.metrics import read_map_folder, voc_map
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "gt").mkdir(); (root / "det").mkdir()
        >>> _ = (root / "gt" / "a.txt").write_text(
        ...     "potted plant 10 10 50 50\\ncup 0 0 9 9 difficult\\n")
        >>> _ = (root / "det" / "a.txt").write_text("potted plant 0.9 10 10 50 50\\n")
        >>> gt, det = read_map_folder(root / "gt", root / "det")
        >>> gt["a"]["labels"], gt["a"]["difficult"].tolist()
        (['potted plant', 'cup'], [False, True])
        >>> voc_map(gt, det)["mAP"]
        1.0
    """
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"ground-truth folder not found: {gt_dir}")
    ground_truths = {}
    for path in sorted(gt_dir.glob("*.txt")):
        boxes, labels, difficult = [], [], []
        for number, tokens in _read_lines(path):
            hard = tokens[-1].lower() == "difficult"
            if hard:
                tokens = tokens[:-1]
            if len(tokens) < 5:
                raise ValueError(
                    f"{path}:{number}: expected 'class left top right bottom [difficult]', "
                    f"got {' '.join(tokens)!r}"
                )
            boxes.append(_numbers(tokens[-4:], path, number, "'class left top right bottom'"))
            labels.append(" ".join(tokens[:-4]))
            difficult.append(hard)
        ground_truths[path.stem] = {
            "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            "labels": labels,
            "difficult": np.asarray(difficult, dtype=bool),
        }
    detections = {}
    if det_dir is None:
        return ground_truths, detections
    det_dir = Path(det_dir)
    if not det_dir.is_dir():
        raise FileNotFoundError(f"detection folder not found: {det_dir}")
    orphans = []
    for path in sorted(det_dir.glob("*.txt")):
        if path.stem not in ground_truths:
            orphans.append(path.name)
            continue
        boxes, labels, scores = [], [], []
        for number, tokens in _read_lines(path):
            if len(tokens) < 6:
                raise ValueError(
                    f"{path}:{number}: expected 'class confidence left top right bottom', "
                    f"got {' '.join(tokens)!r}"
                )
            values = _numbers(tokens[-5:], path, number, "'class confidence left top right bottom'")
            scores.append(values[0])
            boxes.append(values[1:])
            labels.append(" ".join(tokens[:-5]))
        detections[path.stem] = {
            "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            "labels": labels,
            "scores": np.asarray(scores, dtype=np.float64),
        }
    if orphans:
        raise ValueError(
            f"{len(orphans)} detection file(s) in {det_dir} have no ground-truth file in "
            f"{gt_dir}, e.g. {orphans[:5]}"
        )
    return ground_truths, detections
