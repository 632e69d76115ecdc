"""The WIDER FACE validation protocol (easy / medium / hard AP) and its prediction text files."""

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from kssd.boxes.iou import iou_numpy
from kssd.data.images import IMAGE_SUFFIXES
from kssd.files import write_text_atomically
from kssd.metrics.ap import average_precision

SETTINGS = ("easy", "medium", "hard")
NUM_THRESHOLDS = 1000
_MAX_NAMES = 5


def _loadmat(path):
    try:
        from scipy.io import loadmat
    except ImportError as error:  # pragma: no cover - scipy is a dev dependency
        raise ImportError(
            "reading the WIDER FACE .mat ground truth needs scipy: pip install scipy"
        ) from error
    if not Path(path).is_file():
        raise FileNotFoundError(f"WIDER FACE ground-truth file not found: {path}")
    return loadmat(str(path))


def _cell_text(cell):
    return str(np.asarray(cell).ravel()[0])


def load_widerface_ground_truth(gt_dir):
    """Loads the official WIDER FACE val ground truth (the four ``.mat`` files of the eval kit).

    Args:
        gt_dir: folder holding ``wider_face_val.mat``, ``wider_easy_val.mat``,
            ``wider_medium_val.mat`` and ``wider_hard_val.mat``.

    Returns:
        dict image key ("event/name", no extension) -> dict with "boxes" (N, 4) float64 ``x, y,
        w, h`` pixels and "easy", "medium", "hard": int64 arrays of the 0-based indices of the
        faces that count in that setting (the ``.mat`` files store 1-based indices). Keys follow
        the order of the files (event by event).

    Examples:
        >>> from pathlib import Path
        >>> from kssd.metrics import load_widerface_ground_truth
        >>> root = Path("../shared/data/faces/widerface_mini/val_ground_truth")
        >>> gt = load_widerface_ground_truth(root) if root.is_dir() else None
        >>> len(gt) if gt else 3226
        3226
    """
    gt_dir = Path(gt_dir)
    main = _loadmat(gt_dir / "wider_face_val.mat")
    for key in ("face_bbx_list", "event_list", "file_list"):
        if key not in main:
            raise ValueError(f"{gt_dir / 'wider_face_val.mat'} has no '{key}' variable")
    keep_lists = {}
    for setting in SETTINGS:
        path = gt_dir / f"wider_{setting}_val.mat"
        data = _loadmat(path)
        if "gt_list" not in data:
            raise ValueError(f"{path} has no 'gt_list' variable")
        keep_lists[setting] = data["gt_list"]
    events = main["event_list"]
    files = main["file_list"]
    boxes = main["face_bbx_list"]
    result = {}
    for e in range(events.shape[0]):
        event = _cell_text(events[e, 0])
        event_files = files[e, 0]
        event_boxes = boxes[e, 0]
        for i in range(event_files.shape[0]):
            key = f"{event}/{_cell_text(event_files[i, 0])}"
            face_boxes = np.asarray(event_boxes[i, 0], dtype=np.float64).reshape(-1, 4)
            entry = {"boxes": face_boxes}
            for setting in SETTINGS:
                keep = np.asarray(keep_lists[setting][e, 0][i, 0], dtype=np.int64).ravel() - 1
                if keep.size and (keep.min() < 0 or keep.max() >= len(face_boxes)):
                    raise ValueError(
                        f"wider_{setting}_val.mat: gt_list of {key} has face index out of range "
                        f"1..{len(face_boxes)}"
                    )
                entry[setting] = keep
            result[key] = entry
    return result


def _image_key(name):
    """'0--Parade/x.jpg', 'WIDER_val/images/0--Parade/x.jpg' or '0--Parade/x' -> '0--Parade/x'."""
    parts = str(name).replace("\\", "/").split("/")
    stem = parts[-1]
    for ext in IMAGE_SUFFIXES + (".txt",):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return f"{parts[-2]}/{stem}" if len(parts) >= 2 else stem


