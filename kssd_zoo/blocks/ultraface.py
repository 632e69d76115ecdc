"""UltraFace blocks and head (Ultra-Light-Fast-Generic-Face-Detector-1MB, version-slim/RFB).

The builders reproduce the released PyTorch networks layer for layer so that the upstream
weights import exactly (see :mod:`kssd_zoo.weights.ultraface`):

* PyTorch padding: a ``k x k`` convolution with dilation ``d`` pads ``d * (k - 1) // 2`` on
  every side. With stride 1 that is Keras ``padding="same"``; with stride 2 Keras "same" would
  pad only bottom/right, so those convolutions get an explicit ``ZeroPadding2D`` and
  ``padding="valid"``.
* ``BatchNormalization(epsilon=1e-5)`` as in PyTorch (Keras defaults to 1e-3).
* Convolutions followed by batch norm have no bias; the head and ``extras`` convolutions do.

Every layer is named with the node name as prefix (``f"{name}_..."``). Each builder also
lists its weighted layers in the order PyTorch runs them (``weight_units``), which the ONNX
converter uses to pair layers by structure.

Blocks: ``ultraface_conv_bn``, ``ultraface_conv_dw``, ``ultraface_rfb``, ``ultraface_conv``,
``ultraface_separable``. Head: ``ultraface_head``.

Examples:
    >>> import keras
    >>> from kssd_zoo.blocks.ultraface import ultraface_conv_bn, ultraface_conv_dw
    >>> x = keras.Input((240, 320, 3))
    >>> y = ultraface_conv_dw(ultraface_conv_bn(x, name="stem", filters=16, strides=2),
    ...                       name="dw1", filters=32, strides=2)
    >>> tuple(y.shape)
    (None, 60, 80, 32)
"""

import keras

from kssd_zoo.blocks.common import bn_activation
from kssd_zoo.blocks.registry import register_block, register_head

BN_EPSILON = 1e-5

# name of a registered block/head -> function(name, **args) -> [(conv_layer, bn_layer | None)]
WEIGHT_UNITS = {}


def weight_units(block, name, **args):
    """Weighted layers of one UltraFace node, in the order the PyTorch network runs them.

    Args:
        block: the registered block or head name (``"ultraface_conv_dw"``, ...).
        name: the node name (layer-name prefix).
        **args: the node's ``args`` from the spec (the head also needs ``num_levels``).

    Returns:
        A list of ``(conv_layer_name, bn_layer_name or None)`` pairs; for the head, pairs are
        grouped per level as classification then regression (``(level, role, pairs)`` tuples).

    Raises:
        KeyError: ``block`` is not an UltraFace block.

    Examples:
        >>> from kssd_zoo.blocks.ultraface import weight_units
        >>> weight_units("ultraface_conv_dw", "b1", filters=32)
        [('b1_dw', 'b1_dw_bn'), ('b1_pw', 'b1_pw_bn')]
    """
    if block not in WEIGHT_UNITS:
        raise KeyError(
            f"block {block!r} has no UltraFace weight mapping; known: {', '.join(sorted(WEIGHT_UNITS))}"
        )
    return WEIGHT_UNITS[block](name, **args)


def _torch_pad(kernel_size, dilation):
    return dilation * (kernel_size - 1) // 2


def _conv(x, filters, kernel_size, strides, dilation, use_bias, name, depthwise=False):
    """Conv2D / DepthwiseConv2D with PyTorch's symmetric padding."""
    pad = _torch_pad(kernel_size, dilation)
    padding = "valid"
    if pad:
        if strides == 1:
            padding = "same"  # symmetric for odd kernels at stride 1
        else:
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    common = dict(
        kernel_size=kernel_size,
        strides=strides,
        dilation_rate=dilation,
        padding=padding,
        use_bias=use_bias,
        name=name,
    )
    if depthwise:
        return keras.layers.DepthwiseConv2D(**common)(x)
    return keras.layers.Conv2D(filters, **common)(x)


def _bn_relu(x, prefix, momentum, relu=True):
    return bn_activation(x, prefix, "relu" if relu else None, epsilon=BN_EPSILON, momentum=momentum)


def _check_stride(strides, name):
    if strides not in (1, 2):
        raise ValueError(f"node {name!r}: `strides` must be 1 or 2, got {strides!r}")


