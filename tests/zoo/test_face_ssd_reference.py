"""face_ssd has the layer structure and parameter count of the slim face SSD tutorial's network.

The reference below re-creates the tutorial's network (``SsdModel``) from its
description with plain Keras layers: conv blocks (3x3 conv without bias + BN + ReLU; stride 2
uses ZeroPadding2D(1) + 'valid'), depthwise blocks, branch blocks, and per level one 3x3 conv
for the 2 class logits (background + face) and one for the 4 offsets.
"""

import collections

import keras
import numpy as np

import kssd_zoo

L = keras.layers


def _conv(x, f, s=1):
    if s == 2:
        x = L.ZeroPadding2D(1)(x)
    x = L.Conv2D(f, 3, strides=s, padding="valid" if s == 2 else "same", use_bias=False)(x)
    return L.ReLU()(L.BatchNormalization()(x))


def _dw(x, f, s=1):
    if s == 2:
        x = L.ZeroPadding2D(1)(x)
    x = L.DepthwiseConv2D(3, strides=s, padding="valid" if s == 2 else "same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.Conv2D(f, 1, use_bias=False)(x)
    return L.ReLU()(L.BatchNormalization()(x))


def _branch(x, f):
    a = L.Conv2D(f, 3, padding="same")(L.LeakyReLU()(L.Conv2D(f, 3, padding="same")(x)))
    b = L.Conv2D(2 * f, 3, padding="same")(x)
    return L.ReLU()(L.Concatenate()([a, b]))


def tutorial_reference(base=16, cells=(3, 2, 2, 3), num_logits=2):
    inputs = keras.Input((240, 320, 3))
    x = _conv(inputs, base, 2)
    x = _conv(x, base * 2)
    x = _conv(x, base * 2, 2)
    x = _conv(x, base * 2)
    x = _conv(x, base * 4, 2)
    for _ in range(3):
        x = _conv(x, base * 4)
    levels = [_branch(x, base)]
    x = _conv(x, base * 8, 2)
    x = _conv(x, base * 8)
    x = _conv(x, base * 8)
    levels.append(_branch(x, base))
    x = _dw(x, base * 16, 2)
    x = _dw(x, base * 16)
    levels.append(_branch(x, base))
    x = _dw(x, base * 16, 2)
    levels.append(_branch(x, base))
    confs, locs = [], []
    for feat, n in zip(levels, cells):
        confs.append(L.Reshape((-1, num_logits))(L.Conv2D(n * num_logits, 3, padding="same")(feat)))
        locs.append(L.Reshape((-1, 4))(L.Conv2D(n * 4, 3, padding="same")(feat)))
    out = L.Concatenate(axis=2)([L.Concatenate(axis=1)(locs), L.Concatenate(axis=1)(confs)])
    return keras.Model(inputs, out)


def _structure(model):
    """Multiset of (layer type, weight shapes) over layers with weights."""
    items = []
    for layer in model.layers:
        shapes = tuple(tuple(w.shape) for w in layer.weights)
        if shapes:
            items.append((type(layer).__name__, shapes))
    return collections.Counter(items)


def test_face_ssd_matches_tutorial_structure_and_parameter_count():
    ref = tutorial_reference()
    ours = kssd_zoo.face_ssd(compile=False)
    assert ours.count_params() == ref.count_params() == 1_038_956
    assert _structure(ours) == _structure(ref)
    # Same padding arithmetic: the feature grids match the anchors' (30x40 ... 4x5).
    assert ours.feature_shapes == [(30, 40), (15, 20), (8, 10), (4, 5)]
    assert ref.output_shape == (None, 4420, 6)


def test_face_ssd_computes_the_tutorial_function_with_copied_weights():
    # Copy weights layer by layer in creation order (both graphs create layers in the same
    # order except the branch block, whose path-b conv we create last) and compare outputs.
    ref = tutorial_reference()
    ours = kssd_zoo.face_ssd(compile=False)
    ref_w = [layer for layer in ref.layers if layer.weights]
    our_w = [layer for layer in ours.layers if layer.weights and layer.name != "normalization"]
    by_shape = collections.defaultdict(list)
    for layer in our_w:
        by_shape[(type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))].append(layer)
    rng = np.random.default_rng(0)
    for layer in ref_w:
        key = (type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
        target = by_shape[key].pop(0)
        values = [rng.normal(0, 0.1, w.shape).astype("float32") for w in layer.weights]
        if isinstance(layer, L.BatchNormalization):
            values[3] = np.abs(values[3]) + 0.5  # positive moving variance
        layer.set_weights(values)
        target.set_weights(values)
    x = rng.uniform(0, 255, (1, 240, 320, 3)).astype("float32")
    expected = np.asarray(ref(x / 255.0 - 0.5))
    np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-3, atol=1e-3)
