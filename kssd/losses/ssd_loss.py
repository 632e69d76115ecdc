"""The SSD training loss: Smooth-L1 localization plus softmax confidence with hard negatives."""

import keras
from keras import ops


def _check_inputs(y_true, y_pred):
    if y_true.shape[-1] is not None and y_true.shape[-1] != 5:
        raise ValueError(
            "`y_true` must have shape (batch, anchors, 5): 4 encoded offsets then the class id, "
            f"got {tuple(y_true.shape)}"
        )
    if y_pred.shape[-1] is not None and y_pred.shape[-1] < 6:
        raise ValueError(
            "`y_pred` must have shape (batch, anchors, 4 + num_classes + 1): 4 offsets then at "
            f"least 2 class logits (background + one class), got {tuple(y_pred.shape)}"
        )
    if len(y_true.shape) != 3 or len(y_pred.shape) != 3:
        raise ValueError(
            "`y_true` and `y_pred` must be rank 3 (batch, anchors, channels), got "
            f"{tuple(y_true.shape)} and {tuple(y_pred.shape)}"
        )


def _check_args(neg_pos_ratio, alpha, min_negatives):
    if not neg_pos_ratio >= 0:
        raise ValueError(f"`neg_pos_ratio` must be >= 0, got {neg_pos_ratio!r}")
    if not alpha >= 0:
        raise ValueError(f"`alpha` must be >= 0, got {alpha!r}")
    if int(min_negatives) != min_negatives or min_negatives < 0:
        raise ValueError(f"`min_negatives` must be an integer >= 0, got {min_negatives!r}")


def _per_image_terms(y_true, y_pred, neg_pos_ratio, min_negatives):
    """Per-image sums (B,) of the localization and confidence terms, and the batch's N.

    Nothing here is normalized: ``loc[i]`` is the Smooth-L1 summed over the 4 coordinates of
    image i's positives, ``conf[i]`` the cross-entropy summed over its positives and its hard
    negatives. ``num_pos`` is the batch's positive count clamped to at least 1.
    """
    _check_inputs(y_true, y_pred)
    dtype = y_pred.dtype
    loc_true = y_true[..., :4]
    class_id = y_true[..., 4]
    loc_pred = y_pred[..., :4]
    logits = y_pred[..., 4:]
    num_logits = logits.shape[-1]

    positive = class_id > 0.5  # (B, A); class ids are whole numbers stored as float
    candidate = ops.logical_and(class_id > -0.5, class_id < 0.5)  # background; < 0 = ignored
    pos_f = ops.cast(positive, dtype)

    # Localization: Huber with delta 1 (= Smooth L1), summed over the 4 coordinates of
    # positives. Targets of non-positive anchors are zeroed first so that whatever an encoder
    # left there (even inf) cannot leak a NaN into the gradient.
    loc_true = ops.where(ops.expand_dims(positive, -1), loc_true, 0.0)
    diff = ops.abs(loc_pred - loc_true)
    smooth_l1 = ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5)
    loc = ops.sum(ops.sum(smooth_l1, axis=-1) * pos_f, axis=-1)  # (B,)

    # Softmax cross-entropy of every anchor against its class (background for negatives).
    labels = ops.cast(ops.maximum(class_id, 0.0), "int32")
    log_probs = ops.log_softmax(logits, axis=-1)
    ce = -ops.sum(ops.one_hot(labels, num_logits, dtype=dtype) * log_probs, axis=-1)  # (B, A)

    # Hard negatives: per image, the k highest-CE background anchors (positives and ignored
    # anchors excluded from the ranking), k = max(floor(ratio * n_pos), min_negatives). The
    # rank of each anchor comes from a double argsort, so the selection is exact and batched.
    num_pos_image = ops.sum(pos_f, axis=-1)  # (B,)
    num_neg = ops.maximum(ops.floor(neg_pos_ratio * num_pos_image), float(min_negatives))
    score = ops.where(candidate, ops.stop_gradient(ce), -1.0)  # CE >= 0 > -1
    order = ops.argsort(-score, axis=-1)
    rank = ops.argsort(order, axis=-1)
    negative = ops.logical_and(candidate, ops.cast(rank, dtype) < ops.expand_dims(num_neg, -1))
    selected = ops.cast(ops.logical_or(positive, negative), dtype)
    conf = ops.sum(ce * selected, axis=-1)  # (B,)

    num_pos = ops.maximum(_sum_over_replicas(ops.sum(num_pos_image)), 1.0)
    return loc, conf, num_pos


