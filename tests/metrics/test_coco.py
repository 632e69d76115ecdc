"""COCO AP via pycocotools, the kssd -> COCO results conversion, and error messages."""

import json
import sys

import numpy as np
import pytest

from kssd.metrics import coco_category_mapping, coco_map, detections_to_coco

pytest.importorskip("pycocotools", reason="COCO AP needs pycocotools")

STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def tiny_dataset():
    return {
        "images": [{"id": 1, "width": 200, "height": 200}, {"id": 7, "width": 200, "height": 200}],
        "categories": [{"id": 3, "name": "car"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 100, 80], "area": 8000, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 18,
                "bbox": [120, 120, 40, 40],
                "area": 1600,
                "iscrowd": 0,
            },
            {"id": 3, "image_id": 7, "category_id": 18, "bbox": [0, 0, 60, 60], "area": 3600, "iscrowd": 0},
            {
                "id": 4,
                "image_id": 7,
                "category_id": 3,
                "bbox": [100, 100, 90, 90],
                "area": 8100,
                "iscrowd": 1,
            },
        ],
    }


def perfect_results(dataset):
    return [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]), "score": 1.0}
        for a in dataset["annotations"]
        if not a.get("iscrowd", 0)
    ]


def test_tiny_dataset_values():
    data = tiny_dataset()
    stats = coco_map(data, perfect_results(data))
    assert list(stats) == STATS
    assert stats["AP"] == pytest.approx(1.0)
    assert stats["APs"] == -1.0  # no small objects
    assert data["annotations"][0].get("ignore") is None  # input not modified
    # one of the two dogs missed: dog AP = 0.5 (101-point: recall reaches .5 only), car AP = 1
    missing = [r for r in perfect_results(data) if r["image_id"] != 7]
    assert coco_map(data, missing)["AP"] == pytest.approx((1.0 + 51 / 101) / 2)
    # a detection on the crowd region is ignored, not a false positive
    crowd_hit = perfect_results(data) + [
        {"image_id": 7, "category_id": 3, "bbox": [110, 110, 40, 40], "score": 2.0}
    ]
    assert coco_map(data, crowd_hit)["AP"] == pytest.approx(1.0)
    # ... while the same box on image 1 is a false positive ranked first for "car"
    false_hit = perfect_results(data) + [
        {"image_id": 1, "category_id": 3, "bbox": [110, 110, 40, 40], "score": 2.0}
    ]
    assert coco_map(data, false_hit)["AP"] < 1.0
    assert coco_map(data, [])["AP"] == 0.0
    assert coco_map(data, perfect_results(data), image_ids=[7])["AP"] == pytest.approx(1.0)


def test_bad_detections_are_named():
    data = tiny_dataset()
    with pytest.raises(ValueError, match=r"image id.*\[99\]"):
        coco_map(data, [{"image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(ValueError, match=r"category id.*\[1\].*coco_category_mapping"):
        coco_map(data, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(ValueError, match=r"detections\[0\]"):
        coco_map(data, [{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(ValueError, match="image_ids"):
        coco_map(data, [], image_ids=[5])


def test_missing_pycocotools_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    monkeypatch.setitem(sys.modules, "pycocotools.cocoeval", None)
    with pytest.raises(ImportError, match="pip install pycocotools"):
        coco_map(tiny_dataset(), [])


def test_detections_to_coco_batched_and_padded():
    det = {
        "boxes": np.array(
            [
                [[10, 10, 110, 90], [120, 120, 160, 160], [0, 0, 0, 0]],
                [[0, 0, 60, 60], [0, 0, 0, 0], [0, 0, 0, 0]],
            ],
            dtype=np.float32,
        ),
        "scores": np.array([[0.9, 0.8, 0.0], [0.7, 0.0, 0.0]]),
        "classes": np.array([[1.0, 2.0, 0.0], [2.0, 0.0, 0.0]]),
        "num_detections": np.array([2, 1]),
    }
    mapping = coco_category_mapping(tiny_dataset())
    assert mapping == {1: 3, 2: 18}
    results = detections_to_coco(det, image_ids=[1, 7], category_ids=mapping)
    assert results == [
        {"image_id": 1, "category_id": 3, "bbox": [10.0, 10.0, 100.0, 80.0], "score": pytest.approx(0.9)},
        {"image_id": 1, "category_id": 18, "bbox": [120.0, 120.0, 40.0, 40.0], "score": pytest.approx(0.8)},
        {"image_id": 7, "category_id": 18, "bbox": [0.0, 0.0, 60.0, 60.0], "score": pytest.approx(0.7)},
    ]
    json.dumps(results)  # plain Python types
    assert coco_map(tiny_dataset(), results)["AP"] == pytest.approx(1.0)
    single = {k: v[1] for k, v in det.items()}
    assert detections_to_coco(single, image_ids=7, category_ids=mapping) == results[2:]
    with pytest.raises(ValueError, match=r"no entry for class id\(s\) \[2\]"):
        detections_to_coco(det, image_ids=[1, 7], category_ids={1: 3})
    with pytest.raises(ValueError, match="2 image_ids for a batch of 1"):
        detections_to_coco({k: v[:1] for k, v in det.items()}, image_ids=[1, 7])


@pytest.mark.shared
def test_coco128_perfect_and_jittered(shared):
    path = shared("data", "coco128", "annotations", "instances_train2017.json")
    data = json.loads(path.read_text())
    assert len(data["images"]) == 128 and len(data["annotations"]) == 939
    perfect = perfect_results(data)
    assert len(perfect) == 929
    stats = coco_map(path, perfect)
    for name in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
        assert stats[name] == pytest.approx(1.0, abs=1e-6), name
    assert stats["AR100"] == pytest.approx(1.0, abs=1e-6)

    rng = np.random.default_rng(0)
    jittered = []
    for r in perfect:
        x, y, w, h = r["bbox"]
        dx, dy = rng.normal(0, 0.1, 2) * [w, h]
        jittered.append(dict(r, bbox=[x + dx, y + dy, w, h], score=float(rng.uniform(0.1, 1))))
    noisy = coco_map(data, jittered)
    assert 0.2 < noisy["AP"] < 0.9
    assert noisy["AP50"] > noisy["AP75"] > noisy["AP"] * 0.5
    assert noisy["AP50"] > noisy["AP"]
