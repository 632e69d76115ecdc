"""dlib imglab XML reader: small files in tmp_path and dlib's PASCAL faces in ../shared."""

import numpy as np
import pytest

from kssd.data import ImglabReader, detect_format, open_reader
from kssd.data.readers import available_splits

XML = """<?xml version='1.0' encoding='ISO-8859-1'?>
<dataset><name>t</name><images>
  <image file='a.jpg' width='100' height='80'>
    <box top='10' left='20' width='30' height='40'><label>cat</label></box>
    <box top='0' left='0' width='5' height='5' ignore='1'><label>dog</label></box>
    <box top='1' left='1' width='0' height='5'><label>cat</label></box>
  </image>
  <image file='sub/b.png'>
    <box top='2' left='3' width='4' height='5'/>
  </image>
  <image file='c.jpg'/>
</images></dataset>
"""


def test_boxes_labels_ignore_and_sizes(tmp_path):
    (tmp_path / "train.xml").write_text(XML)
    reader = ImglabReader(tmp_path / "train.xml")
    records = list(reader)
    assert reader.class_names == ["object", "cat", "dog"]
    assert [r["image_id"] for r in records] == ["a.jpg", "sub/b.png", "c.jpg"]
    a, b, c = records
    np.testing.assert_allclose(a["boxes"], [[20, 10, 50, 50], [0, 0, 5, 5]])
    assert a["labels"].tolist() == [2, 3]
    assert a["attributes"]["difficult"].tolist() == [0, 1]
    assert (a["height"], a["width"]) == (80, 100)
    assert a["image_path"] == str(tmp_path / "a.jpg")
    assert b["labels"].tolist() == [1] and b["height"] is None
    assert len(c["boxes"]) == 0
    assert reader.stats.num_boxes_dropped == 1  # the zero-width box
    assert reader.split == "train"


def test_class_names_filter_and_count(tmp_path):
    (tmp_path / "train.xml").write_text(XML)
    reader = ImglabReader(tmp_path, split="train", class_names=["cat"])
    records = list(reader)
    assert [r["labels"].tolist() for r in records] == [[1], [1], []]  # unlabeled -> first
    assert reader.stats.num_boxes_dropped == 2  # zero width, 'dog'
    with pytest.raises(ValueError, match="distinct"):
        ImglabReader(tmp_path, split="train", class_names=["cat", "cat"])


def test_file_without_boxes(tmp_path):
    (tmp_path / "empty.xml").write_text("<dataset><images><image file='a.jpg'/></images></dataset>")
    reader = ImglabReader(tmp_path / "empty.xml")
    assert reader.class_names == ["object"] and len(list(reader)) == 1
    assert reader.stats.background_images == 1


def test_splits_detection_and_open_reader(tmp_path):
    (tmp_path / "testing.xml").write_text(XML)
    (tmp_path / "training.xml").write_text(XML)
    (tmp_path / "other.xml").write_text("<annotation/>")
    assert ImglabReader.available_splits(tmp_path) == ["training", "testing"]
    assert available_splits(tmp_path, "imglab") == ["training", "testing"]
    assert detect_format(tmp_path) == "imglab"
    assert detect_format(tmp_path / "testing.xml") == "imglab"
    assert open_reader(tmp_path).split == "training"
    assert open_reader(tmp_path / "testing.xml").split == "testing"
    with pytest.raises(ValueError, match="pass split="):
        ImglabReader(tmp_path)


def test_bad_input_names_the_file(tmp_path):
    (tmp_path / "broken.xml").write_text("<dataset><images><image file='a.jpg'>")
    with pytest.raises(ValueError, match="broken.xml: invalid XML"):
        ImglabReader(tmp_path / "broken.xml")
    (tmp_path / "bad.xml").write_text(
        "<dataset><images><image file='a.jpg'><box top='x' left='1' width='2' height='3'/>"
        "</image></images></dataset>"
    )
    with pytest.raises(ValueError, match=r"bad.xml: a box of 'a.jpg' needs numeric"):
        ImglabReader(tmp_path / "bad.xml")
    (tmp_path / "nofile.xml").write_text("<dataset><images><image/></images></dataset>")
    with pytest.raises(ValueError, match="nofile.xml: <image> number 1 has no file="):
        ImglabReader(tmp_path / "nofile.xml")
    with pytest.raises(FileNotFoundError, match="missing.xml"):
        ImglabReader(tmp_path, split="missing")


def test_dlib_pascal_faces(shared):
    root = shared("data", "faces", "dlib_pascal")
    reader = open_reader(root, split="testing")
    records = list(reader)
    assert len(records) == 5 and reader.stats.boxes == 25 and reader.class_names == ["object"]
    for record in records:
        assert (record["boxes"][:, 2] <= record["width"]).all()
        assert (record["boxes"][:, 3] <= record["height"]).all()
