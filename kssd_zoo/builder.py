"""Build the functional Keras graph of a detector from a validated spec.

Graph: ``image`` (RGB float 0..255) -> ``normalization`` (keras Normalization or Rescaling,
from the spec) -> backbone nodes in order -> head -> ``predictions`` =
Concatenate(locs (B, A, 4), logits (B, A, C + 1)).

Examples:
    >>> from kssd_zoo.builder import build_network
    >>> from kssd_zoo.spec import resolve_spec
    >>> inputs, y_pred = build_network(resolve_spec("face_ssd"))
    >>> tuple(y_pred.shape)
    (None, None, 6)
"""

import keras

from kssd_zoo.blocks.registry import get_block, get_head
from kssd_zoo.spec import SpecError, parse_spec


def normalization_layer(normalization):
    """The model's first layer for a spec's ``normalization`` entry (None -> no layer).

    ``{mean, std}`` -> ``keras.layers.Normalization(mean, variance=std**2)``: (x - mean) / std.
    ``{scale, offset}`` -> ``keras.layers.Rescaling(scale, offset)``: x * scale + offset.

    Args:
        normalization: the spec entry (dict or None).

    Returns:
        A Keras layer named ``normalization``, or None.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.builder import normalization_layer
        >>> layer = normalization_layer({"mean": [127.5] * 3, "std": [255.0] * 3})
        >>> np.round(np.asarray(layer(np.full((1, 1, 1, 3), 255.0, "float32"))).ravel(), 3).tolist()
        [0.5, 0.5, 0.5]
    """
    if normalization is None:
        return None
    if "mean" in normalization:
        mean, std = normalization["mean"], normalization["std"]
        mean = [float(mean)] * 3 if not isinstance(mean, list) else [float(m) for m in mean]
        std = [float(std)] * 3 if not isinstance(std, list) else [float(s) for s in std]
        if len(mean) == 1:
            mean = mean * 3
        if len(std) == 1:
            std = std * 3
        return keras.layers.Normalization(mean=mean, variance=[s * s for s in std], name="normalization")
    offset = normalization.get("offset", 0.0)
    return keras.layers.Rescaling(float(normalization["scale"]), offset=offset, name="normalization")


def anchors_per_cell_for(spec):
    """Anchors per cell of each level, from the spec's anchors entry (a spec or ModelSpec).

    Examples:
        >>> from kssd_zoo.builder import anchors_per_cell_for
        >>> from kssd_zoo.spec import resolve_spec
        >>> anchors_per_cell_for(resolve_spec("face_ssd"))
        [3, 2, 2, 3]
    """
    from kssd.anchors import anchors_per_cell

    a = parse_spec(spec).anchors
    return anchors_per_cell(
        min_sizes=a.get("min_sizes"),
        scales=a.get("scales"),
        aspect_ratios=a.get("aspect_ratios"),
        extra_box=a.get("extra_box", True),
    )


def build_network(spec, *, return_features=False):
    """Build ``(inputs, y_pred)`` for a spec.

    Args:
        spec: a :class:`~kssd_zoo.spec_types.ModelSpec` (see :func:`kssd_zoo.spec.parse_spec`),
            or a spec dict (validated here).
        return_features: also return the list of head input tensors, default False.

    Returns:
        ``(inputs, y_pred)`` or ``(inputs, y_pred, features)``; y_pred is
        (B, A, 4 + num_classes + 1) (background is class 0).

    Raises:
        SpecError: a block fails to build (naming the node, its YAML path and the cause).

    Examples:
        >>> from kssd_zoo.builder import build_network
        >>> from kssd_zoo.spec import resolve_spec
        >>> inputs, y_pred = build_network(resolve_spec("tiny_ssd"))
        >>> tuple(y_pred.shape)
        (None, None, 8)
    """
    spec = parse_spec(spec)
    height, width, channels = spec.input.shape
    if spec.input.dynamic:
        height = width = None
    inputs = keras.Input((height, width, channels), name="image")
    norm = normalization_layer(spec.normalization)
    tensors = {"input": norm(inputs) if norm is not None else inputs}
    for i, node in enumerate(spec.backbone):
        src = node.source
        x = [tensors[s] for s in src] if isinstance(src, list) else tensors[src]
        try:
            tensors[node.name] = get_block(node.block)(x, name=node.name, **node.args)
        except SpecError:
            raise
        except Exception as err:
            raise SpecError(
                [f"backbone[{i}] (node {node.name!r}, block {node.block!r}): {type(err).__name__}: {err}"],
                source=spec.name,
            ) from err
    features = [tensors[n] for n in spec.heads.sources]
    try:
        locs, logits = get_head(spec.heads.block)(
            features, anchors_per_cell_for(spec), spec.num_classes + 1, name="head", **spec.heads.args
        )
    except Exception as err:
        raise SpecError(
            [f"heads (block {spec.heads.block!r}): {type(err).__name__}: {err}"], source=spec.name
        ) from err
    y_pred = keras.layers.Concatenate(axis=-1, name="predictions")([locs, logits])
    if return_features:
        return inputs, y_pred, features
    return inputs, y_pred
