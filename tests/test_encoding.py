"""Target encoding: shapes, positives, round trip, padding, batching, tf.data, JAX."""

import functools

import keras
import numpy as np
import pytest

from kssd.anchors import generate_anchors
from kssd.boxes import center_to_corners, corners_to_center, decode, iou, match_anchors
from kssd.encoding import TargetEncoder, encode_targets

ANCHORS = generate_anchors(
    (120, 160), steps=[8, 16, 32, 64], min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128]]
)
BOXES = np.array([[0.10, 0.10, 0.30, 0.35], [0.55, 0.20, 0.95, 0.80], [0.40, 0.60, 0.47, 0.70]], "float32")
LABELS = np.array([1, 2, 1], "int32")


def np_(x):
    return keras.ops.convert_to_numpy(x)


def encode(boxes, labels, anchors=ANCHORS, **kwargs):
    """encode_targets as NumPy; under JAX through one jax.jit (eager JAX compiles every op
    separately for every new shape: many seconds per call on a small CPU)."""
    fn = functools.partial(encode_targets, **kwargs)
    if keras.backend.backend() == "jax":
        import jax

        fn = jax.jit(fn)
    return np_(fn(boxes, labels, anchors))


def test_shape_dtype_and_every_box_gets_a_positive():
    y_true = np_(encode_targets(BOXES, LABELS, ANCHORS))
    assert y_true.shape == (len(ANCHORS), 5) and y_true.dtype == np.float32
    positive = y_true[:, 4] > 0
    assert set(np.unique(y_true[:, 4]).tolist()) == {0.0, 1.0, 2.0}
    # each box owns at least one positive anchor: its best anchor decodes back to it
    decoded = np_(decode(y_true[:, :4], ANCHORS))
    overlaps = np_(iou(BOXES, center_to_corners(ANCHORS)))
    for g, box in enumerate(BOXES):
        best = int(np.argmax(overlaps[g]))
        assert positive[best] and y_true[best, 4] == LABELS[g]
        np.testing.assert_allclose(decoded[best], box, atol=1e-5)
    # background anchors carry zero offsets
    assert np.all(y_true[~positive, :4] == 0.0)


def test_decoding_positives_recovers_their_matched_boxes():
    y_true = encode(BOXES, LABELS, match_threshold=0.35)
    idx, pos, _ = match_anchors(BOXES, np.ones(3, bool), np_(center_to_corners(ANCHORS)), 0.35)
    idx, pos = np_(idx), np_(pos)
    positive = y_true[:, 4] > 0
    np.testing.assert_array_equal(positive, pos)
    assert positive.sum() > 3  # threshold matches besides the forced ones
    decoded = np_(decode(y_true[positive, :4], ANCHORS[positive]))
    np.testing.assert_allclose(decoded, BOXES[idx[positive]], atol=1e-5)
    np.testing.assert_array_equal(y_true[positive, 4], LABELS[idx[positive]])


def test_match_threshold_and_variances_are_used():
    low = encode(BOXES, LABELS, match_threshold=0.2)
    high = encode(BOXES, LABELS, match_threshold=0.6)
    assert (low[:, 4] > 0).sum() > (high[:, 4] > 0).sum() >= 3
    plain = encode(BOXES, LABELS, variances=(1.0, 1.0))
    scaled = encode(BOXES, LABELS)
    np.testing.assert_allclose(scaled[:, :2] * 0.1, plain[:, :2], atol=1e-5)
    np.testing.assert_allclose(scaled[:, 2:4] * 0.2, plain[:, 2:4], atol=1e-5)


def test_no_boxes_gives_all_background():
    for boxes, labels in [
        (np.zeros((0, 4), "float32"), np.zeros((0,), "int32")),
        (np.zeros((3, 4), "float32"), np.zeros((3,), "int32")),  # padding only
    ]:
        y_true = encode(boxes, labels)
        assert y_true.shape == (len(ANCHORS), 5)
        assert np.all(y_true == 0.0)


