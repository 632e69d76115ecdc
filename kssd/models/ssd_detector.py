"""SSDDetector: a Keras model that owns its detection contract (anchors, matching, decoding)."""

import copy

import keras
import numpy as np
from keras import ops

from kssd.anchors import feature_map_sizes, generate_anchors
from kssd.boxes.coder import DEFAULT_BOX_CODING, DEFAULT_VARIANCES, check_box_coding
from kssd.boxes.matcher import DEFAULT_MATCH_THRESHOLD, DEFAULT_MATCHING, check_matching
from kssd.compat import build_from_input_spec
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


def static_hw(shape):
    """``(height, width)`` of an image-batch shape ``(B, H, W, C)``, or None when not static.

    Examples:
        >>> from kssd.models.ssd_detector import static_hw
        >>> static_hw((None, 240, 320, 3)), static_hw((None, None, None, 3))
        ((240, 320), None)
    """
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


def _apply_heads(heads, feature_maps, num_classes):
    """``y_pred`` (B, A, 4 + C + 1) from the heads applied to the feature maps (see SSDDetector)."""
    width = 4 + num_classes + 1
    if not isinstance(heads, (list, tuple)):
        if not callable(heads):
            raise ValueError(f"`heads` must be a callable or a list of callables, got {type(heads).__name__}")
        return heads(feature_maps)
    if len(heads) != len(feature_maps):
        raise ValueError(
            f"`heads` has {len(heads)} entries but the backbone returns {len(feature_maps)} feature "
            "maps; give one head per feature map (or one callable taking the list)"
        )
    levels = []
    for level, (head, feature_map) in enumerate(zip(heads, feature_maps)):
        out = head(feature_map)
        if isinstance(out, (list, tuple)):
            if len(out) != 2:
                raise ValueError(f"heads[{level}] must return one tensor or a (locations, logits) pair")
            locations = keras.layers.Reshape((-1, 4))(out[0])
            logits = keras.layers.Reshape((-1, num_classes + 1))(out[1])
            levels.append(keras.layers.Concatenate(axis=-1)([locations, logits]))
            continue
        if out.shape[-1] is None or out.shape[-1] % width:
            raise ValueError(
                f"heads[{level}] returns {out.shape[-1]} channels; expected a multiple of "
                f"4 + num_classes + 1 = {width} (per anchor: 4 offsets, then the logits)"
            )
        levels.append(keras.layers.Reshape((-1, width))(out))
    if len(levels) == 1:
        return levels[0]
    return keras.layers.Concatenate(axis=1, name="predictions")(levels)


def _network_from(backbone, heads, network, num_classes, name):
    """The functional graph ``images -> {"y_pred", "feature_maps"}`` the detector is built on."""
    if network is not None:
        if backbone is not None or heads is not None:
            raise ValueError("give either `backbone` and `heads`, or `network`, not both")
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        if not isinstance(network, keras.Model) or not isinstance(network.output, dict):
            raise ValueError(
                '`network` must be a functional keras.Model returning {"y_pred": ..., "feature_maps": '
                f"[...]}}, got {type(network).__name__}"
            )
        return network
    if not isinstance(backbone, keras.Model):
        raise ValueError(
            "`backbone` must be a functional keras.Model from images to the list of feature maps, "
            f"got {type(backbone).__name__}"
        )
    if heads is None:
        raise ValueError("`heads` is required with `backbone` (one head per feature map)")
    if isinstance(backbone.input, (list, tuple, dict)):
        raise ValueError(f"`backbone` {backbone.name!r} must take one image input")
    outputs = backbone.output
    feature_maps = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    y_pred = _apply_heads(heads, feature_maps, num_classes)
    if tuple(y_pred.shape)[-1] != 4 + num_classes + 1 or len(y_pred.shape) != 3:
        raise ValueError(
            f"the heads give y_pred of shape {tuple(y_pred.shape)}; expected (B, A, 4 + num_classes + 1)"
            f" = (B, A, {4 + num_classes + 1})"
        )
    return keras.Model(backbone.input, {"y_pred": y_pred, "feature_maps": feature_maps}, name=name)


