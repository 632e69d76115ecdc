"""SSDDetector: a Keras model that owns its detection contract (anchors, matching, decoding)."""

import copy

import keras
import numpy as np
from keras import ops

from kssd.anchors import generate_anchors
from kssd.boxes.matcher import check_matching
from kssd.layers import POSTPROCESS_DEFAULTS, AnchorBoxes, DecodeDetections, NonMaxSuppression

#: Anchor arguments an :class:`~kssd.layers.AnchorBoxes` layer stores (its config, minus
#: base-layer keys); ``feature_sizes`` is the detector's own (fixed-size models).
ANCHOR_KEYS = ("steps", "min_sizes", "scales", "aspect_ratios", "extra_box", "clip", "centers")


def default_class_names(num_classes):
    """``["class_1", ..., "class_C"]``: the names of classes nobody named.

    Examples:
        >>> from kssd.models.ssd_detector import default_class_names
        >>> default_class_names(2)
        ['class_1', 'class_2']
    """
    return [f"class_{i}" for i in range(1, num_classes + 1)]


def _static_hw(shape):
    shape = tuple(shape)
    if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
        return int(shape[1]), int(shape[2])
    return None


def _as_layer(value, cls, what):
    """A layer of ``cls`` from an instance, its config dict or None (default instance)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        if "class_name" in value:
            return keras.saving.deserialize_keras_object(value)
        return cls(**value)
    raise ValueError(
        f"`{what}` must be a {cls.__name__} layer or its config dict, got {type(value).__name__}"
    )


@keras.saving.register_keras_serializable(package="kssd")
class SSDDetector(keras.Model):
    """An SSD detector: ``fit`` trains on raw ``y_pred``, ``predict`` returns boxes.

    The model wraps a network mapping RGB float images (0..255) to the raw SSD output
    ``y_pred`` ``(B, A, 4 + C + 1)`` (4 encoded offsets, then C + 1 logits; C =
    ``num_classes`` object classes, logit 0 = background) and owns everything the rest of
    kssd needs to know about it: the anchor generator, the box-coder variances, the matching
    settings used to encode training targets, the prediction decoder (a
    :class:`~kssd.layers.NonMaxSuppression` layer holding the postprocess defaults), its
    normalization and its input size. Data pipelines, the inference graph, export and
    evaluation read these attributes; nothing reads a model file format or YAML schema.

    * ``model(images)``, ``fit`` and ``evaluate`` see the raw ``y_pred`` (compile with
      :class:`kssd.losses.SSDLoss`).
    * ``predict(images)`` returns the detections dict ``{"boxes" (B, K, 4) xyxy in input
      pixels, "scores" (B, K), "classes" (B, K) int32 in 1..C (0 = padding),
      "num_detections" (B,)}``, decoded against the anchors of the images' size;
      :meth:`raw_predict` returns ``y_pred``.

    Args:
        network: a ``keras.Model`` with one image input and one ``y_pred`` output. Its
            layers become the detector's (same names, same weights).
        anchor_generator: a :class:`kssd.layers.AnchorBoxes` layer (or its config dict)
            describing the anchors (``steps``, ``min_sizes`` or ``scales``/``aspect_ratios``,
            ...).
        num_classes: C, the number of object classes (background excluded).
        feature_sizes: feature-map sizes per level at ``input_size`` for anchor styles
            without ``steps``, default None.
        class_names: C names, default None (``class_1`` ...).
        variances: box-coder variances ``(centre, size)``, default ``(0.1, 0.2)``.
        match_threshold: IoU for a threshold match when encoding targets, default 0.45.
        matching: ``"bipartite"`` (default) or ``"forced"``, see
            :func:`kssd.boxes.match_anchors`.
        negative_threshold: neutral-zone lower edge, default None (none).
        prediction_decoder: a :class:`kssd.layers.NonMaxSuppression` layer (or its config),
            default None (:data:`kssd.layers.POSTPROCESS_DEFAULTS`).
        normalization: what the network's first layer does, ``{"mean", "std"}`` or
            ``{"scale", "offset"}`` on 0..255 inputs, or None; informs padding (letterbox
            pads with the mean colour), default None.
        input_size: ``(height, width)`` the model was built and trained for, default None
            (the network input's static size).
        dynamic: whether the network is fully convolutional (runs at other sizes), default
            None (True when the network input has no static size).
        **kwargs: ``name`` and other ``keras.Model`` arguments.

    Examples:
        >>> import keras, numpy as np
        >>> from kssd.layers import AnchorBoxes
        >>> from kssd.models import SSDDetector
        >>> images = keras.Input((64, 64, 3))
        >>> x = keras.layers.Conv2D(8, 3, strides=8, padding="same")(images)  # 8x8 grid
        >>> x = keras.layers.Conv2D(2 * (4 + 2), 3, padding="same")(x)        # 2 boxes/cell
        >>> y_pred = keras.layers.Reshape((-1, 4 + 2))(x)
        >>> model = SSDDetector(keras.Model(images, y_pred),
        ...                     AnchorBoxes(steps=[8], min_sizes=[[8, 16]]), num_classes=1)
        >>> model.anchors.shape
        (128, 4)
        >>> out = model.predict(np.zeros((2, 64, 64, 3), "float32"), verbose=0)
        >>> sorted(out), out["boxes"].shape
        (['boxes', 'classes', 'num_detections', 'scores'], (2, 200, 4))
        >>> model.raw_predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0).shape
        (1, 128, 6)
    """

    def __init__(
        self,
        network,
        anchor_generator,
        num_classes,
        *,
        feature_sizes=None,
        class_names=None,
        variances=(0.1, 0.2),
        match_threshold=0.45,
        matching="bipartite",
        negative_threshold=None,
        prediction_decoder=None,
        normalization=None,
        input_size=None,
        dynamic=None,
        **kwargs,
    ):
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        if not isinstance(network, keras.Model):
            raise ValueError(f"`network` must be a keras.Model, got {type(network).__name__}")
        anchor_generator = _as_layer(anchor_generator, AnchorBoxes, "anchor_generator")
        prediction_decoder = _as_layer(prediction_decoder, NonMaxSuppression, "prediction_decoder")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be an int >= 1 (objects only), got {num_classes!r}")
        check_matching(matching, match_threshold, negative_threshold)
        kwargs.setdefault("name", network.name)
        super().__init__(inputs=network.input, outputs=network.output, **kwargs)
        own_size = _static_hw(network.input.shape)
        if input_size is None:
            input_size = own_size
        contract = {
            "num_classes": int(num_classes),
            "class_names": (
                list(class_names) if class_names is not None else default_class_names(num_classes)
            ),
            "variances": tuple(float(v) for v in variances),
            "match_threshold": float(match_threshold),
            "matching": matching,
            "negative_threshold": None if negative_threshold is None else float(negative_threshold),
            "normalization": copy.deepcopy(normalization),
            "input_size": None if input_size is None else tuple(int(v) for v in input_size),
            "dynamic": own_size is None if dynamic is None else bool(dynamic),
            "feature_sizes": copy.deepcopy(feature_sizes),
        }
        if len(contract["class_names"]) != num_classes:
            raise ValueError(
                f"`class_names` has {len(contract['class_names'])} names but num_classes is {num_classes}"
            )
        # Plain data and weightless layers, kept out of Keras' attribute tracking (the
        # network's layers are the model's layers; these add no weights).
        object.__setattr__(self, "_contract", contract)
        object.__setattr__(self, "_anchor_generator", anchor_generator)
        object.__setattr__(self, "_prediction_decoder", prediction_decoder)
        object.__setattr__(self, "_box_decoder", DecodeDetections(variances=list(variances)))
        object.__setattr__(self, "_raw_outputs", False)
        object.__setattr__(self, "_anchor_cache", {})

    # -- the contract ----------------------------------------------------------------------
    @property
    def anchor_generator(self):
        """The :class:`kssd.layers.AnchorBoxes` layer describing the anchors."""
        return self._anchor_generator

    @property
    def anchor_config(self):
        """Keyword arguments of :func:`kssd.anchors.generate_anchors` for these anchors."""
        config = self._anchor_generator.get_config()
        args = {k: config[k] for k in ANCHOR_KEYS if config.get(k) is not None}
        if self._contract["feature_sizes"] is not None:
            args["feature_sizes"] = copy.deepcopy(self._contract["feature_sizes"])
        return args

    @property
    def prediction_decoder(self):
        """The :class:`kssd.layers.NonMaxSuppression` layer ``predict`` uses."""
        return self._prediction_decoder

    @property
    def postprocess(self):
        """The decoder's settings: score/IoU thresholds and detection counts (a dict)."""
        config = self._prediction_decoder.get_config()
        return {key: config[key] for key in POSTPROCESS_DEFAULTS}

    @property
    def num_classes(self):
        return self._contract["num_classes"]

    @property
    def class_names(self):
        return list(self._contract["class_names"])

    @property
    def variances(self):
        return self._contract["variances"]

    @property
    def match_threshold(self):
        return self._contract["match_threshold"]

    @property
    def matching(self):
        return self._contract["matching"]

    @property
    def negative_threshold(self):
        return self._contract["negative_threshold"]

    @property
    def normalization(self):
        return copy.deepcopy(self._contract["normalization"])

    @property
    def input_size(self):
        """``(height, width)`` the model is built and trained for, or None."""
        return self._contract["input_size"]

    @property
    def dynamic(self):
        """Whether the network is fully convolutional (any input size)."""
        return self._contract["dynamic"]

    @property
    def anchors(self):
        """float32 (A, 4) centre-form anchors at ``input_size`` (None without a size)."""
        return None if self.input_size is None else self.anchors_for(self.input_size)

    def anchors_for(self, image_size):
        """Anchors (A, 4) for an input of ``image_size`` ``(h, w)``.

        Raises:
            ValueError: another size than ``input_size`` for a model that is not fully
                convolutional.
        """
        image_size = tuple(int(v) for v in image_size)
        own = self.input_size
        if own is not None and image_size != tuple(own) and not self.dynamic:
            raise ValueError(
                f"{self.name} is built for input {own} and is not fully convolutional; got "
                f"image_size={image_size}. Rebuild it for that size instead."
            )
        if image_size not in self._anchor_cache:
            args = self.anchor_config
            if image_size != own:
                args.pop("feature_sizes", None)
            self._anchor_cache[image_size] = generate_anchors(image_size, **args)
        return self._anchor_cache[image_size]

    # -- prediction ------------------------------------------------------------------------
    def decode_predictions(self, y_pred, image_size):
        """Raw ``y_pred`` of images of ``image_size`` ``(h, w)`` -> the detections dict."""
        height, width = (int(v) for v in image_size)
        anchors = ops.convert_to_tensor(self.anchors_for((height, width)))
        decoded = self._box_decoder(ops.cast(y_pred, "float32"), anchors)
        detections = dict(self._prediction_decoder(decoded["boxes"], decoded["scores"]))
        scale = ops.convert_to_tensor(np.array([width, height, width, height], "float32"))
        detections["boxes"] = detections["boxes"] * scale
        return detections

    def predict_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(images, training=False)
        if self._raw_outputs:
            return y_pred
        size = _static_hw(images.shape)
        if size is None:
            raise ValueError(
                f"{self.name}.predict needs images of a static size to place anchors, got shape "
                f"{tuple(images.shape)}; use kssd.inference.build_inference_model for images "
                "of any size"
            )
        return self.decode_predictions(y_pred, size)

    def raw_predict(self, x, **kwargs):
        """``predict`` returning the raw ``y_pred`` instead of detections (same arguments)."""
        object.__setattr__(self, "_raw_outputs", True)
        self.predict_function = None
        try:
            return self.predict(x, **kwargs)
        finally:
            object.__setattr__(self, "_raw_outputs", False)
            self.predict_function = None

    # -- serialization ---------------------------------------------------------------------
    def get_config(self):
        contract = self._contract
        network = keras.Model(self.input, self.output, name=self.name)
        return {
            "network": keras.saving.serialize_keras_object(network),
            "anchor_generator": keras.saving.serialize_keras_object(self._anchor_generator),
            "num_classes": contract["num_classes"],
            "feature_sizes": copy.deepcopy(contract["feature_sizes"]),
            "class_names": list(contract["class_names"]),
            "variances": list(contract["variances"]),
            "match_threshold": contract["match_threshold"],
            "matching": contract["matching"],
            "negative_threshold": contract["negative_threshold"],
            "prediction_decoder": keras.saving.serialize_keras_object(self._prediction_decoder),
            "normalization": copy.deepcopy(contract["normalization"]),
            "input_size": None if contract["input_size"] is None else list(contract["input_size"]),
            "dynamic": contract["dynamic"],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
