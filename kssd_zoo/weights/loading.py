"""``load_weights(model, weights)``: one entry point for every kind of pretrained weights.

``weights`` may be None (nothing to do), a file path or a preset name:

* ``*.onnx``: converted on load (UltraFace files, :mod:`kssd_zoo.weights.ultraface`).
* ``*.weights.h5`` / ``*.h5`` / ``*.keras``: Keras weights. The file's variables are checked
  against the model first, so a file saved from another architecture fails with the first
  mismatching layer and both shapes, and the model is left untouched.
* a preset name (:data:`kssd_zoo.weights.PRESETS`): the weights shipped in the package when the
  preset has them (``ultraface_rfb_320``), else downloaded once into the cache (checked by
  sha256) and loaded as above. Offline, pass the file's path instead.

Examples:
    >>> import kssd_zoo
    >>> from kssd_zoo.weights import load_weights
    >>> model = kssd_zoo.build("ultraface_slim", compile=False)
    >>> load_weights(model, None) is model
    True
"""

import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

from kssd_zoo.weights.download import fetch
from kssd_zoo.weights.presets import PRESETS, get_preset

KERAS_SUFFIXES = (".weights.h5", ".h5", ".keras")


def load_weights(model, weights):
    """Load ``weights`` into ``model`` (in place) and return the model.

    Args:
        model: a built Keras model (a kssd_zoo ``Detector`` for ``.onnx`` files and presets).
        weights: None; a path to ``.onnx``, ``.weights.h5``, ``.h5`` or ``.keras``; or a preset
            name such as ``"ultraface_rfb_320"`` (see :data:`kssd_zoo.weights.PRESETS`).

    Returns:
        ``model``.

    Raises:
        FileNotFoundError: a path that does not exist.
        KeyError: an unknown preset name (listing the known ones).
        ValueError: the weights do not fit the model, naming the first mismatching layer and
            both shapes (nothing is loaded then), or an unsupported file type.
        kssd_zoo.weights.download.FetchError: a preset could not be downloaded (the message
            says how to pass a local copy).

    Examples:
        >>> import kssd_zoo, tempfile
        >>> from kssd_zoo.weights import load_weights
        >>> a = kssd_zoo.build("ultraface_slim", compile=False)
        >>> path = tempfile.mkdtemp() + "/slim.weights.h5"
        >>> a.save_weights(path)
        >>> b = load_weights(kssd_zoo.build("ultraface_slim", compile=False), path)
        >>> bool((b.get_layer("stem_conv").get_weights()[0] == a.get_layer("stem_conv").get_weights()[0]).all())
        True
    """
    if weights is None:
        return model
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"`weights` must be None, a file path or a preset name ({', '.join(sorted(PRESETS))}); "
            f"got {type(weights).__name__}"
        )
    text = os.fspath(weights)
    path = Path(text).expanduser()
    if path.is_file():
        return load_weights_file(model, path)
    if text in PRESETS:
        return load_preset(model, text)
    if os.sep in text or "/" in text or text.endswith((".onnx",) + KERAS_SUFFIXES):
        raise FileNotFoundError(f"weights={text!r}: no such file")
    get_preset(text)  # raises KeyError naming the known presets and close matches
    raise AssertionError("unreachable")


def load_preset(model, name, *, cache_dir=None):
    """Load the preset ``name``: its shipped file, else downloaded once.

    Args:
        model: the Detector to load into (the preset's ``model``, e.g. ``ultraface_rfb``).
        name: a key of :data:`kssd_zoo.weights.PRESETS`.
        cache_dir: cache directory, default None (``$KSSD_CACHE`` or ``~/.keras/kssd``).

    Returns:
        ``model``.

    Examples:
        >>> from kssd_zoo.weights.loading import load_preset
        >>> load_preset.__name__
        'load_preset'
    """
    preset = get_preset(name)
    spec = getattr(model, "spec", None)
    if isinstance(spec, dict) and spec.get("name") not in (None, preset["model"]):
        warnings.warn(
            f"weights preset {name!r} is for model {preset['model']!r}, loading into {spec.get('name')!r}",
            stacklevel=2,
        )
    size = getattr(model, "input_size", None)
    if size is not None and tuple(size) != tuple(preset["input_shape"][:2]):
        warnings.warn(
            f"weights preset {name!r} was trained at {tuple(preset['input_shape'][:2])} but the "
            f"model's input is {tuple(size)}; build it with "
            f"**kssd_zoo.weights.PRESETS[{name!r}]['build_overrides'] for the released anchors",
            stacklevel=2,
        )
    from kssd_zoo.weights.bundle import bundled_path

    shipped = bundled_path(name)
    if shipped is not None and shipped.is_file():
        return load_weights_file(model, shipped, file_format="keras")
    if preset["format"] == "tflite":
        from kssd_zoo.weights.tflite_import import load_tflite_preset

        return load_tflite_preset(model, preset, cache_dir=cache_dir)
    path = fetch(preset["url"], preset["sha256"], cache_dir=cache_dir, fname=preset["fname"])
    return load_weights_file(model, path, file_format=preset["format"])


