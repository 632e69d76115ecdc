"""Face detectors for the sticker application: the zoo's SSDs at any image size, and dlib's HOG.

:class:`SSDFaceDetector` runs a zoo detector through :func:`kssd.inference.detect` (an RGB uint8
image in, boxes in its pixels out), with the input-size policy of :mod:`kssd.inference.passes`:

1. A fully convolutional model (``dynamic`` spec with step-based anchors, e.g. UltraFace) runs
   at the photo's own size (shrunk only above ``max_side`` = 2048, or at ``long_side``): the
   image is padded at the bottom/right to a multiple of the largest stride, so small faces keep
   their pixels. With ``passes="auto"`` (default) it also runs at its trained size (long side
   of ``model.input_size``, e.g. 320 px), where a model trained on little data finds the faces
   it knows (its scores scaled by ``TRAINED_PASS_WEIGHT`` = 0.7, so where both passes see a
   face the native box wins), and a picture processed above 800 px also gets a coarse pass at 640 px (the
   largest UltraFace anchors are 256 px, so big faces in big photos are found there).
   A model that cannot run at other sizes gets the image letterboxed into its own input size.
2. Only the chosen class (``face``, or the only class) is kept; boxes are in the image's pixels.
3. The passes are merged by kssd's NMS (:func:`kssd.inference.merge_detections`), and a box
   nested inside a larger detection (a second box on one face) is dropped
   (:func:`kssd.inference.passes.suppress_nested`).

Examples:
    >>> from kssd_zoo.sticker.detection import SSDFaceDetector
    >>> det = SSDFaceDetector()  # UltraFace-RFB with its shipped weights
    >>> det.run_sizes((480, 640, 3)), det.run_sizes((1080, 1920, 3)), det.policy
    ([640, 320], [1920, 320, 640], 'native + trained size (auto)')
"""

import numpy as np

from kssd.inference.passes import merge_detections, suppress_nested

DEFAULT_MODEL = "ultraface_rfb"
DEFAULT_WEIGHTS = "ultraface_rfb_320"
COARSE_LONG_SIDE = 640
MULTISCALE_ABOVE = 800
#: Scores of the trained-size pass are scaled by this before the passes merge.
TRAINED_PASS_WEIGHT = 0.7


class WeightsUnavailableError(RuntimeError):
    """The default face detector's weights could not be downloaded (e.g. offline)."""


def _class_index(model, class_name):
    """1-based class id to put stickers on."""
    names = list(getattr(model, "class_names", None) or [])
    if class_name is None:
        if "face" in names:
            return names.index("face") + 1
        if len(names) <= 1:
            return 1
        raise ValueError(
            f"model {model.name!r} detects {len(names)} classes ({', '.join(names)}): choose the one "
            "to put stickers on with --class NAME / class_name=NAME"
        )
    if isinstance(class_name, int) or (isinstance(class_name, str) and class_name.isdigit()):
        index = int(class_name)
        if not 1 <= index <= max(len(names), 1):
            raise ValueError(f"class id {index} out of range 1..{len(names)} for model {model.name!r}")
        return index
    if class_name not in names:
        raise ValueError(
            f"class {class_name!r} is not detected by model {model.name!r}; its classes: {', '.join(names)}"
        )
    return names.index(class_name) + 1


def _load_face_model(model, weights):
    """:func:`kssd_zoo.load` with the sticker's default (UltraFace-RFB and its preset).

    A failed download of the weights raises :class:`WeightsUnavailableError`, whose message says
    how to pass a local file.
    """
    from kssd_zoo.loading import load
    from kssd_zoo.weights.download import FetchError

    if model is None:
        model = DEFAULT_MODEL
        if weights is None:
            weights = DEFAULT_WEIGHTS
    try:
        return load(model, weights, for_inference=True)
    except FetchError as err:
        raise WeightsUnavailableError(
            f"could not download the face detector weights {weights!r} ({err}). Pass a local copy: "
            "`kssd sticker ... --weights /path/to/version-RFB-320.onnx` on the command line or "
            '`weights="/path/to/version-RFB-320.onnx"` in Python (the file is '
            "models/onnx/version-RFB-320.onnx of github.com/Linzaer/"
            "Ultra-Light-Fast-Generic-Face-Detector-1MB)"
        ) from err


class SSDFaceDetector:
    """Run a zoo SSD on RGB images of any size; returns face boxes in the image's pixels.

    Args:
        model: None (UltraFace-RFB), a zoo model name, a ``.keras`` path or a Keras model.
        weights: None (the ``ultraface_rfb_320`` preset for the default model), a file or a preset.
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
    ):
        from kssd.inference.passes import runs_native

        self.model = _load_face_model(model, weights)
        self.class_id = _class_index(self.model, class_name)
        self.num_classes = max(len(getattr(self.model, "class_names", None) or []), 1)
        post = dict(getattr(self.model, "postprocess", None) or {})
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
        # Fully convolutional: each image at its own (scaled) size; else letterboxed into the spec's.
        self.input_size = None if runs_native(self.model) else "spec"
        trained = getattr(self.model, "input_size", None)
        self.trained_side = max(trained) if passes == "auto" and trained and self.input_size is None else None
        if self.input_size == "spec":
            h, w = self.model.input_size
            self.policy = f"trained size {h}x{w} (fixed-size model)"
        else:
            self.policy = "native" + (" + trained size" if self.trained_side else "") + f" ({passes})"

    def run_sizes(self, image_shape):
        """Long sides the detector runs at for an image of ``image_shape`` (h, w, ...).

        Models that only run at their spec size run once (the image is letterboxed).
        """
        native = max(image_shape[0], image_shape[1])
        if self.input_size == "spec":
            return [max(self.model.input_size)]
        main = self.long_side if self.long_side is not None else min(native, self.max_side)
        sizes = [int(main)]
        if self.trained_side and abs(main - self.trained_side) > 0.25 * self.trained_side:
            sizes.append(int(self.trained_side))
        if self.multiscale and main > MULTISCALE_ABOVE:
            sizes.append(COARSE_LONG_SIDE)
        return sizes

    def _run_at(self, image, long_side):
        import cv2

        from kssd.inference import detect

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
        found = detect(
            self.model,
            image,
            score_threshold=self.score_threshold,
            iou_threshold=self.iou_threshold,
            max_detections=self.max_detections * self.num_classes,
            max_detections_per_class=self.max_detections,
            input_size=self.input_size,
        )[0]
        keep = found["classes"] == self.class_id
        boxes = found["boxes"][keep] * np.array([width / rw, height / rh] * 2, np.float32)
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        return boxes, found["scores"][keep]

    def __call__(self, image):
        """Faces in a uint8 RGB image: dict ``boxes`` (N, 4) xyxy pixels, ``scores`` (N,)."""
        image = np.asarray(image)
        sizes = self.run_sizes(image.shape)
        runs = [self._run_at(image, long_side) for long_side in sizes]
        if self.trained_side and len(sizes) > 1 and sizes[1] == self.trained_side:
            # The native pass is trusted first: the trained-size pass ranks below it (measured
            # on WIDER: AP 0.642 unweighted, 0.665 at this weight = native alone, which the
            # extra pass then completes for models that only know their trained scale).
            runs[1] = (runs[1][0], runs[1][1] * TRAINED_PASS_WEIGHT)
        boxes = np.concatenate([b for b, _ in runs]).reshape(-1, 4)
        scores = np.concatenate([s for _, s in runs]).reshape(-1)
        if len(runs) > 1 and len(boxes):
            # A fixed limit (every run's most detections): one compiled NMS for all images.
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
