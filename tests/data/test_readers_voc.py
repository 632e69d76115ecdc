"""Pascal VOC reader on a small dataset written in tmp_path."""

import numpy as np
import pytest

from kssd.data import VOC_CLASSES, VOCReader


def _object(name, box, difficult=0, truncated=0):
    xmin, ymin, xmax, ymax = box
    return (
        f"<object><name>{name}</name><difficult>{difficult}</difficult>"
        f"<truncated>{truncated}</truncated><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def _voc(tmp_path, files, splits):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    for stem, objects in files.items():
        xml = (
            f"<annotation><filename>{stem}.jpg</filename><size><width>100</width>"
            f"<height>80</height><depth>3</depth></size>{''.join(objects)}</annotation>"
        )
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(xml)
        (tmp_path / "JPEGImages" / f"{stem}.jpg").write_bytes(b"")
    for split, stems in splits.items():
        (tmp_path / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return tmp_path


def test_voc_reader_boxes_classes_attributes(tmp_path):
    root = _voc(
        tmp_path,
        {
            "000001": [
                _object("dog", (1, 1, 50, 40), truncated=1),
                _object("person", (11, 21, 30, 60), difficult=1),
            ],
            "000002": [],
            "000003": [_object("cat", (5, 5, 9, 9))],
        },
        {"train": ["000001", "000002"], "val": ["000003"]},
    )
    reader = VOCReader(root, split="train")
    records = list(reader)
    assert [r["image_id"] for r in records] == ["JPEGImages/000001.jpg", "JPEGImages/000002.jpg"]
    first = records[0]
    # 1-based inclusive pixel indices -> continuous coordinates.
    np.testing.assert_array_equal(first["boxes"], [[0, 0, 50, 40], [10, 20, 30, 60]])
    assert first["labels"].tolist() == [VOC_CLASSES.index("dog") + 1, VOC_CLASSES.index("person") + 1]
    assert first["attributes"]["difficult"].tolist() == [0, 1]
    assert first["attributes"]["truncated"].tolist() == [1, 0]
    assert (first["height"], first["width"]) == (80, 100)
    assert records[1]["boxes"].shape == (0, 4)
    assert reader.stats.background_images == 1 and reader.stats.boxes == 2
    assert reader.class_names == list(VOC_CLASSES)
    assert VOCReader.available_splits(root) == ["train", "val"]
    raw = VOCReader(root, split="val", one_based=False)
    np.testing.assert_array_equal(next(iter(raw))["boxes"], [[5, 5, 9, 9]])


def test_custom_class_list_drops_other_classes_with_a_count(tmp_path):
    root = _voc(
        tmp_path,
        {"a": [_object("face", (1, 1, 10, 10)), _object("dog", (1, 1, 5, 5)), _object("face", (5, 3, 4, 9))]},
        {},
    )
    reader = VOCReader(root, split="all", class_names=["face"])
    (record,) = list(reader)
    assert record["labels"].tolist() == [1]
    assert reader.stats.boxes_dropped == {"class 'dog' not in class_names": 1, "zero width or height": 1}
    assert VOCReader.available_splits(root) == ["all"]


def test_broken_xml_names_the_file(tmp_path):
    root = _voc(tmp_path, {"a": [_object("dog", (1, 1, 10, 10))]}, {})
    path = root / "Annotations" / "a.xml"
    path.write_text("<annotation><object>")
    with pytest.raises(ValueError, match="a.xml: invalid XML"):
        VOCReader(root, split="all")
    path.write_text(
        "<annotation><object><name>dog</name><bndbox><xmin>1</xmin></bndbox></object></annotation>"
    )
    with pytest.raises(ValueError, match="a.xml: object 0 .*numeric xmin"):
        VOCReader(root, split="all")


def test_missing_split_file_and_listed_annotation(tmp_path):
    root = _voc(tmp_path, {"a": []}, {"train": ["a", "zzz"]})
    with pytest.raises(FileNotFoundError, match="zzz"):
        VOCReader(root, split="train")
    with pytest.raises(FileNotFoundError, match="test.txt"):
        VOCReader(root, split="test")
