"""DecodeDetections: contract, values against a NumPy reference, clipping, errors."""

import numpy as np
import pytest

from kssd.layers import DecodeDetections
from kssd.testing import run_layer_contract


def _reference(y_pred, anchors, variances=(0.1, 0.2), clip=True):
    y = y_pred.astype("float64")
    a = anchors.astype("float64")
    centre = a[:, :2] + y[..., :2] * variances[0] * a[:, 2:]
    size = a[:, 2:] * np.exp(y[..., 2:4] * variances[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=-1)
    if clip:
        boxes = np.clip(boxes, 0, 1)
    logits = y[..., 4:]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return {"boxes": boxes.astype("float32"), "scores": (e / e.sum(-1, keepdims=True)).astype("float32")}


def _data(batch=2, num_anchors=7, num_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    anchors = np.concatenate(
        [rng.uniform(0.2, 0.8, (num_anchors, 2)), rng.uniform(0.05, 0.5, (num_anchors, 2))], -1
    ).astype("float32")
    y_pred = rng.normal(0, 1.5, (batch, num_anchors, 4 + num_classes + 1)).astype("float32")
    return y_pred, anchors


@pytest.mark.parametrize("clip", [True, False])
def test_contract_and_values(clip):
    y_pred, anchors = _data()
    variances = (0.1, 0.2)
    out = run_layer_contract(
        DecodeDetections,
        {"variances": variances, "clip": clip},
        (y_pred, anchors),
        {"boxes": (2, 7, 4), "scores": (2, 7, 3)},
        expected_output=_reference(y_pred, anchors, variances, clip),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(out["scores"].sum(-1), 1.0, atol=1e-6)
    if not clip:
        assert out["boxes"].min() < 0 or out["boxes"].max() > 1  # the data reaches outside


def test_custom_variances_match_reference():
    y_pred, anchors = _data(seed=3)
    out = DecodeDetections(variances=[0.2, 0.5], clip=False)(y_pred, anchors)
    ref = _reference(y_pred, anchors, (0.2, 0.5), clip=False)
    np.testing.assert_allclose(np.asarray(out["boxes"]), ref["boxes"], rtol=1e-5, atol=1e-6)


def test_hand_case_zero_offsets_give_anchor_corners():
    anchors = np.array([[0.5, 0.5, 0.2, 0.4], [0.05, 0.5, 0.2, 0.2]], "float32")
    y_pred = np.zeros((1, 2, 6), "float32")
    y_pred[0, 0, 5] = np.log(3.0)  # scores [0.25, 0.75]
    out = DecodeDetections()(y_pred, anchors)
    np.testing.assert_allclose(
        np.asarray(out["boxes"])[0], [[0.4, 0.3, 0.6, 0.7], [0.0, 0.4, 0.15, 0.6]], atol=1e-6
    )
    unclipped = DecodeDetections(clip=False)(y_pred, anchors)
    np.testing.assert_allclose(np.asarray(unclipped["boxes"])[0, 1, 0], -0.05, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["scores"])[0, 0], [0.25, 0.75], atol=1e-6)


def test_bad_inputs_raise_value_error():
    y_pred, anchors = _data()
    layer = DecodeDetections()
    with pytest.raises(ValueError, match=r"`y_pred` must have shape \(batch, num_anchors"):
        layer(y_pred[0], anchors)
    with pytest.raises(ValueError, match=r"`y_pred`.*last dim >= 6"):
        layer(y_pred[..., :5], anchors)
    with pytest.raises(ValueError, match=r"`anchors` must have shape \(num_anchors, 4\)"):
        layer(y_pred, anchors[None])
    with pytest.raises(ValueError, match="must match"):
        layer(y_pred, anchors[:5])
    for bad in [(0.1,), (0.1, -0.2), "ab"]:
        with pytest.raises(ValueError, match="`variances`"):
            DecodeDetections(variances=bad)
