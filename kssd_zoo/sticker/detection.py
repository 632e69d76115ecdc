"""Face detectors for the sticker application: the zoo's SSDs at any image size, and dlib's HOG.

:class:`SSDFaceDetector` runs a zoo detector through :func:`kssd.inference.detect` (an RGB uint8
image in, boxes in its pixels out), with the input-size policy of :mod:`kssd.inference.passes`:

1. A fully convolutional model (``dynamic`` spec with step-based anchors, e.g. UltraFace) runs
   at the photo's own size (shrunk only above ``max_side`` = 2048, or at ``long_side``): the
   image is padded at the bottom/right to a multiple of the largest stride, so small faces keep
   their pixels. With ``passes="auto"`` (default) it also runs at its trained size (long side
   of ``model.input_size``, e.g. 640 px) when that differs from the native one by more than a
   quarter, where a model trained on little data finds the faces it knows (its scores scaled by
   ``TRAINED_PASS_WEIGHT`` = 0.7, so where both passes see a face the native box wins), and a
   picture processed above 800 px also gets a coarse pass at 640 px (the largest UltraFace
   anchors are 256 px, so big faces in big photos are found there).
   A model that cannot run at other sizes gets the image letterboxed into its own input size.
2. ``quality`` adds test-time passes (:data:`QUALITY`): ``"fast"`` (default) runs the passes
   above; ``"balanced"`` runs the native pass on the mirrored photo too; ``"best"`` also runs an
   up-scaled pass (x2, mirrored too) and keeps from it only the boxes smaller than
   ``SMALL_FACE_ANCHORS`` times the model's smallest anchor (the faces the native pass sees
   below its smallest anchor). ``fast`` is the default because it keeps the application above
   10 photos/s at 640x480 with landmarks on a 2-core CPU (19 measured; ``balanced`` 7).
3. Only the chosen class (``face``, or the only class) is kept; boxes are in the image's pixels.
4. The passes are merged by kssd's NMS (:func:`kssd.inference.merge_detections`), and a box
   nested inside a larger detection (a second box on one face) is dropped
   (:func:`kssd.inference.passes.suppress_nested`).

The default model is UltraFace-RFB with the ``ultraface_rfb_640`` weights (trained at 640x480,
shipped in the package): at native size they score higher than the 320x240-trained ones on
every WIDER face-size bucket (``benchmarks/bench_faces.py``). ``runtime="auto"`` runs it from
the shipped TFLite file without TensorFlow (:mod:`kssd_zoo.sticker.runtime`); other models
and options run on Keras.

Examples:
    >>> from kssd_zoo.sticker.detection import SSDFaceDetector
    >>> det = SSDFaceDetector()  # UltraFace-RFB with its shipped RFB-640 weights
    >>> det.run_sizes((480, 640, 3)), det.run_sizes((1080, 1920, 3)), det.policy
    ([640], [1920, 640], 'native + trained size (auto), quality fast, runtime tflite')
    >>> [(p.long_side, p.flip) for p in SSDFaceDetector(quality="balanced").plan((480, 640, 3))]
    [(640, False), (640, True)]
"""

from typing import NamedTuple

import numpy as np

from kssd.inference.passes import merge_detections, suppress_nested
from kssd_zoo.sticker.runtime import (
    RUNTIMES,
    KerasRunner,
    TFLiteRunner,
    shipped_facts,
    tflite_mismatch,
)

DEFAULT_MODEL = "ultraface_rfb"
DEFAULT_WEIGHTS = "ultraface_rfb_640"
COARSE_LONG_SIDE = 640
MULTISCALE_ABOVE = 800
#: Scores of the trained-size pass are scaled by this before the passes merge.
TRAINED_PASS_WEIGHT = 0.7
#: The up-scaled pass of ``quality="best"`` keeps boxes under this many times the smallest anchor.
SMALL_FACE_ANCHORS = 4
#: Test-time passes per ``quality``: mirror the native pass; up-scale factor (None: no such pass).
QUALITY = {
    "fast": {"flip": False, "upscale": None},
    "balanced": {"flip": True, "upscale": None},
    "best": {"flip": True, "upscale": 2.0},
}


