"""NonMaxSuppression: contract, brute-force NumPy reference, hand cases, ties, TF path, errors."""

import functools

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kssd.layers import NMS, POSTPROCESS_DEFAULTS, NonMaxSuppression
from kssd.layers.non_max_suppression import _compiled_portable_nms
from kssd.testing import run_layer_contract

TF_BACKEND = keras.backend.backend() == "tensorflow"


# --------------------------------------------------------------------------- reference
def _pair_iou(a, b):
    a = np.concatenate([np.minimum(a[:2], a[2:]), np.maximum(a[:2], a[2:])])
    b = np.concatenate([np.minimum(b[:2], b[2:]), np.maximum(b[:2], b[2:])])
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes, scores, score_threshold, iou_threshold, per_class, max_detections):
    """Textbook greedy NMS, one image and one class at a time, in plain Python.

    With the documented tie rule: within a class equal scores are taken lowest anchor index
    first; the merge is a stable sort by score of the classes' kept lists in class order.
    """
    results = []
    for b in range(boxes.shape[0]):
        kept = []  # (score, class, box)
        for c in range(1, scores.shape[-1]):
            column = scores[b, :, c]
            order = [i for i in range(len(column)) if column[i] > score_threshold]  # NaN fails
            order.sort(key=lambda i: (-column[i], i))
            chosen = []
            for i in order:
                if len(chosen) == per_class:
                    break
                if all(_pair_iou(boxes[b, i], boxes[b, j]) <= iou_threshold for j in chosen):
                    chosen.append(i)
            kept += [(float(column[i]), c, boxes[b, i]) for i in chosen]
        kept.sort(key=lambda item: -item[0])  # stable: class order, then selection order
        results.append(kept[:max_detections])
    return results


def assert_matches_reference(out, reference, max_detections, exact=False):
    """Compare with ``reference_nms``; ``exact``: bit-equal scores and boxes (values are copied
    from the inputs, so any difference is a different pick)."""
    out = {k: np.asarray(v) for k, v in out.items()}
    assert out["boxes"].shape[1:] == (max_detections, 4)
    close = (
        np.testing.assert_array_equal if exact else functools.partial(np.testing.assert_allclose, rtol=1e-6)
    )
    for b, kept in enumerate(reference):
        n = len(kept)
        assert out["num_detections"][b] == n, f"image {b}: {out['num_detections'][b]} != {n}"
        if n:
            close(out["scores"][b, :n], np.array([k[0] for k in kept], "float32"))
            np.testing.assert_array_equal(out["classes"][b, :n], [k[1] for k in kept])
            close(out["boxes"][b, :n], np.stack([k[2] for k in kept]))
        assert np.all(out["scores"][b, n:] == 0) and np.all(out["classes"][b, n:] == 0)
        assert np.all(out["boxes"][b, n:] == 0)


def random_case(seed, batch, num_anchors, num_classes, clustered=True):
    """Boxes around a few centres (so they overlap), continuous random scores."""
    rng = np.random.default_rng(seed)
    if clustered:
        centres = rng.uniform(0.2, 0.8, (batch, 3, 2))
        pick = rng.integers(0, 3, (batch, num_anchors))
        xy = np.take_along_axis(centres, pick[..., None], axis=1) + rng.normal(
            0, 0.04, (batch, num_anchors, 2)
        )
    else:
        xy = rng.uniform(0, 1, (batch, num_anchors, 2))
    wh = rng.uniform(0.05, 0.3, (batch, num_anchors, 2))
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], -1).astype("float32")
    logits = rng.normal(0, 2, (batch, num_anchors, num_classes + 1))
    scores = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return boxes, scores.astype("float32")


def quantized_case(seed, batch, num_anchors, num_classes, levels):
    """Overlapping boxes and scores on a grid of ``levels`` steps: many exact ties per class.

    Like the scores of an int8 model (multiples of 1/256) or of a briefly trained network.
    """
    boxes, _ = random_case(seed, batch, num_anchors, num_classes, clustered=True)
    rng = np.random.default_rng(seed + 1)
    scores = np.round(rng.uniform(0, 1, (batch, num_anchors, num_classes + 1)) * levels) / levels
    return boxes, scores.astype("float32")


