"""load_dataset: sources, encoding, determinism, min_box_size, evaluation mode."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import tensorflow as tf

from kssd.anchors import generate_anchors
from kssd.boxes import decode
from kssd.data.pipeline import load_dataset

SIZE = (32, 48)
ANCHORS = generate_anchors(SIZE, steps=[8, 16], min_sizes=[[8, 12], [16, 24]])


def tiny_model(**overrides):
    """A duck-typed detector (no kssd_zoo dependency)."""
    attrs = dict(
        anchors=ANCHORS,
        input_size=SIZE,
        variances=(0.1, 0.2),
        match_threshold=0.45,
        augmentation="ssd",
    )
    attrs.update(overrides)
    return SimpleNamespace(**attrs)


def make_records(n=6, height=40, width=60, encode=None, tmp_path=None):
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        boxes = np.array([[4 + i, 6, 24 + i, 30], [30, 10, 50, 34]], np.float32)
        record = {
            "image_id": f"img{i}.png",
            "image_path": None,
            "image_bytes": None,
            "boxes": boxes,
            "labels": np.array([1, 2], np.int32),
            "attributes": {},
        }
        png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()
        if encode == "bytes":
            record["image_bytes"] = png
        elif encode == "path":
            path = tmp_path / f"img{i}.png"
            path.write_bytes(png)
            record["image_path"] = str(path)
        else:
            record["image"] = image
        records.append(record)
    return records


def batches(ds, count=None):
    out = []
    for i, (x, y) in enumerate(ds):
        if count is not None and i >= count:
            break
        out.append((x.numpy(), y.numpy()))
    return out


def test_eval_pipeline_encodes_resized_boxes_exactly():
    records = make_records(4)
    ds = load_dataset(records, tiny_model(), batch_size=2, training=False, min_box_size=0)
    (x, y), _ = batches(ds)
    assert x.shape == (2, 32, 48, 3) and x.dtype == np.float32
    assert y.shape == (2, len(ANCHORS), 5)
    # stretch 40x60 -> 32x48 is a 0.8 scale: decoding the positives gives the scaled boxes
    positive = y[0, :, 4] > 0
    decoded = np.asarray(decode(y[0, positive, :4], ANCHORS[positive])) * [48, 32, 48, 32]
    expected = records[0]["boxes"] * 0.8
    for box, cls in zip(decoded, y[0, positive, 4]):
        np.testing.assert_allclose(box, expected[int(cls) - 1], atol=1e-3)
    assert set(y[0, positive, 4].tolist()) == {1.0, 2.0}
    # the image is the plain bilinear resize of the input
    want = tf.image.resize(records[0]["image"].astype("float32"), SIZE, antialias=True).numpy()
    np.testing.assert_allclose(x[0], np.clip(want, 0, 255), atol=1e-3)


@pytest.mark.parametrize("encode", ["bytes", "path"])
def test_encoded_records_decode_like_arrays(encode, tmp_path):
    plain = batches(load_dataset(make_records(2), tiny_model(), batch_size=2, training=False))
    coded = batches(
        load_dataset(
            make_records(2, encode=encode, tmp_path=tmp_path), tiny_model(), batch_size=2, training=False
        )
    )
    np.testing.assert_allclose(coded[0][0], plain[0][0])
    np.testing.assert_allclose(coded[0][1], plain[0][1])


def test_array_sources_keras_style_and_formats():
    images = np.zeros((3, 40, 60, 3), np.uint8)
    boxes = np.array([[[4, 6, 20, 24], [0, 0, 0, 0]]] * 3, np.float32)  # xywh, second is padding
    labels = np.array([[1, -1]] * 3)
    ds = load_dataset(
        {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}},
        anchors=ANCHORS,
        image_size=SIZE,
        batch_size=3,
        training=False,
        bounding_box_format="xywh",
    )
    ((_, y),) = batches(ds)
    positive = y[1, :, 4] > 0
    decoded = np.asarray(decode(y[1, positive, :4], ANCHORS[positive])) * [48, 32, 48, 32]
    np.testing.assert_allclose(decoded, np.tile([[3.2, 4.8, 19.2, 24.0]], (len(decoded), 1)), atol=1e-3)


def test_without_anchors_returns_padded_rel_boxes():
    ds = load_dataset(make_records(3), image_size=SIZE, batch_size=3, training=False)
    ((x, y),) = [(a.numpy(), {k: v.numpy() for k, v in b.items()}) for a, b in ds]
    assert y["boxes"].shape == (3, 2, 4)
    np.testing.assert_allclose(y["boxes"][0, 0], [4 / 60, 6 / 40, 24 / 60, 30 / 40], atol=1e-6)
    np.testing.assert_array_equal(y["labels"][0], [1, 2])


def test_min_box_size_drops_tiny_boxes_after_resize():
    records = make_records(2)
    for r in records:  # 5 px wide at 60 px -> 4 px at 48 px
        r["boxes"] = np.array([[10, 10, 15, 30], [30, 10, 50, 34]], np.float32)
    keep = load_dataset(records, image_size=SIZE, batch_size=2, training=False, min_box_size=3)
    drop = load_dataset(records, image_size=SIZE, batch_size=2, training=False, min_box_size=5)
    ((_, y_keep),) = [(a, b) for a, b in keep]
    ((_, y_drop),) = [(a, b) for a, b in drop]
    np.testing.assert_array_equal(y_keep["labels"].numpy()[0], [1, 2])
    np.testing.assert_array_equal(y_drop["labels"].numpy()[0], [2])


@pytest.mark.slow
@pytest.mark.parametrize("augmentation", ["face", "ssd"])
def test_deterministic_mode_gives_same_batches_twice(augmentation):
    records = make_records(8)

    def build(seed):
        return load_dataset(
            records,
            tiny_model(),
            batch_size=4,
            augmentation=augmentation,
            seed=seed,
            deterministic=True,
            shuffle_buffer=8,
        )

    first, second, other = batches(build(3)), batches(build(3)), batches(build(4))
    assert len(first) == 2
    for (xa, ya), (xb, yb) in zip(first, second):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))


@pytest.mark.slow
def test_training_epochs_differ_but_replay_with_seed():
    records = make_records(4)
    ds = load_dataset(records, tiny_model(), batch_size=4, augmentation="face", seed=1, deterministic=True)
    epoch1, epoch2 = batches(ds), batches(ds)
    assert not np.array_equal(epoch1[0][0], epoch2[0][0])
    again = load_dataset(records, tiny_model(), batch_size=4, augmentation="face", seed=1, deterministic=True)
    np.testing.assert_array_equal(batches(again)[0][0], epoch1[0][0])


def test_training_boxes_stay_inside_and_have_positives():
    ds = load_dataset(make_records(8), tiny_model(), batch_size=4, augmentation="ssd", seed=0, repeat=True)
    for x, y in batches(ds, count=3):
        assert x.min() >= 0 and x.max() <= 255
        assert np.isfinite(y).all()
        assert (y[..., 4] > 0).any()


def test_the_model_chooses_augmentation_and_eval_has_no_randomness():
    records = make_records(2)
    a = batches(load_dataset(records, tiny_model(), batch_size=2, training=False, seed=1))
    b = batches(load_dataset(records, tiny_model(), batch_size=2, training=False, seed=2))
    np.testing.assert_array_equal(a[0][0], b[0][0])
    with pytest.raises(ValueError, match="augmentation='bogus'"):
        load_dataset(records, tiny_model(augmentation="bogus"))


def test_tfrecord_source_matches_records(tmp_path):
    from kssd.data.tfrecord import write_tfrecords

    records = make_records(4, encode="bytes")
    write_tfrecords(records, tmp_path, "train", num_shards=2)
    from_files = batches(load_dataset(tmp_path, tiny_model(), split="train", batch_size=4, training=False))
    # shards interleave the order: compare as sets of encoded targets
    from_records = batches(load_dataset(records, tiny_model(), batch_size=4, training=False))
    key = lambda y: sorted(y[i].tobytes() for i in range(len(y)))  # noqa: E731
    assert key(from_files[0][1]) == key(from_records[0][1])
    glob_ds = load_dataset(
        str(tmp_path / "train-*.tfrecord"),
        tiny_model(),
        batch_size=2,
        training=True,
        augmentation="face",
        seed=0,
        deterministic=True,
    )
    assert len(batches(glob_ds)) == 2


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        load_dataset(make_records(1))
    with pytest.raises(ValueError, match="no 'image', 'image_path' or 'image_bytes'"):
        load_dataset([{"image_id": "x", "boxes": np.zeros((0, 4)), "labels": []}], tiny_model())
    with pytest.raises(FileNotFoundError, match="val-"):
        load_dataset(str(tmp_path), tiny_model(), split="val")


def test_a_source_smaller_than_the_batch_still_trains():
    records = make_records(3)
    with pytest.warns(UserWarning, match="3 examples are fewer than batch_size=32; batches of 3"):
        ds = load_dataset(records, tiny_model(), batch_size=32, training=True, seed=0)
    images, y_true = next(iter(ds))
    assert images.shape[0] == 3 and y_true.shape[0] == 3
