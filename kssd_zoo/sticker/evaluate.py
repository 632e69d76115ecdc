"""How many annotated faces a sticker detector finds: recall at IoU thresholds on small face sets.

Used for the figures in docs/guides/stickers.md (face SSD vs dlib HOG on the WIDER FACE Parade
images and dlib's PASCAL test faces). Matching is one-to-one and greedy by IoU: each ground-truth
face takes the best unmatched detection with IoU >= the threshold.

Run ``python -m kssd_zoo.sticker.evaluate --shared ../shared --weights PATH`` for the table.

Examples:
    >>> import numpy as np
    >>> from kssd_zoo.sticker.evaluate import match_count
    >>> gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    >>> match_count(gt, np.array([[1, 1, 10, 10]], float), 0.5)
    1
"""

import argparse
import time
from pathlib import Path

import numpy as np

from kssd.boxes import iou_numpy


def match_count(gt_boxes, det_boxes, iou_threshold):
    """Number of ground-truth boxes matched one-to-one by a detection with IoU >= threshold."""
    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return 0
    iou = iou_numpy(gt_boxes, det_boxes)
    matched = 0
    pairs = np.argwhere(iou >= iou_threshold)
    order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="stable") if len(pairs) else []
    used_gt, used_det = set(), set()
    for k in order:
        g, d = pairs[k]
        if g in used_gt or d in used_det:
            continue
        used_gt.add(g)
        used_det.add(d)
        matched += 1
    return matched


def read_dlib_xml(path):
    """Records ``{"image_path", "boxes"}`` (xyxy, ignored boxes left out) of a dlib imglab file.

    Examples:
        >>> from kssd_zoo.sticker.evaluate import read_dlib_xml
        >>> read_dlib_xml.__name__
        'read_dlib_xml'
    """
    from kssd.data.imglab import ImglabReader

    return [
        {
            "image_path": Path(r["image_path"]),
            "boxes": r["boxes"][r["attributes"]["difficult"] == 0].astype(np.float64),
        }
        for r in ImglabReader(path)
    ]


def read_wider_parade(root):
    """Records of the WIDER FACE train annotation file under ``root`` (the widerface_mini layout)."""
    from kssd.data.widerface import WiderFaceReader

    return [
        {"image_path": Path(r["image_path"]), "boxes": np.asarray(r["boxes"], np.float64).reshape(-1, 4)}
        for r in WiderFaceReader(root, split="train")
    ]


def evaluate(detector, records, thresholds=(0.3, 0.4, 0.5)):
    """Detect on every record and count matched faces per IoU threshold.

    Args:
        detector: callable ``rgb -> {"boxes", "scores"}``.
        records: dicts with ``image_path`` and ``boxes`` (xyxy).
        thresholds: IoU thresholds, default (0.3, 0.4, 0.5).

    Returns:
        dict with ``faces`` (ground truth), ``detections``, ``matched`` {thr: n},
        ``recall`` {thr: r}, ``small_faces`` (gt under 20 px wide), ``small_matched``
        (at the lowest threshold) and ``seconds``.
    """
    from kssd.data.images import read_image

    faces = detections = small = small_matched = 0
    matched = {t: 0 for t in thresholds}
    started = time.perf_counter()
    for record in records:
        image = read_image(record["image_path"])
        found = detector(image)
        boxes = np.asarray(found["boxes"]).reshape(-1, 4)
        gt = record["boxes"]
        faces += len(gt)
        detections += len(boxes)
        for t in thresholds:
            matched[t] += match_count(gt, boxes, t)
        tiny = gt[(gt[:, 2] - gt[:, 0]) < 20]
        small += len(tiny)
        small_matched += match_count(tiny, boxes, min(thresholds))
    return {
        "faces": faces,
        "detections": detections,
        "matched": matched,
        "recall": {t: (matched[t] / faces if faces else 0.0) for t in thresholds},
        "small_faces": small,
        "small_matched": small_matched,
        "seconds": time.perf_counter() - started,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Face recall of the sticker detectors (SSD vs dlib HOG).")
    parser.add_argument("--shared", default="../shared", help="the shared data folder (default: ../shared)")
    parser.add_argument(
        "--weights",
        default=None,
        help="UltraFace-RFB weights (default: <shared>/models/ultraface/version-RFB-320.onnx)",
    )
    parser.add_argument("--score-threshold", type=float, default=None)
    parser.add_argument("--long-side", type=int, default=None)
    args = parser.parse_args(argv)
    from kssd_zoo.sticker.detection import DlibHogDetector, SSDFaceDetector

    shared = Path(args.shared)
    weights = args.weights or shared / "models/ultraface/version-RFB-320.onnx"
    sets = {
        "WIDER Parade (10 images)": read_wider_parade(shared / "data/faces/widerface_mini"),
        "dlib PASCAL testing (5 images)": read_dlib_xml(shared / "data/faces/dlib_pascal/testing.xml"),
    }
    detectors = {
        "face SSD (UltraFace-RFB, native size)": SSDFaceDetector(
            weights=str(weights), long_side=args.long_side, score_threshold=args.score_threshold
        ),
        "face SSD at 320 px": SSDFaceDetector(
            weights=str(weights), long_side=320, multiscale=False, score_threshold=args.score_threshold
        ),
        "dlib HOG (upsample 1)": DlibHogDetector(upsample=1),
        "dlib HOG (upsample 2)": DlibHogDetector(upsample=2),
    }
    print(
        "| data | detector | faces | detections | recall@0.3 | recall@0.4 | recall@0.5 | faces < 20 px found | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for set_name, records in sets.items():
        for det_name, detector in detectors.items():
            r = evaluate(detector, records)
            rec = r["recall"]
            print(
                f"| {set_name} | {det_name} | {r['faces']} | {r['detections']} | "
                f"{r['matched'][0.3]} ({rec[0.3]:.2f}) | {r['matched'][0.4]} ({rec[0.4]:.2f}) | "
                f"{r['matched'][0.5]} ({rec[0.5]:.2f}) | {r['small_matched']}/{r['small_faces']} | "
                f"{r['seconds']:.1f} |"
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