def _replicas_in_sync():
    """Replicas of the ``tf.distribute`` step being traced (1 outside one, and on JAX)."""
    if keras.backend.backend() != "tensorflow":
        return 1  # keras.distribution (JAX) runs the loss once on the global batch
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


def _sum_over_replicas(value):
    """``value`` summed over the replicas of a ``tf.distribute`` step (itself elsewhere)."""
    if _replicas_in_sync() == 1:
        return value
    import tensorflow as tf

    total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)
    return ops.stop_gradient(total)


def ssd_loss_components(y_true, y_pred, neg_pos_ratio=3.0, min_negatives=0):
    """The two terms of :class:`SSDLoss`, each already divided by the batch's positives N.

    Handy for logging: ``SSDLoss(alpha=a)(y_true, y_pred)`` equals
    ``classification + a * localization``.

    Args:
        y_true: (B, A, 5) encoded targets: 4 offsets, then the class id as float (0 = background).
        y_pred: (B, A, 4 + C + 1) raw model output: 4 offsets, then C + 1 logits
            (num_classes = C objects, channel 0 = background).
        neg_pos_ratio: hard negatives per positive, default 3.
        min_negatives: hard negatives kept per image even without positives, default 0.

    Returns:
        dict with scalar tensors ``"localization"``, ``"classification"`` and
        ``"num_positives"`` (N, at least 1).

    Examples:
        >>> import numpy as np
        >>> from kssd.losses import ssd_loss_components
        >>> y_true = np.zeros((1, 2, 5), "float32"); y_true[0, 0] = [0.5, 0., 0., 0., 1.]
        >>> y_pred = np.zeros((1, 2, 6), "float32")
        >>> parts = ssd_loss_components(y_true, y_pred)
        >>> round(float(parts["localization"]), 4), round(float(parts["classification"]), 4)
        (0.125, 1.3863)
    """
    _check_args(neg_pos_ratio, 1.0, min_negatives)
    y_true = ops.convert_to_tensor(y_true, dtype="float32")
    y_pred = ops.convert_to_tensor(y_pred, dtype="float32")
    loc, conf, num_pos = _per_image_terms(y_true, y_pred, neg_pos_ratio, min_negatives)
    return {
        "localization": ops.sum(loc) / num_pos,
        "classification": ops.sum(conf) / num_pos,
        "num_positives": num_pos,
    }


