"""AnchorBoxes: contract, equality with generate_anchors at several sizes and both styles."""

import keras
import numpy as np
import pytest

from kssd.anchors import generate_anchors
from kssd.layers import AnchorBoxes
from kssd.testing import run_layer_contract

FACE = {"steps": [8, 16, 32, 64], "min_sizes": [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]}
SSD300 = {
    "scales": [0.1, 0.2, 0.375, 0.55, 0.725, 0.9, 1.075],
    "aspect_ratios": [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
}


def _inputs(height, width, grids, batch=1):
    images = np.zeros((batch, height, width, 3), "float32")
    maps = [np.zeros((batch, rows, cols, 1), "float32") for rows, cols in grids]
    return images, maps


def _ceil_grids(height, width, steps):
    return [(-(-height // s), -(-width // s)) for s in steps]


def test_contract_face_ssd_240x320_equals_generate_anchors():
    expected = generate_anchors((240, 320), **FACE)
    assert expected.shape == (4420, 4)
    images, maps = _inputs(240, 320, _ceil_grids(240, 320, FACE["steps"]))
    out = run_layer_contract(
        AnchorBoxes, FACE, (images, maps), (4420, 4), expected_output=expected, atol=1e-6
    )
    assert out.dtype == np.float32


@pytest.mark.parametrize("size", [(480, 640), (250, 333), (64, 48)])
def test_other_sizes_equal_generate_anchors(size):
    height, width = size
    expected = generate_anchors(size, **FACE)
    images, maps = _inputs(height, width, _ceil_grids(height, width, FACE["steps"]))
    out = np.asarray(AnchorBoxes(**FACE)(images, maps))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)


def test_feature_map_size_is_read_from_the_tensor_not_recomputed():
    # A grid that is not ceil(dim / step): the layer must follow the tensor.
    images, maps = _inputs(240, 320, [(29, 39), (15, 20), (8, 10), (4, 5)])
    out = np.asarray(AnchorBoxes(**FACE)(images, maps))
    expected = generate_anchors(
        (240, 320),
        steps=FACE["steps"],
        min_sizes=FACE["min_sizes"],
        feature_sizes=[(29, 39), (15, 20), (8, 10), (4, 5)],
    )
    # generate_anchors with both steps and feature_sizes: grid from the sizes, centres by step.
    assert out.shape == (29 * 39 * 3 + 300 * 2 + 80 * 2 + 20 * 3, 4)
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out[0, :2], [4 / 320, 4 / 240], atol=1e-7)


def test_fully_convolutional_model_runs_at_any_size():
    images = keras.Input((None, None, 3))
    x = images
    maps = []
    for level in range(4):  # 'same' stride-2 convs: grid ceil(dim / 2**(level + 1))
        x = keras.layers.Conv2D(2, 3, strides=2, padding="same")(x)
        if level >= 2:
            maps.append(x)  # strides 8 and 16
    anchors = AnchorBoxes(steps=[8, 16], min_sizes=[[10, 16], [32]])(images, maps)
    model = keras.Model(images, anchors)
    for size in [(240, 320), (250, 333), (97, 61)]:
        out = np.asarray(model(np.zeros((1,) + size + (3,), "float32")))
        expected = generate_anchors(size, steps=[8, 16], min_sizes=[[10, 16], [32]])
        np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function with dynamic shapes")
def test_dynamic_shapes_inside_tf_function():
    import tensorflow as tf

    layer = AnchorBoxes(**FACE)
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    maps_spec = [tf.TensorSpec((None, None, None, 1), tf.float32)] * 4

    @tf.function(input_signature=[spec, maps_spec])
    def anchors_of(images, maps):
        return layer(images, maps)

    for size in [(240, 320), (250, 333)]:
        images, maps = _inputs(*size, _ceil_grids(*size, FACE["steps"]))
        np.testing.assert_allclose(
            anchors_of(images, maps).numpy(), generate_anchors(size, **FACE), atol=1e-6, rtol=0
        )


@pytest.mark.parametrize(
    "config, size, grids",
    [
        (FACE, (250, 333), None),
        (SSD300, (300, 300), [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]),
        (dict(SSD300, steps=[8, 16, 32, 64, 100, 300], extra_box=False, clip=True), (300, 300), None),
        (dict(FACE, centers="grid", clip=True), (240, 320), None),
    ],
)
def test_in_graph_keras_ops_path_equals_generate_anchors(config, size, grids):
    # The keras.ops computation used when sizes are unknown at trace time, run directly.
    grids = grids or _ceil_grids(*size, config["steps"])
    images, maps = _inputs(*size, grids)
    layer = AnchorBoxes(**config)
    out = layer._dynamic_anchors(
        keras.ops.convert_to_tensor(images), [keras.ops.convert_to_tensor(m) for m in maps]
    )
    feature_sizes = None if "steps" in config else [g[0] for g in grids]
    expected = generate_anchors(size, feature_sizes=feature_sizes, **config)
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-6, rtol=0)


def test_ssd_paper_style_without_steps_uses_grid_centres():
    grids = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    expected = generate_anchors(300, feature_sizes=[g[0] for g in grids], **SSD300)
    assert expected.shape == (8732, 4)
    images, maps = _inputs(300, 300, grids)
    out = run_layer_contract(
        AnchorBoxes, SSD300, (images, maps), (8732, 4), expected_output=expected, atol=1e-6
    )
    assert out.shape == (8732, 4)


def test_ssd_paper_style_with_steps_and_no_extra_box():
    config = dict(SSD300, steps=[8, 16, 32, 64, 100, 300], extra_box=False)
    expected = generate_anchors(300, **config)
    images, maps = _inputs(300, 300, _ceil_grids(300, 300, config["steps"]))
    out = np.asarray(AnchorBoxes(**config)(images, maps))
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)


