"""Where the sticker's SSD runs: Keras, or the shipped TFLite file of the default detector.

The default face detector (UltraFace-RFB with its RFB-640 weights) also ships as a TFLite file
of its network at any input size (padded float32 photo in, raw ``y_pred`` out), made from the
shipped Keras weights; :class:`TFLiteRunner` pads the photo and decodes, suppresses and maps
the boxes back in NumPy with the thresholds and anchors of the facts file. Run by LiteRT (:mod:`kssd.tflite_interpreter`), it
needs no TensorFlow: ``kssd sticker photo.jpg`` answers in about a second instead of waiting
for TensorFlow's import, the model build and tracing, and its network runs faster too. Its
detections are the Keras path's to the export verification tolerance (0.5 px, 1e-4 score;
``tests/sticker/test_runtime.py`` on real photos).

The file and its facts (``.json``: the model, the weights file's sha256, the thresholds, the
anchors, padding and variances, and what the input-size policy needs) are remade after a change of the weights or of the
export with::

    python -m kssd_zoo.sticker.runtime

Examples:
    >>> from kssd_zoo.sticker.runtime import shipped_facts
    >>> facts = shipped_facts()
    >>> facts["model"], facts["weights"], facts["input_size"], facts["score_threshold"]
    ('ultraface_rfb', 'ultraface_rfb_640', [480, 640], 0.7)
"""

import argparse
import json
import sys
import threading
from pathlib import Path

import numpy as np

#: Folder of the files shipped with the package (the weights' folder).
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "weights" / "bundled"
#: The default detector's TFLite file and its facts.
SHIPPED_TFLITE = BUNDLED_DIR / "ultraface_rfb_640.sticker.tflite"
SHIPPED_FACTS = SHIPPED_TFLITE.with_suffix(".json")
RUNTIMES = ("auto", "keras", "tflite")


def shipped_facts():
    """The facts of the shipped TFLite detector (a dict), or None when the files are absent."""
    if not (SHIPPED_TFLITE.is_file() and SHIPPED_FACTS.is_file()):
        return None
    return json.loads(SHIPPED_FACTS.read_text())


def tflite_mismatch(facts, score_threshold=None, iou_threshold=None, class_name=None):
    """Why the shipped file cannot stand in for the Keras path with these options (None: it can).

    A score threshold at or above the baked one is applied to the file's detections (greedy
    NMS keeps the same boxes above a higher threshold); a lower one, another NMS IoU or another
    class needs the Keras path.
    """
    if score_threshold is not None and float(score_threshold) < facts["score_threshold"]:
        return f"score threshold {score_threshold} is below the shipped file's {facts['score_threshold']}"
    if iou_threshold is not None and abs(float(iou_threshold) - facts["iou_threshold"]) > 1e-9:
        return f"NMS IoU {iou_threshold} is not the shipped file's {facts['iou_threshold']}"
    if class_name not in (None, 1, "1", *facts["class_names"]):
        return f"class {class_name!r} is not one of the shipped file's {facts['class_names']}"
    return None


class KerasRunner:
    """One pass of a Keras detector through :func:`kssd.inference.detect` (boxes in pixels)."""

    name = "keras"
    thread_safe = False

    def __init__(self, model, input_size):
        self.model = model
        self.input_size = input_size

    def __call__(self, image, score_threshold, iou_threshold, max_detections, max_detections_per_class):
        from kssd.inference import detect

        found = detect(
            self.model,
            image,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
            max_detections_per_class=max_detections_per_class,
            input_size=self.input_size,
        )[0]
        return found["boxes"], found["scores"], found["classes"]


def decode_clipped(offsets, anchors, variances):
    """NumPy twin of :class:`kssd.layers.DecodeDetections`' boxes (``ssd`` coding, clipped to 0..1).

    For the TFLite runner, which imports neither Keras nor TensorFlow; tested against the layer.

    Examples:
        >>> import numpy as np
        >>> decode_clipped(np.zeros((1, 4), "float32"), np.array([[0.5, 0.5, 0.2, 0.4]], "float32"), (0.1, 0.2))
        array([[0.4, 0.3, 0.6, 0.7]], dtype=float32)
    """
    centre_variance, size_variance = (np.float32(v) for v in variances)
    centres = anchors[:, :2] + offsets[:, :2] * centre_variance * anchors[:, 2:]
    sizes = anchors[:, 2:] * np.exp(offsets[:, 2:] * size_variance)
    corners = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    return np.clip(corners, 0.0, 1.0).astype(np.float32)


