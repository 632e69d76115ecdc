"""Box-aware augmentations: hand cases, invariants and determinism."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kssd.data.augment import face_augment, get_augmentation, keras_layers_augmentation, ssd_augment
from kssd.data.augment_geometric import (
    expand,
    flip_horizontal,
    min_iou_crop,
    pad_to_square,
    random_flip,
    random_resize,
    random_square_crop,
    resize,
    resize_with_pad,
)
from kssd.data.augment_photometric import photometric_distort


def coordinate_image(height, width):
    """Channel 0 = x, channel 1 = y of each pixel: a crop's offset can be read from its pixels."""
    ys, xs = np.mgrid[0:height, 0:width].astype("float32")
    return tf.constant(np.stack([xs, ys, np.zeros_like(xs)], axis=-1))


def seed(a, b=0):
    return tf.constant([a, b], tf.int64)


# ------------------------------------------------------------------------------ flips


def test_flip_horizontal_hand_case():
    image = coordinate_image(4, 10)
    out, boxes = flip_horizontal(image, tf.constant([[1.0, 0.0, 3.0, 2.0], [0.0, 1.0, 10.0, 4.0]]))
    np.testing.assert_allclose(boxes.numpy(), [[7.0, 0.0, 9.0, 2.0], [0.0, 1.0, 10.0, 4.0]])
    np.testing.assert_array_equal(out.numpy()[:, :, 0], image.numpy()[:, ::-1, 0])


def test_random_flip_probability_extremes_and_boxes_follow_pixels():
    image = coordinate_image(6, 8)
    boxes = tf.constant([[1.0, 1.0, 3.0, 5.0]])
    out, kept = random_flip(image, boxes, seed(3), probability=0.0)
    np.testing.assert_array_equal(out.numpy(), image.numpy())
    np.testing.assert_array_equal(kept.numpy(), boxes.numpy())
    out, flipped = random_flip(image, boxes, seed(3), probability=1.0)
    np.testing.assert_allclose(flipped.numpy(), [[5.0, 1.0, 7.0, 5.0]])
    # the pixel columns under the flipped box are the original columns 1..2, mirrored
    np.testing.assert_array_equal(out.numpy()[0, 5:7, 0], [2.0, 1.0])


def test_flip_matches_keras_random_flip():
    """Keras core's bbox-aware RandomFlip is the reference for the box arithmetic."""
    image = coordinate_image(6, 10)
    boxes = np.array([[1.0, 1.0, 4.0, 5.0], [6.0, 0.0, 10.0, 2.0]], "float32")
    layer = keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=0)
    expected_image, expected_boxes = flip_horizontal(image, boxes)
    for _ in range(20):  # the layer flips with probability 1/2: find a flipped call
        out = layer(
            {"images": image, "bounding_boxes": {"boxes": tf.constant(boxes), "labels": tf.constant([1, 2])}},
            training=True,
        )
        if float(np.asarray(out["images"])[0, 0, 0]) == 9.0:
            break
    else:
        pytest.fail("keras RandomFlip never flipped")
    np.testing.assert_allclose(np.asarray(out["bounding_boxes"]["boxes"]), expected_boxes.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["images"]), expected_image.numpy())


# ------------------------------------------------------------------------------ face crop


def window_of(out):
    """(x0, y0) of a crop of a coordinate image, from its top-left pixel."""
    return float(out[0, 0, 0]), float(out[0, 0, 1])


def test_square_crop_keeps_faces_by_centre_and_shifts_them():
    image = coordinate_image(100, 200)
    boxes = np.array([[10, 10, 30, 30], [180, 10, 199, 30], [40, 50, 70, 90]], "float32")
    labels = tf.constant([1, 2, 3])
    cropped = 0
    for s in range(20):
        out, b, lab = random_square_crop(image, boxes, labels, seed(s), scales=(0.5,), max_tries=50)
        if out.shape == (100, 200, 3):  # no acceptable candidate among 50: unchanged
            np.testing.assert_array_equal(b.numpy(), boxes)
            continue
        cropped += 1
        assert out.shape == (50, 50, 3)
        x0, y0 = window_of(out.numpy())
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = ((centres > [x0, y0]) & (centres < [x0 + 50, y0 + 50])).all(axis=1)
        assert inside.any()
        np.testing.assert_array_equal(lab.numpy(), labels.numpy()[inside])
        expected = np.clip(boxes[inside] - [x0, y0, x0, y0], 0, 50)
        np.testing.assert_allclose(b.numpy(), expected)
        # at least one face is whole inside the crop (the IoF test)
        whole = ((boxes[:, :2] >= [x0, y0]) & (boxes[:, 2:] <= [x0 + 50, y0 + 50])).all(axis=1)
        assert whole.any()
    assert cropped >= 10


