"""The sticker pipeline: detect faces, find landmarks on the large ones, place and paste stickers.

Examples:
    >>> import numpy as np
    >>> from kssd_zoo.sticker import Stickerer
    >>> boxes = lambda image: {"boxes": np.array([[40, 40, 80, 90]], "float32"), "scores": np.ones(1, "float32")}
    >>> out, faces = Stickerer(detector=boxes, sticker="crown", landmarks="none")(np.zeros((128, 128, 3), "uint8"))
    >>> len(faces), faces[0]["landmarks"], faces[0]["placement"]["anchor"]
    (1, False, 'top_of_head')
"""

import os
import warnings

import numpy as np

from kssd_zoo.sticker.assets import load_sticker
from kssd_zoo.sticker.compositing import composite, premultiply
from kssd_zoo.sticker.detection import make_detector
from kssd_zoo.sticker.landmarks import resolve_predictor
from kssd_zoo.sticker.placement import frame_from_box, frame_from_landmarks, place_sticker

#: Landmark frames whose width differs from the box width by more than this factor are
#: rejected (the predictor failed on that face) and the box placement is used.
_LANDMARK_WIDTH_TOLERANCE = 2.0


def _landmark_box(box, detector_name):
    """The box handed to dlib's predictor: square, like the boxes of dlib's HOG detector.

    dlib's 68-point model expects HOG-style square boxes; SSD face boxes (WIDER style) are
    taller, so they are squared on their width around their centre (measured on rotated
    astronaut photos, this keeps the roll within a few degrees; a bottom-aligned square lost
    up to half of a 20 degree roll).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if detector_name == "dlib-hog":
        return (x1, y1, x2, y2)
    half = (x2 - x1) / 2.0
    cy = (y1 + y2) / 2.0
    return (x1, cy - half, x2, cy + half)


class Stickerer:
    """Put a sticker on every face of an image.

    Args:
        detector: ``"ssd"`` (default: a zoo detector, UltraFace-RFB unless ``model`` says
            otherwise), ``"dlib-hog"``, or a callable ``image -> {"boxes", "scores"}``.
        model: zoo model name, ``.keras`` path or Keras model for ``"ssd"``, default None
            (UltraFace-RFB).
        weights: weight file or preset, default None (the ``ultraface_rfb_640`` preset for the
            default model, downloaded once).
        sticker: built-in name, PNG path, RGBA array or Sticker, default ``"crown"``.
        anchor: face point for the sticker (``top_of_head``, ``forehead``, ``eyes``, ``nose``),
            default None (the sticker's own).
        width_ratio: sticker width / face width, default None (the sticker's own).
        landmarks: ``"68"`` (default), ``"5"``, a ``.dat`` path, ``"none"`` or a callable
            ``(image, box) -> (K, 2)``.
        min_landmark_size: faces whose box is at least this many pixels on its short side get
            landmarks; smaller ones are placed from the box, default 40.
        class_name: class to sticker for multi-class detectors, default None.
        long_side: detection resolution (long side in px), default None (the image's own size).
        score_threshold: detection threshold, default None (the model's).
        on_missing_alpha: sticker PNG without alpha: ``"white"`` (default), ``"opaque"``, ``"error"``.
        **detector_kwargs: more options for the detector (``max_side``, ``multiscale``, ``upsample``).

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.sticker import Stickerer
        >>> one = lambda image: {"boxes": np.array([[10, 30, 50, 80]], "float32"), "scores": np.ones(1, "float32")}
        >>> st = Stickerer(detector=one, sticker="sunglasses", landmarks="none")
        >>> st(np.zeros((100, 100, 3), "uint8"))[1][0]["placement"]["centre"]
        [30.0, 50.0]
    """

    def __init__(
        self,
        detector="ssd",
        *,
        model=None,
        weights=None,
        sticker="crown",
        anchor=None,
        width_ratio=None,
        landmarks="68",
        min_landmark_size=40,
        class_name=None,
        long_side=None,
        score_threshold=None,
        on_missing_alpha="white",
        **detector_kwargs,
    ):
        if model is not None and detector in ("dlib-hog", "dlib", "hog"):
            raise ValueError("`model` is for detector='ssd'; the dlib-hog detector takes no model")
        self.detector = make_detector(
            detector,
            model,
            weights,
            class_name=class_name,
            long_side=long_side,
            score_threshold=score_threshold,
            **detector_kwargs,
        )
        self.detector_name = getattr(self.detector, "name", "custom")
        self.sticker = load_sticker(
            sticker, anchor=anchor, width_ratio=width_ratio, on_missing_alpha=on_missing_alpha
        )
        self._premultiplied = premultiply(self.sticker.rgba)
        self.landmarks = resolve_predictor(landmarks)
        self.min_landmark_size = float(min_landmark_size)

    def detect(self, image):
        """Face boxes and scores of a uint8 RGB image (the detector's output)."""
        return self.detector(image)

    def _frame(self, image, box):
        x1, y1, x2, y2 = (float(v) for v in box)
        if self.landmarks is not None and min(x2 - x1, y2 - y1) >= self.min_landmark_size:
            try:
                points = self.landmarks(image, _landmark_box(box, self.detector_name))
                frame = frame_from_landmarks(points)
            except ValueError as err:
                warnings.warn(
                    f"landmarks failed on face {list(map(float, box))}: {err}; using the box", stacklevel=3
                )
            else:
                ratio = frame.width / max(x2 - x1, 1e-6)
                if 1.0 / _LANDMARK_WIDTH_TOLERANCE <= ratio <= _LANDMARK_WIDTH_TOLERANCE:
                    return frame
        return frame_from_box(box)

    def __call__(self, image, detections=None):
        """Stickers on every face of ``image``.

        Args:
            image: uint8 (H, W, 3) RGB (other dtypes are clipped to 0..255).
            detections: precomputed ``{"boxes", "scores"}``, default None (run the detector).

        Returns:
            ``(composited, faces)``: uint8 RGB image and a list, one dict per face, with
            ``box`` (xyxy px), ``score``, ``landmarks`` (bool) and ``placement`` (centre,
            scale, angle, anchor, source, width).
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"`image` must be RGB with shape (H, W, 3); got {image.shape}")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        image = np.ascontiguousarray(image)
        found = self.detect(image) if detections is None else detections
        boxes = np.asarray(found["boxes"], np.float32).reshape(-1, 4)
        scores = np.asarray(found.get("scores", np.ones(len(boxes))), np.float32).reshape(-1)
        out = image.copy()
        faces = []
        for box, score in zip(boxes, scores):
            frame = self._frame(image, box)
            placement = place_sticker(self.sticker, frame)
            composite(out, self.sticker, placement, out=out, premultiplied=self._premultiplied)
            faces.append(
                {
                    "box": [round(float(v), 2) for v in box],
                    "score": round(float(score), 4),
                    "landmarks": frame.source == "landmarks",
                    "placement": placement.to_dict(),
                }
            )
        return out, faces

    apply = __call__


_CACHE = {}


def _cache_key(detector, model, weights, kwargs):
    def key_of(value):
        if value is None or isinstance(value, (str, int, float, bool, tuple)):
            return value
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return ("id", id(value))

    items = tuple(sorted((k, key_of(v)) for k, v in kwargs.items()))
    return (key_of(detector), key_of(model), key_of(weights), items)


def sticker(image, model=None, sticker="crown", *, weights=None, detector="ssd", landmarks="68", **kwargs):
    """Put ``sticker`` on every face of ``image`` and return the picture and the placements.

    The Stickerer built for a set of arguments is cached, so repeated calls reuse the loaded
    detector.

    Args:
        image: uint8 RGB array (H, W, 3) or an image file path.
        model: None (UltraFace-RFB face SSD), a zoo model name, a ``.keras`` path or a Keras
            model (any zoo detector; multi-class models take ``class_name=``), default None.
        sticker: built-in name, PNG path, RGBA array or Sticker, default ``"crown"``.
        weights: weight file or preset, default None (``ultraface_rfb_640`` for the default model).
        detector: ``"ssd"`` (default) or ``"dlib-hog"``.
        landmarks: ``"68"`` (default), ``"5"``, a path or ``"none"``.
        **kwargs: more :class:`Stickerer` options (``anchor``, ``width_ratio``, ``long_side``,
            ``class_name``, ``min_landmark_size``, ``score_threshold``, ...).

    Returns:
        ``(image, faces)``: the uint8 RGB result and one dict per face (see
        :meth:`Stickerer.__call__`).

    Examples:
        >>> import skimage.data, kssd_zoo
        >>> out, faces = kssd_zoo.sticker(skimage.data.astronaut(), sticker="party_hat",
        ...     weights="/work/shared/models/ultraface/version-RFB-320.onnx")  # doctest: +SKIP
        >>> len(faces)  # doctest: +SKIP
        1
    """
    if isinstance(image, (str, os.PathLike)):
        from kssd.data.images import read_image

        image = read_image(image)
    key = _cache_key(detector, model, weights, dict(kwargs, sticker=sticker, landmarks=landmarks))
    stickerer = _CACHE.get(key)
    if stickerer is None:
        stickerer = Stickerer(
            detector, model=model, weights=weights, sticker=sticker, landmarks=landmarks, **kwargs
        )
        _CACHE.clear()  # keep one: detectors hold models
        _CACHE[key] = stickerer
    return stickerer(image)