@keras.saving.register_keras_serializable(package="kssd")
class SSDLoss(keras.losses.Loss):
    """The SSD (MultiBox) loss with hard negative mining, as defined in the SSD paper.

    For a batch with N positive anchors (N clamped to at least 1)::

        L = (L_conf + alpha * L_loc) / N

    * ``L_loc``: Smooth-L1 (Huber, delta 1) between predicted and target offsets, summed over
      the 4 coordinates and over every positive anchor (class id > 0).
    * ``L_conf``: softmax cross-entropy summed over the positives and the hard negatives.
      An image with ``n`` positives keeps its ``max(floor(neg_pos_ratio * n), min_negatives)``
      background anchors of highest cross-entropy (never more than it has); positives are
      excluded from that ranking. Anchors whose class id is negative are ignored (neither
      positive nor negative), for encoders that mark neutral anchors.

    A batch without positives gives ``L_conf`` of the ``min_negatives`` hardest negatives per
    image (0 with the default), always finite, with finite gradients. The selection is
    vectorized (a double ``argsort`` gives each anchor its rank), uses only ``keras.ops`` and
    runs under the TensorFlow and JAX backends.

    **Reduction.** Keras calls :meth:`call` for per-sample values and then reduces them. The
    normalizer N is a property of the whole batch, so :meth:`call` returns, for each image i,
    ``B * (conf_i + alpha * loc_i) / N`` (B = batch size). Their mean, the default
    ``"sum_over_batch_size"`` reduction, is exactly ``L`` above, so
    ``model.compile(loss=SSDLoss())`` optimizes the paper's loss. ``reduction="sum"`` gives
    ``B * L``; ``"none"`` gives the per-image contributions (they average to ``L``); a
    ``sample_weight`` of shape (B,) weights those contributions.

    **Several devices.** N is always the positive count of the *global* batch. Under a
    ``tf.distribute`` strategy with R replicas each replica sees B / R images; N is summed over
    the replicas (an all-reduce) and each value is scaled by R to undo the ``1 / R`` Keras
    applies before it sums the replicas' gradients, so a step on R replicas with global batch
    B computes the loss and the gradients of one device with batch B (up to float rounding),
    and the logged loss is that same number. With ``keras.distribution`` (JAX) the loss runs
    once on the global batch, so N is global there too. Per-replica normalizers would weight a
    replica whose images hold few faces as much as a crowded one.

    **Differences from the ``MultiBoxLoss`` of the WIDER FACE slim face SSD tutorial:**

    * its localization term uses ``tf.keras.losses.Huber``, which averages over the last axis,
      so each positive contributes the *mean* over its 4 coordinates: a quarter of the paper's
      (and this class's) summed Smooth-L1;
    * its hard-negative ranking sorts *all* anchors by cross-entropy, positives included, so
      hard positives take negative slots and an image gets fewer than ``3 n`` true negatives;
    * it divides by N without clamping, so a batch without positives gives NaN/inf;
    * it returns the two terms separately (summed with weight 1 by its training loop).

    Args:
        neg_pos_ratio: hard negatives per positive, default 3.
        alpha: weight of the localization term, default 1.0.
        min_negatives: hard negatives kept per image even when it has no positive (so
            background-only images still train the classifier), default 0.
        reduction: Keras reduction of the per-image values, default ``"sum_over_batch_size"``
            (see above).
        name: default ``"ssd_loss"``.

    Returns:
        Called as ``loss(y_true, y_pred)`` with ``y_true`` (B, A, 5) = 4 encoded offsets then
        the class id as float (0 = background) and ``y_pred`` (B, A, 4 + C + 1) = 4 offsets then
        C + 1 logits (num_classes = C objects, channel 0 = background): a scalar loss.

    Examples:
        >>> import numpy as np
        >>> from kssd.losses import SSDLoss
        >>> y_true = np.zeros((1, 2, 5), "float32"); y_true[0, 0] = [0.5, 0., 0., 0., 1.]
        >>> y_pred = np.zeros((1, 2, 6), "float32")  # 2 anchors, C = 1: uniform logits
        >>> round(float(SSDLoss()(y_true, y_pred)), 4)  # 0.5 * 0.5**2 + 2 * log(2)
        1.5113
    """

    def __init__(
        self, neg_pos_ratio=3.0, alpha=1.0, min_negatives=0, reduction="sum_over_batch_size", name="ssd_loss"
    ):
        _check_args(neg_pos_ratio, alpha, min_negatives)
        super().__init__(name=name, reduction=reduction)
        self.neg_pos_ratio = neg_pos_ratio
        self.alpha = alpha
        self.min_negatives = min_negatives

    def call(self, y_true, y_pred):
        """Per-image values ``B * (conf_i + alpha * loc_i) / N`` (B,); their mean is the loss."""
        loc, conf, num_pos = _per_image_terms(
            y_true, y_pred, float(self.neg_pos_ratio), int(self.min_negatives)
        )
        # Under R tf.distribute replicas Keras divides each replica's mean by R and sums the
        # gradients: scaling by R makes the step that of one device on the global batch.
        batch = ops.cast(ops.shape(y_pred)[0] * _replicas_in_sync(), y_pred.dtype)
        return (conf + float(self.alpha) * loc) * (batch / num_pos)

    def get_config(self):
        return {
            "neg_pos_ratio": self.neg_pos_ratio,
            "alpha": self.alpha,
            "min_negatives": self.min_negatives,
            "reduction": self.reduction,
            "name": self.name,
        }