# --------------------------------------------------------------------------- contract
def test_alias_is_the_same_class():
    assert NMS is NonMaxSuppression


def test_contract():
    boxes, scores = random_case(0, batch=2, num_anchors=40, num_classes=2)
    kwargs = {
        "score_threshold": 0.3,
        "iou_threshold": 0.5,
        "max_detections_per_class": 5,
        "max_detections": 8,
    }
    out = run_layer_contract(
        NonMaxSuppression,
        kwargs,
        (boxes, scores),
        {"boxes": (2, 8, 4), "scores": (2, 8), "classes": (2, 8), "num_detections": (2,)},
    )
    assert out["classes"].dtype == np.int32 and out["num_detections"].dtype == np.int32
    assert_matches_reference(out, reference_nms(boxes, scores, 0.3, 0.5, 5, 8), 8)


@pytest.mark.skipif(not TF_BACKEND, reason="the TensorFlow kernel needs the TensorFlow backend")
def test_contract_tensorflow_implementation():
    boxes, scores = random_case(1, batch=2, num_anchors=40, num_classes=2)
    out = run_layer_contract(
        NonMaxSuppression,
        {"score_threshold": 0.3, "max_detections": 6, "implementation": "tensorflow"},
        (boxes, scores),
        {"boxes": (2, 6, 4), "scores": (2, 6), "classes": (2, 6), "num_detections": (2,)},
    )
    # max_detections_per_class defaults to max_detections (6)
    assert_matches_reference(out, reference_nms(boxes, scores, 0.3, 0.45, 6, 6), 6)


# --------------------------------------------------------------------------- vs reference
# Under JAX every new shape is a new compilation: fewer examples there.
# Counts and shapes come from small sets: each new (classes, counts) setting is a new
# compiled graph (and under JAX each new shape too), thresholds are free.
@settings(
    max_examples=20 if TF_BACKEND else 12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**31 - 1),
    batch=st.sampled_from([1, 3]),
    num_anchors=st.sampled_from([1, 9, 30]),
    num_classes=st.integers(1, 3),
    score_threshold=st.sampled_from([0.0, 0.1, 0.3, 0.5]),
    iou_threshold=st.sampled_from([0.0, 0.2, 0.45, 0.7, 1.0]),
    per_class=st.sampled_from([2, 6]),
    max_detections=st.sampled_from([3, 12]),
    clustered=st.booleans(),
)
def test_random_boxes_match_bruteforce_reference(
    seed,
    batch,
    num_anchors,
    num_classes,
    score_threshold,
    iou_threshold,
    per_class,
    max_detections,
    clustered,
):
    boxes, scores = random_case(seed, batch, num_anchors, num_classes, clustered)
    layer = NMS(
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections_per_class=per_class,
        max_detections=max_detections,
    )
    out = layer(boxes, scores)
    expected = reference_nms(boxes, scores, score_threshold, iou_threshold, per_class, max_detections)
    assert_matches_reference(out, expected, max_detections)


@pytest.mark.parametrize("seed", range(4))
def test_larger_random_case_with_defaults(seed):
    boxes, scores = random_case(seed, batch=2, num_anchors=300, num_classes=3)
    out = NMS(score_threshold=0.2, max_detections_per_class=20, max_detections=30)(boxes, scores)
    assert_matches_reference(out, reference_nms(boxes, scores, 0.2, 0.45, 20, 30), 30)


# --------------------------------------------------------------------------- hand cases
def _one(boxes, scores, **kwargs):
    out = NMS(**kwargs)(np.array([boxes], "float32"), np.array([scores], "float32"))
    return {k: np.asarray(v)[0] for k, v in out.items()}


def test_iou_exactly_at_threshold_is_kept_and_above_is_suppressed():
    boxes = [[0, 0, 4, 1], [0, 0, 2, 1]]  # IoU = 2 / 4 = 0.5 exactly
    scores = [[0.0, 0.9], [0.0, 0.8]]
    assert _one(boxes, scores, iou_threshold=0.5)["num_detections"] == 2
    out = _one(boxes, scores, iou_threshold=0.49)
    assert out["num_detections"] == 1
    np.testing.assert_allclose(out["boxes"][0], [0, 0, 4, 1])