class Pass(NamedTuple):
    """One run of the network: the long side it runs at, mirrored or not, the score weight and
    the largest box (in the pass's pixels) it contributes (None: any)."""

    long_side: int
    flip: bool = False
    weight: float = 1.0
    max_box: float | None = None


class WeightsUnavailableError(RuntimeError):
    """The default face detector's weights could not be downloaded (e.g. offline)."""


def _class_index(model_name, names, class_name):
    """1-based class id to put stickers on, of a model whose classes are ``names``."""
    if class_name is None:
        if "face" in names:
            return names.index("face") + 1
        if len(names) <= 1:
            return 1
        raise ValueError(
            f"model {model_name!r} detects {len(names)} classes ({', '.join(names)}): choose the one "
            "to put stickers on with --class NAME / class_name=NAME"
        )
    if isinstance(class_name, int) or (isinstance(class_name, str) and class_name.isdigit()):
        index = int(class_name)
        if not 1 <= index <= max(len(names), 1):
            raise ValueError(f"class id {index} out of range 1..{len(names)} for model {model_name!r}")
        return index
    if class_name not in names:
        raise ValueError(
            f"class {class_name!r} is not detected by model {model_name!r}; its classes: {', '.join(names)}"
        )
    return names.index(class_name) + 1


def _load_face_model(model, weights):
    """:func:`kssd_zoo.load` with the sticker's default (UltraFace-RFB and its RFB-640 preset).

    A zoo model name with a weights preset of that model is built with the preset's
    ``build_overrides`` (its trained input size). A failed download of the weights raises
    :class:`WeightsUnavailableError`, whose message says how to pass a local file.
    """
    import kssd_zoo

    kssd_zoo._import_all()  # Keras and the zoo's registrations (deferred under the command line)
    from kssd_zoo.loading import load
    from kssd_zoo.weights import PRESETS
    from kssd_zoo.weights.download import FetchError

    if model is None:
        model = DEFAULT_MODEL
        if weights is None:
            weights = DEFAULT_WEIGHTS
    overrides = {}
    if isinstance(model, str) and isinstance(weights, str) and weights in PRESETS.names():
        preset = PRESETS[weights]
        if preset["model"] == model:
            overrides = dict(preset["build_overrides"])
    try:
        return load(model, weights, for_inference=True, **overrides)
    except FetchError as err:
        raise WeightsUnavailableError(
            f"could not download the face detector weights {weights!r} ({err}). Pass a local copy: "
            "`kssd sticker ... --weights /path/to/version-RFB-640.onnx` on the command line or "
            '`weights="/path/to/version-RFB-640.onnx"` in Python (the file is '
            "models/onnx/version-RFB-640.onnx of github.com/Linzaer/"
            "Ultra-Light-Fast-Generic-Face-Detector-1MB)"
        ) from err


def _shipped_facts_for(model, weights, runtime, score_threshold, iou_threshold, class_name):
    """The shipped TFLite file's facts when ``runtime`` picks it for these options, else None.

    ``"auto"`` takes the file for the default model and weights whenever it gives the Keras
    path's detections (:func:`kssd_zoo.sticker.runtime.tflite_mismatch`); ``"tflite"`` insists.
    """
    if runtime == "keras":
        return None
    default = (model is None and weights in (None, DEFAULT_WEIGHTS)) or (
        model == DEFAULT_MODEL and weights == DEFAULT_WEIGHTS
    )
    facts = shipped_facts() if default else None
    problem = (
        "it runs the default detector only (no --model / --weights)"
        if not default
        else "its files are not installed"
        if facts is None
        else tflite_mismatch(facts, score_threshold, iou_threshold, class_name)
    )
    if problem is None:
        return facts
    if runtime == "tflite":
        raise ValueError(f"runtime 'tflite' cannot be used: {problem}; use runtime 'auto' or 'keras'")
    return None


