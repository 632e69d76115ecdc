"""WIDER FACE reader: real widerface_mini counts and the text format's corner cases."""

import numpy as np
import pytest

from kssd.data import WiderFaceReader, box_size_histogram
from kssd.data.stats import box_sizes


def _write(tmp_path, text, split="train"):
    folder = tmp_path / "wider_face_split"
    folder.mkdir(exist_ok=True)
    path = folder / f"wider_face_{split}_bbx_gt.txt"
    path.write_text(text)
    return path


def test_widerface_mini_counts(shared):
    root = shared("data", "faces", "widerface_mini")
    reader = WiderFaceReader(root, split="train")
    records = list(reader)
    assert len(reader) == 10 and len(records) == 10
    assert sum(len(r["boxes"]) for r in records) == 146
    assert reader.stats.boxes == 146 and reader.stats.num_boxes_dropped == 0
    assert reader.class_names == ["face"]
    first = records[0]
    assert first["image_id"] == "0--Parade/0_Parade_Parade_0_1014.jpg"
    np.testing.assert_array_equal(first["boxes"], [[122, 380, 132, 391], [246, 378, 258, 392]])
    assert first["labels"].tolist() == [1, 1]
    assert sorted(first["attributes"]) == sorted(
        ["blur", "expression", "illumination", "invalid", "occlusion", "pose"]
    )
    for record in records:
        assert (root / "WIDER_train" / "images" / record["image_id"]).is_file()
        assert record["image_path"].endswith(record["image_id"])
    # 19 faces have their shorter side under 10 px (shared/README.md).
    sizes = np.concatenate([box_sizes(r["boxes"], "min_side") for r in records])
    assert int(np.sum(sizes < 10)) == 19
    assert box_size_histogram(records, size_measure="min_side")["<10"] == 19
    assert WiderFaceReader.available_splits(root) == ["train"]


def test_zero_face_image_has_a_zero_line_that_is_not_a_box(tmp_path):
    _write(
        tmp_path, "a/1.jpg\n0\n0 0 0 0 0 0 0 0 0 0\na/2.jpg\n2\n1 2 3 4 2 0 1 0 1 0\n10 10 5 6 0 1 0 1 2 1\n"
    )
    records = list(WiderFaceReader(tmp_path))
    assert [len(r["boxes"]) for r in records] == [0, 2]
    assert records[0]["boxes"].shape == (0, 4)
    np.testing.assert_array_equal(records[1]["boxes"], [[1, 2, 4, 6], [10, 10, 15, 16]])
    assert records[1]["attributes"]["blur"].tolist() == [2, 0]
    assert records[1]["attributes"]["invalid"].tolist() == [0, 1]
    assert records[1]["attributes"]["pose"].tolist() == [0, 1]
    assert records[1]["image_path"] == str(tmp_path / "WIDER_train" / "images" / "a" / "2.jpg")


def test_zero_face_image_without_its_zero_line_is_accepted(tmp_path):
    _write(tmp_path, "a/1.jpg\n0\na/2.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n")
    records = list(WiderFaceReader(tmp_path))
    assert [len(r["boxes"]) for r in records] == [0, 1]


def test_zero_size_boxes_are_dropped_and_counted(tmp_path):
    _write(tmp_path, "a/1.jpg\n3\n1 1 0 5 0 0 0 0 0 0\n1 1 5 0 0 0 0 0 0 0\n4 4 2 2 0 0 0 0 0 0\n")
    reader = WiderFaceReader(tmp_path)
    (record,) = list(reader)
    np.testing.assert_array_equal(record["boxes"], [[4, 4, 6, 6]])
    assert record["attributes"]["blur"].shape == (1,)
    assert reader.stats.boxes_dropped == {"zero width or height": 2}
    assert reader.stats.boxes == 1


def test_drop_invalid_counts(tmp_path):
    _write(tmp_path, "a/1.jpg\n2\n1 1 5 5 0 0 0 1 0 0\n4 4 2 2 0 0 0 0 0 0\n")
    reader = WiderFaceReader(tmp_path, drop_invalid=True)
    assert len(next(iter(reader))["boxes"]) == 1
    assert reader.stats.boxes_dropped == {"flagged invalid": 1}


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("a/1.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1 2 3\n", 4, "10 numbers"),
        ("a/1.jpg\ntwo\n1 2 3 4 0 0 0 0 0 0\n", 2, "face count"),
        ("a/1.jpg\n1\n1 2 x 4 0 0 0 0 0 0\n", 3, "non-numeric"),
        ("a/1.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n", 4, "file ends"),
        ("a/1.jpg\n1\n1 2 3 4 0 0 0 0 0 0\nnot_a_path\n", 4, "image path"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        WiderFaceReader(tmp_path)
    message = str(info.value)
    assert f"{path}:{line}:" in message
    assert words in message


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="wider_face_val_bbx_gt.txt"):
        WiderFaceReader(tmp_path, split="val")
