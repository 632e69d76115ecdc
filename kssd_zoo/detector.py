"""The zoo's detector model: a functional Keras model built from a YAML spec."""

import copy
import warnings

import keras

from kssd.compat import all_layers, optimizer_learning_rate
from kssd.layers import AnchorBoxes, NonMaxSuppression
from kssd.models import SSDDetector
from kssd.models.ssd_detector import ANCHOR_KEYS
from kssd_zoo.builder import build_network
from kssd_zoo.optimizers import make_optimizer
from kssd_zoo.spec import SpecError, parse_spec


def set_batch_norm_momentum(model, momentum):
    """Set the moving-average momentum of every BatchNormalization layer in ``model``.

    Keras' default 0.99 makes the inference statistics lag a few hundred steps behind the
    weights, which hides what a short run has learnt; 0.9 (PyTorch's default) follows within
    about 30 steps. Returns the number of layers changed.

    Examples:
        >>> import kssd_zoo
        >>> from kssd_zoo.detector import set_batch_norm_momentum
        >>> set_batch_norm_momentum(kssd_zoo.build("tiny_ssd"), 0.9) > 0
        True
    """
    if not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"batch_norm_momentum must be in [0, 1], got {momentum!r}")
    changed = 0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            changed += 1
    return changed


@keras.saving.register_keras_serializable(package="kssd_zoo")
class Detector(SSDDetector):
    """An SSD detector built from a spec: the YAML-built :class:`kssd.models.SSDDetector`.

    The network maps an RGB float image (0..255) to y_pred (B, A, 4 + C + 1); ``num_classes``
    (C) counts objects only; class 0 is background, so logits have C + 1 channels. Anchors,
    variances, matching, the prediction decoder (``postprocess``) and normalization come from
    the spec and are held by :class:`~kssd.models.SSDDetector`, so ``predict`` returns
    detections. The model's config is its spec, so ``.keras`` files reload after
    ``import kssd_zoo``.

    Args:
        spec: a :class:`~kssd_zoo.spec_types.ModelSpec` (from :func:`kssd_zoo.spec.parse_spec`)
            or a spec dict (validated here, once).
        **kwargs: forwarded to ``keras.Model`` (e.g. ``name``, default the spec's name).

    Attributes:
        spec: the validated spec (a copy).

    Every other attribute (``anchors``, ``feature_shapes``, ``input_size``, ``dynamic``,
    ``num_classes``, ``class_names``, ``variances``, ``match_threshold``, ``matching``,
    ``negative_threshold``, ``postprocess``, ``normalization``, ``augmentation``, ``network``)
    is :class:`kssd.models.SSDDetector`'s.

    Examples:
        >>> import numpy as np, kssd_zoo
        >>> model = kssd_zoo.build("face_ssd", compile=False)
        >>> model.anchors.shape, model.num_classes
        ((4420, 4), 1)
        >>> model(np.zeros((1, 240, 320, 3), "float32")).shape
        TensorShape([1, 4420, 6])
        >>> model.predict(np.zeros((1, 240, 320, 3), "float32"), verbose=0)["boxes"].shape
        (1, 200, 4)
    """

    def __init__(self, spec, **kwargs):
        spec = parse_spec(spec)  # validates a dict once; a ModelSpec already is
        # Stored without Keras attribute tracking: plain data, returned by get_config.
        object.__setattr__(self, "_kssd_spec", spec.to_dict())
        inputs, y_pred, features = build_network(spec, return_features=True)
        kwargs.setdefault("name", spec.name)
        anchors = spec.anchors
        super().__init__(
            network=keras.Model(inputs, {"y_pred": y_pred, "feature_maps": features}, name=kwargs["name"]),
            anchor_generator=AnchorBoxes(**{k: anchors[k] for k in ANCHOR_KEYS if k in anchors}),
            num_classes=spec.num_classes,
            feature_sizes=anchors.get("feature_sizes"),
            class_names=spec.class_names,
            variances=spec.variances,
            box_coding=spec.box_coding,
            match_threshold=spec.match_threshold,
            matching=spec.matching,
            negative_threshold=spec.negative_threshold,
            prediction_decoder=NonMaxSuppression(**spec.postprocess),
            normalization=spec.normalization,
            augmentation=spec.training.augmentation,
            input_size=spec.input.image_size,
            dynamic=spec.input.dynamic,
            **kwargs,
        )
        if spec.training.batch_norm_momentum is not None:
            set_batch_norm_momentum(self, spec.training.batch_norm_momentum)

    @property
    def spec(self):
        return copy.deepcopy(self._kssd_spec)

    def _raise_feature_mismatch(self, expected, shapes, size):
        key = "anchors.feature_sizes" if "feature_sizes" in self._kssd_spec["anchors"] else "anchors.steps"
        raise SpecError(
            [
                f"{key}: gives feature maps {expected} at input {size[0]}x{size[1]} but the "
                f"network's head inputs (heads.from) are {shapes}; make them agree (e.g. adjust "
                f"{key} when changing input.shape)"
            ],
            source=self._kssd_spec["name"],
        )

    # -- training ---------------------------------------------------------------------------
    def compile_from_spec(self, *, steps_per_epoch=None, **kwargs):
        """Compile with :class:`kssd.losses.SSDLoss` and the spec's optimizer and schedule.

        Args:
            steps_per_epoch: converts the schedule's epochs into optimizer steps; default None
                (``training.steps_per_epoch`` of the spec, else 100).
            **kwargs: forwarded to ``compile`` (``optimizer``/``loss`` replace the spec's).

        Returns:
            self.
        """
        from kssd.losses import SSDLoss

        training = self._kssd_spec["training"]
        kwargs.setdefault("optimizer", make_optimizer(training, steps_per_epoch))
        kwargs.setdefault("loss", SSDLoss(**(training.get("loss") or {})))
        self.compile(**kwargs)
        return self

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``, warning once when the run ends inside the spec's warm-up.

        The spec's schedule is in epochs of ``training.steps_per_epoch`` (the dataset it was
        written for); a short run on a small dataset can end while the learning rate is still
        warming up, which the warning says with the rate reached.
        """
        if not args:
            self._warn_if_run_ends_in_warmup(x, kwargs)
            if _is_dataset(x):
                kwargs.setdefault("shuffle", False)  # a tf.data pipeline shuffles itself
        return super().fit(x, y, *args, **kwargs)

    def _warn_if_run_ends_in_warmup(self, x, kwargs):
        optimizer = getattr(self, "optimizer", None)
        schedule = optimizer_learning_rate(optimizer) if optimizer is not None else None
        warmup = int(getattr(schedule, "warmup_steps", 0) or 0)
        if warmup <= 0 or getattr(self, "_kssd_warned_warmup", False):
            return
        steps = kwargs.get("steps_per_epoch")
        if steps is None:
            steps = _known_length(x)
        if steps is None:
            return
        done = int(keras.ops.convert_to_numpy(self.optimizer.iterations.value))
        end = done + int(steps) * (int(kwargs.get("epochs", 1)) - int(kwargs.get("initial_epoch", 0)))
        if end >= warmup:
            return
        object.__setattr__(self, "_kssd_warned_warmup", True)
        reached = float(keras.ops.convert_to_numpy(schedule(end)))
        spe = self._kssd_spec["training"].get("steps_per_epoch")
        sized = f"training.steps_per_epoch={spe}" if spe else "the default steps_per_epoch"
        warnings.warn(
            f"{self.name}: this fit ends at step {end}, inside the learning-rate warm-up of {warmup} "
            f"steps (sized by {sized}); the rate reaches {reached:.2g} of "
            f"{schedule.initial_learning_rate:g}. Train longer, or compile with "
            f"model.compile_from_spec(steps_per_epoch=<steps of one epoch of your data>) to size "
            "the schedule to your data",
            UserWarning,
            stacklevel=3,
        )

    # -- serialization ----------------------------------------------------------------------
    def get_config(self):
        return {"spec": copy.deepcopy(self._kssd_spec), "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def _is_dataset(x):
    try:
        import tensorflow as tf
    except ImportError:
        return False
    return isinstance(x, tf.data.Dataset)


def _known_length(x):
    """Batches in one pass over ``x`` when known (a finite tf.data.Dataset or a Sequence)."""
    if _is_dataset(x):
        n = int(x.cardinality())
        return n if n >= 0 else None
    try:
        return len(x) if isinstance(x, keras.utils.PyDataset) else None
    except TypeError:
        return None
