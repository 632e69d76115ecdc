"""load_dataset(path, model): the format is detected, boxes follow the model's class names."""

import json
import warnings

import cv2
import numpy as np
import pytest

from kssd.data import DataSourceError, load_dataset, read_source, write_tfrecords
from kssd.testing import toy_detector


def _imglab(tmp_path, count=3, label=None):
    """An imglab file of ``count`` 64x64 photos, each with one 24 px box."""
    images = []
    for i in range(count):
        image = np.full((64, 64, 3), 40 * i, np.uint8)
        cv2.imwrite(str(tmp_path / f"p{i}.jpg"), image)
        tag = f"<label>{label}</label>" if label else ""
        images.append(
            f"<image file='p{i}.jpg'><box top='8' left='16' width='24' height='24'>{tag}</box></image>"
        )
    path = tmp_path / "training.xml"
    path.write_text(f"<dataset><images>{''.join(images)}</images></dataset>")
    return path


def _coco(tmp_path, names):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((64, 64, 3), np.uint8))
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 64, "width": 64}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 20], "iscrowd": 0}],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text(json.dumps(data))
    (tmp_path / "train").mkdir()
    cv2.imwrite(str(tmp_path / "train" / "a.jpg"), np.zeros((64, 64, 3), np.uint8))
    return tmp_path


def test_imglab_file_trains_with_the_models_classes(tmp_path):
    model = toy_detector(class_names=["face"])
    with pytest.warns(UserWarning, match="3 examples are fewer than batch_size=32"):
        ds = load_dataset(_imglab(tmp_path), model)
    assert len(ds) == 1  # one batch of 3, not 0 batches
    images, y_true = next(iter(ds))
    assert images.shape == (3, 64, 64, 3) and y_true.shape == (3, len(model.anchors), 5)
    assert set(np.unique(y_true[..., 4].numpy())) <= {-1.0, 0.0, 1.0}
    assert (y_true[..., 4].numpy() == 1).sum() >= 3  # every photo's box is matched


def test_labelled_boxes_map_by_name_and_unknown_names_fail(tmp_path):
    model = toy_detector(num_classes=2, class_names=["cat", "face"])
    records, reader = read_source(_imglab(tmp_path, label="face"), class_names=model.class_names)
    assert [r["labels"].tolist() for r in records] == [[2], [2], [2]] and reader.class_names == [
        "cat",
        "face",
    ]
    with pytest.raises(
        DataSourceError, match=r"training.xml: none of its boxes has one of the model's classes"
    ):
        load_dataset(tmp_path / "training.xml", toy_detector(class_names=["dog"]))


def test_fixed_class_sources_must_use_the_models_names(tmp_path):
    root = _coco(tmp_path, ["person"])
    with pytest.raises(DataSourceError) as error:
        load_dataset(root, toy_detector(class_names=["face"]))
    assert str(error.value).startswith(f"{root}: its classes ['person'] are not the model's ['face']")
    assert "\n" not in str(error.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(root, toy_detector(class_names=["person"]), training=False, batch_size=1)
        assert len(ds) == 1
        # default names (class_1, ...) accept any source with as many classes
        assert len(load_dataset(root, toy_detector(), training=False, batch_size=1)) == 1


def test_bad_paths_are_one_line_errors_naming_them(tmp_path):
    with pytest.raises(DataSourceError, match=r"missing.xml: no such file or folder"):
        load_dataset(tmp_path / "missing.xml", toy_detector())
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataSourceError, match=r"cannot tell the dataset format of .*notes.txt") as error:
        load_dataset(tmp_path / "notes.txt", toy_detector())
    assert "\n" not in str(error.value)
    (tmp_path / "broken.xml").write_text("<dataset><images><image file='a.jpg'>")
    with pytest.raises(DataSourceError, match="broken.xml"):
        load_dataset(tmp_path / "broken.xml", toy_detector(), format="imglab")


def test_kssd_tfrecord_shards_know_their_size_and_classes(tmp_path):
    (tmp_path / "src").mkdir()
    records, _ = read_source(_imglab(tmp_path / "src"))
    out = tmp_path / "shards"
    write_tfrecords(records, out, "train", num_shards=2, class_names=["face"])
    with pytest.warns(UserWarning, match="3 examples are fewer than batch_size=32"):
        ds = load_dataset(out, toy_detector(class_names=["face"]), split="train")
    assert len(ds) == 1 and next(iter(ds))[0].shape[0] == 3
    with pytest.raises(DataSourceError, match=r"its classes \['face'\] are not the model's \['cat'\]"):
        load_dataset(out, toy_detector(class_names=["cat"]), split="train")


def test_the_design_card_on_dlib_faces(shared):
    import kssd_zoo

    xml = shared("data", "faces", "dlib_pascal", "training.xml")
    model = kssd_zoo.face_ssd()
    with pytest.warns(UserWarning, match="4 examples are fewer than batch_size=32"):
        ds = load_dataset(xml, model)
    assert len(ds) == 1
    images, y_true = next(iter(ds))
    assert images.shape == (4, 240, 320, 3)
    assert (y_true[..., 4].numpy() == 1).sum() > 18  # 18 faces, each on one anchor or more
