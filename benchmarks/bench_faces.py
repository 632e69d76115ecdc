"""Face detectors side by side: kssd's settings and presets against UltraFace, YuNet and dlib.

For every detector, in one run, on the real photos of ``../shared``:

* **WIDER AP** on the 10 WIDER FACE train images of ``widerface_mini`` (``0--Parade``), every
  face counted, with the official protocol (:func:`kssd.metrics.evaluate_widerface`: scores
  min-max normalised, 1,000 thresholds, inclusive-pixel IoU >= 0.5), overall and per face-size
  bucket (the face box's larger side: < 16 px, 16-32, 32-64, > 64; faces of the other buckets
  are ignored, not missed, so a detection on them is neither true nor false);
* **PASCAL AP**: the same protocol on dlib's 5 PASCAL VOC test photos (``testing.xml``);
* **dogs FP**: boxes at the detector's own operating threshold on ``dogs.jpg`` (no face);
* **ms/photo**: mean wall time of one call over the WIDER photos (after one warm-up call).

AP is measured from detections down to a low score threshold (``AP_SCORE``); the dogs column
uses each detector's default threshold. UltraFace was trained on WIDER FACE train, so the WIDER
columns flatter every UltraFace row (kssd's default included): judge by the size buckets and the
PASCAL photos too.

Rows:

* ``kssd ...``: :class:`kssd_zoo.sticker.detection.SSDFaceDetector`, the sticker application's
  detector: the default (UltraFace-RFB with the shipped ``ultraface_rfb_640`` weights,
  ``quality="fast"``), the ``balanced`` and ``best`` qualities, native size only, the
  ``ultraface_rfb_320`` weights (the previous default) and ``ultraface_slim_320``, and the
  BlazeFace presets (fixed input sizes, so the photo is letterboxed into 128, 192 or 256 px).
* ``UltraFace release``: the released ``version-RFB-320.onnx`` / ``-640.onnx`` in onnxruntime at
  their fixed input sizes, with OpenCV's NMS (IoU 0.3).
* ``YuNet_n`` / ``YuNet_s``: ``cv2.FaceDetectorYN`` with the dynamic-size ONNX files, each photo
  at its own size.
* ``dlib HOG``: ``dlib.get_frontal_face_detector()``, upsampling 1.

Run: ``python benchmarks/bench_faces.py [--only kssd,yunet]`` (a few minutes on 2 cores).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
WIDER = SHARED / "data" / "faces" / "widerface_mini"
PASCAL = SHARED / "data" / "faces" / "dlib_pascal"
MODELS = SHARED / "models"
AP_SCORE = 0.05
BUCKETS = (("<16", 0, 16), ("16-32", 16, 32), ("32-64", 32, 64), (">64", 64, float("inf")))
SETTINGS = ("all", *(name for name, _, _ in BUCKETS))


def read_rgb(path):
    image = cv2.imread(str(path))
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def ground_truth(records, folder):
    """{key: {"boxes": xywh, "all": indices, bucket: indices}} for evaluate_widerface."""
    truth, photos = {}, {}
    for record in records:
        path = Path(record["image_path"])
        key = f"{folder}/{path.stem}"
        xyxy = np.asarray(record["boxes"], np.float64).reshape(-1, 4)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        side = xywh[:, 2:].max(axis=1) if len(xywh) else np.zeros(0)
        entry = {"boxes": xywh, "all": np.arange(len(xywh))}
        for name, low, high in BUCKETS:
            entry[name] = np.flatnonzero((side >= low) & (side < high))
        truth[key] = entry
        photos[key] = read_rgb(path)
    return truth, photos


def load_data():
    from kssd_zoo.sticker.evaluate import read_dlib_xml, read_wider_parade

    wider = ground_truth(read_wider_parade(WIDER), "0--Parade")
    pascal = ground_truth(read_dlib_xml(PASCAL / "testing.xml"), "dlib_pascal")
    dogs = read_rgb(PASCAL / "dogs.jpg")
    return wider, pascal, dogs


# -- detectors: callables image -> (boxes xyxy (N, 4), scores (N,)), plus an operating threshold


class KssdRow:
    def __init__(self, label, **kwargs):
        from kssd_zoo.sticker.detection import SSDFaceDetector

        self.label = label
        self.detector = SSDFaceDetector(score_threshold=AP_SCORE, **kwargs)
        post = dict(self.detector.model.postprocess or {})
        self.operating = float(post.get("score_threshold", 0.5))

    def __call__(self, image):
        found = self.detector(image)
        return found["boxes"], found["scores"]


class UltraFaceRelease:
    def __init__(self, fname):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(MODELS / "ultraface" / fname), options, providers=["CPUExecutionProvider"]
        )
        self.height, self.width = self.session.get_inputs()[0].shape[2:]
        self.label = f"UltraFace release {fname}"
        self.operating = 0.7

    def __call__(self, image):
        x = cv2.resize(image, (self.width, self.height)).astype(np.float32)
        x = ((x - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = self.session.run(None, {"input": x})
        conf = scores[0, :, 1]
        keep = conf > AP_SCORE
        b = boxes[0][keep] * np.array([image.shape[1], image.shape[0]] * 2, np.float32)
        xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
        idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), conf[keep].tolist(), AP_SCORE, 0.3), int).ravel()
        return b[idx], conf[keep][idx]


class YuNet:
    def __init__(self, fname, label):
        self.detector = cv2.FaceDetectorYN.create(
            str(MODELS / "yunet" / fname), "", (320, 320), AP_SCORE, 0.3, 5000
        )
        self.label = label
        self.operating = 0.9  # OpenCV's default score threshold

    def __call__(self, image):
        height, width = image.shape[:2]
        self.detector.setInputSize((width, height))
        _, faces = self.detector.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if faces is None:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
        return boxes.astype(np.float32), faces[:, -1].astype(np.float32)


class DlibHog:
    label = "dlib HOG (upsample 1)"
    operating = 0.0

    def __init__(self):
        from kssd_zoo.sticker.detection import DlibHogDetector

        self.detector = DlibHogDetector(upsample=1, threshold=-1.0)

    def __call__(self, image):
        found = self.detector(image)
        return found["boxes"], found["scores"]


def release_model(preset):
    """A zoo UltraFace built at its preset's trained size with the release file of ../shared."""
    import kssd_zoo
    from kssd_zoo.weights import PRESETS

    facts = PRESETS[preset]
    path = MODELS / "ultraface" / facts["fname"]
    return kssd_zoo.build(facts["model"], compile=False, weights=str(path), **facts["build_overrides"])