class TFLiteRunner:
    """One pass of the shipped TFLite detector at the image's own size (boxes in pixels).

    The file holds the network only (float32 padded photo in, the SSD's raw ``y_pred`` out, which
    XNNPACK runs nearly whole); the padding, anchors, decoding, NMS and box recovery around it are
    done here in NumPy from the file's facts, with the rules of the Keras path's layers
    (:class:`kssd.inference.ResizePad` in ``pad`` mode, :class:`kssd.layers.AnchorBoxes`,
    :class:`kssd.layers.DecodeDetections`, :class:`kssd.layers.NonMaxSuppression` through
    :func:`kssd.inference.passes.merge_detections`, :class:`kssd.inference.RecoverBoxes`). As
    TFLite ops these small steps took 12 of the 30 ms a 640x480 photo cost on one thread.

    The thresholds are the file's; a higher ``score_threshold`` filters its detections. Each
    calling thread gets its own interpreter (an interpreter serves one call at a time), with
    ``num_threads`` threads (default None: every CPU core; set it lower before calling from
    several threads, as :func:`kssd_zoo.sticker.batch.run_batch` does).
    """

    name = "tflite"
    thread_safe = True

    def __init__(self, path=SHIPPED_TFLITE, num_threads=None, facts=None):
        self.path = Path(path)
        self.num_threads = num_threads
        self.facts = facts if facts is not None else json.loads(self.path.with_suffix(".json").read_text())
        self._pad_value = np.asarray(self.facts["pad_value"], np.float32)
        self._anchors = {}  # padded (height, width) -> (A, 4) anchors
        self._local = threading.local()
        self._serve()  # open it now: a bad file fails here, not on the first photo

    def _serve(self):
        serve = getattr(self._local, "serve", None)
        if serve is None:
            from kssd.tflite_interpreter import open_interpreter

            interpreter = open_interpreter(self.path, num_threads=self.num_threads)
            serve = self._local.serve = interpreter.get_signature_runner("serve")
        return serve

    def _anchors_for(self, size):
        anchors = self._anchors.get(size)
        if anchors is None:
            from kssd.anchors import generate_anchors

            anchors = self._anchors[size] = generate_anchors(size, **self.facts["anchors"]).astype(np.float32)
        return anchors

    def __call__(
        self, image, score_threshold, iou_threshold=None, max_detections=None, max_detections_per_class=None
    ):
        from kssd.inference.passes import merge_detections

        facts = self.facts
        height, width = image.shape[:2]
        stride = facts["max_stride"]
        padded_size = (-(-height // stride) * stride, -(-width // stride) * stride)
        padded = np.empty((1, *padded_size, 3), np.float32)
        padded[0] = self._pad_value
        padded[0, :height, :width] = image
        y_pred = self._serve()(images=padded)["y_pred"][0]  # (A, 4 + 2)
        logits = y_pred[:, 4:]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        face = exp[:, 1] / exp.sum(axis=1)
        candidates = np.flatnonzero(face > facts["score_threshold"])
        anchors = self._anchors_for(padded_size)[candidates]
        boxes = decode_clipped(y_pred[candidates, :4], anchors, facts["variances"])
        boxes, scores, _ = merge_detections(
            boxes, face[candidates], facts["iou_threshold"], facts["max_detections"]
        )
        scale = np.array([padded_size[1], padded_size[0]] * 2, np.float32)
        boxes = np.minimum(np.maximum(boxes * scale, 0.0), np.array([width, height] * 2, np.float32))
        keep = scores >= score_threshold
        return boxes[keep], scores[keep], np.ones(int(keep.sum()), np.int64)


def _one_class_batch(boxes, scores):
    """One image's face boxes and scores as the batched detection dict of the export checks."""
    count = len(scores)
    return {
        "boxes": np.asarray(boxes, np.float32).reshape(1, count, 4),
        "scores": np.asarray(scores, np.float32)[None],
        "classes": np.ones((1, count), np.int64),
        "num_detections": np.array([count]),
    }


def write_shipped_detector(tflite_path=SHIPPED_TFLITE, verify_images=None):
    """Convert the default sticker detector's network to the TFLite file to ship, with its facts.

    The file is the network alone at any input size (see :class:`TFLiteRunner`); the facts
    (``.json``) carry what the runner needs around it. Before anything is written, the runner
    on the new file must find the Keras path's faces on ``verify_images`` (0.5 px, 1e-4 score).

    Args:
        tflite_path: output ``.tflite``; the facts go next to it (``.json``), both atomically.
        verify_images: uint8 RGB photos to verify on, default None (the sticker's demo photo,
            five faces).

    Returns:
        The facts dict.
    """
    import tempfile

    import keras
    import tensorflow as tf

    from kssd.data.images import read_image
    from kssd.export.verify import compare_detections
    from kssd.files import write_atomically
    from kssd.inference.inference_model import _max_stride, _pad_value
    from kssd_zoo.sticker.detection import DEFAULT_MODEL, DEFAULT_WEIGHTS, SSDFaceDetector
    from kssd_zoo.sticker.make_assets import DEMO_PHOTO
    from kssd_zoo.weights.bundle import bundled_path
    from kssd_zoo.weights.download import sha256_of

    detector = SSDFaceDetector(runtime="keras")
    model = detector.model
    if model.num_classes != 1 or getattr(model, "box_coding", "ssd") != "ssd":
        raise ValueError(f"{DEFAULT_MODEL}: the shipped runner decodes one class with the ssd box coding")
    network = model.network
    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.add_endpoint(
        "serve",
        lambda images: {"y_pred": network(images, training=False)["y_pred"]},
        input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32, name="images")],
    )
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flatbuffer = converter.convert()
    anchor_config = model.anchor_generator.get_config()
    facts = {
        "model": DEFAULT_MODEL,
        "weights": DEFAULT_WEIGHTS,
        "weights_sha256": sha256_of(bundled_path(DEFAULT_WEIGHTS)),
        "class_names": list(model.class_names),
        "input_size": [int(v) for v in model.input_size],
        "score_threshold": detector.score_threshold,
        "iou_threshold": detector.iou_threshold,
        "max_detections": detector.max_detections,
        "max_stride": _max_stride(model.anchor_config),
        "pad_value": np.broadcast_to(np.asarray(_pad_value(model, "mean"), np.float32), (3,)).tolist(),
        "variances": [float(v) for v in model.variances],
        "anchors": {
            key: anchor_config[key]
            for key in ("steps", "min_sizes", "scales", "aspect_ratios", "extra_box", "clip", "centers")
        },
        "made_by": "python -m kssd_zoo.sticker.runtime",
    }
    images = verify_images if verify_images is not None else [read_image(DEMO_PHOTO)]
    with tempfile.TemporaryDirectory() as folder:
        candidate = Path(folder) / "candidate.tflite"
        candidate.write_bytes(flatbuffer)
        runner, keras_runner = TFLiteRunner(candidate, facts=facts), KerasRunner(model, input_size=None)
        for index, image in enumerate(images):
            settings = (detector.score_threshold, detector.iou_threshold, detector.max_detections, None)
            expected_boxes, expected_scores, _ = keras_runner(image, *settings)
            boxes, scores, _ = runner(image, detector.score_threshold)
            report = compare_detections(
                _one_class_batch(expected_boxes, expected_scores),
                _one_class_batch(boxes, scores),
                score_threshold=detector.score_threshold,
            )
            if not report["ok"]:
                raise RuntimeError(
                    f"verification image {index}: the TFLite runner differs from Keras: {report}"
                )
    text = json.dumps(facts, indent=2) + "\n"
    write_atomically(Path(tflite_path), lambda temporary: Path(temporary).write_bytes(flatbuffer))
    write_atomically(
        Path(tflite_path).with_suffix(".json"), lambda temporary: Path(temporary).write_text(text)
    )
    return facts


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kssd_zoo.sticker.runtime",
        description="Remake the shipped TFLite file of the sticker's default detector from the shipped weights.",
    )
    parser.add_argument("--out", default=str(SHIPPED_TFLITE), help="output .tflite (facts: same name, .json)")
    args = parser.parse_args(argv)
    facts = write_shipped_detector(args.out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes) and its facts: {facts}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
