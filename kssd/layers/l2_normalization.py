"""L2Normalization: unit L2 norm along an axis with a learned per-channel scale (SSD conv4_3)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kssd")
class L2Normalization(keras.layers.Layer):
    """Normalize to unit L2 norm along ``axis``, then multiply by a learned per-channel ``gamma``.

    SSD applies this to VGG16's conv4_3 features, whose activations are much larger than those
    of deeper layers; ``gamma`` starts at ``gamma_init`` (20 in the paper) and is trained.
    ``y = gamma * x / sqrt(max(sum(x**2, axis), epsilon))``.

    Args:
        gamma_init: initial value of every channel's scale, default 20.0.
        axis: the channel axis normalized over and scaled per entry, default -1.
        epsilon: lower bound of the squared norm (avoids division by zero), default 1e-12.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        Tensor of the input's shape.

    Raises:
        ValueError: ``axis`` out of range or the channel dimension unknown at build time.

    Examples:
        >>> import numpy as np
        >>> from kssd.layers import L2Normalization
        >>> x = np.array([[[[3.0, 4.0]]]], "float32")
        >>> np.asarray(L2Normalization(gamma_init=10.0)(x)).round(4).tolist()
        [[[[6.0, 8.0]]]]
    """

    def __init__(self, gamma_init=20.0, axis=-1, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"`axis` must be an int, got {axis!r}")
        if not float(epsilon) > 0:
            raise ValueError(f"`epsilon` must be positive, got {epsilon!r}")
        self.gamma_init = gamma_init
        self.axis = axis
        self.epsilon = epsilon

    def _channel_axis(self, rank):
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 0 <= axis < rank:
            raise ValueError(f"`axis`={self.axis} is out of range for an input of rank {rank}")
        return axis

    def build(self, input_shape):
        axis = self._channel_axis(len(input_shape))
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(
                f"the input's dimension at `axis`={self.axis} must be known to build "
                f"L2Normalization, got shape {tuple(input_shape)}"
            )
        self.gamma = self.add_weight(
            name="gamma",
            shape=(channels,),
            initializer=keras.initializers.Constant(float(self.gamma_init)),
            trainable=True,
        )

    def call(self, inputs):
        rank = len(inputs.shape)
        axis = self._channel_axis(rank)
        squared = ops.sum(ops.square(inputs), axis=axis, keepdims=True)
        normalized = inputs * ops.rsqrt(ops.maximum(squared, ops.cast(self.epsilon, inputs.dtype)))
        shape = [1] * rank
        shape[axis] = -1
        return normalized * ops.reshape(ops.cast(self.gamma, inputs.dtype), shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"gamma_init": self.gamma_init, "axis": self.axis, "epsilon": self.epsilon})
        return config
