"""kssd_zoo: SSD detectors declared in YAML and built on kssd.

Importing ``kssd_zoo`` registers the Detector model, the blocks and kssd's layers, losses and
schedules, so ``keras.saving.load_model("model.keras")`` works afterwards.

Only when the ``kssd`` console script's launcher (:mod:`kssd_command`) imports the command line,
this is deferred: ``kssd --help`` and ``kssd --version`` then need no TensorFlow. The public names still work (the first one used imports and registers everything,
as a plain ``import kssd_zoo`` does), and the command line registers everything before it
runs a command.

Examples:
    >>> import kssd_zoo
    >>> model = kssd_zoo.face_ssd(compile=False)
    >>> model.anchors.shape
    (4420, 4)
"""

import sys as _sys

__all__ = [
    "Detector",
    "SpecError",
    "Stickerer",
    "UnknownModelError",
    "build",
    "face_ssd",
    "list_models",
    "load",
    "mobilenetv2_ssd",
    "sticker",
    "tiny_ssd",
    "ultraface_rfb",
    "ultraface_slim",
    "vgg16_ssd300",
]

_state = {"loaded": False, "loading": False}


def _import_all():
    """Import kssd (TensorFlow, Keras) and the zoo's modules, registering everything; idempotent."""
    global Detector, SpecError, Stickerer, UnknownModelError, blocks, build, kssd, list_models, load, sticker
    if _state["loaded"] or _state["loading"]:
        return
    _state["loading"] = True
    try:
        import kssd  # noqa: F401  (registers kssd layers/losses)
        import kssd.callbacks  # noqa: F401  (registers WarmUpMultiStep)
        from kssd_zoo import blocks  # noqa: F401  (registers block builders)
        from kssd_zoo.detector import Detector
        from kssd_zoo.loading import load
        from kssd_zoo.registry import UnknownModelError, build, list_models
        from kssd_zoo.spec import SpecError
        from kssd_zoo.sticker import Stickerer, sticker  # the function replaces the subpackage's name

        _state["loaded"] = True
    finally:
        _state["loading"] = False


def __getattr__(name):
    # Reached only for names not set yet, i.e. after a deferred import (see the docstring).
    if not name.startswith("__") and not _state["loaded"] and not _state["loading"]:
        _import_all()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _deferred_by_the_launcher():
    """Whether the ``kssd`` console script's launcher (:mod:`kssd_command`) asked to defer imports."""
    return bool(getattr(_sys.modules.get("kssd_command"), "DEFER_IMPORTS", False))


def _factory(model_name, summary):
    def factory(*, num_classes=None, input_shape=None, weights=None, compile=True, **overrides):
        _import_all()
        return build(
            model_name,
            weights=weights,
            compile=compile,
            num_classes=num_classes,
            input_shape=input_shape,
            **overrides,
        )

    factory.__name__ = factory.__qualname__ = model_name
    factory.__doc__ = f"""{summary}

    Args:
        num_classes: number of object classes (background excluded: class 0 is background),
            default None (the spec's).
        input_shape: (H, W) or (H, W, 3), default None (the spec's).
        weights: None (random init), a weight file or a preset name, default None.
        compile: compile with SSDLoss and the spec's optimizer/schedule, default True.
        **overrides: other spec keys (see :func:`kssd_zoo.build`), e.g. ``backbone_weights``.

    Returns:
        A :class:`kssd_zoo.Detector`.

    Examples:
        >>> import kssd_zoo
        >>> kssd_zoo.{model_name}(compile=False).name
        '{model_name}'
    """
    return factory


face_ssd = _factory("face_ssd", "Slim face SSD (240x320, 4 levels, 4420 anchors), fully convolutional.")
tiny_ssd = _factory("tiny_ssd", "Tiny 3-level SSD (128x128) for quick experiments on the shapes dataset.")
vgg16_ssd300 = _factory("vgg16_ssd300", "VGG16-SSD300 of the SSD paper (8732 anchors, 20 VOC classes).")
mobilenetv2_ssd = _factory("mobilenetv2_ssd", "MobileNetV2-SSD at 224x224 with 6 levels (28 to 1).")
ultraface_slim = _factory("ultraface_slim", "UltraFace slim face detector (spec by the UltraFace module).")
ultraface_rfb = _factory("ultraface_rfb", "UltraFace RFB face detector (spec by the UltraFace module).")


if not _deferred_by_the_launcher():
    _import_all()
