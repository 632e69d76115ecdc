"""VOC mAP: hand-computed cases, input checks, the text-folder reader and the reference figures."""

import numpy as np
import pytest

from kssd.boxes import iou_numpy
from kssd.metrics import average_precision, read_map_folder, voc_map


def _gt(boxes, labels, difficult=None):
    entry = {"boxes": np.asarray(boxes, dtype=float).reshape(-1, 4), "labels": labels}
    if difficult is not None:
        entry["difficult"] = difficult
    return entry


def _det(boxes, labels, scores):
    return {"boxes": np.asarray(boxes, dtype=float).reshape(-1, 4), "labels": labels, "scores": scores}


# ---------------------------------------------------------------- building blocks


def test_iou_numpy_hand_values():
    a = [[0, 0, 10, 10]]
    b = [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
    np.testing.assert_allclose(iou_numpy(a, b), [[50 / 150, 0.0, 1.0]])
    # inclusive pixels: 11x11 boxes, overlap 6x11
    np.testing.assert_allclose(iou_numpy(a, b, inclusive_pixels=True), [[66 / (121 + 121 - 66), 0.0, 1.0]])
    # touching boxes overlap by one pixel column only with inclusive pixels
    assert iou_numpy([[0, 0, 9, 9]], [[9, 0, 18, 9]])[0, 0] == 0.0
    assert iou_numpy([[0, 0, 9, 9]], [[9, 0, 18, 9]], inclusive_pixels=True)[0, 0] == pytest.approx(10 / 190)
    assert iou_numpy(np.zeros((0, 4)), a).shape == (0, 1)


def test_average_precision_hand_values():
    # TP, FP, TP, FP with 3 objects: rec 1/3,1/3,2/3,2/3 prec 1,1/2,2/3,1/2
    rec = [1 / 3, 1 / 3, 2 / 3, 2 / 3]
    prec = [1.0, 0.5, 2 / 3, 0.5]
    assert average_precision(rec, prec) == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    # 11 point: levels 0..0.3 -> 1 (4 levels), 0.4..0.6 -> 2/3 (3 levels), 0.7..1 -> 0
    assert average_precision(rec, prec, "11point") == pytest.approx((4 + 3 * 2 / 3) / 11)
    assert average_precision([], []) == 0.0
    with pytest.raises(ValueError, match="method"):
        average_precision(rec, prec, "coco")


# ---------------------------------------------------------------- matching rules


def test_duplicates_are_false_positives_and_ranking_is_global():
    gt = {"a": _gt([[0, 0, 10, 10]], [1]), "b": _gt([[0, 0, 10, 10]], [1])}
    det = {
        "a": _det([[0, 0, 10, 10], [0, 0, 10, 10]], [1, 1], [0.9, 0.8]),  # TP, duplicate
        "b": _det([[0, 0, 10, 10]], [1], [0.7]),
    }  # TP
    result = voc_map(gt, det)
    # ranking TP, FP, TP over 2 objects: rec .5,.5,1 prec 1,.5,2/3
    assert result["per_class"][1] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert result["true_positives"][1] == 2
    assert result["false_positives"][1] == 1
    np.testing.assert_allclose(result["recall"][1], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(result["precision"][1], [1.0, 0.5, 2 / 3])
    assert result["per_class"][1] == pytest.approx(
        average_precision(result["recall"][1], result["precision"][1])
    )
    assert voc_map(gt, det, method="11point")["mAP"] == pytest.approx((6 + 5 * 2 / 3) / 11)


def test_difficult_objects_are_neither_tp_nor_fp():
    gt = {"a": _gt([[0, 0, 10, 10], [50, 50, 60, 60]], ["cat", "cat"], [False, True])}
    det = {"a": _det([[50, 50, 60, 60], [0, 0, 10, 10]], ["cat", "cat"], [0.9, 0.5])}
    result = voc_map(gt, det)
    assert result["per_class"] == {"cat": 1.0}
    assert result["num_ground_truth"] == {"cat": 1}
    assert (result["true_positives"]["cat"], result["false_positives"]["cat"]) == (1, 0)
    # without the flag the difficult object becomes a normal object
    plain = voc_map({"a": _gt(gt["a"]["boxes"], ["cat", "cat"])}, det)
    assert plain["num_ground_truth"] == {"cat": 2}
    assert plain["per_class"]["cat"] == 1.0


def test_iou_threshold_and_wrong_class():
    gt = {"a": _gt([[0, 0, 10, 10]], ["cat"])}
    # shifted by 5 px: IoU 50/150 with continuous coordinates
    det = {"a": _det([[5, 0, 15, 10]], ["cat"], [0.9])}
    assert voc_map(gt, det, iou_threshold=0.5, inclusive_pixels=False)["mAP"] == 0.0
    assert voc_map(gt, det, iou_threshold=0.3, inclusive_pixels=False)["mAP"] == 1.0
    wrong = {"a": _det([[0, 0, 10, 10]], ["dog"], [0.9])}
    result = voc_map(gt, wrong)
    assert result["per_class"] == {"cat": 0.0}
    assert result["classes_without_ground_truth"] == {"dog": 1}


def test_voc_and_greedy_matching_differ_as_documented():
    # Two objects; the first detection takes object 0. The second detection overlaps object 0
    # most (IoU 0.8) but also object 1 (IoU 0.6): VOC calls it a duplicate, greedy gives it
    # object 1.
    gt = {"a": _gt([[0, 0, 10, 10], [2, 0, 12, 10]], [1, 1])}
    det = {"a": _det([[0, 0, 10, 10], [0.5, 0, 10.5, 10]], [1, 1], [0.9, 0.8])}
    ious = iou_numpy(det["a"]["boxes"][1:], gt["a"]["boxes"])[0]
    assert ious[0] > ious[1] >= 0.5
    assert voc_map(gt, det, inclusive_pixels=False)["per_class"][1] == pytest.approx(0.5)
    assert voc_map(gt, det, inclusive_pixels=False, matching="greedy")["per_class"][1] == 1.0


def test_labels_aliases_padding_and_numpy_keys():
    gt = {0: {"boxes": np.array([[0, 0, 10, 10]]), "classes": np.array([2])}}
    det = {
        0: {
            "boxes": np.array([[0, 0, 10, 10], [0, 0, 0, 0]]),
            "classes": np.array([2, 0]),
            "scores": np.array([0.9, 0.0]),
            "num_detections": np.array(1),
        }
    }
    result = voc_map(gt, det)
    assert result["per_class"] == {2: 1.0}
    assert type(next(iter(result["per_class"]))) is int
    assert result["classes_without_ground_truth"] == {}


def test_class_without_detections_scores_zero_and_empty_images():
    gt = {"a": _gt([[0, 0, 10, 10]], [1]), "b": _gt([[0, 0, 10, 10]], [2]), "c": _gt(np.zeros((0, 4)), [])}
    det = {
        "a": _det([[0, 0, 10, 10]], [1], [0.9]),
        "c": _det([[0, 0, 10, 10]], [1], [0.95]),
    }  # FP on an empty image, ranked first
    result = voc_map(gt, det)
    assert result["per_class"] == {1: 0.5, 2: 0.0}
    assert result["mAP"] == 0.25


def test_bad_inputs_are_reported():
    gt = {"a": _gt([[0, 0, 10, 10]], [1])}
    with pytest.raises(ValueError, match="not in ground_truths.*'b'"):
        voc_map(gt, {"b": _det([[0, 0, 1, 1]], [1], [0.5])})
    with pytest.raises(ValueError, match=r"\['a'\].*1 boxes but 2 labels"):
        voc_map({"a": _gt([[0, 0, 10, 10]], [1, 2])}, {})
    with pytest.raises(ValueError, match="'scores'"):
        voc_map(gt, {"a": {"boxes": [[0, 0, 1, 1]], "labels": [1]}})
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        voc_map({"a": {"boxes": [[0, 0, 1]], "labels": [1]}}, {})
    with pytest.raises(ValueError, match="method"):
        voc_map(gt, {}, method="101point")
    with pytest.raises(ValueError, match="matching"):
        voc_map(gt, {}, matching="hungarian")


# ---------------------------------------------------------------- text folders


def test_read_map_folder_formats_and_errors(tmp_path):
    gt_dir, det_dir = tmp_path / "gt", tmp_path / "det"
    gt_dir.mkdir()
    det_dir.mkdir()
    (gt_dir / "img1.txt").write_text("potted plant 1 2 3 4\ncup 5 6 7 8 difficult\n\n")
    (gt_dir / "img2.txt").write_text("")
    (det_dir / "img1.txt").write_text("potted plant 0.5 1 2 3 4\n")
    gt, det = read_map_folder(gt_dir, det_dir)
    assert list(gt) == ["img1", "img2"]
    assert gt["img1"]["labels"] == ["potted plant", "cup"]
    np.testing.assert_array_equal(gt["img1"]["boxes"], [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert gt["img1"]["difficult"].tolist() == [False, True]
    assert gt["img2"]["boxes"].shape == (0, 4)
    assert list(det) == ["img1"]
    assert det["img1"]["scores"].tolist() == [0.5]

    (det_dir / "img1.txt").write_text("cup 0.5 1 2 x 4\n")
    with pytest.raises(ValueError, match=r"img1.txt:1"):
        read_map_folder(gt_dir, det_dir)
    (det_dir / "img1.txt").write_text("")
    (det_dir / "img3.txt").write_text("cup 0.5 1 2 3 4\n")
    with pytest.raises(ValueError, match="img3.txt"):
        read_map_folder(gt_dir, det_dir)
    with pytest.raises(FileNotFoundError):
        read_map_folder(tmp_path / "nope")


# ---------------------------------------------------------------- the reference figures


@pytest.mark.shared
def test_reproduces_reference_tool(shared):
    root = shared("data", "map_reference")
    gt, det = read_map_folder(root / "ground-truth", root / "detection-results")
    assert len(gt) == 85
    assert sum(len(v["labels"]) for v in gt.values()) == 686
    assert sum(len(v["labels"]) for v in det.values()) == 494
    result = voc_map(gt, det, method="area")
    assert len(result["per_class"]) == 30
    assert round(100 * result["mAP"], 2) == 31.05
    expected = {"bed": 85.94, "book": 17.52, "bottle": 23.48, "chair": 53.84, "cup": 42.50}
    for name, value in expected.items():
        assert round(100 * result["per_class"][name], 2) == value, name
    # detections of 8 classes absent from the ground truth are left out of mAP
    assert sum(result["classes_without_ground_truth"].values()) == 44
    # the +1 pixel convention matters: continuous coordinates change chair's AP
    continuous = voc_map(gt, det, inclusive_pixels=False)
    assert round(100 * continuous["per_class"]["chair"], 2) == 53.30


def test_bounding_box_formats():
    gt = {"a": _gt([[10, 20, 50, 80]], [1])}
    xyxy = voc_map(gt, {"a": _det([[12, 20, 50, 80]], [1], [0.9])}, inclusive_pixels=False)
    as_xywh = voc_map(
        {"a": _gt([[10, 20, 40, 60]], [1])},
        {"a": _det([[12, 20, 38, 60]], [1], [0.9])},
        inclusive_pixels=False,
        bounding_box_format="xywh",
    )
    as_center = voc_map(
        {"a": _gt([[30, 50, 40, 60]], [1])},
        {"a": _det([[31, 50, 38, 60]], [1], [0.9])},
        inclusive_pixels=False,
        bounding_box_format="center_xywh",
    )
    as_yxyx = voc_map(
        {"a": _gt([[20, 10, 80, 50]], [1])},
        {"a": _det([[20, 12, 80, 50]], [1], [0.9])},
        inclusive_pixels=False,
        bounding_box_format="yxyx",
    )
    assert xyxy["mAP"] == as_xywh["mAP"] == as_center["mAP"] == as_yxyx["mAP"] == 1.0
    # the conversions themselves (IoU cannot tell yxyx from xyxy)
    from kssd.metrics.voc import _to_xyxy

    box = np.array([[10.0, 20.0, 50.0, 80.0]])
    np.testing.assert_array_equal(_to_xyxy(box, "yxyx"), [[20, 10, 80, 50]])
    np.testing.assert_array_equal(_to_xyxy(box, "xywh"), [[10, 20, 60, 100]])
    np.testing.assert_array_equal(_to_xyxy(box, "center_xywh"), [[-15, -20, 35, 60]])
    np.testing.assert_array_equal(_to_xyxy(box, "center_yxhw"), [[-20, -15, 60, 35]])
    with pytest.raises(ValueError, match="rel_xyxy"):
        voc_map(gt, {}, bounding_box_format="rel_xyxy")
