"""The kssd demo: train ``tiny_ssd`` on generated shapes, evaluate it and draw its detections.

Needs no download: the data is generated (:func:`kssd_zoo.datasets.shapes`). This is what
``kssd demo`` runs and what the README's first command shows a new user.
"""

import os
import time

import keras
import numpy as np

from kssd.data import load_dataset
from kssd.layers import DecodeDetections, NonMaxSuppression
from kssd.metrics import voc_map
from kssd.visualization import draw_detections, image_grid


class TimeBudget(keras.callbacks.Callback):
    """Stop ``fit`` once ``seconds`` of training have passed (checked after every batch).

    Args:
        seconds: training time budget in seconds.

    Examples:
        >>> from kssd_zoo.demo import TimeBudget
        >>> TimeBudget(seconds=60).seconds
        60
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self._start >= self.seconds:
            self.model.stop_training = True


def predict_detections(model, images, batch_size=32, **postprocess):
    """Raw model outputs -> per-image detections in input pixels (decode + per-class NMS).

    Args:
        model: a zoo detector (``anchors``, ``variances``, ``postprocess``) whose input size
            equals the images' size.
        images: float32 or uint8 array (N, H, W, 3) RGB.
        batch_size: prediction batch size, default 32.
        **postprocess: overrides of the spec's ``score_threshold``, ``iou_threshold``,
            ``max_detections``, ``max_detections_per_class``.

    Returns:
        List of dicts ``{"boxes" (K, 4) xyxy pixels, "scores" (K,), "labels" (K,)}``.
    """
    settings = {**model.postprocess, **postprocess}
    nms = NonMaxSuppression(
        score_threshold=settings["score_threshold"],
        iou_threshold=settings["iou_threshold"],
        max_detections=settings["max_detections"],
        max_detections_per_class=settings.get("max_detections_per_class", settings["max_detections"]),
    )
    decoder = DecodeDetections(variances=model.variances)
    height, width = images.shape[1:3]
    scale = np.array([width, height, width, height], "float32")
    results = []
    y_pred = model.predict(np.asarray(images, "float32"), batch_size=batch_size, verbose=0)
    for start in range(0, len(y_pred), batch_size):
        decoded = decoder(y_pred[start:start + batch_size], model.anchors)
        found = {k: keras.ops.convert_to_numpy(v) for k, v in nms(decoded["boxes"], decoded["scores"]).items()}
        for i, count in enumerate(found["num_detections"]):
            results.append({
                "boxes": found["boxes"][i, :count] * scale,
                "scores": found["scores"][i, :count],
                "labels": found["classes"][i, :count].astype("int32"),
            })
    return results


def run_demo(out_dir="demo_out", *, train_seconds=120.0, num_train=4000, num_val=300,
             batch_size=32, seed=0, verbose=1):
    """Generate shapes, train ``tiny_ssd`` for ``train_seconds``, evaluate, draw detections.

    Args:
        out_dir: folder for ``detections.png`` and ``tiny_ssd.keras``, default ``"demo_out"``.
        train_seconds: training time budget, default 120.
        num_train: generated training images, default 4000.
        num_val: held-out images (a different random stream), default 300.
        batch_size: default 32.
        seed: data and pipeline seed, default 0.
        verbose: Keras progress bar verbosity, default 1.

    Returns:
        dict with ``mAP`` (VOC all-point AP at IoU 0.5), ``per_class``, ``train_seconds``,
        ``epochs`` and the paths written.
    """
    from kssd_zoo import tiny_ssd
    from kssd_zoo.datasets import shapes

    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    train_records = shapes(num_images=num_train, split="train", seed=seed)
    val_records = shapes(num_images=num_val, split="val", seed=seed)
    model = tiny_ssd(steps_per_epoch=max(num_train // batch_size, 1))
    train = load_dataset(train_records, model=model, batch_size=batch_size, training=True,
                         seed=seed, repeat=True)
    steps_per_epoch = max(num_train // batch_size, 1)
    history = model.fit(train, epochs=1000, steps_per_epoch=steps_per_epoch,
                        callbacks=[TimeBudget(train_seconds)], verbose=verbose)
    trained_for = time.perf_counter() - started

    images = np.stack([r["image"] for r in val_records])
    # mAP integrates the whole precision/recall curve: score with a low threshold (0.01). The
    # spec's deployment threshold (0.3) cut every detection of a briefly trained model, which
    # is how an early demo reported mAP 0.0.
    detections = predict_detections(model, images, batch_size=batch_size, score_threshold=0.01)
    ground_truth = {r["image_id"]: {"boxes": r["boxes"], "labels": r["labels"]} for r in val_records}
    predicted = {r["image_id"]: d for r, d in zip(val_records, detections)}
    result = voc_map(ground_truth, predicted, iou_threshold=0.5, method="area")
    names = model.class_names

    picture = os.path.join(out_dir, "detections.png")
    shown = model.postprocess["score_threshold"]
    drawn = [draw_detections(img, det["boxes"][det["scores"] >= shown],
                             det["labels"][det["scores"] >= shown],
                             det["scores"][det["scores"] >= shown], class_names=names)
             for img, det in zip(images[:16], detections[:16])]
    image_grid(drawn, columns=4, path=picture)
    model_path = os.path.join(out_dir, "tiny_ssd.keras")
    model.save(model_path)
    return {
        "mAP": float(result["mAP"]),
        "per_class": {names[int(c) - 1] if str(c).isdigit() else c: float(ap)
                      for c, ap in result["per_class"].items()},
        "train_seconds": trained_for,
        "epochs": len(history.history.get("loss", [])),
        "picture": picture,
        "model": model_path,
    }
