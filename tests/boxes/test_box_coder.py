"""SSD box coder: hand values, round trips, variances."""

import functools
import math

import keras
import numpy as np
import pytest

from kssd.boxes import DEFAULT_VARIANCES, decode, encode


def np_(x):
    return keras.ops.convert_to_numpy(x)


ANCHORS = np.array([[0.5, 0.5, 0.2, 0.4], [0.3, 0.6, 0.1, 0.1]], "float32")


def test_default_variances():
    assert DEFAULT_VARIANCES == (0.1, 0.2)


def test_encode_hand_values():
    # Box 1: centre (0.55, 0.55), size (0.2, 0.4) on anchor (0.5, 0.5, 0.2, 0.4):
    #   tx = 0.05 / (0.1 * 0.2) = 2.5, ty = 0.05 / (0.1 * 0.4) = 1.25, tw = th = 0.
    # Box 2: centre (0.3, 0.6), size (0.2, 0.05) on anchor (0.3, 0.6, 0.1, 0.1):
    #   tx = ty = 0, tw = log(2) / 0.2, th = log(0.5) / 0.2.
    boxes = np.array([[0.45, 0.35, 0.65, 0.75], [0.2, 0.575, 0.4, 0.625]], "float32")
    expected = [[2.5, 1.25, 0.0, 0.0], [0.0, 0.0, math.log(2) / 0.2, math.log(0.5) / 0.2]]
    np.testing.assert_allclose(np_(encode(boxes, ANCHORS)), expected, atol=1e-5)
    # Variances (1, 1) give the raw offsets.
    raw = np_(encode(boxes, ANCHORS, variances=(1.0, 1.0)))
    np.testing.assert_allclose(raw, [[0.25, 0.125, 0, 0], [0, 0, math.log(2), math.log(0.5)]], atol=1e-6)


def test_decode_hand_values():
    offsets = np.array([[2.5, 1.25, 0.0, 0.0], [0.0, 0.0, math.log(2) / 0.2, 0.0]], "float32")
    expected = [[0.45, 0.35, 0.65, 0.75], [0.2, 0.55, 0.4, 0.65]]
    np.testing.assert_allclose(np_(decode(offsets, ANCHORS)), expected, atol=1e-6)
    # Zero offsets decode to the anchors themselves (in corner form).
    np.testing.assert_allclose(
        np_(decode(np.zeros((2, 4), "float32"), ANCHORS)),
        [[0.4, 0.3, 0.6, 0.7], [0.25, 0.55, 0.35, 0.65]],
        atol=1e-6,
    )


@pytest.mark.parametrize("variances", [(0.1, 0.2), (0.5, 1.0)])
def test_round_trip_random_batched(variances, compiled):
    enc = compiled(functools.partial(encode, variances=variances))
    dec = compiled(functools.partial(decode, variances=variances))
    rng = np.random.default_rng(1)
    anchors = np.concatenate([rng.uniform(0.1, 0.9, (20, 2)), rng.uniform(0.05, 0.5, (20, 2))], -1).astype(
        "float32"
    )
    low = rng.uniform(0, 0.7, (3, 20, 2))
    boxes = np.concatenate([low, low + rng.uniform(0.02, 0.3, (3, 20, 2))], -1).astype("float32")
    offsets = enc(boxes, anchors)
    assert tuple(offsets.shape) == (3, 20, 4)
    np.testing.assert_allclose(np_(dec(offsets, anchors)), boxes, atol=1e-5)
    # and the other way round
    random_offsets = rng.normal(0, 1, (3, 20, 4)).astype("float32")
    again = enc(dec(random_offsets, anchors), anchors)
    np.testing.assert_allclose(np_(again), random_offsets, atol=1e-4)


@pytest.mark.parametrize("variances", [(0.1,), (0.1, 0.0), (-0.1, 0.2)])
def test_bad_variances_named(variances):
    with pytest.raises(ValueError, match="variances"):
        encode(np.zeros((1, 4), "float32"), ANCHORS[:1], variances)
    with pytest.raises(ValueError, match="variances"):
        decode(np.zeros((1, 4), "float32"), ANCHORS[:1], variances)