@register_block("ultraface_conv_bn")
def ultraface_conv_bn(inputs, *, name, filters, strides=1, kernel_size=3, momentum=0.9):
    """Conv (no bias, PyTorch padding) + BatchNorm (eps 1e-5) + ReLU: UltraFace's ``conv_bn``.

    Args:
        inputs: KerasTensor (B, H, W, C).
        name: node name, prefix of the layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``.
        filters: output channels.
        strides: 1 or 2, default 1.
        kernel_size: odd kernel size, default 3.
        momentum: BatchNorm moving-average momentum, default 0.9 (PyTorch's 0.1).

    Returns:
        KerasTensor (B, ceil(H / strides), ceil(W / strides), filters).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.ultraface import ultraface_conv_bn
        >>> tuple(ultraface_conv_bn(keras.Input((240, 320, 3)), name="s", filters=16, strides=2).shape)
        (None, 120, 160, 16)
    """
    _check_stride(strides, name)
    x = _conv(inputs, filters, kernel_size, strides, 1, False, f"{name}_conv")
    return _bn_relu(x, name, momentum)


WEIGHT_UNITS["ultraface_conv_bn"] = lambda name, **_: [(f"{name}_conv", f"{name}_bn")]


@register_block("ultraface_conv_dw")
def ultraface_conv_dw(inputs, *, name, filters, strides=1, momentum=0.9):
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU (no biases): ``conv_dw``.

    Args:
        inputs: KerasTensor (B, H, W, C).
        name: node name; layers ``{name}_dw``, ``{name}_dw_bn``, ``{name}_pw``, ``{name}_pw_bn``...
        filters: output channels of the pointwise convolution.
        strides: stride of the depthwise convolution, 1 or 2, default 1.
        momentum: BatchNorm momentum, default 0.9.

    Returns:
        KerasTensor (B, ceil(H / strides), ceil(W / strides), filters).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.ultraface import ultraface_conv_dw
        >>> tuple(ultraface_conv_dw(keras.Input((15, 20, 128)), name="b", filters=256, strides=2).shape)
        (None, 8, 10, 256)
    """
    _check_stride(strides, name)
    x = _conv(inputs, None, 3, strides, 1, False, f"{name}_dw", depthwise=True)
    x = _bn_relu(x, f"{name}_dw", momentum)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return _bn_relu(x, f"{name}_pw", momentum)


WEIGHT_UNITS["ultraface_conv_dw"] = lambda name, **_: [
    (f"{name}_dw", f"{name}_dw_bn"),
    (f"{name}_pw", f"{name}_pw_bn"),
]


def _basic_conv(x, filters, kernel_size, name, *, strides=1, dilation=1, relu=True, momentum=0.99):
    x = _conv(x, filters, kernel_size, strides, dilation, False, f"{name}_conv")
    return _bn_relu(x, name, momentum, relu)


# (filters as a multiple of inter = in_channels // map_reduce, kernel, dilation, relu) per conv
def _rfb_branches(inter):
    return [
        [(inter, 1, 1, False), (2 * inter, 3, 1, True), (2 * inter, 3, 2, False)],
        [(inter, 1, 1, False), (2 * inter, 3, 1, True), (2 * inter, 3, 3, False)],
        [
            (inter, 1, 1, False),
            ((inter // 2) * 3, 3, 1, True),
            (2 * inter, 3, 1, True),
            (2 * inter, 3, 5, False),
        ],
    ]


@register_block("ultraface_rfb")
def ultraface_rfb(inputs, *, name, filters, strides=1, scale=1.0, map_reduce=8, momentum=0.99):
    """UltraFace's receptive-field block (``BasicRFB``): three dilated branches + shortcut.

    With ``inter = in_channels // map_reduce``: branch 0 = 1x1 (inter) -> 3x3 (2*inter) -> 3x3
    dilation 2; branch 1 = the same with dilation 3; branch 2 = 1x1 (inter) -> 3x3
    (3*inter/2) -> 3x3 (2*inter) -> 3x3 dilation 5. The concatenation goes through a linear 1x1
    (``filters``), is scaled by ``scale``, added to a 1x1 shortcut of the input, then ReLU.
    Every convolution is conv (no bias) + BN (eps 1e-5); only inner 3x3s have a ReLU.

    Args:
        inputs: KerasTensor (B, H, W, C).
        name: node name; layers ``{name}_b{i}_{j}_conv``/``_bn``, ``{name}_linear_conv``,
            ``{name}_shortcut_conv``, ``{name}_add``, ``{name}_relu``...
        filters: output channels.
        strides: stride of the first 1x1 of each branch and of the shortcut, default 1.
        scale: factor on the branch output before the residual sum, default 1.0 (as released).
        map_reduce: channel reduction of the branches, default 8.
        momentum: BatchNorm momentum, default 0.99 (PyTorch's 0.01 as upstream).

    Returns:
        KerasTensor (B, ceil(H / strides), ceil(W / strides), filters).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.ultraface import ultraface_rfb
        >>> tuple(ultraface_rfb(keras.Input((30, 40, 64)), name="rfb", filters=64).shape)
        (None, 30, 40, 64)
    """
    _check_stride(strides, name)
    in_channels = inputs.shape[-1]
    inter = in_channels // map_reduce
    if inter < 2:
        raise ValueError(
            f"node {name!r}: in_channels // map_reduce must be >= 2, got {in_channels} // {map_reduce}"
        )
    outs = []
    for i, branch in enumerate(_rfb_branches(inter)):
        x = inputs
        for j, (f, k, d, relu) in enumerate(branch):
            x = _basic_conv(
                x,
                f,
                k,
                f"{name}_b{i}_{j}",
                strides=strides if j == 0 else 1,
                dilation=d,
                relu=relu,
                momentum=momentum,
            )
        outs.append(x)
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(outs)
    x = _basic_conv(x, filters, 1, f"{name}_linear", relu=False, momentum=momentum)
    if scale != 1.0:
        x = keras.layers.Rescaling(float(scale), name=f"{name}_scale")(x)
    short = _basic_conv(
        inputs, filters, 1, f"{name}_shortcut", strides=strides, relu=False, momentum=momentum
    )
    x = keras.layers.Add(name=f"{name}_add")([x, short])
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _rfb_units(name, **_):
    units = []
    for i, branch in enumerate(_rfb_branches(8)):
        units += [(f"{name}_b{i}_{j}_conv", f"{name}_b{i}_{j}_bn") for j in range(len(branch))]
    units += [(f"{name}_linear_conv", f"{name}_linear_bn"), (f"{name}_shortcut_conv", f"{name}_shortcut_bn")]
    return units


WEIGHT_UNITS["ultraface_rfb"] = _rfb_units


@register_block("ultraface_conv")
def ultraface_conv(inputs, *, name, filters, kernel_size=1, strides=1, activation="relu"):
    """Plain convolution with bias (no BN), PyTorch padding, optional ReLU (UltraFace ``extras``).

    Args:
        inputs: KerasTensor (B, H, W, C).
        name: node name; layers ``{name}_conv`` and ``{name}_relu``.
        filters: output channels.
        kernel_size: odd kernel size, default 1.
        strides: 1 or 2, default 1.
        activation: ``"relu"`` or ``None``, default ``"relu"``.

    Returns:
        KerasTensor (B, ceil(H / strides), ceil(W / strides), filters).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.ultraface import ultraface_conv
        >>> tuple(ultraface_conv(keras.Input((8, 10, 256)), name="e", filters=64).shape)
        (None, 8, 10, 64)
    """
    _check_stride(strides, name)
    x = _conv(inputs, filters, kernel_size, strides, 1, True, f"{name}_conv")
    return _activation(x, activation, f"{name}_relu", name)


WEIGHT_UNITS["ultraface_conv"] = lambda name, **_: [(f"{name}_conv", None)]


def _activation(x, activation, layer_name, node):
    if activation is None:
        return x
    if activation != "relu":
        raise ValueError(f"node {node!r}: `activation` must be 'relu' or null, got {activation!r}")
    return keras.layers.ReLU(name=layer_name)(x)


@register_block("ultraface_separable")
def ultraface_separable(inputs, *, name, filters, strides=1, activation="relu"):
    """Depthwise 3x3 (bias) + ReLU + pointwise 1x1 (bias) + optional ReLU (``SeperableConv2d``).

    Args:
        inputs: KerasTensor (B, H, W, C).
        name: node name; layers ``{name}_dw``, ``{name}_dw_relu``, ``{name}_pw``, ``{name}_relu``.
        filters: output channels.
        strides: stride of the depthwise convolution, 1 or 2, default 1.
        activation: ReLU after the pointwise convolution (``"relu"``) or none (``None``),
            default ``"relu"``.

    Returns:
        KerasTensor (B, ceil(H / strides), ceil(W / strides), filters).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.ultraface import ultraface_separable
        >>> tuple(ultraface_separable(keras.Input((8, 10, 64)), name="e", filters=256, strides=2).shape)
        (None, 4, 5, 256)
    """
    _check_stride(strides, name)
    x = _conv(inputs, None, 3, strides, 1, True, f"{name}_dw", depthwise=True)
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=True, name=f"{name}_pw")(x)
    return _activation(x, activation, f"{name}_relu", name)


WEIGHT_UNITS["ultraface_separable"] = lambda name, **_: [(f"{name}_dw", None), (f"{name}_pw", None)]


def _head_kinds(separable, num_levels, name):
    if separable is None:
        return [True] * (num_levels - 1) + [False]
    if not isinstance(separable, (list, tuple)) or len(separable) != num_levels:
        raise ValueError(
            f"head {name!r}: `separable` must list one true/false per level ({num_levels}), got {separable!r}"
        )
    return [bool(s) for s in separable]


@register_head("ultraface_head")
def ultraface_head(features, anchors_per_cell, num_logits, *, name, separable=None):
    """UltraFace's detection heads: separable 3x3 on the first levels, plain 3x3 on the last.

    A separable head is depthwise 3x3 (bias) + ReLU + pointwise 1x1 (bias); a plain head is one
    3x3 convolution with bias. Each level has a classification head (``n * num_logits``
    channels) and a regression head (``n * 4``), reshaped NHWC -> (B, H*W*n, .) so anchors are
    row-major with one cell's anchors contiguous (as PyTorch's permute + view upstream).

    Args:
        features: list of KerasTensors (B, H_k, W_k, C_k), one per level.
        anchors_per_cell: list of anchors per cell, one int per level.
        num_logits: class logits per anchor (num_classes + 1, background first).
        name: head name; layers ``{name}_cls{k}_dw``/``_pw`` or ``{name}_cls{k}_conv``, same
            with ``reg``, ``{name}_cls{k}_reshape``, ``{name}_locs``, ``{name}_logits``.
        separable: one bool per level, default None = separable on all levels but the last.

    Returns:
        ``(locs (B, A, 4), logits (B, A, num_logits))``.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.ultraface import ultraface_head
        >>> f = [keras.Input((30, 40, 64)), keras.Input((4, 5, 256))]
        >>> locs, logits = ultraface_head(f, [3, 3], 2, name="head")
        >>> tuple(locs.shape), tuple(logits.shape)
        ((None, 3660, 4), (None, 3660, 2))
    """
    if len(features) != len(anchors_per_cell):
        raise ValueError(
            f"head {name!r}: {len(features)} feature maps but anchors for {len(anchors_per_cell)} levels"
        )
    kinds = _head_kinds(separable, len(features), name)
    locs, logits = [], []
    for k, (x, n, sep) in enumerate(zip(features, anchors_per_cell, kinds)):
        for role, width, out in (("cls", num_logits, logits), ("reg", 4, locs)):
            prefix = f"{name}_{role}{k}"
            if sep:
                y = _conv(x, None, 3, 1, 1, True, f"{prefix}_dw", depthwise=True)
                y = keras.layers.ReLU(name=f"{prefix}_relu")(y)
                y = keras.layers.Conv2D(n * width, 1, name=f"{prefix}_pw")(y)
            else:
                y = _conv(x, n * width, 3, 1, 1, True, f"{prefix}_conv")
            out.append(keras.layers.Reshape((-1, width), name=f"{prefix}_reshape")(y))
    if len(features) == 1:
        return locs[0], logits[0]
    locs = keras.layers.Concatenate(axis=1, name=f"{name}_locs")(locs)
    logits = keras.layers.Concatenate(axis=1, name=f"{name}_logits")(logits)
    return locs, logits


def _head_units(name, *, num_levels, separable=None, **_):
    out = []
    for k, sep in enumerate(_head_kinds(separable, num_levels, name)):
        for role in ("cls", "reg"):
            prefix = f"{name}_{role}{k}"
            pairs = [(f"{prefix}_dw", None), (f"{prefix}_pw", None)] if sep else [(f"{prefix}_conv", None)]
            out.append((k, role, pairs))
    return out


WEIGHT_UNITS["ultraface_head"] = _head_units
