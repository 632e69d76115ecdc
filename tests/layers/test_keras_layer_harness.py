"""Keras's own layer test harness (``run_layer_test``) on every public kssd layer.

The harness checks what any Keras code may do with a layer: config and serialization round
trips, ``build()`` by input shapes (``build(<call arg>_shape=...)`` for layers with several
inputs), symbolic and eager calls with output shapes and dtypes, weight counts, masking
support, a compiled training step and a mixed-precision call. kssd's own contract
(``kssd.testing.run_layer_contract``) is tested beside it, in the per-layer modules.

Multi-input layers get ``input_shape`` as a dict of ``<call arg>_shape`` entries, the form in
which the harness builds them by keyword; their values are random (the harness draws
``uniform * 3``), so only shapes and dtypes are checked here, values in the per-layer tests.
"""

import inspect

import keras
import numpy as np
import pytest

from kssd.anchors import generate_anchors
from kssd.compat import keras_test_case
from kssd.inference import RecoverBoxes
from kssd.layers import AnchorBoxes, DecodeDetections, L2Normalization, NonMaxSuppression

TF_BACKEND = keras.backend.backend() == "tensorflow"

# The harness's training step feeds a generator to fit(), which warns that shuffle is ignored.
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")

FACE = {"steps": [8, 16, 32, 64], "min_sizes": [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]}

# The harness's training step wraps the layer in a model whose call() passes the whole input
# dict as one positional argument, which a layer with several call arguments cannot take; these
# layers have no weights to train anyway, so the training check is off for them.
NO_TRAINING_MULTI_INPUT = {"run_training_check": False}