@keras.saving.register_keras_serializable(package="kssd")
class SSDDetector(keras.Model):
    """An SSD detector: ``fit`` trains on raw ``y_pred``, ``predict`` returns boxes.

    The detector is a backbone giving one feature map per detection level and heads turning
    each feature map into raw predictions, concatenated into ``y_pred`` ``(B, A, 4 + C + 1)``
    (per anchor: 4 encoded offsets, then C + 1 logits; C = ``num_classes`` object classes,
    logit 0 = background; anchors in level order, row-major cells). Inputs are RGB float
    images (0..255). The model owns everything the rest of kssd needs to know about it: the
    anchor generator, the box-coder variances, the matching settings used to encode
    training targets, the prediction decoder (a :class:`~kssd.layers.NonMaxSuppression`
    layer holding the postprocess defaults), its normalization, training augmentation and
    input size. Data pipelines, the inference graph, export and evaluation read these
    attributes; nothing reads a model file format or YAML schema.

    * ``model(images)``, ``fit`` and ``evaluate`` see the raw ``y_pred`` (compile with
      :class:`kssd.losses.SSDLoss`).
    * ``predict(images)`` returns the detections dict ``{"boxes" (B, K, 4) xyxy in input
      pixels, "scores" (B, K), "classes" (B, K) int32 in 1..C (0 = padding),
      "num_detections" (B,)}``, decoded against the anchors of the images' size;
      :meth:`raw_predict` returns ``y_pred``.
    * :attr:`network` returns ``y_pred`` and the feature maps in one pass (the inference
      graph places its anchors on the real feature maps).

    Args:
        backbone: a functional ``keras.Model`` from images to the list of feature maps (one
            per detection level, in anchor order).
        heads: one callable per feature map (Keras layers or functions of layers), each
            returning the level's predictions as one tensor ``(B, h, w, n * (4 + C + 1))``
            or a ``(locations (B, h, w, n * 4), logits (B, h, w, n * (C + 1)))`` pair; or
            one callable taking the list of feature maps and returning ``y_pred``.
        anchor_generator: a :class:`kssd.layers.AnchorBoxes` layer (or its config dict)
            describing the anchors (``steps``, ``min_sizes`` or ``scales``/``aspect_ratios``,
            ...).
        num_classes: C, the number of object classes (background excluded).
        network: instead of ``backbone`` and ``heads``: the built graph, a functional model
            returning ``{"y_pred": ..., "feature_maps": [...]}`` (what ``get_config`` stores).
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
        augmentation: the training augmentation :func:`kssd.data.load_dataset` uses for
            this model (a name of :mod:`kssd.data.augment`), default None (the pipeline's
            default).
        input_size: ``(height, width)`` the model was built and trained for, default None
            (the backbone input's static size).
        dynamic: whether the network is fully convolutional (runs at other sizes), default
            None (True when the backbone input has no static size).
        box_coding: how ``y_pred``'s 4 offsets code boxes, ``"ssd"`` (default, log sizes) or
            ``"linear"`` (MediaPipe's scale-based sizes); used by ``predict``'s decoder and
            for the training targets (see :mod:`kssd.boxes.coder`).
        **kwargs: ``name`` and other ``keras.Model`` arguments.

    Raises:
        ValueError: inconsistent pieces, e.g. feature maps whose grids differ from the
            anchor generator's at ``input_size``, or heads giving the wrong width.

    Examples:
        >>> import keras, numpy as np
        >>> from kssd.layers import AnchorBoxes
        >>> from kssd.models import SSDDetector
        >>> images = keras.Input((64, 64, 3))
        >>> feature_map = keras.layers.Conv2D(8, 3, strides=8, padding="same")(images)  # 8x8
        >>> head = keras.layers.Conv2D(2 * (4 + 2), 3, padding="same")  # 2 boxes per cell
        >>> model = SSDDetector(keras.Model(images, [feature_map]), [head],
        ...                     anchor_generator=AnchorBoxes(steps=[8], min_sizes=[[8, 16]]),
        ...                     num_classes=1)
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
        backbone=None,
        heads=None,
        *,
        anchor_generator,
        num_classes,
        network=None,
        feature_sizes=None,
        class_names=None,
        variances=DEFAULT_VARIANCES,
        match_threshold=DEFAULT_MATCH_THRESHOLD,
        matching=DEFAULT_MATCHING,
        negative_threshold=None,
        prediction_decoder=None,
        normalization=None,
        augmentation=None,
        input_size=None,
        dynamic=None,
        box_coding=DEFAULT_BOX_CODING,
        **kwargs,
    ):
        check_box_coding(box_coding)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be an int >= 1 (objects only), got {num_classes!r}")
        anchor_generator = _as_layer(anchor_generator, AnchorBoxes, "anchor_generator")
        prediction_decoder = _as_layer(prediction_decoder, NonMaxSuppression, "prediction_decoder")
        check_matching(matching, match_threshold, negative_threshold)
        if augmentation is not None and not isinstance(augmentation, str):
            raise ValueError(f"`augmentation` must be a name or None, got {augmentation!r}")
        name = kwargs.pop("name", None) or (network.name if isinstance(network, keras.Model) else None)
        name = name or (backbone.name if isinstance(backbone, keras.Model) else "ssd_detector")
        network = _network_from(backbone, heads, network, num_classes, name)
        super().__init__(inputs=network.input, outputs=network.output["y_pred"], name=name, **kwargs)
        own_size = static_hw(network.input.shape)
        if input_size is None:
            input_size = own_size
        contract = {
            "num_classes": int(num_classes),
            "class_names": (
                list(class_names) if class_names is not None else default_class_names(num_classes)
            ),
            "variances": tuple(float(v) for v in variances),
            "box_coding": box_coding,
            "match_threshold": float(match_threshold),
            "matching": matching,
            "negative_threshold": None if negative_threshold is None else float(negative_threshold),
            "normalization": copy.deepcopy(normalization),
            "augmentation": augmentation,
            "input_size": None if input_size is None else tuple(int(v) for v in input_size),
            "dynamic": own_size is None if dynamic is None else bool(dynamic),
            "feature_sizes": copy.deepcopy(feature_sizes),
        }
        if len(contract["class_names"]) != num_classes:
            raise ValueError(
                f"`class_names` has {len(contract['class_names'])} names but num_classes is {num_classes}"
            )
        # Plain data, weightless layers and the two-output view of the same layers, kept out
        # of Keras' attribute tracking (the network's layers are the model's layers).
        object.__setattr__(self, "_network", network)
        object.__setattr__(self, "_contract", contract)
        object.__setattr__(self, "_anchor_generator", anchor_generator)
        object.__setattr__(self, "_prediction_decoder", prediction_decoder)
        object.__setattr__(
            self, "_box_decoder", DecodeDetections(variances=list(variances), box_coding=box_coding)
        )
        object.__setattr__(self, "_raw_outputs", False)
        object.__setattr__(self, "_anchor_cache", {})
        object.__setattr__(self, "_feature_shapes", self._checked_feature_shapes())

    def _checked_feature_shapes(self):
        """Feature-map grids at ``input_size``, checked against the anchor generator's."""
        size = self.input_size
        if size is None:
            return None
        shapes = self.feature_map_shapes(size)
        args = self.anchor_config
        expected = feature_map_sizes(size, steps=args.get("steps"), feature_sizes=args.get("feature_sizes"))
        if shapes != [tuple(e) for e in expected]:
            self._raise_feature_mismatch(expected, shapes, size)
        return shapes

    def _raise_feature_mismatch(self, expected, shapes, size):
        """Called when the feature maps disagree with the anchors (subclasses word it their way)."""
        key = "feature_sizes" if self._contract["feature_sizes"] is not None else "steps"
        raise ValueError(
            f"the anchor generator ({key}) gives feature maps {expected} at input {size[0]}x{size[1]} "
            f"but the backbone's feature maps are {shapes}; make them agree"
        )

    # -- the contract ----------------------------------------------------------------------
    @property
    def network(self):
        """The same layers as a functional model ``images -> {"y_pred", "feature_maps"}``.

        One pass gives the raw predictions and the per-level feature maps, e.g. for
        :class:`kssd.layers.AnchorBoxes` on the real grids (the inference graph does this).
        """
        return self._network

    def feature_map_shapes(self, image_size):
        """``[(h, w), ...]`` of the feature maps for an input of ``image_size`` ``(h, w)``."""
        height, width = (int(v) for v in image_size)
        specs = self._network.compute_output_spec(keras.KerasTensor((1, height, width, 3)))
        return [static_hw(t.shape) for t in specs["feature_maps"]]

    @property
    def feature_shapes(self):
        """``(h, w)`` of each level's feature map at ``input_size`` (None without a size)."""
        return None if self._feature_shapes is None else list(self._feature_shapes)

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
    def box_coding(self):
        """``"ssd"`` or ``"linear"``: how the offsets in ``y_pred`` code boxes."""
        return self._contract["box_coding"]

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
    def augmentation(self):
        """Name of the training augmentation for :func:`kssd.data.load_dataset`, or None."""
        return self._contract["augmentation"]

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

    def predict_step(self, *args):
        # The backend's own step gives y_pred; JAX's takes (state, data) and returns
        # (outputs, non_trainable_variables).
        outputs = super().predict_step(*args)
        if self._raw_outputs:
            return outputs
        images, _, _ = keras.utils.unpack_x_y_sample_weight(args[-1])
        size = static_hw(images.shape)
        if size is None:
            raise ValueError(
                f"{self.name}.predict needs images of a static size to place anchors, got shape "
                f"{tuple(images.shape)}; use kssd.inference.build_inference_model for images "
                "of any size"
            )
        if keras.backend.backend() == "jax":
            y_pred, non_trainable_variables = outputs
            return self.decode_predictions(y_pred, size), non_trainable_variables
        return self.decode_predictions(outputs, size)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # TensorFlow trainer under a tf.distribute strategy: build from the input's spec
        # instead of a batch Keras would read and drop (see kssd.compat.build_from_input_spec).
        if iterator is not None and self._distribute_strategy is not None:
            if build_from_input_spec(self, iterator):
                return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

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
        return {
            "network": keras.saving.serialize_keras_object(self._network),
            "anchor_generator": keras.saving.serialize_keras_object(self._anchor_generator),
            "num_classes": contract["num_classes"],
            "feature_sizes": copy.deepcopy(contract["feature_sizes"]),
            "class_names": list(contract["class_names"]),
            "variances": list(contract["variances"]),
            "box_coding": contract["box_coding"],
            "match_threshold": contract["match_threshold"],
            "matching": contract["matching"],
            "negative_threshold": contract["negative_threshold"],
            "prediction_decoder": keras.saving.serialize_keras_object(self._prediction_decoder),
            "normalization": copy.deepcopy(contract["normalization"]),
            "augmentation": contract["augmentation"],
            "input_size": None if contract["input_size"] is None else list(contract["input_size"]),
            "dynamic": contract["dynamic"],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
