"""COCO JSON and YOLO txt readers: coco128 counts, cross-check, and synthetic corner cases."""

import json
import warnings

import cv2
import numpy as np
import pytest

from kssd.data import COCOReader, YOLOReader, detect_format, open_reader


@pytest.fixture
def coco128(shared):
    return shared("data", "coco128")


def test_coco_json_counts(coco128):
    reader = COCOReader(coco128, split="train2017")
    records = list(reader)
    assert len(records) == 128
    assert sum(len(r["boxes"]) for r in records) == 939
    assert sum(int(r["attributes"]["iscrowd"].sum()) for r in records) == 10
    assert len(reader.class_names) == 80
    assert reader.category_ids[:3] == [1, 2, 3] and reader.category_ids[-1] == 90
    assert reader.category_id_to_label[90] == 80
    assert reader.label_to_category_id(80) == 90
    assert reader.class_names[0] == "person" and reader.class_names[-1] == "toothbrush"
    labels = np.concatenate([r["labels"] for r in records])
    assert labels.min() >= 1 and labels.max() <= 80
    first = records[0]
    assert first["image_id"] == "images/train2017/000000000009.jpg"
    assert reader.coco_image_id(first["image_id"]) == 9
    assert (first["height"], first["width"]) == (480, 640)
    np.testing.assert_allclose(first["boxes"][0], [1.08, 187.69, 612.67, 473.53], atol=1e-3)
    assert reader.stats.background_images == 2
    assert COCOReader.available_splits(coco128) == ["train2017"]


def test_yolo_counts_background_and_orphans(coco128):
    with pytest.warns(UserWarning, match="2 label file.*000000000656.*000000000659"):
        reader = YOLOReader(coco128, split="train2017")
    records = list(reader)
    assert len(records) == 128
    background = sorted(r["image_id"] for r in records if len(r["boxes"]) == 0)
    assert background == ["images/train2017/000000000250.jpg", "images/train2017/000000000508.jpg"]
    assert reader.orphan_labels == ["labels/train2017/000000000656.txt", "labels/train2017/000000000659.txt"]
    assert reader.stats.notes == {"label files without an image (ignored)": 2}
    labels = np.concatenate([r["labels"] for r in records])
    assert len(labels) == 929 and reader.stats.boxes == 929
    assert len(np.unique(labels)) == 71
    assert labels.min() >= 1 and labels.max() <= 80
    assert len(reader.class_names) == 80 and reader.class_names[0] == "person"


def test_yolo_boxes_agree_with_coco_json(coco128):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yolo = {r["image_id"]: r for r in YOLOReader(coco128, split="train2017")}
    coco = {r["image_id"]: r for r in COCOReader(coco128, split="train2017")}
    assert yolo.keys() == coco.keys()
    checked = 0
    for image_id, y in yolo.items():
        c = coco[image_id]
        assert (y["height"], y["width"]) == (c["height"], c["width"])
        keep = c["attributes"]["iscrowd"] == 0  # the YOLO labels leave crowd boxes out
        cb, cl = c["boxes"][keep], c["labels"][keep]
        assert len(cb) == len(y["boxes"])
        # Pair every box with its nearest box of the same class, both ways.
        diff = np.abs(y["boxes"][:, None, :] - cb[None, :, :]).max(axis=-1)
        diff[y["labels"][:, None] != cl[None, :]] = np.inf  # same class order in both files
        if len(cb):
            assert diff.min(axis=1).max() < 0.6 and diff.min(axis=0).max() < 0.6, image_id
        checked += len(cb)
    assert checked == 929


def test_detect_format_and_open_reader(coco128, shared, tmp_path):
    assert detect_format(coco128) == "coco"
    reader = open_reader(coco128, "coco")
    assert reader.split == "train2017"
    assert detect_format(shared("data", "faces", "widerface_mini")) == "widerface"
    assert detect_format(shared("data", "faces", "tfrecord_od_api")) == "tfrecord"
    assert detect_format(shared("data", "faces", "dlib_pascal")) == "imglab"
    (tmp_path / "notes.xml").write_text("<notes/>")
    with pytest.raises(ValueError, match="cannot tell the dataset format"):
        detect_format(tmp_path)


def _yolo_root(tmp_path, labels, names_yaml="names:\n  0: cat\n  1: dog\n", size=(40, 80)):
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    if names_yaml is not None:
        (tmp_path / "data.yaml").write_text(names_yaml)
    for stem, text in labels.items():
        image = np.zeros(size + (3,), np.uint8)
        cv2.imwrite(str(tmp_path / "images" / "train" / f"{stem}.jpg"), image)
        if text is not None:
            (tmp_path / "labels" / "train" / f"{stem}.txt").write_text(text)
    return tmp_path


