"""RecoverBoxes: boxes normalized to the network input -> pixels of the original image."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kssd")
class RecoverBoxes(keras.layers.Layer):
    """Map ``xyxy`` boxes normalized to the network input back to original-image pixels.

    The inverse of :class:`kssd.inference.ResizePad`: called as
    ``RecoverBoxes()(boxes, image_info)`` with ``image_info`` the ``(factor_y, factor_x, H, W)``
    that ``ResizePad`` returned. ``x`` coordinates are multiplied by ``factor_x`` and ``y`` by
    ``factor_y``, then (``clip=True``) clipped to the image ``[0, W] x [0, H]``, so a box
    reaching into the letterbox padding ends at the image border. Zero padding rows stay zero.

    Args:
        clip: clip to the original image, default True.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        float32 boxes of the input's shape ``(..., 4)``, ``xyxy`` in original pixels.

    Examples:
        >>> import numpy as np
        >>> from kssd.inference import RecoverBoxes
        >>> boxes = np.array([[[0.25, 0.5, 0.75, 1.0]]], "float32")
        >>> info = np.array([400.0, 600.0, 300.0, 600.0], "float32")
        >>> np.asarray(RecoverBoxes()(boxes, info)).tolist()
        [[[150.0, 200.0, 450.0, 300.0]]]
    """

    def __init__(self, clip=True, **kwargs):
        super().__init__(**kwargs)
        self.clip = clip

    def build(self, boxes_shape, image_info_shape=None):
        """No weights to create.

        Takes the input shapes by call argument name, as Keras builds layers by shapes;
        ``image_info_shape`` may be omitted (a build config with only the first input's shape).
        """

    def call(self, boxes, image_info):
        boxes = ops.cast(boxes, "float32")
        info = ops.cast(image_info, "float32")
        factors = ops.stack([info[1], info[0], info[1], info[0]])
        boxes = boxes * factors
        if self.clip:
            limits = ops.stack([info[3], info[2], info[3], info[2]])
            boxes = ops.minimum(ops.maximum(boxes, 0.0), limits)
        return boxes

    def compute_output_spec(self, boxes, image_info):
        return keras.KerasTensor(boxes.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"clip": self.clip})
        return config
