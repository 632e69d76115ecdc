"""BlazeFace blocks (MediaPipe's face detectors): BlazeBlocks, double BlazeBlocks and the head.

BlazeFace (Bazarevsky et al., 2019, https://arxiv.org/abs/1907.05047) is an SSD whose backbone
is a stack of BlazeBlocks: a depthwise convolution and a 1x1 projection, added to a shortcut
(max-pooled 2x2 when the block has stride 2, zero-padded in channels when it widens) and
ReLU'd. A double BlazeBlock puts a ReLU'd 1x1 bottleneck and a second depthwise convolution
before the projection. All convolutions have biases and no batch norm (as in the released
TFLite files). Padding is TensorFlow's ``"same"`` (at stride 2 it pads only bottom/right).

The head (:func:`blazeface_head`) keeps MediaPipe's raw outputs as named layers,
``{name}_regressors`` (B, A, 4 + 2 * num_keypoints) and ``{name}_classificators`` (B, A, C),
and turns them into kssd's ``y_pred`` with :class:`MediaPipeOutputs`: the first 4 regressor
values are the box offsets (``x, y, w, h`` in the ``"linear"`` box coding of
:mod:`kssd.boxes.coder`), the keypoints are left out of ``y_pred`` (kssd's decoder ignores
them), and a zero background logit is put before the classificator logits, so the softmax of
``[0, s]`` is MediaPipe's ``sigmoid(s)``.

Examples:
    >>> import keras
    >>> from kssd_zoo.blocks.blazeface import blaze_block
    >>> x = keras.Input((64, 64, 24))
    >>> tuple(blaze_block(x, name="b3", filters=32, strides=2).shape)
    (None, 32, 32, 32)
"""

import keras
from keras import ops

from kssd_zoo.blocks.registry import register_block, register_head


@keras.saving.register_keras_serializable(package="kssd_zoo")
class ChannelPadding(keras.layers.Layer):
    """Zero-pad the channel axis at the end (BlazeBlock shortcuts that widen).

    Args:
        padding: number of zero channels appended, an int >= 0.
        **kwargs: base layer arguments.

    Returns:
        Called on ``(B, H, W, C)``: ``(B, H, W, C + padding)``.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.blocks.blazeface import ChannelPadding
        >>> ChannelPadding(2)(np.ones((1, 1, 1, 1), "float32")).numpy().ravel().tolist()
        [1.0, 0.0, 0.0]
    """

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"`padding` must be an int >= 0, got {padding!r}")
        self.padding = padding

    def call(self, inputs):
        if not self.padding:
            return inputs
        # Concatenating zeros, not ops.pad: the gradient of a channel pad after a convolution
        # crashes oneDNN in TensorFlow 2.21 on CPU (segmentation fault in fit).
        zeros = ops.zeros_like(inputs[..., :1])
        return ops.concatenate([inputs, ops.repeat(zeros, self.padding, axis=-1)], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + self.padding)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config


@keras.saving.register_keras_serializable(package="kssd_zoo")
class MediaPipeOutputs(keras.layers.Layer):
    """MediaPipe's raw ``(regressors, classificators)`` -> kssd's ``(locs, logits)``.

    ``locs`` are the first 4 regressor values (the box; the keypoints that follow are left
    out), ``logits`` the classificator logits after a zero background logit (class 0), so
    ``softmax([0, s]) = sigmoid(s)`` for one class.

    Args:
        **kwargs: base layer arguments.

    Returns:
        Called on ``[regressors (B, A, K), classificators (B, A, C)]``:
        ``(locs (B, A, 4), logits (B, A, C + 1))``.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.blocks.blazeface import MediaPipeOutputs
        >>> locs, logits = MediaPipeOutputs()([np.ones((1, 2, 16), "float32"), np.full((1, 2, 1), 3.0, "float32")])
        >>> tuple(locs.shape), logits.numpy()[0, 0].tolist()
        ((1, 2, 4), [0.0, 3.0])
    """

    def call(self, inputs):
        regressors, classificators = inputs
        background = ops.zeros_like(classificators[..., :1])
        return regressors[..., :4], ops.concatenate([background, classificators], axis=-1)

    def compute_output_shape(self, input_shape):
        regressors, classificators = input_shape
        classes = classificators[-1]
        return (*regressors[:-1], 4), (*classificators[:-1], None if classes is None else classes + 1)


def _shortcut(inputs, filters, strides, name):
    x = inputs
    if strides == 2:
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"{name}_pool")(x)
    elif strides != 1:
        raise ValueError(f"strides must be 1 or 2, got {strides!r}")
    extra = filters - inputs.shape[-1]
    if extra < 0:
        raise ValueError(f"a BlazeBlock cannot narrow its input ({inputs.shape[-1]} -> {filters} channels)")
    if extra:
        x = ChannelPadding(extra, name=f"{name}_channel_pad")(x)
    return x


