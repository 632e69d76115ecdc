"""MobileNetV2 blocks whose layers mirror ``keras.applications.MobileNetV2``, and the
ImageNet weight transfer.

Spec nodes named like Keras' blocks (``stem``, ``expanded_conv``, ``block_1`` ...
``block_16``) map one to one onto the Keras application's layers:
``Conv1``/``bn_Conv1`` -> ``stem_conv``/``stem_bn``; ``block_3_expand_BN`` -> ``block_3_expand_bn``.

Examples:
    >>> import keras
    >>> from kssd_zoo.blocks.mobilenetv2 import inverted_residual
    >>> x = keras.Input((56, 56, 24))
    >>> tuple(inverted_residual(x, name="block_3", filters=32, strides=2).shape)
    (None, 28, 28, 32)
"""

import keras
import numpy as np

from kssd import layers as kssd_layers
from kssd_zoo.blocks._keras_weights import load_application
from kssd_zoo.blocks.common import bn_activation
from kssd_zoo.blocks.registry import register_block, register_pretrained

MOBILENETV2_NO_TOP_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


@register_block("inverted_residual")
def inverted_residual(inputs, *, name, filters, expansion=6, strides=1, momentum=0.999, epsilon=1e-3):
    """MobileNetV2 inverted residual: 1x1 expand + 3x3 depthwise + 1x1 linear project (+ skip).

    Layers: ``{name}_expand`` / ``_expand_bn`` / ``_expand_relu`` (only when expansion > 1),
    ``{name}_depthwise`` / ``_depthwise_bn`` / ``_depthwise_relu``, ``{name}_project`` /
    ``_project_bn`` and ``{name}_add`` (stride 1 and equal channels). ReLU6 activations,
    convolutions without bias, 'same' padding (equal to Keras' ``correct_pad`` + 'valid').

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels.
        expansion: expansion factor, default 6.
        strides: depthwise stride, default 1.
        momentum: BatchNormalization momentum, default 0.999 (as Keras' MobileNetV2).
        epsilon: BatchNormalization epsilon, default 1e-3.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.mobilenetv2 import inverted_residual
        >>> tuple(inverted_residual(keras.Input((28, 28, 32)), name="block_4", filters=32).shape)
        (None, 28, 28, 32)
    """
    in_channels = inputs.shape[-1]
    x = inputs
    bn = dict(momentum=momentum, epsilon=epsilon)
    if expansion != 1:
        x = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{name}_expand")(x)
        x = bn_activation(x, f"{name}_expand", "relu6", **bn)
    x = keras.layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = bn_activation(x, f"{name}_depthwise", "relu6", **bn)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = kssd_layers.BatchNormalization(name=f"{name}_project_bn", **bn)(x)
    if strides == 1 and in_channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def _target_name(source_name):
    """Our layer name for a Keras MobileNetV2 layer name (or None when it has no counterpart)."""
    if source_name == "Conv1":
        return "stem_conv"
    if source_name == "bn_Conv1":
        return "stem_bn"
    if source_name == "Conv_1":
        return "head_conv_conv"
    if source_name == "Conv_1_bn":
        return "head_conv_bn"
    if source_name.startswith(("block_", "expanded_conv_")):
        return source_name.replace("_BN", "_bn")
    return None


def transfer_mobilenetv2_weights(detector, source):
    """Copy the weights of a ``keras.applications.MobileNetV2`` (alpha 1.0) into ``detector``.

    Every source layer with weights whose counterpart exists in ``detector`` (see the module
    docstring for the names) is copied; layers past the detector's backbone are skipped.

    Args:
        detector: a model built from a spec with MobileNetV2-named nodes.
        source: a ``keras.applications.MobileNetV2`` model (any input size, alpha 1.0).

    Returns:
        The list of our layer names that received weights.

    Raises:
        ValueError: no layer matched, or a shape differs (naming the layer and both shapes).

    Examples:
        >>> import keras, kssd_zoo
        >>> from kssd_zoo.blocks.mobilenetv2 import transfer_mobilenetv2_weights
        >>> det = kssd_zoo.build("mobilenetv2_ssd", compile=False)
        >>> src = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(224, 224, 3))
        >>> len(transfer_mobilenetv2_weights(det, src)) > 40
        True
    """
    ours = {layer.name: layer for layer in detector.layers}
    copied = []
    for layer in source.layers:
        weights = layer.get_weights()
        target = _target_name(layer.name)
        if not weights or target not in ours:
            continue
        mine = ours[target]
        shapes = [w.shape for w in mine.get_weights()]
        if shapes != [w.shape for w in weights]:
            raise ValueError(
                f"MobileNetV2 layer {layer.name!r} -> {target!r}: shapes {[w.shape for w in weights]} "
                f"do not match {shapes}"
            )
        mine.set_weights([np.asarray(w) for w in weights])
        copied.append(target)
    if not copied:
        raise ValueError("no MobileNetV2 layer matched the detector's layers (is this a MobileNetV2 spec?)")
    return copied


@register_pretrained("mobilenetv2")
def load_mobilenetv2_backbone(detector, weights="imagenet"):
    """Load ImageNet MobileNetV2 weights (via keras.applications) into ``detector``'s backbone.

    Args:
        detector: a MobileNetV2-backbone detector.
        weights: "imagenet" (Keras downloads and caches the file) or a path to
            ``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5``.

    Returns:
        The list of our layer names that received weights.

    Raises:
        RuntimeError: the weights cannot be downloaded; names the cache path to fill.

    Examples:
        >>> from kssd_zoo.blocks.mobilenetv2 import load_mobilenetv2_backbone
        >>> callable(load_mobilenetv2_backbone)
        True
    """
    source = load_application(
        keras.applications.MobileNetV2,
        "MobileNetV2",
        MOBILENETV2_NO_TOP_FILE,
        weights,
        include_top=False,
        input_shape=(224, 224, 3),
        alpha=1.0,
    )
    return transfer_mobilenetv2_weights(detector, source)
