"""General-purpose blocks and heads: convolutions, depthwise blocks, branches, pools, heads.

Every builder names its layers ``f"{name}_..."`` (see :mod:`kssd_zoo.blocks.registry`).

Padding: ``"same"`` and ``"valid"`` are Keras' own; an int pads that many zeros on every
side first (PyTorch style); ``"symmetric"`` (the default of the conv blocks) pads
``dilation * (kernel_size // 2)`` zeros on every side, which equals ``"same"`` at stride 1
and matches PyTorch's ``padding=k//2`` at stride 2 (TensorFlow's ``"same"`` pads only the
bottom/right there).

Examples:
    >>> import keras
    >>> from kssd_zoo.blocks.common import conv_bn
    >>> x = keras.Input((240, 320, 3))
    >>> tuple(conv_bn(x, name="stem", filters=16, strides=2).shape)
    (None, 120, 160, 16)
"""

import keras

from kssd import layers as kssd_layers
from kssd_zoo.blocks.registry import register_block, register_head

ACTIVATIONS = ("relu", "relu6", "leaky_relu", "linear")


def activation_layer(kind, name):
    """A named activation layer: relu, relu6, leaky_relu (slope 0.3, Keras' default) or linear.

    Returns:
        A Keras layer, or None for ``"linear"`` / None.

    Examples:
        >>> from kssd_zoo.blocks.common import activation_layer
        >>> activation_layer("relu6", "x_relu").max_value
        6.0
    """
    if kind in (None, "linear"):
        return None
    if kind == "relu":
        return keras.layers.ReLU(name=name)
    if kind == "relu6":
        return keras.layers.ReLU(max_value=6.0, name=name)
    if kind == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.3, name=name)
    raise ValueError(f"unknown activation {kind!r}; expected one of {', '.join(ACTIVATIONS)}")


def _activate(x, kind, name):
    layer = activation_layer(kind, name)
    return x if layer is None else layer(x)


def bn_activation(x, prefix, activation="relu", **batch_norm):
    """BatchNormalization ``{prefix}_bn`` then the activation ``{prefix}_relu`` (if any).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import bn_activation
        >>> x = keras.Input((4, 4, 8))
        >>> [layer.name for layer in keras.Model(x, bn_activation(x, "b1", "relu6", epsilon=1e-5)).layers[1:]]
        ['b1_bn', 'b1_relu']
    """
    x = kssd_layers.BatchNormalization(name=f"{prefix}_bn", **batch_norm)(x)
    return _activate(x, activation, f"{prefix}_relu")


def _pad(x, padding, kernel_size, strides, dilation_rate, name):
    """Apply explicit padding if asked; return (tensor, keras padding mode)."""
    if padding in ("same", "valid"):
        return x, padding
    if padding == "symmetric":
        if strides == 1:
            return x, "same"
        padding = dilation_rate * (kernel_size // 2)
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        if padding:
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        return x, "valid"
    raise ValueError(f"padding must be 'same', 'valid', 'symmetric' or a non-negative int, got {padding!r}")


@register_block("conv")
def conv(
    inputs,
    *,
    name,
    filters,
    kernel_size=3,
    strides=1,
    padding="symmetric",
    dilation_rate=1,
    use_bias=True,
    activation="relu",
):
    """Conv2D (+ activation): ``{name}_pad``, ``{name}_conv``, ``{name}_relu``.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels.
        kernel_size: default 3.
        strides: default 1.
        padding: "symmetric" (default), "same", "valid" or an int (see module docstring).
        dilation_rate: default 1.
        use_bias: default True.
        activation: relu (default), relu6, leaky_relu or linear.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import conv
        >>> x = keras.Input((19, 19, 512))
        >>> tuple(conv(x, name="conv6", filters=8, dilation_rate=6).shape)
        (None, 19, 19, 8)
    """
    x, mode = _pad(inputs, padding, kernel_size, strides, dilation_rate, name)
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=mode,
        dilation_rate=dilation_rate,
        use_bias=use_bias,
        name=f"{name}_conv",
    )(x)
    return _activate(x, activation, f"{name}_relu")