def test_square_crop_removes_faces_whose_centre_is_outside():
    # a 100-wide square cannot hold both centres (x=20 and x=190): exactly one face survives
    image = coordinate_image(100, 200)
    boxes = tf.constant([[10.0, 10.0, 30.0, 30.0], [180.0, 10.0, 200.0, 30.0]])
    seen = set()
    for s in range(12):
        out, b, lab = random_square_crop(image, boxes, tf.constant([1, 2]), seed(s), scales=(1.0,))
        assert lab.numpy().size == 1
        seen.add(int(lab[0]))
        assert out.shape == (100, 100, 3)
    assert seen == {1, 2}


def test_square_crop_unchanged_when_no_face_can_be_kept_whole():
    image = coordinate_image(100, 100)
    boxes = tf.constant([[0.0, 0.0, 100.0, 100.0]])  # no 30-px square holds it whole
    out, b, lab = random_square_crop(image, boxes, tf.constant([1]), seed(1), scales=(0.3,))
    assert out.shape == (100, 100, 3)
    np.testing.assert_array_equal(b.numpy(), boxes.numpy())


def test_square_crop_without_boxes_is_identity():
    image = coordinate_image(30, 40)
    out, b, lab = random_square_crop(image, tf.zeros((0, 4)), tf.zeros((0,), tf.int32), seed(2))
    assert out.shape == (30, 40, 3) and b.shape == (0, 4) and lab.shape == (0,)


# ------------------------------------------------------------------------------ SSD ops


def test_min_iou_crop_respects_threshold_and_centres():
    image = coordinate_image(100, 120)
    boxes = np.array([[20, 20, 60, 70], [80, 10, 110, 40]], "float32")
    for s in range(15):
        out, b, lab = min_iou_crop(image, boxes, tf.constant([1, 2]), seed(s), min_ious=(0.5,))
        h, w = out.shape[:2]
        x0, y0 = window_of(out.numpy())
        window = np.array([x0, y0, x0 + w, y0 + h])
        if (w, h) == (120, 100):
            continue  # no acceptable candidate: unchanged
        inter_lo = np.maximum(boxes[:, :2], window[:2])
        inter_hi = np.minimum(boxes[:, 2:], window[2:])
        inter = np.prod(np.clip(inter_hi - inter_lo, 0, None), axis=1)
        union = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) + w * h - inter
        assert (inter / union).max() >= 0.5 - 1e-6
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = ((centres > window[:2]) & (centres < window[2:])).all(axis=1)
        np.testing.assert_array_equal(lab.numpy(), np.array([1, 2])[inside])
        np.testing.assert_allclose(b.numpy(), np.clip(boxes[inside] - [x0, y0, x0, y0], 0, [w, h, w, h]))
        assert 0.5 <= h / w <= 2.0


def test_min_iou_crop_none_keeps_whole_image():
    image = coordinate_image(50, 60)
    boxes = tf.constant([[5.0, 5.0, 20.0, 20.0]])
    out, b, _ = min_iou_crop(image, boxes, tf.constant([1]), seed(9), min_ious=(None,))
    assert out.shape == (50, 60, 3)
    np.testing.assert_array_equal(b.numpy(), boxes.numpy())


def test_expand_places_image_and_shifts_boxes():
    image = coordinate_image(20, 30) + 1.0  # +1 so the original pixels are never 0
    boxes = tf.constant([[2.0, 3.0, 12.0, 13.0]])
    out, b = expand(image, boxes, seed(4), max_ratio=3.0, probability=1.0, fill_value=(0, 0, 0))
    out = out.numpy()
    assert 20 <= out.shape[0] <= 60 and 30 <= out.shape[1] <= 90
    ys, xs = np.nonzero(out[..., 0])
    top, left = ys.min(), xs.min()
    assert out[top, left, 0] == 1.0 and out[top, left, 1] == 1.0  # original (0, 0)
    np.testing.assert_allclose(b.numpy(), [[2 + left, 3 + top, 12 + left, 13 + top]])


def test_expand_mean_fill_and_probability_zero():
    image = tf.fill((10, 10, 3), 7.0)
    out, _ = expand(image, tf.zeros((0, 4)), seed(1), probability=1.0, max_ratio=2.0)
    np.testing.assert_allclose(out.numpy(), 7.0)
    out, b = expand(image, tf.constant([[1.0, 1.0, 2.0, 2.0]]), seed(1), probability=0.0)
    assert out.shape == (10, 10, 3)
    np.testing.assert_array_equal(b.numpy(), [[1.0, 1.0, 2.0, 2.0]])


def test_pad_to_square_pads_bottom_or_right_with_mean():
    tall = tf.concat([tf.zeros((6, 2, 3)), tf.fill((6, 2, 3), 10.0)], axis=1)  # 6x4, mean 5
    out = pad_to_square(tall).numpy()
    assert out.shape == (6, 6, 3)
    np.testing.assert_allclose(out[:, 4:], 5.0)
    np.testing.assert_allclose(out[:, :4], tall.numpy())
    wide = pad_to_square(tf.ones((2, 5, 3))).numpy()
    assert wide.shape == (5, 5, 3)


