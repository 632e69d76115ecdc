"""Face landmarks with dlib's shape predictor (68-point or 5-point), found without a hard dependency.

The predictor files come from, in order: an explicit path; the ``face_recognition_models`` package
(installed by ``pip install "kssd[sticker]"``: it ships both dlib models); the
environment variable ``KSSD_DLIB_LANDMARKS_68`` / ``KSSD_DLIB_LANDMARKS_5``. When none is found,
:func:`resolve_predictor` warns and returns None, and stickers are placed from the boxes alone.

Licences of the predictor files (see docs/guides/stickers.md): dlib's code is under the Boost
Software License. The 68-point model ``shape_predictor_68_face_landmarks.dat`` was trained on
the iBUG 300-W dataset, whose licence excludes commercial use, so the model is not for
commercial products without your own legal check. The 5-point model
``shape_predictor_5_face_landmarks.dat`` was trained on dlib's own 5-point dataset (7198 faces
annotated by dlib's author), and the dlib-models README puts the model files in the public domain.

Examples:
    >>> from kssd_zoo.sticker.landmarks import resolve_predictor
    >>> resolve_predictor("none") is None
    True
"""

import os
import warnings
from pathlib import Path

import numpy as np

_FILES = {"68": "shape_predictor_68_face_landmarks.dat", "5": "shape_predictor_5_face_landmarks.dat"}
_ENV = {"68": "KSSD_DLIB_LANDMARKS_68", "5": "KSSD_DLIB_LANDMARKS_5"}


def find_predictor_file(kind="68"):
    """Path of dlib's ``kind``-point predictor from ``face_recognition_models`` or the environment.

    Args:
        kind: ``"68"`` or ``"5"``, default ``"68"``.

    Returns:
        ``pathlib.Path`` or None when not found.

    Examples:
        >>> from kssd_zoo.sticker.landmarks import find_predictor_file
        >>> find_predictor_file("68") is None or find_predictor_file("68").suffix == ".dat"
        True
    """
    kind = str(kind)
    if kind not in _FILES:
        raise ValueError(f"landmark model kind must be '68' or '5'; got {kind!r}")
    env = os.environ.get(_ENV[kind])
    if env and Path(env).is_file():
        return Path(env)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the package imports the deprecated pkg_resources
            import face_recognition_models
    except ImportError:
        return None
    path = Path(face_recognition_models.__file__).resolve().parent / "models" / _FILES[kind]
    return path if path.is_file() else None


class LandmarkPredictor:
    """dlib's shape predictor: (image, face box) -> (K, 2) landmark pixels.

    Args:
        path: the ``.dat`` file (68 or 5 points).

    Attributes:
        path: the file; ``num_points``: 68 or 5 (known after the first call).

    Examples:
        >>> from kssd_zoo.sticker.landmarks import LandmarkPredictor, find_predictor_file
        >>> path = find_predictor_file("5")
        >>> LandmarkPredictor(path).path == path if path else True
        True
    """

    def __init__(self, path):
        import dlib

        self.path = Path(path)
        try:
            self._predictor = dlib.shape_predictor(str(self.path))
        except RuntimeError as err:
            raise ValueError(f"landmark model {self.path}: dlib could not load it ({err})") from err
        self.num_points = None

    def __call__(self, image, box):
        """Landmarks of the face in ``box`` (xyxy pixels) of the uint8 RGB ``image``.

        Returns:
            float64 (K, 2) array of (x, y) pixels.
        """
        import dlib

        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        shape = self._predictor(np.ascontiguousarray(image), dlib.rectangle(x1, y1, x2, y2))
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        self.num_points = len(points)
        return points


def resolve_predictor(landmarks="68"):
    """A :class:`LandmarkPredictor`, or None (box placement), from a ``--landmarks`` value.

    Args:
        landmarks: ``"68"`` (default), ``"5"``, a path to a ``.dat`` file, ``"none"``/None, or a
            ready predictor (any callable ``(image, box) -> (K, 2)``).

    Returns:
        A predictor, or None when ``landmarks`` is ``"none"`` or the model file is missing
        (with a warning saying how to install it).

    Raises:
        FileNotFoundError: an explicit path that does not exist.

    Examples:
        >>> from kssd_zoo.sticker.landmarks import resolve_predictor
        >>> resolve_predictor(None) is None
        True
    """
    if landmarks is None or (isinstance(landmarks, str) and landmarks.lower() == "none"):
        return None
    if callable(landmarks):
        return landmarks
    text = os.fspath(landmarks)
    if text in _FILES:
        path = find_predictor_file(text)
        if path is None:
            warnings.warn(
                f"dlib's {text}-point landmark model was not found: stickers are placed from the face "
                'boxes alone; for landmarks, pip install "kssd[sticker]" (or pass the path of '
                f"{_FILES[text]} with --landmarks PATH)",
                stacklevel=2,
            )
            return None
        try:
            import dlib  # noqa: F401
        except ImportError:
            warnings.warn(
                'dlib is not installed: stickers are placed from the face boxes alone; for landmarks, pip install "kssd[sticker]"',
                stacklevel=2,
            )
            return None
        return LandmarkPredictor(path)
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"landmarks={text!r}: no such file (expected '68', '5', 'none' or the path of a dlib "
            "shape predictor .dat file)"
        )
    return LandmarkPredictor(path)
