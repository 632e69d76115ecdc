"""TFRecord I/O: example round trips, sharded writing, OD API files, real-data conversion."""

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

from kssd.data import (
    WiderFaceReader,
    make_example,
    make_record,
    parse_example,
    read_dataset_info,
    read_tfrecords,
    write_tfrecords,
)
from kssd.data.tfrecord import example_to_record, shard_paths

OD_API_FILE = ("data", "faces", "tfrecord_od_api", "wider_train_10.tfrecord")


def _jpeg(height, width, value=0):
    return cv2.imencode(".jpg", np.full((height, width, 3), value, np.uint8))[1].tobytes()


def _record(image_id="a/b.jpg", boxes=((1, 2, 11, 12), (3, 4, 5, 6)), labels=(1, 3), **kw):
    return make_record(image_id, boxes, labels, image_bytes=_jpeg(20, 30), height=20, width=30, **kw)


def test_make_example_uses_seed_feature_keys():
    record = _record(attributes={"difficult": np.array([0, 1]), "score": np.array([0.5, 1.5])})
    example = make_example(record, record["image_bytes"])
    feature = example.features.feature
    assert set(feature) == {
        "filename",
        "height",
        "width",
        "classes",
        "x_mins",
        "y_mins",
        "x_maxes",
        "y_maxes",
        "image_raw",
        "difficult",
        "score",
    }
    assert feature["filename"].bytes_list.value[0] == b"a/b.jpg"
    assert feature["classes"].int64_list.value[:] == [1, 3]
    assert feature["x_maxes"].float_list.value[:] == [11.0, 5.0]
    assert feature["difficult"].int64_list.value[:] == [0, 1]
    assert feature["score"].float_list.value[:] == [0.5, 1.5]
    back = example_to_record(example.SerializeToString())
    np.testing.assert_array_equal(back["boxes"], record["boxes"])
    assert back["labels"].tolist() == [1, 3] and back["image_id"] == "a/b.jpg"
    assert back["attributes"]["difficult"].tolist() == [0, 1]
    assert (back["height"], back["width"]) == (20, 30)


def test_make_example_rejects_bad_records():
    with pytest.raises(ValueError, match="height and width"):
        make_example(make_record("x", image_bytes=b"."), b".")
    record = _record()
    record["labels"] = np.array([1], np.int32)
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        make_example(record, b".")
    with pytest.raises(ValueError, match="reserved key"):
        make_example(_record(attributes={"classes": np.array([1, 2])}), b".")


def test_parse_example_graph_mode_kssd_schema():
    record = _record(attributes={"iscrowd": np.array([1, 0])})
    empty = make_record("empty.jpg", image_bytes=_jpeg(8, 9), height=8, width=9)
    serialized = [make_example(r, r["image_bytes"]).SerializeToString() for r in (record, empty)]
    dataset = tf.data.Dataset.from_tensor_slices(serialized).map(
        lambda s: parse_example(s, attribute_keys=["iscrowd"])
    )
    first, second = list(dataset)
    assert first["image"].dtype == tf.uint8 and first["image"].shape == (20, 30, 3)
    np.testing.assert_array_equal(first["boxes"].numpy(), record["boxes"])
    assert first["labels"].dtype == tf.int32 and first["labels"].numpy().tolist() == [1, 3]
    assert first["filename"].numpy() == b"a/b.jpg"
    assert first["attributes"]["iscrowd"].numpy().tolist() == [1, 0]
    assert second["boxes"].shape == (0, 4) and second["labels"].shape == (0,)
    assert second["image"].shape == (8, 9, 3)
    for schema in ("kssd", "auto"):
        parsed = parse_example(serialized[0], schema=schema)
        np.testing.assert_array_equal(parsed["boxes"].numpy(), record["boxes"])
    with pytest.raises(ValueError, match="schema must be one of"):
        parse_example(serialized[0], schema="voc")


def test_od_api_tfrecord_reads_as_10_images_146_boxes(shared):
    path = shared(*OD_API_FILE)
    records = list(read_tfrecords(path))
    assert len(records) == 10
    assert sum(len(r["boxes"]) for r in records) == 146
    assert {int(v) for r in records for v in r["labels"]} == {1}
    # Same faces as the WIDER text file (the converter's normalization costs < 0.5 px).
    truth = {r["image_id"]: r for r in WiderFaceReader(shared("data", "faces", "widerface_mini"))}
    for record in records:
        expected = truth[record["image_id"]]["boxes"]
        assert len(expected) == len(record["boxes"])
        np.testing.assert_allclose(record["boxes"], expected, atol=0.5)
    # Graph-mode parsing, both with schema auto-detection and explicitly.
    for schema in ("auto", "od_api"):
        parsed = list(
            tf.data.TFRecordDataset(str(path)).map(lambda s, schema=schema: parse_example(s, schema=schema))
        )
        assert len(parsed) == 10
        assert sum(int(p["boxes"].shape[0]) for p in parsed) == 146
        first = parsed[0]
        assert first["image"].shape[-1] == 3
        assert first["filename"].numpy().decode() == records[0]["image_id"]
        np.testing.assert_allclose(first["boxes"].numpy(), records[0]["boxes"], atol=1e-3)
        h, w = first["image"].shape[:2]
        assert (h, w) == (records[0]["height"], records[0]["width"])