def test_score_equal_to_threshold_is_dropped_and_background_ignored():
    boxes = [[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]]
    scores = [[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]
    out = _one(boxes, scores, score_threshold=0.5)
    assert out["num_detections"] == 1
    np.testing.assert_allclose(out["scores"][0], 0.8, rtol=1e-6)
    np.testing.assert_allclose(out["boxes"][0], [4, 4, 5, 5])


def test_classes_are_suppressed_independently_and_sorted_by_score():
    # Two nearly identical boxes: within a class the weaker one is suppressed, but each
    # class keeps its own best box, even when it is suppressed in the other class.
    boxes = [[0, 0, 1, 1], [0, 0, 1, 1.05], [3, 3, 4, 4]]
    scores = [[0.0, 0.6, 0.4], [0.0, 0.3, 0.7], [0.1, 0.45, 0.26]]
    out = _one(boxes, scores, score_threshold=0.25, max_detections=5)
    assert out["num_detections"] == 4
    np.testing.assert_allclose(out["scores"][:4], [0.7, 0.6, 0.45, 0.26], rtol=1e-6)
    np.testing.assert_array_equal(out["classes"], [2, 1, 1, 2, 0])
    np.testing.assert_allclose(out["boxes"][:2], [[0, 0, 1, 1.05], [0, 0, 1, 1]])


def test_limits_per_class_and_total():
    boxes = [[i, 0, i + 1, 1] for i in range(6)]  # disjoint
    scores = [[0.0, 0.9 - 0.1 * i, 0.05 + 0.1 * i] for i in range(6)]
    out = _one(boxes, scores, score_threshold=0.1, max_detections_per_class=2, max_detections=3)
    assert out["num_detections"] == 3
    np.testing.assert_allclose(out["scores"], [0.9, 0.8, 0.55], rtol=1e-6)
    np.testing.assert_array_equal(out["classes"], [1, 1, 2])


def test_no_candidates_gives_zero_padding():
    out = _one([[0, 0, 1, 1]], [[0.9, 0.1]], max_detections=3)
    assert out["num_detections"] == 0
    assert not out["boxes"].any() and not out["scores"].any() and not out["classes"].any()


def test_nan_and_inf_scores_do_not_crash():
    boxes = [[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [0, 0, 1, 1.1]]
    scores = [[0, np.nan], [0, np.inf], [0, -np.inf], [0, 0.9]]
    out = _one(boxes, scores, max_detections=4)
    assert out["num_detections"] == 2
    assert out["scores"][0] == np.inf
    np.testing.assert_allclose(out["boxes"][:2], [[2, 2, 3, 3], [0, 0, 1, 1.1]])
    assert not np.isnan(out["scores"]).any()


def test_more_detections_than_slots_is_padded():
    # C * per_class (2) < max_detections (5): pad the rest.
    out = _one(
        [[0, 0, 1, 1], [2, 2, 3, 3]], [[0, 0.9], [0, 0.8]], max_detections_per_class=2, max_detections=5
    )
    assert out["boxes"].shape == (5, 4)
    assert out["num_detections"] == 2


# --------------------------------------------------------------------------- compiled paths
def test_compiled_call_matches_eager():
    boxes, scores = random_case(7, batch=3, num_anchors=60, num_classes=2)
    layer = NMS(score_threshold=0.2, max_detections_per_class=10, max_detections=12)
    eager = {k: np.asarray(v) for k, v in layer(boxes, scores).items()}
    if TF_BACKEND:
        import tensorflow as tf

        compiled = tf.function(lambda b, s: layer(b, s), jit_compile=True)(boxes, scores)
        graph = tf.function(
            lambda b, s: layer(b, s),
            input_signature=[tf.TensorSpec((None, None, 4)), tf.TensorSpec((None, None, 3))],
        )(boxes, scores)
        results = [compiled, graph]
    else:
        import jax

        results = [jax.jit(lambda b, s: layer(b, s))(boxes, scores)]
    for result in results:
        for key in eager:
            np.testing.assert_allclose(np.asarray(result[key]), eager[key], rtol=1e-6)


@pytest.mark.skipif(not TF_BACKEND, reason="the TensorFlow kernel needs the TensorFlow backend")
@pytest.mark.parametrize("seed", range(6))
def test_tensorflow_fast_path_equals_portable_path(seed):
    boxes, scores = random_case(seed, batch=4, num_anchors=200, num_classes=3, clustered=seed % 2 == 0)
    if seed == 5:
        scores[0, :5, 1] = np.nan
        scores[1, 3, 2] = np.inf
    kwargs = {
        "score_threshold": 0.15,
        "iou_threshold": 0.4,
        "max_detections_per_class": 15,
        "max_detections": 25,
    }
    portable = NMS(**kwargs)(boxes, scores)
    fast = NMS(implementation="tensorflow", **kwargs)(boxes, scores)
    for key in portable:
        a, b = np.asarray(portable[key]), np.asarray(fast[key])
        assert a.dtype == b.dtype, key
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=key)


# --------------------------------------------------------------------------- ties
# Quantized scores: many exactly equal scores within every class, boxes that overlap, and
# limits that cut through groups of equal scores. One input shape for all cases (one compiled
# graph per setting under JAX).
TIE_SHAPE = {"batch": 3, "num_anchors": 160, "num_classes": 4}
TIE_SETTINGS = [
    # score_threshold (itself a level: equal scores are dropped), iou, per_class, max_detections
    (0.25, 0.45, 8, 20),
    (0.5, 0.3, 3, 7),
    (0.0, 0.6, 40, 40),
]


@pytest.mark.parametrize("levels", [16, 256])
@pytest.mark.parametrize("setting", TIE_SETTINGS)
@pytest.mark.parametrize("seed", range(3))
def test_quantized_scores_match_reference_tie_rule(seed, setting, levels):
    boxes, scores = quantized_case(seed, levels=levels, **TIE_SHAPE)
    score_threshold, iou_threshold, per_class, max_detections = setting
    out = NMS(
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections_per_class=per_class,
        max_detections=max_detections,
    )(boxes, scores)
    expected = reference_nms(boxes, scores, score_threshold, iou_threshold, per_class, max_detections)
    assert_matches_reference(out, expected, max_detections, exact=True)


@pytest.mark.skipif(not TF_BACKEND, reason="the TensorFlow kernel needs the TensorFlow backend")
@pytest.mark.parametrize("levels", [16, 256])
@pytest.mark.parametrize("setting", TIE_SETTINGS)
@pytest.mark.parametrize("seed", range(3))
def test_quantized_scores_tensorflow_equals_portable(seed, setting, levels):
    boxes, scores = quantized_case(seed, levels=levels, **TIE_SHAPE)
    score_threshold, iou_threshold, per_class, max_detections = setting
    kwargs = {
        "score_threshold": score_threshold,
        "iou_threshold": iou_threshold,
        "max_detections_per_class": per_class,
        "max_detections": max_detections,
    }
    portable = NMS(**kwargs)(boxes, scores)
    fast = NMS(implementation="tensorflow", **kwargs)(boxes, scores)
    for key in portable:
        a, b = np.asarray(portable[key]), np.asarray(fast[key])
        assert a.dtype == b.dtype, key
        np.testing.assert_array_equal(a, b, err_msg=key)
    expected = reference_nms(boxes, scores, score_threshold, iou_threshold, per_class, max_detections)
    assert_matches_reference(fast, expected, max_detections, exact=True)


def test_quantized_scores_compiled_match_reference_tie_rule():
    boxes, scores = quantized_case(11, levels=16, **TIE_SHAPE)
    layer = NMS(score_threshold=0.25, max_detections_per_class=8, max_detections=20)
    expected = reference_nms(boxes, scores, 0.25, 0.45, 8, 20)
    if TF_BACKEND:
        import tensorflow as tf

        results = [
            tf.function(lambda b, s: layer(b, s), jit_compile=True)(boxes, scores),
            tf.function(
                lambda b, s: layer(b, s),
                input_signature=[tf.TensorSpec((None, None, 4)), tf.TensorSpec((None, None, 5))],
            )(boxes, scores),
        ]
        fast = NMS(
            score_threshold=0.25, max_detections_per_class=8, max_detections=20, implementation="tensorflow"
        )
        results.append(
            tf.function(
                lambda b, s: fast(b, s),
                input_signature=[tf.TensorSpec((None, None, 4)), tf.TensorSpec((None, None, 5))],
            )(boxes, scores)
        )
    else:
        import jax

        results = [jax.jit(lambda b, s: layer(b, s))(boxes, scores)]
    for result in results:
        assert_matches_reference(result, expected, 20, exact=True)


def _tie_implementations():
    return ["portable", "tensorflow"] if TF_BACKEND else ["portable"]


@pytest.mark.parametrize("implementation", _tie_implementations())
def test_equal_scores_within_a_class_keep_the_lowest_anchor_first(implementation):
    # Anchors 1 and 2 overlap (IoU 1/3) and tie at 0.8: anchor 1 is kept and suppresses 2,
    # which then cannot suppress anchor 3 (IoU 1/3 with anchor 2, none with anchor 1). Taking
    # anchor 2 first would drop both 1 and 3.
    boxes = [[5, 5, 6, 6], [0, 0, 1, 1], [0.5, 0, 1.5, 1], [1, 0, 2, 1]]
    scores = [[0, 0.8], [0, 0.8], [0, 0.8], [0, 0.7]]
    out = _one(boxes, scores, iou_threshold=0.3, max_detections=4, implementation=implementation)
    assert out["num_detections"] == 3
    np.testing.assert_array_equal(
        out["boxes"][:3], np.array([[5, 5, 6, 6], [0, 0, 1, 1], [1, 0, 2, 1]], "float32")
    )
    # The per-class limit cuts a tie: the lowest anchors of the tie survive.
    out = _one(
        boxes,
        scores,
        iou_threshold=0.3,
        max_detections_per_class=1,
        max_detections=4,
        implementation=implementation,
    )
    assert out["num_detections"] == 1
    np.testing.assert_array_equal(out["boxes"][0], np.array([5, 5, 6, 6], "float32"))


@pytest.mark.parametrize("implementation", _tie_implementations())
def test_equal_scores_across_classes_keep_class_order_then_kept_order(implementation):
    boxes = [[0, 0, 1, 1], [2, 0, 3, 1], [4, 0, 5, 1]]  # disjoint
    scores = [[0, 0.5, 0.9, 0.9], [0, 0.9, 0.0, 0.9], [0, 0.9, 0.9, 0.0]]
    out = _one(boxes, scores, score_threshold=0.6, max_detections=6, implementation=implementation)
    assert out["num_detections"] == 6
    np.testing.assert_array_equal(out["classes"], [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(out["boxes"][:, 0], np.array([2, 4, 0, 4, 0, 2], "float32"))
    # max_detections cuts the tie: earlier classes win.
    out = _one(boxes, scores, score_threshold=0.6, max_detections=3, implementation=implementation)
    np.testing.assert_array_equal(out["classes"], [1, 1, 2])
    np.testing.assert_array_equal(out["boxes"][:, 0], np.array([2, 4, 0], "float32"))


# --------------------------------------------------------------------------- staged loop, pruning
def _outputs(out):
    return {k: np.asarray(v) for k, v in out.items()}


def _assert_same(actual, expected):
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def _portable(boxes, scores, score_threshold, iou_threshold, per_class, max_detections, **kwargs):
    nms = _compiled_portable_nms(scores.shape[-1], per_class, max_detections, **kwargs)
    return _outputs(nms(boxes, scores, np.float32(score_threshold), np.float32(iou_threshold)))


def _pruned_scores(scores, score_threshold, k):
    """Scores with every candidate below its class's top ``k`` (score descending, anchor
    ascending) moved under the threshold: the reference for ``pre_nms_top_k=k``."""
    pruned = scores.copy()
    for b in range(scores.shape[0]):
        for c in range(1, scores.shape[-1]):
            column = scores[b, :, c]
            order = sorted(
                (i for i in range(len(column)) if column[i] > score_threshold), key=lambda i: (-column[i], i)
            )
            pruned[b, order[k:], c] = score_threshold - 1.0
    return pruned


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("stage_size", [1, 7, 40, 512])
def test_staged_loop_equals_the_loop_over_all_anchors(seed, stage_size):
    # The loop over each class's top `stage_size` (falling back to the full loop where that
    # could differ) gives bit for bit the output of the loop over all anchors, ties included.
    if seed % 2:
        boxes, scores = random_case(seed, batch=3, num_anchors=150, num_classes=2, clustered=seed == 1)
    else:
        boxes, scores = quantized_case(seed, batch=3, num_anchors=150, num_classes=2, levels=6)
    scores[0, :3, 1] = np.nan
    scores[1, 4, 2] = np.inf
    setting = (0.2, 0.4, 12, 20)
    expected = _portable(boxes, scores, *setting, stage_size=None)
    _assert_same(_portable(boxes, scores, *setting, stage_size=stage_size), expected)
    assert_matches_reference(expected, reference_nms(boxes, scores, *setting), 20, exact=True)


def test_staged_loop_falls_back_when_its_top_candidates_are_suppressed():
    # 10 copies of one box outrank 5 disjoint boxes: a first stage of 4 keeps 1 box (< 6 per
    # class) while more candidates remain, so the result must come from the full loop.
    boxes = np.array([[[0, 0, 1, 1]] * 10 + [[2 * i, 2, 2 * i + 1, 3] for i in range(5)]], "float32")
    scores = np.zeros((1, 15, 2), "float32")
    scores[0, :, 1] = np.linspace(0.95, 0.6, 15)
    for stage_size in (4, None, 512):
        out = _portable(boxes, scores, 0.5, 0.5, 6, 6, stage_size=stage_size)
        assert int(out["num_detections"][0]) == 6, stage_size
        np.testing.assert_array_equal(out["boxes"][0, 1:, 0], [0, 2, 4, 6, 8])


@pytest.mark.parametrize("seed", range(3))
def test_pruning_with_k_that_cannot_change_the_result_is_exact(seed):
    # k >= every class's candidate count: the same output as no pruning, bit for bit.
    boxes, scores = random_case(seed, batch=2, num_anchors=120, num_classes=2, clustered=True)
    most = int(max((scores[b, :, c] > 0.3).sum() for b in range(2) for c in (1, 2)))
    expected = _outputs(
        NMS(score_threshold=0.3, max_detections_per_class=15, max_detections=20)(boxes, scores)
    )
    for k in (most, most + 1, 10_000):
        layer = NMS(score_threshold=0.3, max_detections_per_class=15, max_detections=20, pre_nms_top_k=k)
        _assert_same(_outputs(layer(boxes, scores)), expected)
        # Also through the staged loop (a first stage smaller than k).
        _assert_same(_portable(boxes, scores, 0.3, 0.45, 15, 20, pre_nms_top_k=k, stage_size=5), expected)


@pytest.mark.parametrize("implementation", _tie_implementations())
@pytest.mark.parametrize("k", [1, 3, 8, 25])
def test_pruning_keeps_only_each_class_top_k_candidates(implementation, k):
    boxes, scores = quantized_case(3, batch=2, num_anchors=80, num_classes=2, levels=5)
    layer = NMS(
        score_threshold=0.3,
        max_detections_per_class=10,
        max_detections=15,
        pre_nms_top_k=k,
        implementation=implementation,
    )
    expected = reference_nms(boxes, _pruned_scores(scores, 0.3, k), 0.3, 0.45, 10, 15)
    assert_matches_reference(_outputs(layer(boxes, scores)), expected, 15, exact=True)
    if implementation == "portable":
        for stage_size in (2, 4):
            out = _portable(boxes, scores, 0.3, 0.45, 10, 15, pre_nms_top_k=k, stage_size=stage_size)
            assert_matches_reference(out, expected, 15, exact=True)


def test_pre_nms_top_k_round_trips_and_defaults_to_none():
    assert NMS().pre_nms_top_k is None
    assert NMS().get_config()["pre_nms_top_k"] is None
    layer = NMS(pre_nms_top_k=300)
    config = layer.get_config()
    assert config["pre_nms_top_k"] == 300
    assert NMS.from_config(config).pre_nms_top_k == 300
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, NonMaxSuppression) and restored.pre_nms_top_k == 300


# --------------------------------------------------------------------------- defaults
def test_defaults_are_the_shared_postprocess_defaults():
    layer = NMS()
    assert layer.score_threshold == POSTPROCESS_DEFAULTS["score_threshold"] == 0.5
    assert layer.iou_threshold == POSTPROCESS_DEFAULTS["iou_threshold"] == 0.45
    assert layer.max_detections == POSTPROCESS_DEFAULTS["max_detections"] == 200
    assert layer.max_detections_per_class is POSTPROCESS_DEFAULTS["max_detections_per_class"] is None
    assert layer.per_class_limit == 200
    with pytest.raises(TypeError):
        POSTPROCESS_DEFAULTS["max_detections"] = 1  # read-only


def test_per_class_limit_defaults_to_max_detections_and_none_round_trips():
    layer = NMS(max_detections=7)
    assert layer.per_class_limit == 7
    config = layer.get_config()
    assert config["max_detections_per_class"] is None
    assert NMS.from_config(config).per_class_limit == 7
    assert NMS(max_detections=7, max_detections_per_class=3).per_class_limit == 3


@pytest.mark.parametrize("implementation", _tie_implementations())
def test_max_detections_alone_keeps_that_many_boxes_of_one_class(implementation):
    # 210 disjoint boxes of one class: max_detections=200 alone keeps 200 (not a per-class 100).
    count = 210
    boxes = np.array([[[i, 0, i + 1, 1] for i in range(count)]], "float32")
    scores = np.zeros((1, count, 2), "float32")
    scores[0, :, 1] = np.linspace(0.99, 0.6, count)
    out = NMS(max_detections=200, implementation=implementation)(boxes, scores)
    assert int(np.asarray(out["num_detections"])[0]) == 200
    np.testing.assert_array_equal(np.asarray(out["boxes"])[0, :, 0], np.arange(200, dtype="float32"))


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"iou_threshold": float("nan")}, "iou_threshold"),
        ({"score_threshold": float("nan")}, "score_threshold"),
        ({"max_detections": -1}, "max_detections"),
        ({"max_detections": 0}, "max_detections"),
        ({"max_detections": 2.5}, "max_detections"),
        ({"max_detections_per_class": 0}, "max_detections_per_class"),
        ({"max_detections_per_class": 2.0}, "max_detections_per_class"),
        ({"implementation": "fast"}, "implementation"),
        ({"pre_nms_top_k": 0}, "pre_nms_top_k"),
        ({"pre_nms_top_k": 2.5}, "pre_nms_top_k"),
        ({"pre_nms_top_k": True}, "pre_nms_top_k"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        NMS(**kwargs)


@pytest.mark.skipif(TF_BACKEND, reason="only meaningful under a non-TensorFlow backend")
def test_tensorflow_implementation_needs_tensorflow_backend():
    with pytest.raises(ValueError, match='`implementation="tensorflow"` needs the TensorFlow backend'):
        NMS(implementation="tensorflow")


def test_wrong_ranks_raise_value_error():
    boxes, scores = random_case(0, batch=1, num_anchors=5, num_classes=1)
    layer = NMS()
    with pytest.raises(ValueError, match=r"`boxes` must have shape \(batch, num_anchors, 4\)"):
        layer(boxes[0], scores)
    with pytest.raises(
        ValueError, match=r"`scores` must have shape \(batch, num_anchors, num_classes \+ 1\)"
    ):
        layer(boxes, scores[0])
    with pytest.raises(ValueError, match="`scores`"):
        layer(boxes, scores[..., :1])
    with pytest.raises(ValueError, match="must match"):
        layer(boxes, scores[:, :4])
