"""Model registry: list the shipped specs and build detectors by name or YAML path.

:data:`MODELS` maps each model name to its YAML spec file (every ``kssd_zoo/specs/*.yaml``,
registered on first use).

Examples:
    >>> from kssd_zoo.registry import MODELS
    >>> MODELS.get("tiny_ssd").name
    'tiny_ssd.yaml'
"""

from kssd.registry import Registry, UnknownNameError
from kssd_zoo.spec import SPECS_DIR, _is_path, parse_spec, spec_names


class UnknownModelError(UnknownNameError):
    """An unknown model name; the message lists the known models and close matches.

    A ``KeyError`` (a name not in the registry) and a ``ValueError`` (a bad argument), so the
    command line reports it like its other argument errors (a
    :class:`kssd.registry.UnknownNameError`).
    """


def _register_shipped_specs():
    for name in spec_names():
        MODELS.register(name, SPECS_DIR / f"{name}.yaml", shipped=True)


#: Zoo models by name -> path of their YAML spec.
MODELS = Registry("model", error=UnknownModelError, loader=_register_shipped_specs)


def list_models():
    """Names of the shipped model specs (files in ``kssd_zoo/specs``), sorted.

    Examples:
        >>> import kssd_zoo
        >>> {"face_ssd", "tiny_ssd", "vgg16_ssd300", "mobilenetv2_ssd"} <= set(kssd_zoo.list_models())
        True
    """
    return MODELS.names()


def build(
    name_or_yaml_path, *, weights=None, compile=True, backbone_weights=None, steps_per_epoch=None, **overrides
):
    """Build a :class:`kssd_zoo.Detector` from a shipped spec name, a YAML path or a spec dict.

    Args:
        name_or_yaml_path: model name (see :func:`list_models`), path to a YAML spec, or a dict.
        weights: None (default, random init), a weight file or a preset name, loaded with
            ``kssd_zoo.weights.load_weights``.
        compile: compile with SSDLoss and the spec's optimizer/schedule, default True.
        backbone_weights: None (default), ``"imagenet"`` or a path to the Keras application's
            weight file; needs a spec with ``pretrained_backbone`` (vgg16_ssd300,
            mobilenetv2_ssd). Downloads through keras.applications (cached in ~/.keras/models).
        steps_per_epoch: converts the spec's schedule epochs into steps, default None
            (``training.steps_per_epoch`` of the spec, else 100).
        **overrides: ``num_classes`` (objects only; background is class 0), ``input_shape``,
            ``class_names`` or any top-level spec key; applied before validation.

    Returns:
        The Detector (compiled when ``compile``).

    Raises:
        UnknownModelError: unknown name (lists known models, with suggestions).
        kssd_zoo.spec.SpecError: invalid spec or overrides (every problem with its YAML path).

    Examples:
        >>> import kssd_zoo
        >>> model = kssd_zoo.build("face_ssd", num_classes=2, compile=False)
        >>> model.output_shape
        (None, None, 7)
    """
    from kssd_zoo.detector import Detector

    if isinstance(name_or_yaml_path, str) and not _is_path(name_or_yaml_path):
        name_or_yaml_path = MODELS.get(name_or_yaml_path)  # UnknownModelError, with close matches
    try:
        spec = parse_spec(name_or_yaml_path, **overrides)
    except KeyError as err:
        raise UnknownModelError(str(err.args[0])) from None
    model = Detector(spec)
    if backbone_weights is not None:
        from kssd_zoo.blocks.registry import get_pretrained

        family = spec.optional.get("pretrained_backbone")
        if family is None:
            raise ValueError(
                f"backbone_weights={backbone_weights!r}: spec {spec.name!r} declares no "
                "pretrained_backbone (vgg16_ssd300 and mobilenetv2_ssd do)"
            )
        get_pretrained(family)(model, weights=backbone_weights)
    if weights is not None:
        from kssd_zoo.weights import load_weights

        load_weights(model, weights)
    if compile:
        model.compile_from_spec(steps_per_epoch=steps_per_epoch)
    return model