def load_weights_file(model, path, *, file_format=None):
    """Load a weight file by its type (``.onnx``, ``.tflite``, ``.weights.h5``, ``.h5``, ``.keras``).

    Args:
        model: the model to load into.
        path: the file.
        file_format: ``"onnx"``, ``"tflite"`` or ``"keras"``, default None = from the file name.

    Returns:
        ``model``.

    Examples:
        >>> from kssd_zoo.weights.loading import load_weights_file
        >>> load_weights_file.__name__
        'load_weights_file'
    """
    path = Path(path)
    name = path.name.lower()
    if file_format is None:
        if name.endswith(".onnx"):
            file_format = "onnx"
        elif name.endswith(".tflite"):
            file_format = "tflite"
        elif name.endswith(KERAS_SUFFIXES):
            file_format = "keras"
        else:
            raise ValueError(
                f"weights file {str(path)!r}: unknown type; expected .onnx (UltraFace), "
                ".tflite (BlazeFace), .weights.h5, .h5 or .keras"
            )
    if file_format == "onnx":
        from kssd_zoo.weights.ultraface import convert_ultraface

        return convert_ultraface(model, path)
    if file_format == "tflite":
        from kssd_zoo.weights.tflite_import import convert_blazeface

        return convert_blazeface(model, path)
    if file_format != "keras":
        raise ValueError(f"unknown weights format {file_format!r}; expected 'onnx', 'tflite' or 'keras'")
    check_keras_weights(model, path)
    model.load_weights(str(path))
    return model


def _snake_case(name):
    # Keras keys saved layers by their class name in snake case ("DepthwiseConv2D" ->
    # "depthwise_conv2d", "ReLU" -> "re_lu"), numbered per class in model.layers order.
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _file_layers(h5):
    """{key: [shapes of vars/0, vars/1, ...]} of the top-level ``layers`` group."""
    out = {}
    group = h5.get("layers")
    if group is None:
        return out
    for key in group:
        vars_group = group[key].get("vars") if hasattr(group[key], "get") else None
        shapes = []
        if vars_group is not None:
            for idx in sorted(vars_group, key=int):
                shapes.append(tuple(vars_group[idx].shape))
        out[key] = shapes
    return out


def check_keras_weights(model, path):
    """Check a Keras weight file (``.weights.h5`` or ``.keras``) against ``model`` before loading.

    Layers are paired as Keras pairs them (model.layers order, keyed by class name), and the
    first layer whose variables differ raises.

    Args:
        model: the model to load into.
        path: ``.weights.h5`` / ``.keras`` file (legacy ``.h5`` files without a ``layers``
            group are not checked here; Keras reports their mismatches).

    Raises:
        ValueError: naming the first mismatching layer, its variable shapes and the file's.

    Examples:
        >>> import kssd_zoo, tempfile
        >>> from kssd_zoo.weights.loading import check_keras_weights
        >>> m = kssd_zoo.build("ultraface_slim", compile=False)
        >>> path = tempfile.mkdtemp() + "/m.weights.h5"
        >>> m.save_weights(path)
        >>> check_keras_weights(m, path)
    """
    import h5py

    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        h5_path = path
        if path.name.lower().endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                if "model.weights.h5" not in archive.namelist():
                    raise ValueError(f"{path}: not a Keras 3 .keras archive (no model.weights.h5 inside)")
                h5_path = Path(archive.extract("model.weights.h5", tmp))
        with h5py.File(h5_path, "r") as h5:
            saved = _file_layers(h5)
    if not saved:
        return
    keys = list(_expected_keys(model))
    for layer, key in zip(model.layers, keys):
        mine = [tuple(w.shape) for w in layer.weights]
        theirs = saved.get(key, [])
        if mine != theirs:
            raise ValueError(
                f"{path}: weights do not fit the model; first mismatching layer is {layer.name!r} "
                f"({layer.__class__.__name__}, variable shapes {mine}) but the file holds "
                f"{theirs} for it (saved as layers/{key}); the file was saved from another "
                "architecture or configuration"
            )
    expected = set(keys)
    extra = [k for k, shapes in saved.items() if shapes and k not in expected]
    if extra:
        raise ValueError(
            f"{path}: the file holds weights for layers the model does not have "
            f"(first: layers/{sorted(extra)[0]} with shapes {saved[sorted(extra)[0]]})"
        )


def _expected_keys(model):
    used = {}
    for layer in model.layers:
        base = _snake_case(layer.__class__.__name__)
        count = used.get(base, 0)
        used[base] = count + 1
        yield base if count == 0 else f"{base}_{count}"


__all__ = ["check_keras_weights", "load_preset", "load_weights", "load_weights_file"]
