"""The SSD box coder: offsets of ground-truth boxes relative to anchors, with variances.

Why not ``keras.utils.bounding_boxes.encode_box_to_deltas`` / ``decode_deltas_to_boxes``?
They compute the same SSD offsets (with ``anchor_format="center_xywh"``, ``box_format="xyxy"``,
``encoding_format="center_xywh"`` and ``variance=[v0, v0, v1, v1]``), but, measured with
Keras 3.15.1 / TensorFlow 2.21 / JAX 0.10.2 (``tests/boxes/test_box_coder_vs_keras.py``):

* **tf.data under JAX / PyTorch**: they fail (``NotImplementedError: Cannot convert a symbolic
  tf.Tensor to a numpy array``): only their format conversion switches to TensorFlow ops inside
  a ``tf.data`` graph, their own ``ops.maximum`` / ``ops.log`` / ``ops.concatenate`` use the
  active backend. kssd's target encoder runs in a ``tf.data`` map on every backend
  (:func:`kssd.backend.ops_for`), so ``tests/test_encoding.py::test_inside_tf_data_map_graph_mode``
  fails under JAX when routed through them (all other coder, encoding and DecodeDetections value
  tests pass unchanged under TensorFlow and JAX);
* **zero sizes**: they clamp widths/heights to ``keras.config.epsilon()`` (1e-7) before the
  log, so a degenerate box encodes to a finite ``log(1e-7 / a_wh) / v1`` (about -61 for a 0.2
  anchor) instead of ``-inf``; kssd never encodes zero-size boxes (the encoder substitutes a
  unit box for background anchors) and keeps the exact formula;
* **dtype**: they always compute in float32 (float64 inputs come back float32 under TensorFlow,
  float16 inputs come back float32), kssd keeps the input dtype;
* **numbers**: otherwise equal to float32 rounding: decode bit-identical, encode within 3.1e-5
  absolute / 2.5e-5 relative (kssd divides by ``v0 * a_wh`` once, Keras by ``a_wh`` then
  ``v0``) on 2000 random boxes.

The variance order is the only other difference: Keras takes four per-coordinate values
``[vx, vy, vw, vh]``, kssd two ``(centre, size)``.

Two box codings (``box_coding``):

* ``"ssd"`` (default, the SSD paper): ``t_xy = (g_xy - a_xy) / (v0 * a_wh)``,
  ``t_wh = log(g_wh / a_wh) / v1``.
* ``"linear"`` (MediaPipe's scale-based decoding, BlazeFace): the same centre offsets, and
  sizes linear in the offsets, ``t_wh = g_wh / (v1 * a_wh)`` (decode ``g_wh = t_wh * v1 *
  a_wh``, no exp). MediaPipe's ``x_scale = y_scale = w_scale = h_scale = S`` is
  ``variances = (1 / S, 1 / S)``; with its fixed unit anchors (``w = h = 1``) the raw outputs
  are pixels of the S x S input.
"""

from kssd.backend import ops_for
from kssd.boxes.formats import center_to_corners, corners_to_center

DEFAULT_VARIANCES = (0.1, 0.2)

#: The box codings :func:`encode` and :func:`decode` know (see the module docstring).
BOX_CODINGS = ("ssd", "linear")
DEFAULT_BOX_CODING = "ssd"


def _check_variances(variances):
    if len(variances) != 2 or min(variances) <= 0:
        raise ValueError(f"`variances` must be two positive numbers (centre, size), got {tuple(variances)}")


def check_box_coding(box_coding):
    """Raise a ValueError unless ``box_coding`` is one of :data:`BOX_CODINGS`.

    Examples:
        >>> from kssd.boxes.coder import check_box_coding
        >>> check_box_coding("linear")
    """
    if box_coding not in BOX_CODINGS:
        raise ValueError(f"`box_coding` must be one of {BOX_CODINGS}, got {box_coding!r}")


def encode(boxes, anchors, variances=DEFAULT_VARIANCES, box_coding=DEFAULT_BOX_CODING):
    """Encode corner boxes as SSD offsets against centre-form anchors.

    ``t_xy = (g_xy - a_xy) / (v0 * a_wh)`` and ``t_wh = log(g_wh / a_wh) / v1`` (``"ssd"``),
    or ``t_wh = g_wh / (v1 * a_wh)`` (``"linear"``).

    Args:
        boxes: tensor (..., A, 4) ``xyxy`` normalized, one box per anchor.
        anchors: tensor (A, 4) ``(cx, cy, w, h)`` normalized.
        variances: (centre, size) variances, default ``(0.1, 0.2)``.
        box_coding: ``"ssd"`` (default) or ``"linear"`` (see the module docstring).

    Returns:
        Tensor (..., A, 4) of offsets. Boxes must have positive width and height.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import encode
        >>> anchors = np.array([[0.5, 0.5, 0.25, 0.25]])
        >>> np.asarray(encode(np.array([[0.4, 0.375, 0.65, 0.625]]), anchors), "float64").round(4)
        array([[1., 0., 0., 0.]])
    """
    _check_variances(variances)
    check_box_coding(box_coding)
    ops = ops_for(boxes, anchors)
    centre = corners_to_center(boxes)
    t_xy = (centre[..., :2] - anchors[..., :2]) / (variances[0] * anchors[..., 2:])
    if box_coding == "linear":
        t_wh = centre[..., 2:] / (variances[1] * anchors[..., 2:])
    else:
        t_wh = ops.log(centre[..., 2:] / anchors[..., 2:]) / variances[1]
    return ops.concatenate([t_xy, t_wh], axis=-1)


def decode(offsets, anchors, variances=DEFAULT_VARIANCES, box_coding=DEFAULT_BOX_CODING):
    """Decode SSD offsets back to corner boxes (inverse of :func:`encode`).

    Args:
        offsets: tensor (..., A, 4) encoded offsets.
        anchors: tensor (A, 4) ``(cx, cy, w, h)`` normalized.
        variances: (centre, size) variances, default ``(0.1, 0.2)``.
        box_coding: ``"ssd"`` (default, ``g_wh = a_wh * exp(t_wh * v1)``) or ``"linear"``
            (``g_wh = t_wh * v1 * a_wh``, MediaPipe's decoding).

    Returns:
        Tensor (..., A, 4) ``xyxy`` normalized.

    Examples:
        >>> import numpy as np
        >>> from kssd.boxes import decode
        >>> anchors = np.array([[0.5, 0.5, 0.2, 0.2]])
        >>> np.asarray(decode(np.array([[1., 0., 0., 0.]]), anchors), "float64").round(4)
        array([[0.42, 0.4 , 0.62, 0.6 ]])
    """
    _check_variances(variances)
    check_box_coding(box_coding)
    ops = ops_for(offsets, anchors)
    xy = anchors[..., :2] + offsets[..., :2] * variances[0] * anchors[..., 2:]
    if box_coding == "linear":
        wh = offsets[..., 2:] * variances[1] * anchors[..., 2:]
    else:
        wh = anchors[..., 2:] * ops.exp(offsets[..., 2:] * variances[1])
    return center_to_corners(ops.concatenate([xy, wh], axis=-1))