def test_yolo_denormalizes_with_the_image_size(tmp_path):
    root = _yolo_root(
        tmp_path,
        {
            "a": "1 0.5 0.5 0.5 0.5\n\n0 0.25 0.25 0.1 0.2\n",
            "b": None,  # background: no label file
            "c": "0 0.1 0.2 0.2 0.3 0.3 0.4\n",  # polygon -> its bounding box
            "d": "0 0.5 0.5 0 0.1\n",  # zero width: dropped
        },
    )
    reader = YOLOReader(root, split="train")
    records = {r["image_id"]: r for r in reader}
    assert reader.class_names == ["cat", "dog"]
    a = records["images/train/a.jpg"]
    assert (a["height"], a["width"]) == (40, 80)
    np.testing.assert_allclose(a["boxes"], [[20, 10, 60, 30], [16, 6, 24, 14]], atol=1e-4)
    assert a["labels"].tolist() == [2, 1]
    assert records["images/train/b.jpg"]["boxes"].shape == (0, 4)
    np.testing.assert_allclose(records["images/train/c.jpg"]["boxes"], [[8, 8, 24, 16]], atol=1e-4)
    assert len(records["images/train/d.jpg"]["boxes"]) == 0
    assert reader.stats.boxes_dropped == {"zero width or height": 1}
    assert reader.stats.background_images == 2 and reader.stats.boxes == 3


def test_yolo_without_yaml_names_classes_by_id(tmp_path):
    root = _yolo_root(tmp_path, {"a": "2 0.5 0.5 0.1 0.1\n"}, names_yaml=None)
    reader = YOLOReader(root, split="train")
    assert reader.class_names == ["0", "1", "2"]
    assert next(iter(reader))["labels"].tolist() == [3]


@pytest.mark.parametrize(
    "text, words",
    [
        ("0 0.5 0.5 0.1\n", "expected 'class cx cy w h'"),
        ("0 0.5 0.5 0.1 zz\n", "non-numeric"),
        ("-1 0.5 0.5 0.1 0.1\n", "class id must be"),
    ],
)
def test_yolo_malformed_line_names_file_and_line(tmp_path, text, words):
    root = _yolo_root(tmp_path, {"a": "0 0.5 0.5 0.1 0.1\n" + text})
    with pytest.raises(ValueError) as info:
        YOLOReader(root, split="train")
    assert f"{root / 'labels' / 'train' / 'a.txt'}:2:" in str(info.value)
    assert words in str(info.value)


def test_yolo_class_id_beyond_names(tmp_path):
    root = _yolo_root(tmp_path, {"a": "5 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(ValueError, match="a.txt: class id 5 but only 2 class names"):
        YOLOReader(root, split="train")


def test_coco_sparse_category_ids_and_bad_data(tmp_path):
    data = {
        "images": [
            {"id": 7, "file_name": "x.jpg", "height": 10, "width": 20},
            {"id": 8, "file_name": "y.jpg", "height": 10, "width": 20},
        ],
        "categories": [{"id": 44, "name": "bottle"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 44, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
            {"id": 3, "image_id": 7, "category_id": 3, "bbox": [0, 0, 0, 5]},
            {"id": 4, "image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1]},
        ],
    }
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "instances_val.json"
    path.write_text(json.dumps(data))
    reader = COCOReader(tmp_path, split="val")
    assert reader.class_names == ["car", "bottle"] and reader.category_ids == [3, 44]
    x, y = list(reader)
    np.testing.assert_array_equal(x["boxes"], [[1, 2, 4, 6], [0, 0, 5, 5]])
    assert x["labels"].tolist() == [2, 1]
    assert x["attributes"]["iscrowd"].tolist() == [0, 1]
    assert y["boxes"].shape == (0, 4)  # no annotations: background image
    assert reader.stats.boxes_dropped == {"zero width or height": 1, "annotation of an unknown image id": 1}
    data["annotations"].append({"id": 5, "image_id": 8, "category_id": 12, "bbox": [0, 0, 1, 1]})
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="annotation 5 has category_id 12"):
        COCOReader(tmp_path, split="val")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["images"][0].pop("file_name"), r"images\[0\] has no 'file_name'"),
        (lambda d: d["categories"][0].pop("name"), r"categories\[0\] has no 'name'"),
        (lambda d: d["categories"][0].update(id="one"), r"categories\[0\]\.id is invalid: 'one'"),
        (
            lambda d: d["annotations"][0].update(bbox=[1, "2", 3, 4]),
            r"annotation 7 needs bbox \[x, y, w, h\] of 4 numbers",
        ),
        (lambda d: d.update(images="nope"), r"missing the 'images' list"),
        (lambda d: d["annotations"].append("junk"), r"annotations\[1\] must be an object"),
    ],
)
def test_malformed_coco_names_file_entry_and_key(tmp_path, change, message):
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 10}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]}],
    }
    change(data)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"instances.json: .*{message}|instances.json: {message}"):
        COCOReader(annotation_file=path, image_dir=tmp_path)