class SSDFaceDetector:
    """Run a zoo SSD on RGB images of any size; returns face boxes in the image's pixels.

    Args:
        model: None (UltraFace-RFB), a zoo model name, a ``.keras`` path or a Keras model.
        weights: None (the ``ultraface_rfb_640`` preset for the default model), a file or a preset.
        class_name: class to keep for multi-class models, default None (``face``, or the only class).
        long_side: run at this long side in pixels, default None (the image's own size up to
            ``max_side``). Ignored by models that only run at their spec size.
        max_side: largest long side when ``long_side`` is None, default 2048.
        score_threshold: default None = the model's spec (0.7 for UltraFace).
        iou_threshold: NMS IoU, default None = the model's spec.
        multiscale: add a coarse pass at 640 px for pictures run above 800 px, default True.
        passes: ``"auto"`` (native + the trained size for fully convolutional models, default)
            or ``"native"`` (native only, plus the coarse pass); fixed-size models always run
            once at their own size.
        nested_containment: drop a box with at least this fraction of its area inside a
            larger detection scoring at least half as much (a second box on one face, which
            NMS keeps), default 0.75; None keeps them (see
            :func:`kssd.inference.passes.suppress_nested`).
        quality: ``"fast"`` (default, no extra pass), ``"balanced"`` (the native pass also on the
            mirrored photo) or ``"best"`` (also an up-scaled x2 pass, mirrored too, for faces
            under the smallest anchor); see :data:`QUALITY` and ``benchmarks/bench_faces.py``.
        runtime: ``"auto"`` (default: the shipped TFLite file of the default detector whenever
            it gives the Keras path's detections, else Keras), ``"keras"`` or ``"tflite"``
            (an error where the file cannot be used); see :mod:`kssd_zoo.sticker.runtime`.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.detection import SSDFaceDetector
        >>> det = SSDFaceDetector("tiny_ssd", class_name="circle", score_threshold=0.99)
        >>> det(np.zeros((100, 150, 3), np.uint8))["boxes"].shape
        (0, 4)
    """

    name = "ssd"

    def __init__(
        self,
        model=None,
        weights=None,
        *,
        class_name=None,
        long_side=None,
        max_side=2048,
        score_threshold=None,
        iou_threshold=None,
        multiscale=True,
        passes="auto",
        nested_containment=0.75,
        quality="fast",
        runtime="auto",
    ):
        if quality not in QUALITY:
            raise ValueError(f"quality must be one of {', '.join(QUALITY)}; got {quality!r}")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
        facts = _shipped_facts_for(model, weights, runtime, score_threshold, iou_threshold, class_name)
        if facts is not None:
            self.model = None
            self.runner = TFLiteRunner()
            class_names, post = facts["class_names"], facts
            trained, native, min_sizes = facts["input_size"], True, facts["anchors"]["min_sizes"]
        else:
            from kssd.inference.passes import runs_native

            self.model = _load_face_model(model, weights)
            class_names = list(getattr(self.model, "class_names", None) or [])
            post = dict(getattr(self.model, "postprocess", None) or {})
            trained, native = getattr(self.model, "input_size", None), runs_native(self.model)
            min_sizes = self.model.anchor_config.get("min_sizes") or []
            # Fully convolutional: each image at its own (scaled) size; else letterboxed into the spec's.
            self.runner = KerasRunner(self.model, None if native else "spec")
        self.runtime = self.runner.name
        self.class_id = _class_index(getattr(self.model, "name", DEFAULT_MODEL), class_names, class_name)
        self.num_classes = max(len(class_names), 1)
        self.score_threshold = float(
            score_threshold if score_threshold is not None else post.get("score_threshold", 0.5)
        )
        self.iou_threshold = float(
            iou_threshold if iou_threshold is not None else post.get("iou_threshold", 0.4)
        )
        self.max_detections = int(post.get("max_detections", 200))
        self.long_side = None if long_side is None else int(long_side)
        self.max_side = int(max_side)
        self.multiscale = bool(multiscale)
        self.nested_containment = None if nested_containment is None else float(nested_containment)
        if passes not in ("auto", "native"):
            raise ValueError(f'passes must be "auto" or "native", got {passes!r}')
        self.input_size = None if native else "spec"
        self.trained_size = tuple(trained) if trained else None
        self.trained_side = max(trained) if passes == "auto" and trained and native else None
        if not native:
            h, w = trained
            self.policy = f"trained size {h}x{w} (fixed-size model)"
        else:
            self.policy = "native" + (" + trained size" if self.trained_side else "") + f" ({passes})"
        self.quality = quality
        self.policy += f", quality {quality}, runtime {self.runtime}"
        # pixel-sized anchors (UltraFace's min_sizes) bound what the up-scaled pass keeps
        sizes = [v for level in min_sizes for v in level]
        self.smallest_anchor = float(min(sizes)) if sizes and native else None

    def run_sizes(self, image_shape):
        """Long sides the detector runs at for an image of ``image_shape`` (h, w, ...), before
        the ``quality`` passes (see :meth:`plan`).

        Models that only run at their spec size run once (the image is letterboxed).
        """
        native = max(image_shape[0], image_shape[1])
        if self.input_size == "spec":
            return [max(self.trained_size)]
        main = self.long_side if self.long_side is not None else min(native, self.max_side)
        sizes = [int(main)]
        if self.trained_side and abs(main - self.trained_side) > 0.25 * self.trained_side:
            sizes.append(int(self.trained_side))
        if self.multiscale and main > MULTISCALE_ABOVE and COARSE_LONG_SIDE not in sizes:
            sizes.append(COARSE_LONG_SIDE)
        return sizes

    def plan(self, image_shape):
        """Every :class:`Pass` run on an image of ``image_shape``, in order (the first is native)."""
        sizes = self.run_sizes(image_shape)
        passes = [Pass(sizes[0])]
        for side in sizes[1:]:
            weight = TRAINED_PASS_WEIGHT if self.trained_side and side == self.trained_side else 1.0
            passes.append(Pass(side, weight=weight))
        options = QUALITY[self.quality]
        if options["flip"]:
            passes.insert(1, Pass(sizes[0], flip=True))
        if options["upscale"] and self.input_size is None and self.smallest_anchor is not None:
            # Faces the native pass sees under its smallest anchor: run x2 and keep only boxes
            # that stay small there, where the other passes are not better placed.
            side = int(round(sizes[0] * options["upscale"]))
            limit = SMALL_FACE_ANCHORS * self.smallest_anchor
            passes += [Pass(side, max_box=limit)] + (
                [Pass(side, True, max_box=limit)] if options["flip"] else []
            )
        return passes

    def _run_at(self, image, long_side, flip=False):
        """(boxes, scores) of one run at ``long_side`` (mirrored when ``flip``), in ``image``'s pixels."""
        import cv2

        if flip:
            image = np.ascontiguousarray(image[:, ::-1])
        height, width = image.shape[:2]
        rh, rw = height, width
        if self.input_size is None:
            scale = float(long_side) / max(height, width)
            rh, rw = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
            if (rh, rw) != (height, width):
                image = cv2.resize(
                    image, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                )
        # NMS is per class; room for max_detections of every class, so other classes never crowd
        # out the chosen one.
        boxes, scores, classes = self.runner(
            image,
            self.score_threshold,
            self.iou_threshold,
            self.max_detections * self.num_classes,
            self.max_detections,
        )
        keep = classes == self.class_id
        boxes = boxes[keep] * np.array([width / rw, height / rh] * 2, np.float32)
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        if flip:
            boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
        return boxes.reshape(-1, 4), scores[keep]

    def __call__(self, image):
        """Faces in a uint8 RGB image: dict ``boxes`` (N, 4) xyxy pixels, ``scores`` (N,)."""
        image = np.asarray(image)
        height, width = image.shape[:2]
        runs = []
        for run in self.plan(image.shape):
            boxes, scores = self._run_at(image, run.long_side, run.flip)
            if run.max_box is not None:
                # the box's size in the pass's pixels
                side = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) * run.long_side / max(height, width)
                small = side < run.max_box
                boxes, scores = boxes[small], scores[small]
            runs.append((boxes, scores * run.weight))
        boxes = np.concatenate([b for b, _ in runs]).reshape(-1, 4)
        scores = np.concatenate([s for _, s in runs]).reshape(-1)
        if len(runs) > 1 and len(boxes):
            # The trained-size pass ranks below native where both see a face (measured on WIDER:
            # AP 0.642 unweighted, 0.665 at TRAINED_PASS_WEIGHT with the RFB-320 weights). A fixed
            # limit (every run's most detections): one compiled NMS for all images.
            boxes, scores, _ = merge_detections(
                boxes, scores, self.iou_threshold, max_detections=self.max_detections * len(runs)
            )
        if self.nested_containment is not None and len(boxes) > 1:
            keep = suppress_nested(boxes, scores, self.nested_containment)
            boxes, scores = boxes[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")
        return {"boxes": boxes[order].astype(np.float32), "scores": scores[order].astype(np.float32)}


class DlibHogDetector:
    """dlib's frontal-face HOG detector; returns boxes in pixels and the detector's SVM scores.

    Args:
        upsample: times the image is upsampled before detection (finds faces down to about
            80 / 2**upsample px), default 1.
        threshold: detection threshold (dlib's ``adjust_threshold``), default 0.0.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker.detection import DlibHogDetector
        >>> DlibHogDetector(upsample=0)(np.zeros((64, 64, 3), np.uint8))["boxes"].shape
        (0, 4)
    """

    name = "dlib-hog"

    def __init__(self, upsample=1, threshold=0.0):
        try:
            import dlib
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the dlib-hog detector needs dlib: pip install dlib-bin") from err
        self._detector = dlib.get_frontal_face_detector()
        self.upsample = int(upsample)
        self.threshold = float(threshold)

    def __call__(self, image):
        image = np.ascontiguousarray(np.asarray(image, np.uint8))
        rects, scores, _ = self._detector.run(image, self.upsample, self.threshold)
        height, width = image.shape[:2]
        boxes = np.array(
            [[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32
        ).reshape(-1, 4)
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        return {"boxes": boxes, "scores": np.asarray(scores, np.float32).reshape(-1)}


def make_detector(detector="ssd", model=None, weights=None, **kwargs):
    """A face detector callable from a ``--detector`` choice.

    Args:
        detector: ``"ssd"`` (default, a zoo model), ``"dlib-hog"``, or any callable
            ``image -> {"boxes", "scores"}``.
        model, weights: for ``"ssd"`` (see :class:`SSDFaceDetector`).
        **kwargs: forwarded to the detector class (``long_side``, ``class_name``,
            ``score_threshold``, ``upsample``, ...); None values are dropped.

    Returns:
        A callable detector.

    Examples:
        >>> from kssd_zoo.sticker.detection import make_detector
        >>> make_detector("dlib-hog").name
        'dlib-hog'
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if callable(detector):
        return detector
    if detector == "ssd":
        kwargs.pop("upsample", None)
        return SSDFaceDetector(model, weights, **kwargs)
    if detector in ("dlib-hog", "dlib", "hog"):
        allowed = {k: kwargs[k] for k in ("upsample", "threshold") if k in kwargs}
        return DlibHogDetector(**allowed)
    raise ValueError(f"detector must be 'ssd' or 'dlib-hog'; got {detector!r}")
