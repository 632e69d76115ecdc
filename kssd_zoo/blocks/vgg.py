"""VGG16 weight transfer for SSD300: conv1_1..conv5_3 copied, fc6/fc7 decimated into conv6/conv7.

The vgg16_ssd300 spec builds VGG16 from ``conv`` / ``max_pool`` nodes named ``conv1_1`` ...
``conv5_3``, ``conv6``, ``conv7``; their convolution layers are ``{node}_conv``.

Decimation (as in the original SSD): fc6's kernel (25088, 4096) is the flattened
(7, 7, 512, 4096) kernel of a 7x7 conv; keeping every 3rd spatial tap (0, 3, 6) and every
4th output channel gives a 3x3x512x1024 kernel used with dilation 6 (3 for the skipped taps,
times 2 because pool5 keeps stride 1). fc7's (4096, 4096) kernel keeps every 4th input and
output channel: a 1x1x1024x1024 conv7.

Keras' ImageNet VGG16 expects BGR input (Caffe weights); kssd models take RGB, so the input
channels of conv1_1's kernel are reversed by default (``bgr_to_rgb=True``), which together
with the spec's RGB mean subtraction reproduces Keras' ``preprocess_input``.

Examples:
    >>> import numpy as np
    >>> from kssd_zoo.blocks.vgg import decimate_fc6
    >>> k, b = decimate_fc6(np.zeros((25088, 4096), "float32"), np.zeros(4096, "float32"))
    >>> k.shape, b.shape
    ((3, 3, 512, 1024), (1024,))
"""

import keras
import numpy as np

from kssd_zoo.blocks._keras_weights import load_application
from kssd_zoo.blocks.registry import register_pretrained

VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"

VGG16_CONV_LAYERS = {
    f"block{b}_conv{c}": f"conv{b}_{c}_conv"
    for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for c in range(1, n + 1)
}


def decimate_fc6(kernel, bias):
    """fc6 (25088, 4096) + bias (4096,) -> conv6 kernel (3, 3, 512, 1024) + bias (1024,).

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.blocks.vgg import decimate_fc6
        >>> kernel = np.arange(25088 * 4096, dtype="float32").reshape(25088, 4096)
        >>> k, _ = decimate_fc6(kernel, np.zeros(4096, "float32"))
        >>> float(k[1, 2, 5, 3]) == float(kernel.reshape(7, 7, 512, 4096)[3, 6, 5, 12])
        True
    """
    kernel = np.asarray(kernel)
    if kernel.shape != (7 * 7 * 512, 4096):
        raise ValueError(f"fc6 kernel must be (25088, 4096) (VGG16 at 224x224), got {kernel.shape}")
    kernel = kernel.reshape(7, 7, 512, 4096)[::3, ::3, :, ::4]
    return np.ascontiguousarray(kernel), np.asarray(bias)[::4].copy()


def decimate_fc7(kernel, bias):
    """fc7 (4096, 4096) + bias (4096,) -> conv7 kernel (1, 1, 1024, 1024) + bias (1024,).

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.blocks.vgg import decimate_fc7
        >>> k, b = decimate_fc7(np.ones((4096, 4096), "float32"), np.ones(4096, "float32"))
        >>> k.shape, b.shape
        ((1, 1, 1024, 1024), (1024,))
    """
    kernel = np.asarray(kernel)
    if kernel.shape != (4096, 4096):
        raise ValueError(f"fc7 kernel must be (4096, 4096), got {kernel.shape}")
    kernel = kernel[::4, ::4].reshape(1, 1, 1024, 1024)
    return np.ascontiguousarray(kernel), np.asarray(bias)[::4].copy()


def _set(layer, weights, source_name):
    shapes = [w.shape for w in layer.get_weights()]
    got = [np.shape(w) for w in weights]
    if shapes != got:
        raise ValueError(f"VGG16 layer {source_name!r} -> {layer.name!r}: shapes {got} do not match {shapes}")
    layer.set_weights(weights)


def transfer_vgg16_weights(detector, source, *, bgr_to_rgb=True):
    """Copy a ``keras.applications.VGG16`` (include_top=True) into an SSD300 detector.

    conv1_1..conv5_3 are copied (conv1_1's input channels reversed when ``bgr_to_rgb``);
    fc1/fc2 become conv6/conv7 by decimation (module docstring). L2Normalization, extra
    layers and heads keep their initialisation.

    Args:
        detector: a model with layers ``conv1_1_conv`` ... ``conv5_3_conv``, ``conv6_conv``,
            ``conv7_conv`` (the vgg16_ssd300 spec).
        source: a VGG16 built with ``include_top=True`` (fc1/fc2 needed).
        bgr_to_rgb: reverse conv1_1's input channels (Keras' ImageNet VGG16 is BGR), default True.

    Returns:
        The list of our layer names that received weights.

    Raises:
        ValueError: a layer is missing or a shape differs (naming it and both shapes).

    Examples:
        >>> import keras, kssd_zoo
        >>> from kssd_zoo.blocks.vgg import transfer_vgg16_weights
        >>> det = kssd_zoo.build("vgg16_ssd300", compile=False)
        >>> src = keras.applications.VGG16(weights=None)
        >>> len(transfer_vgg16_weights(det, src))
        15
    """
    ours = {layer.name: layer for layer in detector.layers}
    theirs = {layer.name: layer for layer in source.layers}
    needed = list(VGG16_CONV_LAYERS) + ["fc1", "fc2"]
    missing = [n for n in needed if n not in theirs]
    if missing:
        raise ValueError(f"source VGG16 lacks layers {missing}; build it with include_top=True")
    targets = list(VGG16_CONV_LAYERS.values()) + ["conv6_conv", "conv7_conv"]
    missing = [n for n in targets if n not in ours]
    if missing:
        raise ValueError(f"detector lacks layers {missing}; expected the vgg16_ssd300 layout")
    copied = []
    for src_name, dst_name in VGG16_CONV_LAYERS.items():
        kernel, bias = theirs[src_name].get_weights()
        if src_name == "block1_conv1" and bgr_to_rgb:
            kernel = kernel[:, :, ::-1, :]
        _set(ours[dst_name], [np.ascontiguousarray(kernel), bias], src_name)
        copied.append(dst_name)
    _set(ours["conv6_conv"], list(decimate_fc6(*theirs["fc1"].get_weights())), "fc1")
    _set(ours["conv7_conv"], list(decimate_fc7(*theirs["fc2"].get_weights())), "fc2")
    return copied + ["conv6_conv", "conv7_conv"]


@register_pretrained("vgg16")
def load_vgg16_backbone(detector, weights="imagenet"):
    """Load ImageNet VGG16 weights (via keras.applications) into an SSD300 detector.

    Args:
        detector: a vgg16_ssd300 detector.
        weights: "imagenet" (Keras downloads ``vgg16_weights_tf_dim_ordering_tf_kernels.h5``,
            528 MB, once into ~/.keras/models) or a path to that file.

    Returns:
        The list of our layer names that received weights.

    Raises:
        RuntimeError: the weights cannot be downloaded; names the cache path to fill.

    Examples:
        >>> from kssd_zoo.blocks.vgg import load_vgg16_backbone
        >>> callable(load_vgg16_backbone)
        True
    """
    source = load_application(keras.applications.VGG16, "VGG16", VGG16_FILE, weights, include_top=True)
    return transfer_vgg16_weights(detector, source)