@register_block("conv_bn")
def conv_bn(
    inputs,
    *,
    name,
    filters,
    kernel_size=3,
    strides=1,
    padding="symmetric",
    activation="relu",
    momentum=0.99,
    epsilon=1e-3,
):
    """Conv2D without bias + BatchNormalization + activation.

    Layers: ``{name}_pad`` (stride > 1 with symmetric/int padding), ``{name}_conv``,
    ``{name}_bn``, ``{name}_relu``.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels.
        kernel_size: default 3.
        strides: default 1.
        padding: "symmetric" (default), "same", "valid" or an int.
        activation: relu (default), relu6, leaky_relu or linear.
        momentum: BatchNormalization momentum, default 0.99.
        epsilon: BatchNormalization epsilon, default 1e-3.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import conv_bn
        >>> tuple(conv_bn(keras.Input((8, 8, 3)), name="c", filters=4).shape)
        (None, 8, 8, 4)
    """
    x, mode = _pad(inputs, padding, kernel_size, strides, 1, name)
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=mode, use_bias=False, name=f"{name}_conv"
    )(x)
    return bn_activation(x, name, activation, momentum=momentum, epsilon=epsilon)


@register_block("conv_dw")
def conv_dw(inputs, *, name, filters, strides=1, padding="symmetric", activation="relu"):
    """Depthwise-separable block: 3x3 depthwise + BN + act, then 1x1 conv + BN + act.

    Layers: ``{name}_pad``, ``{name}_dw``, ``{name}_dw_bn``, ``{name}_dw_relu``, ``{name}_pw``,
    ``{name}_pw_bn``, ``{name}_pw_relu`` (convolutions without bias).

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels of the pointwise conv.
        strides: depthwise stride, default 1.
        padding: "symmetric" (default), "same", "valid" or an int.
        activation: relu (default), relu6, leaky_relu or linear.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import conv_dw
        >>> tuple(conv_dw(keras.Input((15, 20, 8)), name="d", filters=16, strides=2).shape)
        (None, 8, 10, 16)
    """
    x, mode = _pad(inputs, padding, 3, strides, 1, name)
    x = keras.layers.DepthwiseConv2D(3, strides=strides, padding=mode, use_bias=False, name=f"{name}_dw")(x)
    x = bn_activation(x, f"{name}_dw", activation)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return bn_activation(x, f"{name}_pw", activation)


@register_block("branch")
def branch(inputs, *, name, filters):
    """Two-path block of the slim face SSD; output has ``3 * filters`` channels.

    Path a: 3x3 conv (filters) + LeakyReLU(0.3) + 3x3 conv (filters); path b: 3x3 conv
    (2 * filters); concatenated, then ReLU. All convolutions have biases, 'same' padding.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: base width.

    Returns:
        The output tensor (B, H, W, 3 * filters).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import branch
        >>> tuple(branch(keras.Input((30, 40, 64)), name="b1", filters=16).shape)
        (None, 30, 40, 48)
    """
    a = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_a1")(inputs)
    a = keras.layers.LeakyReLU(negative_slope=0.3, name=f"{name}_a1_relu")(a)
    a = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_a2")(a)
    b = keras.layers.Conv2D(2 * filters, 3, padding="same", name=f"{name}_b1")(inputs)
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([a, b])
    return keras.layers.ReLU(name=f"{name}_relu")(x)


@register_block("max_pool")
def max_pool(inputs, *, name, pool_size=2, strides=None, padding="same"):
    """MaxPooling2D. ``padding: same`` gives Caffe's ceil mode for pool 2 / stride 2.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        pool_size: default 2.
        strides: default None (= pool_size).
        padding: "same" (default) or "valid".

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import max_pool
        >>> tuple(max_pool(keras.Input((75, 75, 4)), name="pool3").shape)
        (None, 38, 38, 4)
    """
    return keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=f"{name}_pool")(inputs)