# Keras' harness has no public import path; kssd.compat holds the private import.
class KerasLayerHarnessTest(keras_test_case()):
    """One test per public layer (and setting), all through ``run_layer_test``."""

    # ----------------------------------------------------------------- L2Normalization
    def test_l2_normalization_shapes_weights_training(self):
        self.run_layer_test(
            L2Normalization,
            {"gamma_init": 10.0, "axis": -1, "epsilon": 1e-12},
            input_shape=(2, 5, 7, 8),
            expected_output_shape=(2, 5, 7, 8),
            expected_output_dtype="float32",
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            expected_num_non_trainable_variables=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
        )

    def test_l2_normalization_values_on_another_axis(self):
        x = np.arange(1, 2 * 3 * 4 + 1, dtype="float32").reshape(2, 3, 4)
        expected = 2.0 * x / np.sqrt(np.sum(x**2, axis=1, keepdims=True))
        self.run_layer_test(
            L2Normalization,
            {"gamma_init": 2.0, "axis": 1},
            input_data=x,
            # the harness compares types too: a backend tensor, like the layer's output
            expected_output=keras.ops.convert_to_tensor(expected),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            supports_masking=False,
        )

    # ----------------------------------------------------------------- DecodeDetections
    def test_decode_detections(self):
        num_anchors, num_classes = 30, 3
        self.run_layer_test(
            DecodeDetections,
            {"variances": [0.1, 0.2], "clip": True},
            input_shape={
                "y_pred_shape": (2, num_anchors, 4 + num_classes + 1),
                "anchors_shape": (num_anchors, 4),
            },
            expected_output_shape={
                "boxes": (2, num_anchors, 4),
                "scores": (2, num_anchors, num_classes + 1),
            },
            expected_output_dtype={"boxes": "float32", "scores": "float32"},
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
            **NO_TRAINING_MULTI_INPUT,
        )

    # ----------------------------------------------------------------- NonMaxSuppression
    def _run_nms(self, init_kwargs, max_detections):
        batch, num_anchors, num_classes = 2, 50, 3
        k = max_detections
        self.run_layer_test(
            NonMaxSuppression,
            init_kwargs,
            input_shape={
                "boxes_shape": (batch, num_anchors, 4),
                "scores_shape": (batch, num_anchors, num_classes + 1),
            },
            expected_output_shape={
                "boxes": (batch, k, 4),
                "scores": (batch, k),
                "classes": (batch, k),
                "num_detections": (batch,),
            },
            expected_output_dtype={
                "boxes": "float32",
                "scores": "float32",
                "classes": "int32",
                "num_detections": "int32",
            },
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
            **NO_TRAINING_MULTI_INPUT,
        )

    def test_non_max_suppression_defaults(self):
        # Default constructor: max_detections_per_class=None must round-trip through the config.
        self._run_nms({}, NonMaxSuppression().max_detections)

    def test_non_max_suppression_portable(self):
        self._run_nms(
            {
                "score_threshold": 0.3,
                "iou_threshold": 0.5,
                "max_detections_per_class": 4,
                "max_detections": 7,
                "implementation": "portable",
            },
            7,
        )

    def test_non_max_suppression_tensorflow(self):
        if not TF_BACKEND:
            self.skipTest('implementation="tensorflow" needs the TensorFlow backend')
        self._run_nms({"score_threshold": 0.3, "max_detections": 9, "implementation": "tensorflow"}, 9)

    # ----------------------------------------------------------------- RecoverBoxes
    def test_recover_boxes(self):
        self.run_layer_test(
            RecoverBoxes,
            {"clip": True},
            input_shape={"boxes_shape": (2, 10, 4), "image_info_shape": (4,)},
            expected_output_shape=(2, 10, 4),
            expected_output_dtype="float32",
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=False,
            **NO_TRAINING_MULTI_INPUT,
        )

    # ----------------------------------------------------------------- AnchorBoxes
    def test_anchor_boxes(self):
        # AnchorBoxes takes a *list* of feature maps as its second call argument. The harness
        # makes one tensor per ``<arg>_shape`` entry and cannot make a list (its input helpers
        # pass a list of shapes to a single tensor constructor), and with ``input_data`` it
        # builds by the raw argument names (``build(images=...)``), which is not how Keras
        # builds layers. So the harness runs its input-free checks (config and serialization
        # round trips, masking) and the shape-driven checks below follow its steps by hand.
        self.run_layer_test(AnchorBoxes, FACE, supports_masking=False)

        height, width = 96, 128
        grids = [(-(-height // s), -(-width // s)) for s in FACE["steps"]]
        images_shape = (2, height, width, 3)
        maps_shape = [(2, rows, cols, 4) for rows, cols in grids]
        expected = generate_anchors((height, width), **FACE)

        # Build test: by keyword, as Keras builds a multi-input layer.
        layer = AnchorBoxes(**FACE)
        layer.build(images_shape=images_shape, feature_maps_shape=maps_shape)
        self.assertTrue(layer.built)
        self.assertLen(layer.weights, 0)

        # Symbolic call test (static shapes, and unknown spatial sizes).
        layer = AnchorBoxes(**FACE)
        out = layer(keras.KerasTensor(images_shape), [keras.KerasTensor(s) for s in maps_shape])
        self.assertTrue(layer.built)
        self.assertEqual(tuple(out.shape), expected.shape)
        self.assertEqual(out.dtype, "float32")
        dynamic = AnchorBoxes(**FACE)(
            keras.KerasTensor((None, None, None, 3)),
            [keras.KerasTensor((None, None, None, 4)) for _ in maps_shape],
        )
        self.assertEqual(tuple(dynamic.shape), (None, 4))

        # Eager call test, with values.
        images = np.zeros(images_shape, "float32")
        maps = [np.zeros(s, "float32") for s in maps_shape]
        self.assertAllClose(AnchorBoxes(**FACE)(images, maps), expected)

        # Mixed-precision test: the output dtype is the one the layer promises (float32).
        layer = AnchorBoxes(**FACE, dtype="mixed_float16")
        eager = layer(images, maps)
        spec = layer.compute_output_spec(
            keras.KerasTensor(images_shape, dtype="float16"),
            [keras.KerasTensor(s, dtype="float16") for s in maps_shape],
        )
        self.assertEqual(keras.backend.standardize_dtype(eager.dtype), spec.dtype)
        self.assertEqual(spec.dtype, "float32")


# --------------------------------------------------------------------------- build configs
MULTI_INPUT = [
    (AnchorBoxes, FACE, ((1, 64, 64, 3), [(1, 8, 8, 1), (1, 4, 4, 1), (1, 2, 2, 1), (1, 1, 1, 1)])),
    (DecodeDetections, {}, ((1, 6, 8), (6, 4))),
    (NonMaxSuppression, {"max_detections": 3}, ((1, 6, 4), (1, 6, 3))),
    (RecoverBoxes, {}, ((1, 6, 4), (4,))),
]


def _zeros(shapes):
    if isinstance(shapes, list):
        return [np.zeros(s, "float32") for s in shapes]
    return np.zeros(shapes, "float32")


@pytest.mark.parametrize("cls, kwargs, shapes", MULTI_INPUT, ids=lambda v: getattr(v, "__name__", ""))
def test_build_config_round_trip(cls, kwargs, shapes):
    """A called layer records its input shapes by name; a fresh layer builds from them."""
    layer = cls(**kwargs)
    first = layer(*[_zeros(s) for s in shapes])
    build_config = layer.get_build_config()
    assert set(build_config["shapes_dict"]) == {f"{name}_shape" for name in _call_args(cls)}
    fresh = cls.from_config(layer.get_config())
    fresh.build_from_config(build_config)
    assert fresh.built
    again = fresh(*[_zeros(s) for s in shapes])
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), first, again
    )


@pytest.mark.parametrize("cls, kwargs, shapes", MULTI_INPUT, ids=lambda v: getattr(v, "__name__", ""))
def test_build_from_a_first_input_only_build_config(cls, kwargs, shapes):
    """Build configs that hold only the first input's shape still build the layer."""
    layer = cls(**kwargs)
    layer.build_from_config({"input_shape": shapes[0]})
    assert layer.built


def _call_args(cls):
    return [name for name in inspect.signature(cls.call).parameters if name != "self"]
