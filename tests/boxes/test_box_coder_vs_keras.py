"""kssd's box coder against keras.utils.bounding_boxes' (why kssd keeps its own, see
kssd/boxes/coder.py). If one of the "difference" tests starts failing after a Keras upgrade,
Keras changed that behaviour: reconsider switching kssd.boxes.encode/decode to Keras'."""

import keras
import numpy as np
import pytest
from keras.utils import bounding_boxes as keras_boxes

from kssd.boxes import decode, encode

TF_BACKEND = keras.backend.backend() == "tensorflow"
VARIANCES = (0.1, 0.2)
KERAS_VARIANCE = [0.1, 0.1, 0.2, 0.2]
FORMATS = {"anchor_format": "center_xywh", "box_format": "xyxy"}


def keras_encode(boxes, anchors):
    return keras_boxes.encode_box_to_deltas(
        anchors, boxes, encoding_format="center_xywh", variance=KERAS_VARIANCE, **FORMATS
    )


def keras_decode(offsets, anchors):
    return keras_boxes.decode_deltas_to_boxes(
        anchors, offsets, encoded_format="center_xywh", variance=KERAS_VARIANCE, **FORMATS
    )


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x), "float64")


def random_problem(num=500, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    anchors = np.concatenate([rng.uniform(0.05, 0.95, (num, 2)), rng.uniform(0.01, 0.9, (num, 2))], -1)
    low = rng.uniform(0, 0.7, (batch, num, 2))
    boxes = np.concatenate([low, low + rng.uniform(0.001, 0.3, (batch, num, 2))], -1)
    offsets = rng.normal(0, 1, (batch, num, 4))
    return anchors.astype("float32"), boxes.astype("float32"), offsets.astype("float32")


def test_same_numbers_as_keras_on_positive_size_boxes():
    anchors, boxes, offsets = random_problem()
    ours, theirs = np_(encode(boxes, anchors, VARIANCES)), np_(keras_encode(boxes, anchors))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)  # measured: 3.1e-5 abs, 2.5e-5 rel
    np.testing.assert_allclose(
        np_(decode(offsets, anchors, VARIANCES)), np_(keras_decode(offsets, anchors)), atol=1e-6
    )


def test_difference_keras_clamps_zero_sizes_to_epsilon():
    anchors = np.array([[0.5, 0.5, 0.2, 0.2]], "float32")
    point = np.array([[0.4, 0.5, 0.4, 0.5]], "float32")  # zero width and height
    ours, theirs = np_(encode(point, anchors, VARIANCES)), np_(keras_encode(point, anchors))
    assert np.all(np.isneginf(ours[0, 2:]))
    expected = np.log(keras.config.epsilon() / 0.2) / 0.2
    np.testing.assert_allclose(theirs[0, 2:], [expected, expected], rtol=1e-4)
    np.testing.assert_allclose(ours[0, :2], theirs[0, :2], atol=1e-4)


@pytest.mark.skipif(not TF_BACKEND, reason="float64 tensors need the TensorFlow backend (JAX: x64 off)")
def test_difference_keras_computes_in_float32():
    anchors, boxes, offsets = random_problem(num=10, batch=1)
    assert (
        keras.backend.standardize_dtype(encode(boxes.astype("float64"), anchors.astype("float64")).dtype)
        == "float64"
    )
    assert keras.backend.standardize_dtype(
        keras_encode(boxes.astype("float64"), anchors.astype("float64")).dtype
    ) == ("float32")
    assert keras.backend.standardize_dtype(
        keras_decode(offsets.astype("float16"), anchors.astype("float16")).dtype
    ) == ("float32")


def test_difference_keras_box_coding_inside_tf_data():
    tf = pytest.importorskip("tensorflow")
    anchors, boxes, offsets = random_problem(num=20, batch=3)
    dataset = tf.data.Dataset.from_tensor_slices(boxes)
    ours = np.stack([x.numpy() for x in dataset.map(lambda b: encode(b, tf.constant(anchors), VARIANCES))])
    np.testing.assert_allclose(ours, np_(encode(boxes, anchors, VARIANCES)), atol=1e-5)

    def encode_in_graph(b):
        return keras_encode(b, anchors)

    def decode_in_graph(o):
        return keras_decode(o, anchors)

    if TF_BACKEND:  # fine under the TensorFlow backend
        keras_encoded = np.stack([x.numpy() for x in dataset.map(encode_in_graph)])
        np.testing.assert_allclose(keras_encoded, ours, atol=1e-4)
        assert len(list(tf.data.Dataset.from_tensor_slices(offsets).map(decode_in_graph))) == 3
    else:  # JAX / PyTorch: Keras' own ops get symbolic tf.Tensors when map() traces
        with pytest.raises(NotImplementedError, match="symbolic tf.Tensor"):
            dataset.map(encode_in_graph)
        with pytest.raises(NotImplementedError, match="symbolic tf.Tensor"):
            tf.data.Dataset.from_tensor_slices(offsets).map(decode_in_graph)