def test_padded_rows_are_ignored():
    reference = encode(BOXES, LABELS)
    padded_boxes = np.concatenate(
        [
            BOXES[:1],
            np.zeros((1, 4)),
            BOXES[1:],
            [[0.1, 0.1, 0.3, 0.35]],
            [[0.5, 0.5, 0.5, 0.7]],
        ]
    ).astype("float32")
    # label 0 / -1 rows and a zero-width row are padding even when their box looks real
    padded_labels = np.array([1, 0, 2, 1, -1, 3], "int32")
    np.testing.assert_array_equal(encode(padded_boxes, padded_labels), reference)


def test_batched_equals_per_image():
    boxes = np.zeros((3, 4, 4), "float32")
    labels = np.zeros((3, 4), "int32")
    boxes[0, :3], labels[0, :3] = BOXES, LABELS
    boxes[1, :1], labels[1, :1] = BOXES[1:2], 3
    # image 2: no objects
    batched = encode(boxes, labels)
    assert batched.shape == (3, len(ANCHORS), 5)
    for b in range(3):
        np.testing.assert_allclose(batched[b], encode(boxes[b], labels[b]), atol=1e-6)
    assert np.all(batched[2] == 0.0)


def test_matching_uses_corner_form_anchors_not_centre_form():
    # Anchor 0: centre (0.2, 0.2), size 0.6 -> corners (-0.1, -0.1, 0.5, 0.5).
    # Anchor 1: centre (0.6, 0.6), size 0.4 -> corners (0.4, 0.4, 0.8, 0.8) = the box.
    anchors = np.array([[0.2, 0.2, 0.6, 0.6], [0.6, 0.6, 0.4, 0.4]], "float32")
    box = np.array([[0.4, 0.4, 0.8, 0.8]], "float32")
    y_true = encode(box, np.array([1]), anchors)
    assert y_true[:, 4].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(y_true[1, :4], 0.0, atol=1e-6)
    # The slim face SSD tutorial's bug: the centre-form priors read as corners make anchor 0 look like
    # (0.2, 0.2, 0.6, 0.6) (IoU 0.14 with the box) and anchor 1 empty, so it would match 0.
    _, tutorial_positive, _ = match_anchors(box, np.array([True]), anchors)
    assert np_(tutorial_positive).tolist() == [True, False]


def test_target_encoder_formats_aliases_and_errors():
    encoder = TargetEncoder(ANCHORS, bounding_box_format="xyxy", image_size=(120, 160))
    pixels = BOXES * np.array([160, 120, 160, 120], "float32")
    expected = encode(BOXES, LABELS)
    np.testing.assert_allclose(np_(encoder({"boxes": pixels, "labels": LABELS})), expected, atol=1e-4)
    np.testing.assert_allclose(np_(encoder({"boxes": pixels, "classes": LABELS})), expected, atol=1e-4)
    with pytest.raises(ValueError, match="labels"):
        encoder({"boxes": pixels})
    with pytest.raises(ValueError, match="image_size"):
        TargetEncoder(ANCHORS, bounding_box_format="xyxy")
    with pytest.raises(ValueError, match="bounding_box_format"):
        TargetEncoder(ANCHORS, bounding_box_format="cxcywh", image_size=(120, 160))
    with pytest.raises(ValueError, match="anchors"):
        TargetEncoder(ANCHORS[:, :3])


