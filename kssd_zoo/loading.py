"""``kssd_zoo.load``: one way to get a detector from a name, a file or a spec.

The command line (``kssd train/evaluate/predict/export/data/sticker``), the training and
evaluation helpers and the sticker application all load their models through :func:`load`.

Examples:
    >>> import kssd_zoo
    >>> kssd_zoo.load("tiny_ssd").name
    'tiny_ssd'
"""

import os
import warnings

import keras

from kssd_zoo.registry import UnknownModelError, build
from kssd_zoo.weights import load_weights


def load(name_or_path, weights=None, *, compile=False, for_inference=False, **overrides):
    """A detector from a zoo model name, a YAML spec, a ``.keras`` file or a Keras model.

    Args:
        name_or_path: what to load:

            * a zoo model name (see :func:`kssd_zoo.list_models`), e.g. ``"face_ssd"``: built
              from its shipped spec;
            * a path to a YAML spec file, or a spec dict: built from it;
            * a path to a ``.keras`` file: loaded with ``keras.saving.load_model`` in safe mode
              (the zoo's Detector, blocks and kssd's layers are registered by ``import kssd_zoo``);
            * a ``keras.Model``: used as it is (only ``weights`` are loaded into it).
        weights: None (default: random init for names and specs, the file's own weights for
            ``.keras`` files), a weight file (``.weights.h5``, ``.h5``, ``.keras``, or an
            UltraFace ``.onnx`` file for the ``ultraface_*`` models) or a preset name such as
            ``"ultraface_rfb_320"`` (downloaded once), loaded with
            :func:`kssd_zoo.weights.load_weights`.
        compile: compile the model, default False. Names and specs are compiled with
            SSDLoss and the spec's optimizer and schedule (see :func:`kssd_zoo.build`);
            ``.keras`` files with their saved compile arguments; a given model is left as it is.
        for_inference: the model is about to detect, evaluate or be exported: a name or spec
            built without ``weights`` (random initial weights, whose detections mean nothing)
            gets a loud warning. Default False (training starts from random weights on purpose).
        **overrides: spec keys for names and specs (``num_classes``, ``input_shape``,
            ``class_names``, ``backbone_weights``, ...; see :func:`kssd_zoo.build`). A ``.keras``
            file or a model takes none.

    Returns:
        The Keras model (a :class:`kssd_zoo.Detector` unless a ``.keras`` file or model of
        another class was given).

    Raises:
        kssd_zoo.UnknownModelError: an unknown model name (a ``KeyError`` and a
            ``ValueError``); the message suggests close matches and lists the known models.
        FileNotFoundError: a ``.keras`` file, YAML spec or weight file that does not exist.
        ValueError: overrides for a ``.keras`` file or a model, or weights that do not fit
            the model (naming the first mismatching layer).
        kssd_zoo.SpecError: an invalid spec or invalid overrides.
        kssd_zoo.weights.FetchError: a weights preset could not be downloaded.

    Examples:
        >>> import os, tempfile, kssd_zoo
        >>> model = kssd_zoo.load("tiny_ssd", num_classes=2)
        >>> model.class_names
        ['class_1', 'class_2']
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
        >>> model.save(path)
        >>> kssd_zoo.load(path).class_names
        ['class_1', 'class_2']
    """
    if isinstance(name_or_path, keras.Model):
        _no_overrides(overrides, "a Keras model")
        return load_weights(name_or_path, weights)
    if isinstance(name_or_path, dict):
        model = build(name_or_path, weights=weights, compile=compile, **overrides)
        if for_inference and weights is None:
            _warn_untrained(model.name)
        return model
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            "load() takes a zoo model name, a YAML spec path or dict, a .keras file or a Keras "
            f"model; got {type(name_or_path).__name__}"
        )
    text = os.fspath(name_or_path)
    if text.endswith(".keras"):
        _no_overrides(overrides, f"the .keras file {text!r}")
        if not os.path.isfile(text):
            raise FileNotFoundError(f"model file {text!r} does not exist")
        try:
            model = keras.saving.load_model(text, compile=compile, safe_mode=True)
        except Exception as error:  # safe mode refusals, damaged zips, unknown classes
            reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"{text}: not a loadable kssd model file, it was not loaded ({type(error).__name__}: {reason})"
            ) from None
        return load_weights(model, weights)
    try:
        model = build(text, weights=weights, compile=compile, **overrides)
    except UnknownModelError as error:
        raise UnknownModelError(f"{error} (or give a .keras file or a YAML spec path)") from None
    if for_inference and weights is None:
        _warn_untrained(model.name)
    return model


def _warn_untrained(name):
    message = (
        f"{name} has its random initial weights (no weights were given): its detections mean "
        "nothing. Pass trained weights (--weights FILE or a preset) or a trained .keras file"
    )
    warnings.warn(message, UserWarning, stacklevel=3)


def _no_overrides(overrides, what):
    if overrides:
        raise ValueError(
            f"spec overrides ({', '.join(sorted(overrides))}) apply to zoo model names and "
            f"YAML specs, not to {what}"
        )


__all__ = ["load"]