def make_rows(only):
    makers = {
        "kssd": [
            lambda: KssdRow("kssd default (RFB-640 weights, fast)"),
            lambda: KssdRow("kssd RFB-640 weights, balanced", quality="balanced"),
            lambda: KssdRow("kssd RFB-640 weights, best", quality="best"),
            lambda: KssdRow("kssd RFB-640 weights, fast, native", quality="fast", passes="native"),
            lambda: KssdRow(
                "kssd RFB-320 weights, fast (previous default)", weights="ultraface_rfb_320", quality="fast"
            ),
            lambda: KssdRow(
                "kssd RFB-320 weights, balanced", weights="ultraface_rfb_320", quality="balanced"
            ),
            lambda: KssdRow(
                "kssd slim-320 weights, fast", model=release_model("ultraface_slim_320"), quality="fast"
            ),
            *(
                (lambda name=name: KssdRow(f"kssd {name} (letterboxed)", model=name, weights=name))
                for name in ("blazeface_short", "blazeface_full", "blazeface_back")
            ),
        ],
        "ultraface": [
            lambda: UltraFaceRelease("version-RFB-320.onnx"),
            lambda: UltraFaceRelease("version-RFB-640.onnx"),
        ],
        "yunet": [
            lambda: YuNet("yunet_n_dynamic.onnx", "YuNet_n (OpenCV)"),
            lambda: YuNet("yunet_s_dynamic.onnx", "YuNet_s (OpenCV)"),
        ],
        "dlib": [DlibHog],
    }
    for group, group_makers in makers.items():
        if only and group not in only:
            continue
        for make in group_makers:
            try:
                yield make()
            except (OSError, ImportError, ValueError) as err:  # a missing file or package: say it, go on
                print(f"skipped a {group} row: {err}", file=sys.stderr)


def predictions(row, photos):
    out, seconds = {}, []
    for key, image in photos.items():
        start = time.perf_counter()
        boxes, scores = row(image)
        seconds.append(time.perf_counter() - start)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        out[key] = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2], np.asarray(scores, np.float64)]
    return out, seconds


def measure(row, wider, pascal, dogs):
    from kssd.metrics import evaluate_widerface

    row(dogs)  # warm-up: builds and traces what the first call needs
    wider_truth, wider_photos = wider
    wider_pred, seconds = predictions(row, wider_photos)
    pascal_pred, _ = predictions(row, pascal[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = evaluate_widerface(wider_pred, wider_truth, settings=SETTINGS)
        ap["pascal"] = evaluate_widerface(pascal_pred, pascal[0], settings=("all",))["all"]
    _, dog_scores = row(dogs)
    ap["dogs FP"] = int(np.count_nonzero(np.asarray(dog_scores) >= row.operating))
    ap["ms/photo"] = 1000.0 * float(np.mean(seconds))
    return ap


def print_table(results, counts):
    columns = ["all", *SETTINGS[1:], "pascal", "dogs FP", "ms/photo"]
    width = max(len(label) for label in results)
    print(
        f"WIDER 0--Parade: {counts['all']} faces "
        + ", ".join(f"{name} {counts[name]}" for name in SETTINGS[1:])
        + f"; PASCAL test: {counts['pascal']} faces; AP from score >= {AP_SCORE}"
    )
    header = f"{'detector':<{width}}  " + "  ".join(f"{c:>8}" for c in columns)
    print(header)
    print("-" * len(header))
    for label, values in results.items():
        cells = []
        for column in columns:
            value = values[column]
            cells.append(
                f"{value:>8d}"
                if column == "dogs FP"
                else f"{value:>8.1f}"
                if column == "ms/photo"
                else f"{value:>8.3f}"
            )
        print(f"{label:<{width}}  " + "  ".join(cells))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="comma-separated groups: kssd, ultraface, yunet, dlib (default: all)"
    )
    args = parser.parse_args(argv)
    if not (WIDER.is_dir() and PASCAL.is_dir()):
        print(f"needs {WIDER} and {PASCAL} (the ../shared folder)", file=sys.stderr)
        return 1
    wider, pascal, dogs = load_data()
    counts = {name: sum(len(e[name]) for e in wider[0].values()) for name in SETTINGS}
    counts["pascal"] = sum(len(e["all"]) for e in pascal[0].values())
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    results = {}
    for row in make_rows(only):
        results[row.label] = measure(row, wider, pascal, dogs)
        print(f"measured {row.label}", file=sys.stderr, flush=True)
    print_table(results, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