def _check_predictions(key, value):
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 5)
    if array.ndim != 2 or array.shape[1] != 5:
        raise ValueError(
            f"predictions[{key!r}] must have shape (N, 5) = x, y, w, h, score; got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"predictions[{key!r}] contains NaN or infinite values")
    return array


def _image_pr(pred, gt_boxes, keep_mask, iou_threshold, thresholds):
    """Per-image counts (proposals, recalled faces) at every score threshold.

    ``pred`` is sorted by descending normalised score. Each prediction is matched to the face of
    highest IoU: a face outside the setting (``keep_mask`` False) makes it ignored; a counted
    face is recalled the first time. Predictions matching nothing, or a face already recalled,
    stay proposals (false positives).
    """
    overlaps = iou_numpy(
        np.concatenate([pred[:, :2], pred[:, :2] + pred[:, 2:4]], axis=1),
        np.concatenate([gt_boxes[:, :2], gt_boxes[:, :2] + gt_boxes[:, 2:4]], axis=1),
        inclusive_pixels=True,
    )
    recalled = np.zeros(len(gt_boxes), dtype=np.int8)  # 0 not yet, 1 found, -1 ignored face
    is_proposal = np.ones(len(pred), dtype=bool)
    recall_after = np.zeros(len(pred))
    best = np.argmax(overlaps, axis=1)
    for h in range(len(pred)):
        j = best[h]
        if overlaps[h, j] >= iou_threshold:
            if not keep_mask[j]:
                recalled[j] = -1
                is_proposal[h] = False
            elif recalled[j] == 0:
                recalled[j] = 1
        recall_after[h] = np.count_nonzero(recalled == 1)
    # number of predictions whose score reaches each threshold (scores sorted descending)
    taken = np.searchsorted(-pred[:, 4], -thresholds, side="right")
    proposals = np.concatenate([[0], np.cumsum(is_proposal)])[taken]
    recall_counts = np.where(taken > 0, recall_after[np.maximum(taken - 1, 0)], 0.0)
    return proposals, recall_counts


def evaluate_widerface(predictions, gt_dir, images=None, iou_threshold=0.5, settings=SETTINGS):
    """WIDER FACE val AP for the easy, medium and hard settings (the official protocol).

    Follows the official evaluation code: scores are min-max normalised over all predictions
    (``(s - min) / (max - min)`` with the minimum taken no higher than 1 and the maximum no lower
    than 0, as the official code initialises them); within each image, predictions in order of
    score are matched to the ground-truth face of highest IoU (inclusive-pixel IoU, ``>=``
    ``iou_threshold``). A face outside the setting's keep list is ignored: a prediction matching it
    is neither true nor false positive. Counts are gathered at 1000 score thresholds
    (0.999, 0.998, ..., 0), giving a precision/recall curve whose all-point area is the AP. Recall
    is over all the setting's faces of the evaluated images, including faces of images without
    predictions. As in the official code, images with no ground-truth faces are skipped. (One
    departure: when every score is the same the official code divides by zero and scores 0; here
    the scores are then only shifted, so such predictions are still evaluated.) With ``images``,
    the normalisation uses the predictions of the evaluated images only, as if the official code
    were run on a prediction folder holding just those images.

    Args:
        predictions: mapping "event/name.jpg" (e.g. "0--Parade/0_Parade_marchingband_1_465.jpg";
            the extension and leading folders are optional) -> array (N, 5) ``x, y, w, h, score``
            in original-image pixels. Use :func:`read_widerface_predictions` for the official
            per-image text files.
        gt_dir: folder with the official ``wider_face_val.mat`` and
            ``wider_{easy,medium,hard}_val.mat`` files, or the dict returned by
            :func:`load_widerface_ground_truth` (saves reloading them when evaluating often).
        images: optional iterable of image names (same forms as the keys of ``predictions``),
            default None = the whole val set (3,226 images). When given, only these images are
            evaluated (only their faces count) and predictions for other val images are ignored.
        iou_threshold: float, default 0.5.
        settings: the keep lists to score, default ``("easy", "medium", "hard")``; with a
            ``gt_dir`` dict of your own (e.g. other images, or face-size buckets as keep lists)
            any names its entries hold.

    Returns:
        dict {setting: AP} (default {"easy": AP, "medium": AP, "hard": AP}), floats in [0, 1].

    Raises:
        ValueError: predictions or ``images`` name images that are not in the val set (the
            message lists the first few), or a prediction array is not (N, 5).

    Warns:
        UserWarning: evaluated images without an entry in ``predictions`` (counted as having no
            detections); the message gives their number and the first few names.

    Examples:
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from kssd.metrics import evaluate_widerface, load_widerface_ground_truth
        >>> root = Path("../shared/data/faces/widerface_mini/val_ground_truth")
        >>> if root.is_dir():
        ...     gt = load_widerface_ground_truth(root)
        ...     names = list(gt)[:20]
        ...     perfect = {n + ".jpg": np.c_[gt[n]["boxes"], np.ones(len(gt[n]["boxes"]))]
        ...                for n in names}
        ...     ap = evaluate_widerface(perfect, root, images=names)
        ... else:
        ...     ap = {"easy": 1.0, "medium": 1.0, "hard": 1.0}
        >>> {k: round(v, 3) for k, v in ap.items()}
        {'easy': 1.0, 'medium': 1.0, 'hard': 1.0}
    """
    gt = gt_dir if isinstance(gt_dir, Mapping) else load_widerface_ground_truth(gt_dir)
    preds = {}
    for name, value in predictions.items():
        key = _image_key(name)
        if key in preds:
            raise ValueError(f"predictions name image {key!r} twice (e.g. as {name!r})")
        preds[key] = (name, value)
    unknown = [name for key, (name, _) in preds.items() if key not in gt]
    if unknown:
        raise ValueError(
            f"{len(unknown)} prediction key(s) are not WIDER FACE val images, e.g. "
            f"{unknown[:_MAX_NAMES]}; keys look like '0--Parade/0_Parade_marchingband_1_465.jpg'"
        )
    if images is None:
        selected = list(gt)
    else:
        selected = list(dict.fromkeys(_image_key(name) for name in images))
        bad = [name for name in selected if name not in gt]
        if bad:
            raise ValueError(
                f"{len(bad)} name(s) in images are not WIDER FACE val images, e.g. {bad[:_MAX_NAMES]}"
            )
    missing = [name for name in selected if name not in preds]
    if missing:
        warnings.warn(
            f"{len(missing)} of {len(selected)} evaluated images have no predictions and count as "
            f"having no detections, e.g. {missing[:_MAX_NAMES]}",
            UserWarning,
            stacklevel=2,
        )

    arrays = {key: _check_predictions(preds[key][0], preds[key][1]) for key in selected if key in preds}
    all_scores = [a[:, 4] for a in arrays.values() if len(a)]
    if all_scores:
        scores = np.concatenate(all_scores)
        high = max(0.0, float(scores.max()))
        low = min(1.0, float(scores.min()))
    else:
        high, low = 1.0, 0.0
    span = high - low if high > low else 1.0

    thresholds = 1.0 - np.arange(1, NUM_THRESHOLDS + 1) / NUM_THRESHOLDS
    result = {}
    for setting in settings:
        proposals = np.zeros(NUM_THRESHOLDS)
        recalled = np.zeros(NUM_THRESHOLDS)
        num_faces = 0
        for key in selected:
            entry = gt[key]
            keep = entry[setting]
            num_faces += len(keep)
            pred = arrays.get(key)
            if pred is None or len(pred) == 0 or len(entry["boxes"]) == 0:
                continue
            pred = pred.copy()
            pred[:, 4] = (pred[:, 4] - low) / span
            pred = pred[np.argsort(-pred[:, 4], kind="stable")]
            keep_mask = np.zeros(len(entry["boxes"]), dtype=bool)
            keep_mask[keep] = True
            p, r = _image_pr(pred, entry["boxes"], keep_mask, iou_threshold, thresholds)
            proposals += p
            recalled += r
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(proposals > 0, recalled / proposals, 0.0)
        recall = recalled / num_faces if num_faces else np.zeros(NUM_THRESHOLDS)
        result[setting] = average_precision(recall, precision, method="area")
    return result


def _format_value(value):
    """Shortest text that reads back as exactly the same float64 (``repr`` of a Python float)."""
    return repr(float(value))


def write_widerface_predictions(predictions, out_dir):
    """Writes predictions as the official per-image WIDER FACE text files.

    Each image "event/name.jpg" becomes ``out_dir/event/name.txt`` holding the image name (without
    extension), the number of boxes, then one ``x y w h score`` line per box (values separated by
    one space).

    The boxes are written in order of descending score (ties keep their given order): the official
    evaluation code relies on it, taking the boxes above each score threshold as a leading run of
    the file's lines, so an unsorted file would be scored wrongly there (:func:`evaluate_widerface`
    sorts by itself and does not care). Values are written at full precision (the shortest text
    that reads back as the same float64), so :func:`read_widerface_predictions` returns exactly
    the values given, converted to float64 as :func:`evaluate_widerface` uses them. Each file is
    written to a temporary file beside it and then renamed into place, so an interrupted run never
    leaves a truncated file. All arrays are checked before anything is written.

    Args:
        predictions: mapping "event/name.jpg" -> array (N, 5) ``x, y, w, h, score`` pixels.
        out_dir: folder to write into (created if needed). Existing files of the same images are
            replaced.

    Returns:
        list of the written file paths (``pathlib.Path``), in the order of ``predictions``.

    Raises:
        ValueError: a key is not of the form "event/name", two keys name the same image, or an
            array is not (N, 5) or holds NaN or infinite values.

    Examples:
        >>> import tempfile
        >>> import numpy as np
        >>> from kssd.metrics import read_widerface_predictions, write_widerface_predictions
        >>> folder = tempfile.mkdtemp()
        >>> boxes = np.array([[1.25, 2, 3, 4, 0.3], [10, 20, 30, 40, 0.9]])
        >>> paths = write_widerface_predictions({"0--Parade/a.jpg": boxes}, folder)
        >>> print(paths[0].read_text(), end="")
        a
        2
        10.0 20.0 30.0 40.0 0.9
        1.25 2.0 3.0 4.0 0.3
        >>> read_widerface_predictions(folder)["0--Parade/a.jpg"].tolist()
        [[10.0, 20.0, 30.0, 40.0, 0.9], [1.25, 2.0, 3.0, 4.0, 0.3]]
    """
    out_dir = Path(out_dir)
    checked = {}
    for name, value in predictions.items():
        key = _image_key(name)
        if "/" not in key:
            raise ValueError(f"prediction key {name!r} must look like 'event/name.jpg'")
        if key in checked:
            raise ValueError(f"predictions name image {key!r} twice (e.g. as {name!r})")
        array = _check_predictions(name, value)
        checked[key] = array[np.argsort(-array[:, 4], kind="stable")]
    written = []
    for key, array in checked.items():
        path = out_dir / f"{key}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [key.split("/")[-1], str(len(array))]
        lines += [" ".join(_format_value(v) for v in row) for row in array]
        write_text_atomically(path, "\n".join(lines) + "\n")
        written.append(path)
    return written


def read_widerface_predictions(pred_dir):
    """Reads official per-image WIDER FACE prediction files (``event/name.txt``).

    Args:
        pred_dir: folder holding one sub-folder per event with one text file per image: the image
            name, the number of boxes, then ``x y w h score`` lines.

    Returns:
        dict "event/name.jpg" -> float64 array (N, 5), as :func:`evaluate_widerface` and
        :func:`write_widerface_predictions` take, rows in the order of the file (descending score
        for files written by :func:`write_widerface_predictions`). Keys come in sorted order.

    Raises:
        ValueError: a malformed file; the message names the file and line.

    Examples:
        >>> import tempfile, pathlib
        >>> from kssd.metrics import read_widerface_predictions
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "1--Handshaking").mkdir()
        >>> _ = (root / "1--Handshaking" / "b.txt").write_text(
        ...     "b\\n2\\n1 2 3 4 0.5\\n5 6 7 8 0.25\\n")
        >>> read_widerface_predictions(root)["1--Handshaking/b.jpg"][:, 4].tolist()
        [0.5, 0.25]
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"prediction folder not found: {pred_dir}")
    result = {}
    for path in sorted(pred_dir.glob("*/*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) < 2:
            raise ValueError(f"{path}: expected an image name line and a count line")
        try:
            count = int(float(lines[1].strip()))
        except ValueError:
            raise ValueError(f"{path}:2: expected the number of boxes, got {lines[1]!r}") from None
        rows = []
        for number, line in enumerate(lines[2:], start=3):
            tokens = line.split()
            if not tokens:
                continue
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                values = []
            if len(values) != 5:
                raise ValueError(f"{path}:{number}: expected 'x y w h score', got {line!r}")
            rows.append(values)
        if len(rows) != count:
            raise ValueError(f"{path}: the count line says {count} boxes but {len(rows)} follow")
        result[f"{path.parent.name}/{path.stem}.jpg"] = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return result