@register_block("blaze_block")
def blaze_block(inputs, *, name, filters, strides=1, kernel_size=3, residual=True):
    """BlazeBlock: depthwise kxk + 1x1 projection, + shortcut, ReLU.

    Layers: ``{name}_dw``, ``{name}_project``, the shortcut's ``{name}_pool`` (stride 2) and
    ``{name}_channel_pad`` (when widening), ``{name}_add``, ``{name}_relu``.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels (>= input channels when ``residual``).
        strides: 1 or 2, default 1 (on the depthwise convolution; the shortcut max-pools).
        kernel_size: depthwise kernel, default 3 (BlazeFace's paper uses 5).
        residual: add the shortcut, default True; False gives the plain separable
            convolution + ReLU that ends the back-camera model.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.blazeface import blaze_block
        >>> tuple(blaze_block(keras.Input((16, 16, 88)), name="b12", filters=96, strides=2).shape)
        (None, 8, 8, 96)
    """
    x = keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", name=f"{name}_dw")(inputs)
    x = keras.layers.Conv2D(filters, 1, name=f"{name}_project")(x)
    if residual:
        x = keras.layers.Add(name=f"{name}_add")([_shortcut(inputs, filters, strides, name), x])
    return keras.layers.ReLU(name=f"{name}_relu")(x)


@register_block("double_blaze_block")
def double_blaze_block(inputs, *, name, filters, mid_filters, strides=1, kernel_size=3):
    """Double BlazeBlock: dw kxk, 1x1 to ``mid_filters``, ReLU, dw kxk, 1x1 to ``filters``, + shortcut, ReLU.

    Layers: ``{name}_dw1``, ``{name}_reduce``, ``{name}_reduce_relu``, ``{name}_dw2``,
    ``{name}_project``, the shortcut's ``{name}_pool`` / ``{name}_channel_pad``,
    ``{name}_add``, ``{name}_relu``.

    Args:
        inputs: one tensor.
        name: node name (layer prefix).
        filters: output channels (>= input channels).
        mid_filters: bottleneck channels.
        strides: 1 or 2 (on the first depthwise convolution), default 1.
        kernel_size: depthwise kernels, default 3.

    Returns:
        The output tensor.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.blazeface import double_blaze_block
        >>> x = keras.Input((96, 96, 32))
        >>> tuple(double_blaze_block(x, name="d1", filters=48, mid_filters=12, strides=2).shape)
        (None, 48, 48, 48)
    """
    x = keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", name=f"{name}_dw1")(inputs)
    x = keras.layers.Conv2D(mid_filters, 1, name=f"{name}_reduce")(x)
    x = keras.layers.ReLU(name=f"{name}_reduce_relu")(x)
    x = keras.layers.DepthwiseConv2D(kernel_size, padding="same", name=f"{name}_dw2")(x)
    x = keras.layers.Conv2D(filters, 1, name=f"{name}_project")(x)
    x = keras.layers.Add(name=f"{name}_add")([_shortcut(inputs, filters, strides, name), x])
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _flatten(tensors, width, name):
    if len(tensors) == 1:
        return keras.layers.Reshape((-1, width), name=name)(tensors[0])
    flat = [keras.layers.Reshape((-1, width), name=f"{name}_{i}_reshape")(t) for i, t in enumerate(tensors)]
    return keras.layers.Concatenate(axis=1, name=name)(flat)


@register_head("blazeface_head")
def blazeface_head(features, anchors_per_cell, num_logits, *, name, num_keypoints=6):
    """MediaPipe's SSD head: 1x1 regressor and classificator convolutions per level.

    Layers per level ``i``: ``{name}_regressor_{i}`` (``n * (4 + 2 * num_keypoints)``
    channels: per anchor ``x, y, w, h`` then the keypoints' ``x, y``) and
    ``{name}_classificator_{i}`` (``n * C`` channels, one sigmoid logit per object class);
    then ``{name}_regressors`` (B, A, 4 + 2 * num_keypoints) and ``{name}_classificators``
    (B, A, C), MediaPipe's two raw outputs, and ``{name}_outputs``
    (:class:`MediaPipeOutputs`) giving kssd's locs and logits.

    Args:
        features: one feature map per detection level.
        anchors_per_cell: anchors per cell of each level.
        num_logits: C + 1 (background is class 0; the head predicts the C object logits and
            the background logit is 0).
        name: layer prefix.
        num_keypoints: keypoints per box in the raw regressors, default 6 (BlazeFace: eyes,
            nose tip, mouth, ear tragions).

    Returns:
        ``(locs (B, A, 4), logits (B, A, num_logits))``.

    Examples:
        >>> import keras
        >>> from kssd_zoo.blocks.blazeface import blazeface_head
        >>> feats = [keras.Input((16, 16, 88)), keras.Input((8, 8, 96))]
        >>> locs, logits = blazeface_head(feats, [2, 6], 2, name="head")
        >>> tuple(locs.shape), tuple(logits.shape)
        ((None, 896, 4), (None, 896, 2))
    """
    if num_logits < 2:
        raise ValueError(f"num_logits must be C + 1 >= 2, got {num_logits}")
    coords = 4 + 2 * int(num_keypoints)
    classes = num_logits - 1
    regressors, classificators = [], []
    for i, (x, n) in enumerate(zip(features, anchors_per_cell)):
        regressors.append(keras.layers.Conv2D(n * coords, 1, name=f"{name}_regressor_{i}")(x))
        classificators.append(keras.layers.Conv2D(n * classes, 1, name=f"{name}_classificator_{i}")(x))
    regressors = _flatten(regressors, coords, f"{name}_regressors")
    classificators = _flatten(classificators, classes, f"{name}_classificators")
    return MediaPipeOutputs(name=f"{name}_outputs")([regressors, classificators])


__all__ = [
    "ChannelPadding",
    "MediaPipeOutputs",
    "blaze_block",
    "blazeface_head",
    "double_blaze_block",
]
