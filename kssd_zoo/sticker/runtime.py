"""Where the sticker's SSD runs: Keras, or the shipped TFLite file of the default detector.

The default face detector (UltraFace-RFB with its RFB-640 weights) also ships as one TFLite
graph at native resolution (uint8 RGB photo of any size in, face boxes in its pixels out:
resize/pad, network, anchors, decoding and NMS inside), made from the shipped Keras weights
with the sticker's thresholds baked in. Run by LiteRT (:mod:`kssd.tflite_interpreter`), it
needs no TensorFlow: ``kssd sticker photo.jpg`` answers in about a second instead of waiting
for TensorFlow's import, the model build and tracing, and its network runs faster too. Its
detections are the Keras path's to the export verification tolerance (0.5 px, 1e-4 score;
``tests/sticker/test_runtime.py`` on real photos).

The file and its facts (``.json``: the model, the weights file's sha256, the baked thresholds
and what the input-size policy needs) are remade after a change of the weights or of the
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


class TFLiteRunner:
    """One pass of the shipped TFLite detector at the image's own size (boxes in pixels).

    The thresholds are the file's; a higher ``score_threshold`` filters its detections. Each
    calling thread gets its own interpreter (an interpreter serves one call at a time), with
    ``num_threads`` threads (default None: every CPU core; set it lower before calling from
    several threads, as :func:`kssd_zoo.sticker.batch.run_batch` does).
    """

    name = "tflite"
    thread_safe = True

    def __init__(self, path=SHIPPED_TFLITE, num_threads=None):
        self.path = Path(path)
        self.num_threads = num_threads
        self._local = threading.local()
        self._serve()  # open it now: a bad file fails here, not on the first photo

    def _serve(self):
        serve = getattr(self._local, "serve", None)
        if serve is None:
            from kssd.tflite_interpreter import open_interpreter

            interpreter = open_interpreter(self.path, num_threads=self.num_threads)
            serve = self._local.serve = interpreter.get_signature_runner("serve")
        return serve

    def __call__(
        self, image, score_threshold, iou_threshold=None, max_detections=None, max_detections_per_class=None
    ):
        out = self._serve()(images=np.ascontiguousarray(image, np.uint8)[None])
        n = int(out["num_detections"][0])
        boxes, scores, classes = out["boxes"][0, :n], out["scores"][0, :n], out["classes"][0, :n]
        keep = scores >= score_threshold
        return boxes[keep], scores[keep], classes[keep].astype(np.int64)


def write_shipped_detector(tflite_path=SHIPPED_TFLITE, verify_images=None):
    """Export the default sticker detector's Keras path to the TFLite file to ship, with its facts.

    Args:
        tflite_path: output ``.tflite``; the facts go next to it (``.json``), both atomically.
        verify_images: uint8 RGB photos the export verifies the file on, default None (the
            sticker's demo photo, five faces).

    Returns:
        The facts dict.
    """
    from kssd.data.images import read_image
    from kssd.export import export
    from kssd.files import write_atomically
    from kssd_zoo.sticker.detection import DEFAULT_MODEL, DEFAULT_WEIGHTS, SSDFaceDetector
    from kssd_zoo.sticker.make_assets import DEMO_PHOTO
    from kssd_zoo.weights.bundle import bundled_path
    from kssd_zoo.weights.download import sha256_of

    detector = SSDFaceDetector(runtime="keras")
    model = detector.model
    tflite_path = Path(tflite_path)
    export(
        model,
        "tflite",
        tflite_path,
        overwrite=True,
        input_size=None,
        score_threshold=detector.score_threshold,
        iou_threshold=detector.iou_threshold,
        max_detections=detector.max_detections,
        verify_images=verify_images if verify_images is not None else [read_image(DEMO_PHOTO)],
    )
    facts = {
        "model": DEFAULT_MODEL,
        "weights": DEFAULT_WEIGHTS,
        "weights_sha256": sha256_of(bundled_path(DEFAULT_WEIGHTS)),
        "class_names": list(model.class_names),
        "input_size": [int(v) for v in model.input_size],
        "min_sizes": [[float(v) for v in level] for level in model.anchor_config["min_sizes"]],
        "score_threshold": detector.score_threshold,
        "iou_threshold": detector.iou_threshold,
        "max_detections": detector.max_detections,
        "made_by": "python -m kssd_zoo.sticker.runtime",
    }
    text = json.dumps(facts, indent=2) + "\n"
    write_atomically(tflite_path.with_suffix(".json"), lambda temporary: Path(temporary).write_text(text))
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