def test_write_tfrecords_shards_info_and_overwrite(tmp_path):
    records = [_record(f"img{i}.jpg", boxes=[[i, i, i + 5, i + 5]], labels=[1]) for i in range(5)]
    stats = write_tfrecords(
        records, tmp_path, "train", num_shards=2, class_names=["thing"], source_format="test"
    )
    assert stats.images_written == 5 and stats.boxes == 5
    paths = shard_paths(tmp_path, "train", 2)
    assert [p.split("/")[-1] for p in paths] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert [len(list(read_tfrecords(p))) for p in paths] == [3, 2]
    back = sorted(read_tfrecords(tmp_path), key=lambda r: r["image_id"])
    assert [r["image_id"] for r in back] == [f"img{i}.jpg" for i in range(5)]
    np.testing.assert_array_equal(back[4]["boxes"], [[4, 4, 9, 9]])
    info = read_dataset_info(tmp_path)
    assert info["class_names"] == ["thing"] and info["format"] == "test"
    assert info["splits"]["train"]["images"] == 5
    assert info["splits"]["train"]["examples_per_shard"] == [3, 2]
    with pytest.raises(FileExistsError, match="overwrite"):
        write_tfrecords(records, tmp_path, "train")
    write_tfrecords(records[:1], tmp_path, "train", overwrite=True)
    assert len(list(read_tfrecords(tmp_path))) == 1  # the two old shards are gone
    write_tfrecords(records[:2], tmp_path, "val")
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert sorted(info["splits"]) == ["train", "val"] and info["class_names"] == ["thing"]


def test_write_tfrecords_skips_bad_images_and_clips_boxes(tmp_path):
    good = _jpeg(20, 30)
    records = [
        make_record(
            "ok.jpg",
            [[-5, 2, 10, 12], [40, 40, 50, 50], [2, 2, 2, 9]],
            [1, 1, 1],
            image_bytes=good,
            attributes={"difficult": [0, 1, 0]},
        ),
        make_record("cut.jpg", [[0, 0, 1, 1]], [1], image_bytes=good[: len(good) // 2]),
        make_record("missing.jpg", [[0, 0, 1, 1]], [1], image_path=str(tmp_path / "nope.jpg")),
    ]
    stats = write_tfrecords(records, tmp_path / "out", "val")
    assert stats.images_written == 1
    assert stats.images_skipped == {"truncated image": 1, "unreadable file": 1}
    assert stats.examples["truncated image"] == ["cut.jpg"]
    assert stats.boxes_clipped == {"partly outside the image": 1}
    assert stats.boxes_dropped == {"outside the image": 1, "zero width or height": 1}
    (record,) = list(read_tfrecords(tmp_path / "out"))
    np.testing.assert_array_equal(record["boxes"], [[0, 2, 10, 12]])
    assert record["attributes"]["difficult"].tolist() == [0]
    assert (record["height"], record["width"]) == (20, 30)
    assert "truncated image" in stats.table()


def test_widerface_mini_converts_and_reads_back_the_same_boxes(shared, tmp_path):
    reader = WiderFaceReader(shared("data", "faces", "widerface_mini"))
    stats = write_tfrecords(reader, tmp_path, "train", num_shards=3)
    assert stats.images_written == 10 and stats.boxes == 146
    assert stats.num_images_skipped == 0 and stats.num_boxes_clipped == 0
    truth = {r["image_id"]: r for r in reader}
    back = list(read_tfrecords(str(tmp_path / "train-*.tfrecord")))
    assert len(back) == 10
    for record in back:
        expected = truth[record["image_id"]]
        np.testing.assert_array_equal(record["boxes"], expected["boxes"])
        np.testing.assert_array_equal(record["attributes"]["blur"], expected["attributes"]["blur"])
        with open(expected["image_path"], "rb") as handle:
            assert record["image_bytes"] == handle.read()  # original JPEG bytes kept
    parsed = list(tf.data.TFRecordDataset(sorted(map(str, tmp_path.glob("*.tfrecord")))).map(parse_example))
    assert sum(int(p["boxes"].shape[0]) for p in parsed) == 146


def test_a_corrupted_tfrecord_file_is_named(tmp_path):
    from kssd.data import read_tfrecords

    path = tmp_path / "train-00000-of-00001.tfrecord"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match=r"train-00000-of-00001.tfrecord: record 0 is corrupted"):
        list(read_tfrecords(str(path)))