def test_resize_scales_boxes_and_resize_with_pad_keeps_aspect():
    out, b = resize(tf.zeros((40, 80, 3)), tf.constant([[8.0, 4.0, 16.0, 20.0]]), (20, 20))
    assert out.shape == (20, 20, 3)
    np.testing.assert_allclose(b.numpy(), [[2.0, 2.0, 4.0, 10.0]])
    out, b = resize_with_pad(tf.fill((40, 80, 3), 9.0), tf.constant([[8.0, 4.0, 16.0, 20.0]]), (20, 20))
    np.testing.assert_allclose(b.numpy(), [[2.0, 1.0, 4.0, 5.0]])
    np.testing.assert_allclose(out.numpy()[:10], 9.0, atol=1e-4)
    np.testing.assert_allclose(out.numpy()[10:], 0.0)


def test_random_resize_uses_several_methods():
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (17, 23, 3)), tf.float32)
    outputs = {
        random_resize(image, tf.zeros((0, 4)), (7, 9), seed(s))[0].numpy().tobytes() for s in range(12)
    }
    assert len(outputs) >= 3


# ------------------------------------------------------------------------------ photometric


def test_photometric_distort_changes_colours_within_range_and_is_seeded():
    image = tf.constant(np.random.default_rng(1).uniform(0, 255, (8, 8, 3)), tf.float32)
    a = photometric_distort(image, seed(5), probability=1.0).numpy()
    b = photometric_distort(image, seed(5), probability=1.0).numpy()
    c = photometric_distort(image, seed(6), probability=1.0).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 255
    np.testing.assert_allclose(
        photometric_distort(image, seed(5), probability=0.0).numpy(), image.numpy(), atol=1e-3
    )


# ------------------------------------------------------------------------------ chains


@pytest.mark.parametrize("chain", [face_augment, ssd_augment])
def test_chains_keep_boxes_inside_and_are_deterministic(chain):
    rng = np.random.default_rng(0)
    image = tf.constant(rng.uniform(0, 255, (90, 140, 3)), tf.float32)
    xy = rng.uniform(0, 100, (6, 2))
    wh = rng.uniform(5, 40, (6, 2))
    boxes = tf.constant(np.concatenate([xy, np.minimum(xy + wh, [140, 90])], 1), tf.float32)
    labels = tf.constant([1, 2, 1, 2, 1, 2])
    outs = []
    for s in range(8):
        out, b, lab = chain(image, boxes, labels, seed(s), (24, 32))
        assert out.shape == (24, 32, 3)
        assert b.shape[0] == lab.shape[0]
        b = b.numpy()
        assert (b >= 0).all() and (b[:, [0, 2]] <= 32 + 1e-4).all() and (b[:, [1, 3]] <= 24 + 1e-4).all()
        assert (b[:, 2:] >= b[:, :2]).all()
        assert float(tf.reduce_min(out)) >= 0 and float(tf.reduce_max(out)) <= 255
        outs.append(out.numpy())
        again = chain(image, boxes, labels, seed(s), (24, 32))
        np.testing.assert_array_equal(again[0].numpy(), out.numpy())
        np.testing.assert_array_equal(again[1].numpy(), b)
    assert len({o.tobytes() for o in outs}) > 1  # different seeds, different images


def test_chains_run_inside_tf_data_graph():
    ds = tf.data.Dataset.from_tensors(
        (tf.zeros((50, 60, 3)), tf.constant([[5.0, 5.0, 30.0, 30.0]]), tf.constant([1]))
    )
    for name in ("face", "ssd", "none"):
        fn = get_augmentation(name)
        mapped = ds.map(lambda im, b, lab, fn=fn: fn(im, b, lab, seed(1), (16, 16)))
        image, boxes, labels = next(iter(mapped))
        assert image.shape == (16, 16, 3) and boxes.shape[-1] == 4


def test_get_augmentation_rejects_unknown_names():
    with pytest.raises(ValueError, match="augmentation='flip'"):
        get_augmentation("flip")


def test_keras_layers_augmentation_flips_boxes_with_the_image():
    layer = keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=3)
    fn = keras_layers_augmentation([layer])
    image = coordinate_image(8, 10)
    for _ in range(10):
        out, b, lab = fn(image, tf.constant([[0.0, 0.0, 4.0, 8.0]]), tf.constant([1]), seed(0), (8, 10))
        flipped = float(out[0, 0, 0]) == 9.0
        expected = [[6.0, 0.0, 10.0, 8.0]] if flipped else [[0.0, 0.0, 4.0, 8.0]]
        np.testing.assert_allclose(b.numpy(), expected, atol=1e-4)
    with pytest.raises(ValueError, match="bounding_box_format"):
        keras_layers_augmentation(keras.layers.RandomFlip(bounding_box_format="rel_xyxy"))