@register_block("l2_norm")
def l2_norm(inputs, *, name, gamma_init=20.0):
    """Channel-wise L2 normalization with a learned per-channel scale (SSD's conv4_3).

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        gamma_init: initial scale, default 20.0.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import l2_norm
        >>> tuple(l2_norm(keras.Input((38, 38, 8)), name="conv4_3_norm").shape)
        (None, 38, 38, 8)
    """
    from kssd.layers import L2Normalization

    return L2Normalization(gamma_init=gamma_init, name=f"{name}_l2norm")(inputs)


@register_block("extra_layer")
def extra_layer(
    inputs,
    *,
    name,
    filters,
    reduce_filters=None,
    strides=2,
    padding="symmetric",
    use_bn=False,
    activation="relu",
):
    """SSD extra feature layer: 1x1 reduce conv + act, then 3x3 conv (strides) + act.

    Layers: ``{name}_reduce`` (+ ``_bn``, ``_relu``), ``{name}_pad``, ``{name}_conv``
    (+ ``_bn``, ``_relu``). With ``use_bn`` the convolutions drop their bias and get BN.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels.
        reduce_filters: channels of the 1x1 conv, default ``filters // 2``.
        strides: stride of the 3x3 conv, default 2.
        padding: of the 3x3 conv, "symmetric" (default), "same", "valid" or an int.
        use_bn: add BatchNormalization, default False.
        activation: relu (default), relu6, leaky_relu or linear.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import extra_layer
        >>> tuple(extra_layer(keras.Input((19, 19, 32)), name="conv8", filters=16).shape)
        (None, 10, 10, 16)
    """
    reduce_filters = reduce_filters or max(1, filters // 2)
    x = keras.layers.Conv2D(reduce_filters, 1, use_bias=not use_bn, name=f"{name}_reduce")(inputs)
    if use_bn:
        x = kssd_layers.BatchNormalization(name=f"{name}_reduce_bn")(x)
    x = _activate(x, activation, f"{name}_reduce_relu")
    x, mode = _pad(x, padding, 3, strides, 1, name)
    x = keras.layers.Conv2D(
        filters, 3, strides=strides, padding=mode, use_bias=not use_bn, name=f"{name}_conv"
    )(x)
    if use_bn:
        x = kssd_layers.BatchNormalization(name=f"{name}_bn")(x)
    return _activate(x, activation, f"{name}_relu")


@register_block("concat")
def concat(inputs, *, name, axis=-1):
    """Concatenate a list of tensors (``from`` must be a list).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import concat
        >>> tuple(concat([keras.Input((4, 4, 2)), keras.Input((4, 4, 3))], name="cat").shape)
        (None, 4, 4, 5)
    """
    return keras.layers.Concatenate(axis=axis, name=f"{name}_concat")(list(inputs))


@register_block("add")
def add(inputs, *, name):
    """Element-wise sum of a list of tensors (``from`` must be a list).

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import add
        >>> tuple(add([keras.Input((4, 4, 2)), keras.Input((4, 4, 2))], name="s").shape)
        (None, 4, 4, 2)
    """
    return keras.layers.Add(name=f"{name}_add")(list(inputs))


@register_block("upsample")
def upsample(inputs, *, name, size=2, interpolation="nearest"):
    """UpSampling2D.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import upsample
        >>> tuple(upsample(keras.Input((4, 5, 2)), name="up").shape)
        (None, 8, 10, 2)
    """
    return keras.layers.UpSampling2D(size, interpolation=interpolation, name=f"{name}_upsample")(inputs)


def _flatten_level(x, width, name):
    # (B, H, W, n * width) -> (B, H * W * n, width): row-major cells, one cell's anchors contiguous.
    return keras.layers.Reshape((-1, width), name=name)(x)


def _concat_levels(tensors, name):
    if len(tensors) == 1:
        return tensors[0]
    return keras.layers.Concatenate(axis=1, name=name)(tensors)


@register_head("conv_head")
def conv_head(features, anchors_per_cell, num_logits, *, name, kernel_size=3):
    """One conv for box offsets and one for class logits per level (classic SSD head).

    Layers per level ``i``: ``{name}_loc_{i}``, ``{name}_conf_{i}`` (with biases) and their
    ``_reshape``; then ``{name}_locs`` / ``{name}_logits`` concatenations.

    Args:
        features: one feature map per detection level.
        anchors_per_cell: anchors per cell of each level.
        num_logits: C + 1 (background is class 0).
        name: layer prefix.
        kernel_size: default 3.

    Returns:
        ``(locs (B, A, 4), logits (B, A, num_logits))``.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import conv_head
        >>> locs, logits = conv_head([keras.Input((4, 5, 8)), keras.Input((2, 3, 8))], [3, 2], 2, name="head")
        >>> tuple(locs.shape), tuple(logits.shape)
        ((None, 72, 4), (None, 72, 2))
    """
    locs, logits = [], []
    for i, (x, n) in enumerate(zip(features, anchors_per_cell)):
        loc = keras.layers.Conv2D(n * 4, kernel_size, padding="same", name=f"{name}_loc_{i}")(x)
        conf = keras.layers.Conv2D(n * num_logits, kernel_size, padding="same", name=f"{name}_conf_{i}")(x)
        locs.append(_flatten_level(loc, 4, f"{name}_loc_{i}_reshape"))
        logits.append(_flatten_level(conf, num_logits, f"{name}_conf_{i}_reshape"))
    return _concat_levels(locs, f"{name}_locs"), _concat_levels(logits, f"{name}_logits")


@register_head("separable_head")
def separable_head(features, anchors_per_cell, num_logits, *, name, use_bn=False, activation="relu"):
    """SSDLite-style head: 3x3 depthwise (+ BN) + activation + 1x1 conv, for locs and logits.

    Layers per level ``i`` and kind ``k`` in (loc, conf): ``{name}_{k}_{i}_dw`` (+ ``_bn``),
    ``{name}_{k}_{i}_relu``, ``{name}_{k}_{i}``.

    Args:
        features: one feature map per detection level.
        anchors_per_cell: anchors per cell of each level.
        num_logits: C + 1 (background is class 0).
        name: layer prefix.
        use_bn: BatchNormalization after the depthwise conv (which then has no bias), default False.
        activation: relu (default), relu6, leaky_relu or linear.

    Returns:
        ``(locs (B, A, 4), logits (B, A, num_logits))``.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.common import separable_head
        >>> locs, logits = separable_head([keras.Input((4, 5, 8))], [3], 4, name="head")
        >>> tuple(locs.shape), tuple(logits.shape)
        ((None, 60, 4), (None, 60, 4))
    """
    locs, logits = [], []
    for i, (x, n) in enumerate(zip(features, anchors_per_cell)):
        outs = {}
        for kind, width in (("loc", 4), ("conf", num_logits)):
            prefix = f"{name}_{kind}_{i}"
            y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=not use_bn, name=f"{prefix}_dw")(x)
            if use_bn:
                y = kssd_layers.BatchNormalization(name=f"{prefix}_dw_bn")(y)
            y = _activate(y, activation, f"{prefix}_relu")
            y = keras.layers.Conv2D(n * width, 1, name=prefix)(y)
            outs[kind] = _flatten_level(y, width, f"{prefix}_reshape")
        locs.append(outs["loc"])
        logits.append(outs["conf"])
    return _concat_levels(locs, f"{name}_locs"), _concat_levels(logits, f"{name}_logits")
