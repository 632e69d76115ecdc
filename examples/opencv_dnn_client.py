"""Run a kssd detector with OpenCV alone: an ``onnx_opencv`` export, ``cv2.dnn`` and ``cv2.dnn.NMSBoxesBatched``.

Needs only ``opencv-python`` and ``numpy`` (no kssd, TensorFlow or onnxruntime):

    kssd export ultraface_rfb --format onnx_opencv --out faces.onnx --verify-images photos/
    python examples/opencv_dnn_client.py faces.onnx photo.jpg --score 0.7 --iou 0.3

Prints one JSON line per detection: ``{"box": [x1, y1, x2, y2], "score": s, "class": c}`` with the
box in the photo's pixels and ``c`` in 1..C.
"""

import argparse
import json

import cv2
import numpy as np


def detect(net, image_rgb, score_threshold=0.5, iou_threshold=0.45, max_detections=200):
    """Detections of one RGB uint8 image: (boxes xyxy pixels, scores, classes 1..C)."""
    net.setInput(np.ascontiguousarray(image_rgb[None]))  # the graph takes one image per call
    names = net.getUnconnectedOutLayersNames()
    found = dict(zip(names, net.forward(names)))
    boxes, scores = found["boxes"][0], found["scores"][0]  # (A, 4) xyxy pixels, (A, C)
    classes = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), classes]
    keep = best >= score_threshold
    boxes, best, classes = boxes[keep], best[keep], classes[keep]
    xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
    kept = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), best.tolist(), classes.tolist(), score_threshold, iou_threshold, top_k=max_detections
    )
    kept = np.asarray(kept, dtype=int).reshape(-1)
    return boxes[kept], best[kept], classes[kept] + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an onnx_opencv export (.onnx)")
    parser.add_argument("image", help="a photo")
    parser.add_argument("--score", type=float, default=0.5, help="score threshold (default 0.5)")
    parser.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (default 0.45)")
    args = parser.parse_args()
    net = cv2.dnn.readNetFromONNX(args.model)
    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{args.image}: not a readable image")
    boxes, scores, classes = detect(net, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args.score, args.iou)
    for box, score, label in zip(boxes, scores, classes):
        print(
            json.dumps({"box": [round(float(v), 2) for v in box], "score": float(score), "class": int(label)})
        )


if __name__ == "__main__":
    main()