def test_clip_and_unbatched_inputs():
    expected = generate_anchors((240, 320), clip=True, **FACE)
    images, maps = _inputs(240, 320, _ceil_grids(240, 320, FACE["steps"]))
    out = np.asarray(AnchorBoxes(clip=True, **FACE)(images[0], [m[0] for m in maps]))
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_bad_arguments_and_inputs_raise_value_error():
    with pytest.raises(ValueError, match="min_sizes"):
        AnchorBoxes(steps=[8], min_sizes=[[10]], scales=[0.1, 0.2])
    with pytest.raises(ValueError, match="`steps`"):
        AnchorBoxes(steps=[8, 16], min_sizes=[[10]])
    with pytest.raises(ValueError, match=r"min_sizes\[0\]"):
        AnchorBoxes(steps=[8], min_sizes=[[-1]])
    layer = AnchorBoxes(**FACE)
    images, maps = _inputs(240, 320, _ceil_grids(240, 320, FACE["steps"]))
    with pytest.raises(ValueError, match="`feature_maps` must be a list of 4"):
        layer(images, maps[:3])
    with pytest.raises(ValueError, match=r"`images` must have shape \(batch, height, width, channels\)"):
        layer(np.zeros((240, 320), "float32"), maps)
    with pytest.raises(ValueError, match=r"`feature_maps\[1\]`"):
        layer(images, [maps[0], np.zeros((15, 20), "float32"), maps[2], maps[3]])


def test_grid_centres_with_steps_give_the_released_ultraface_priors():
    # UltraFace: grids ceil(size / step), centres (j + 0.5) / grid, clipped; differs from "step".
    config = dict(FACE, centers="grid", clip=True)
    grids = _ceil_grids(240, 320, FACE["steps"])
    expected = generate_anchors((240, 320), feature_sizes=grids, min_sizes=FACE["min_sizes"], clip=True)
    out = run_layer_contract(
        AnchorBoxes, config, _inputs(240, 320, grids), (4420, 4), expected_output=expected, atol=1e-6
    )
    step_centres = generate_anchors((240, 320), **FACE)
    assert np.abs(np.asarray(out) - step_centres).max() > 0.05
    with pytest.raises(ValueError, match="centers"):
        AnchorBoxes(min_sizes=FACE["min_sizes"], centers="step")