def test_inside_tf_data_map_graph_mode():
    tf = pytest.importorskip("tensorflow")
    expected = encode(BOXES, LABELS)
    data = {"boxes": tf.constant(BOXES), "labels": tf.constant(LABELS)}
    dataset = tf.data.Dataset.from_tensors(data).repeat(2)
    encoder = TargetEncoder(ANCHORS)
    mapped = dataset.map(encoder)  # traced in graph mode, whatever the Keras backend
    for y_true in mapped:
        assert isinstance(y_true, tf.Tensor)
        np.testing.assert_allclose(y_true.numpy(), expected, atol=1e-6)
    # ragged numbers of boxes: padded_batch then the batched encoder inside map
    images = tf.data.Dataset.from_generator(
        lambda: iter(
            [(BOXES, LABELS), (BOXES[:1], LABELS[:1]), (np.zeros((0, 4), "float32"), np.zeros((0,), "int32"))]
        ),
        output_signature=(tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None,), tf.int32)),
    )
    batched = images.padded_batch(3).map(lambda b, lab: encode_targets(b, lab, ANCHORS))
    y_batch = next(iter(batched)).numpy()
    assert y_batch.shape == (3, len(ANCHORS), 5)
    np.testing.assert_allclose(y_batch[0], expected, atol=1e-6)
    np.testing.assert_allclose(y_batch[1], encode(BOXES[:1], LABELS[:1]), atol=1e-6)
    assert np.all(y_batch[2] == 0.0)


def test_under_jax_jit():
    if keras.backend.backend() != "jax":
        pytest.skip("checks jax.jit; run with KERAS_BACKEND=jax")
    import jax

    jitted = jax.jit(lambda b, lab: encode_targets(b, lab, ANCHORS))
    np.testing.assert_allclose(
        np.asarray(jitted(BOXES, LABELS)), np_(encode_targets(BOXES, LABELS, ANCHORS)), atol=1e-6
    )


def test_neutral_zone_is_encoded_as_ignored_and_left_out_of_the_loss():
    from kssd.losses import SSDLoss

    # corner anchors with IoU 1.0, 0.5, 0.25 and 0 against the box
    corners = np.array([[0, 0, 0.4, 0.4], [0, 0, 0.4, 0.8], [0, 0, 0.8, 0.8], [0.5, 0.5, 1, 1]], "float32")
    anchors = np_(corners_to_center(corners))
    box, label = np.array([[0, 0, 0.4, 0.4]], "float32"), np.array([1])
    y_true = encode(box, label, anchors, match_threshold=0.6, negative_threshold=0.25)
    assert y_true[:, 4].tolist() == [1.0, -1.0, -1.0, 0.0]
    assert np.all(y_true[1:, :4] == 0.0)
    assert encode(box, label, anchors, match_threshold=0.6)[:, 4].tolist() == [1, 0, 0, 0]
    # Hand-computed loss, 1 positive, neg_pos_ratio 1: the ignored anchors have the highest
    # background cross-entropy (logits favour the object) but must not be mined; the one
    # negative (anchor 3, CE log(1 + e)) is. L = (log 2 + log(1 + e)) / 1.
    y_pred = np.zeros((1, 4, 6), "float32")
    y_pred[0, 1, 5] = y_pred[0, 2, 5] = 10.0
    y_pred[0, 3, 5] = 1.0
    loss = float(SSDLoss(neg_pos_ratio=1.0)(y_true[None], y_pred))
    np.testing.assert_allclose(loss, np.log(2.0) + np.log1p(np.e), rtol=1e-6)
    # the same targets without the neutral zone mine an ignored anchor: log 2 + log(1 + e^10)
    plain = encode(box, label, anchors, match_threshold=0.6)
    np.testing.assert_allclose(
        float(SSDLoss(neg_pos_ratio=1.0)(plain[None], y_pred)),
        np.log(2.0) + np.log1p(np.exp(10.0)),
        rtol=1e-6,
    )


def test_bipartite_encoder_gives_every_crowded_box_a_positive_anchor():
    rng = np.random.default_rng(7)
    low = rng.uniform(0.4, 0.45, (12, 2))
    boxes = np.concatenate([low, low + rng.uniform(0.1, 0.15, (12, 2))], -1).astype("float32")
    labels = np.arange(1, 13)
    for matching, everyone in (("bipartite", True), ("forced", False)):
        y_true = encode(boxes, labels, match_threshold=0.99, matching=matching)
        owners = set(y_true[y_true[:, 4] > 0, 4].astype(int).tolist())
        assert (owners == set(labels.tolist())) is everyone
