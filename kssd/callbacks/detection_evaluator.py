"""DetectionEvaluator: detection metrics on a validation set every N epochs, into ``logs``."""

import time

import keras

from kssd.inference.detect_fn import make_detect_fn
from kssd.metrics.evaluate import EVAL_SCORE_THRESHOLD, METRICS, detect_records, detection_metrics


class DetectionEvaluator(keras.callbacks.Callback):
    """Evaluate detections on validation records every ``every`` epochs and log the metric.

    The values are written into the epoch's ``logs`` (``val_mAP``, ``val_AP/<class>``,
    ``val_easy``/``val_medium``/``val_hard``, ``val_AP``/``val_AP50``...), so they appear in
    ``history.history`` and in any logging callback placed *after* this one in the callback list
    (``keras.callbacks.TensorBoard``, ``CSVLogger``, ``ModelCheckpoint(monitor="val_mAP")``).
    Epochs that are not evaluated log NaN for the metric's headline values (and for every value
    of the previous evaluation), so ``history`` keeps one entry per epoch and a ``CSVLogger``
    has the columns from the first epoch on.

    Args:
        records: validation kssd records (``image_id``, ``boxes`` absolute xyxy, ``labels``
            1..C, and ``image``/``image_path``/``image_bytes``).
        metric: ``"voc07"``, ``"voc12"``, ``"widerface"`` or ``"coco"``, default ``"voc12"``
            (see :func:`kssd.metrics.detection_metrics`).
        detect_fn: ``detect_fn(list of RGB images) -> list of dicts`` (boxes xyxy pixels,
            scores, labels), default None = :func:`kssd.inference.detect_fn.make_detect_fn`
            on the trained model (a kssd_zoo Detector or a model with a ``spec`` holding its
            anchors): :func:`kssd.inference.detect`, images stretched to the input size,
            score threshold 0.01.
        every: evaluate every this many epochs (and always after the last epoch), default 1.
        batch_size: images per detection call, default 16.
        prefix: prefix of the logged names, default ``"val_"``.
        widerface_ground_truth: official WIDER val ``.mat`` folder or loaded dict, default None.
        coco_ground_truth: COCO instances JSON path or dict, default None.
        class_names: names for per-class keys (index i -> class id i + 1), default None =
            the model's ``class_names`` if it has them.
        verbose: print the results after each evaluation, default 1.

    Returns:
        A Keras callback; ``history`` keeps ``{epoch: metrics dict}`` of every evaluation.

    Examples:
        >>> import numpy as np
        >>> from kssd.callbacks import DetectionEvaluator
        >>> records = [{"image_id": "a", "image": np.zeros((8, 8, 3), "uint8"),
        ...             "boxes": np.array([[0., 0., 4., 4.]]), "labels": np.array([1])}]
        >>> perfect = lambda images: [{"boxes": np.array([[0., 0., 4., 4.]]),
        ...                            "scores": np.array([0.9]), "labels": np.array([1])}]
        >>> callback = DetectionEvaluator(records, metric="voc12", detect_fn=perfect, verbose=0)
        >>> logs = {}
        >>> callback.on_epoch_end(0, logs)
        >>> logs["val_mAP"]
        1.0
    """

    def __init__(
        self,
        records,
        metric="voc12",
        detect_fn=None,
        every=1,
        batch_size=16,
        prefix="val_",
        widerface_ground_truth=None,
        coco_ground_truth=None,
        class_names=None,
        verbose=1,
    ):
        super().__init__()
        METRICS.get(metric)  # UnknownNameError (a ValueError) naming close matches
        if int(every) < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every!r}")
        self.records = list(records)
        if not self.records:
            raise ValueError("DetectionEvaluator needs at least one validation record")
        self.metric = metric
        self.detect_fn = detect_fn
        self.every = int(every)
        self.batch_size = int(batch_size)
        self.prefix = prefix
        self.widerface_ground_truth = widerface_ground_truth
        self.coco_ground_truth = coco_ground_truth
        self.class_names = class_names
        self.verbose = verbose
        self.history = {}
        self._epochs = None

    def on_train_begin(self, logs=None):
        self._epochs = (self.params or {}).get("epochs")
        if self.widerface_ground_truth is not None and not isinstance(self.widerface_ground_truth, dict):
            from kssd.metrics import load_widerface_ground_truth

            self.widerface_ground_truth = load_widerface_ground_truth(self.widerface_ground_truth)

    def evaluate(self):
        """Run detection and the metric now; returns the metrics dict (unprefixed)."""
        detect_fn = self.detect_fn
        if detect_fn is None:
            detect_fn = make_detect_fn(
                self.model, score_threshold=EVAL_SCORE_THRESHOLD, batch_size=self.batch_size
            )
        detections = detect_records(detect_fn, self.records, batch_size=self.batch_size)
        names = self.class_names
        if names is None and self.model is not None:
            names = getattr(self.model, "class_names", None)
        return detection_metrics(
            self.metric,
            self.records,
            detections,
            widerface_ground_truth=self.widerface_ground_truth,
            coco_ground_truth=self.coco_ground_truth,
            class_names=names,
        )

    def _headline_keys(self):
        if self.history:
            return list(self.history[max(self.history)])
        if self.metric == "widerface":
            return ["easy", "medium", "hard"] if self.widerface_ground_truth is not None else ["AP_all"]
        if self.metric == "coco":
            from kssd.metrics.coco import COCO_STAT_NAMES

            return list(COCO_STAT_NAMES)
        return ["mAP"]

    def on_epoch_end(self, epoch, logs=None):
        last = self._epochs is not None and epoch + 1 >= self._epochs
        if (epoch + 1) % self.every and not last:
            if logs is not None:
                for name in self._headline_keys():
                    logs.setdefault(f"{self.prefix}{name}", float("nan"))
            return
        started = time.perf_counter()
        result = self.evaluate()
        self.history[epoch] = result
        if logs is not None:
            for name, value in result.items():
                logs[f"{self.prefix}{name}"] = value
        if self.verbose:
            shown = "  ".join(f"{self.prefix}{k}: {v:.4f}" for k, v in result.items() if "/" not in k)
            print(
                f"Epoch {epoch + 1}: {self.metric} evaluation on {len(self.records)} images "
                f"({time.perf_counter() - started:.1f} s): {shown}"
            )
