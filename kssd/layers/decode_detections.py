"""DecodeDetections: raw SSD output + anchors -> corner boxes and class probabilities."""

import keras
from keras import ops

from kssd.boxes import decode
from kssd.boxes.coder import DEFAULT_BOX_CODING, check_box_coding


@keras.saving.register_keras_serializable(package="kssd")
class DecodeDetections(keras.layers.Layer):
    """Decode SSD box offsets against the anchors and softmax the class logits.

    Called as ``DecodeDetections()(y_pred, anchors)`` with ``y_pred`` the raw model output
    ``(B, A, 4 + C + 1)`` (4 encoded offsets, then C+1 logits where column 0 is background and
    C = ``num_classes`` object classes) and ``anchors`` ``(A, 4)`` normalized ``(cx, cy, w, h)``
    (e.g. from :class:`kssd.layers.AnchorBoxes`). Computation is float32.

    Args:
        variances: ``(centre, size)`` variances of the box coder, default ``(0.1, 0.2)``.
        clip: clip decoded boxes to [0, 1], default True.
        box_coding: ``"ssd"`` (default, ``w = a_w * exp(t_w * v1)``) or ``"linear"``
            (MediaPipe's scale-based decoding, ``w = t_w * v1 * a_w``); see
            :mod:`kssd.boxes.coder`.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Returns:
        Dict with ``"boxes"``: float32 ``(B, A, 4)`` normalized ``xyxy``, and ``"scores"``:
        float32 ``(B, A, C + 1)`` softmax probabilities (column 0 = background).

    Raises:
        ValueError: bad ``variances`` or ``box_coding`` at construction; wrong ranks or anchor count at call.

    Examples:
        >>> import numpy as np
        >>> from kssd.layers import DecodeDetections
        >>> anchors = np.array([[0.5, 0.5, 0.2, 0.2]], "float32")
        >>> y_pred = np.array([[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]], "float32")
        >>> out = DecodeDetections()(y_pred, anchors)
        >>> np.asarray(out["boxes"], "float64").round(4).tolist()
        [[[0.42, 0.4, 0.62, 0.6]]]
        >>> np.asarray(out["scores"], "float64").round(4).tolist()
        [[[0.5, 0.5]]]
    """

    def __init__(self, variances=(0.1, 0.2), clip=True, box_coding=DEFAULT_BOX_CODING, **kwargs):
        super().__init__(**kwargs)
        check_box_coding(box_coding)
        try:
            values = [float(v) for v in variances]
        except (TypeError, ValueError):
            values = None
        if values is None or len(values) != 2 or min(values) <= 0:
            raise ValueError(f"`variances` must be two positive numbers (centre, size), got {variances!r}")
        self.variances = variances
        self.clip = clip
        self.box_coding = box_coding
        self._variances = tuple(values)

    @staticmethod
    def _check_inputs(y_pred, anchors):
        if len(y_pred.shape) != 3 or (y_pred.shape[-1] is not None and y_pred.shape[-1] < 6):
            raise ValueError(
                "`y_pred` must have shape (batch, num_anchors, 4 + num_classes + 1) with at least "
                f"one object class (last dim >= 6), got shape {tuple(y_pred.shape)}"
            )
        if len(anchors.shape) != 2 or anchors.shape[-1] != 4:
            raise ValueError(f"`anchors` must have shape (num_anchors, 4), got shape {tuple(anchors.shape)}")
        a_pred, a_anchor = y_pred.shape[1], anchors.shape[0]
        if a_pred is not None and a_anchor is not None and a_pred != a_anchor:
            raise ValueError(
                f"`y_pred` has {a_pred} anchors (axis 1) but `anchors` has {a_anchor} rows: they must match"
            )

    def build(self, y_pred_shape, anchors_shape=None):
        """No weights to create (the inputs are checked at call time).

        Takes the input shapes by call argument name, as Keras builds layers by shapes;
        ``anchors_shape`` may be omitted (a build config with only the first input's shape).
        """

    def call(self, y_pred, anchors):
        self._check_inputs(y_pred, anchors)
        y_pred = ops.cast(y_pred, "float32")
        anchors = ops.cast(anchors, "float32")
        boxes = decode(y_pred[..., :4], anchors, self._variances, self.box_coding)
        if self.clip:
            boxes = ops.clip(boxes, 0.0, 1.0)
        scores = ops.softmax(y_pred[..., 4:], axis=-1)
        return {"boxes": boxes, "scores": scores}

    def compute_output_spec(self, y_pred, anchors):
        self._check_inputs(y_pred, anchors)
        batch, num_anchors, channels = y_pred.shape
        if num_anchors is None:
            num_anchors = anchors.shape[0]
        scores_dim = None if channels is None else channels - 4
        return {
            "boxes": keras.KerasTensor((batch, num_anchors, 4), dtype="float32"),
            "scores": keras.KerasTensor((batch, num_anchors, scores_dim), dtype="float32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update({"variances": self.variances, "clip": self.clip, "box_coding": self.box_coding})
        return config
