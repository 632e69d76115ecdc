import csv

import keras
import numpy as np
import pytest

from kssd.callbacks import DetectionEvaluator
from kssd.inference.detect_fn import make_detect_fn
from kssd.layers import NMS
from kssd.metrics import detection_metrics
from tests.one_anchor import one_anchor_detector


def _records(n=4):
    records = []
    for i in range(n):
        box = np.array([[4.0 + i, 4.0, 20.0 + i, 24.0]], "float32")
        records.append(
            {
                "image_id": f"ev/{i}.jpg",
                "image": np.zeros((32, 40, 3), "uint8"),
                "boxes": box,
                "labels": np.array([1 + i % 2], "int32"),
                "attributes": {},
            }
        )
    return records


def _perfect(records):
    table = {id(r["image"]): r for r in records}

    def detect_fn(images):
        found = []
        for image in images:
            r = table[id(image)]
            found.append({"boxes": r["boxes"], "scores": np.array([0.9]), "labels": r["labels"]})
        return found

    return detect_fn


def _half(records):
    """Finds the objects of even images only (plus a false positive on odd ones)."""
    order = {id(r["image"]): i for i, r in enumerate(records)}

    def detect_fn(images):
        found = []
        for image in images:
            i = order[id(image)]
            r = records[i]
            boxes = r["boxes"] if i % 2 == 0 else r["boxes"] + 100
            found.append({"boxes": boxes, "scores": np.array([0.9]), "labels": r["labels"]})
        return found

    return detect_fn


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_metric_is_logged_into_history_and_csv(tmp_path):
    records = _records()
    evaluator = DetectionEvaluator(
        records, metric="voc12", detect_fn=_half(records), every=2, class_names=["a", "b"], verbose=0
    )
    csv_path = tmp_path / "h.csv"
    history = _model().fit(
        np.ones((4, 2)),
        np.ones((4, 1)),
        epochs=3,
        verbose=0,
        callbacks=[evaluator, keras.callbacks.CSVLogger(str(csv_path))],
    )
    # class 1 lives in images 0 and 2 (found), class 2 in images 1 and 3 (missed)
    assert evaluator.history[1] == {"mAP": 0.5, "AP/a": 1.0, "AP/b": 0.0}
    assert sorted(evaluator.history) == [1, 2]  # every 2 epochs, and the last one
    np.testing.assert_array_equal(history.history["val_mAP"], [np.nan, 0.5, 0.5])
    rows = list(csv.DictReader(csv_path.open()))
    assert [row["val_mAP"] for row in rows] == ["nan", "0.5", "0.5"]


def test_tensorboard_after_it_receives_the_metric(tmp_path):
    pytest.importorskip("tensorboard", reason="keras.callbacks.TensorBoard needs tensorboard")
    records = _records()
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    _model().fit(
        np.ones((4, 2)),
        np.ones((4, 1)),
        epochs=1,
        verbose=0,
        callbacks=[
            DetectionEvaluator(records, detect_fn=_perfect(records), verbose=0),
            keras.callbacks.TensorBoard(str(tmp_path / "tb")),
            Spy(),
        ],
    )
    assert seen[0]["val_mAP"] == 1.0
    assert list((tmp_path / "tb").rglob("events.out.tfevents*"))


def test_voc07_and_coco_from_records():
    records = _records()
    found = _half(records)([r["image"] for r in records])
    voc07 = detection_metrics("voc07", records, found)
    assert voc07["mAP"] == pytest.approx(0.5)
    coco = detection_metrics("coco", records, found)
    assert coco["AP50"] == pytest.approx(0.5, abs=1e-6)
    perfect = detection_metrics("coco", records, _perfect(records)([r["image"] for r in records]))
    assert perfect["AP"] == pytest.approx(1.0)


def test_widerface_without_mat_files_counts_every_valid_face():
    records = _records(2)
    records[1]["attributes"] = {"invalid": np.array([1])}  # the missed face is invalid
    found = _perfect(records)([r["image"] for r in records])
    found[1] = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}
    assert detection_metrics("widerface", records, found)["AP_all"] == pytest.approx(1.0)
    records[1]["attributes"] = {"invalid": np.array([0])}
    assert detection_metrics("widerface", records, found)["AP_all"] == pytest.approx(0.5, abs=0.01)


def test_unknown_metric_is_named():
    with pytest.raises(ValueError, match="voc07"):
        DetectionEvaluator(_records(), metric="map")


def one_anchor():
    """A detector whose single anchor covers the image centre, always scored as class 2."""
    return one_anchor_detector(
        [0, 0, 0, 0, 0, -5, 5],
        prediction_decoder=NMS(iou_threshold=0.5, max_detections=5),
        class_names=["x", "y"],
    )


def test_detect_fn_from_model_scales_boxes_to_each_image():
    detect = make_detect_fn(one_anchor(), batch_size=2)
    found = detect(
        [np.zeros((40, 80, 3), "uint8"), np.zeros((16, 16, 3), "uint8"), np.zeros((100, 20, 3), "uint8")]
    )
    # stretched to 16 x 16 (the training geometry): the centre anchor is the image's centre half
    np.testing.assert_allclose(found[0]["boxes"], [[20, 10, 60, 30]], atol=1e-4)
    np.testing.assert_allclose(found[1]["boxes"], [[4, 4, 12, 12]], atol=1e-4)
    np.testing.assert_allclose(found[2]["boxes"], [[5, 25, 15, 75]], atol=1e-4)
    assert [f["labels"].tolist() for f in found] == [[2], [2], [2]]
    assert [f["classes"].tolist() for f in found] == [[2], [2], [2]]
    assert found[0]["scores"][0] == pytest.approx(np.exp(5) / (1 + np.exp(-5) + np.exp(5)))


def test_detect_fn_letterbox_keeps_the_aspect_ratio():
    detect = make_detect_fn(one_anchor(), resize="letterbox")
    found = detect([np.zeros((40, 80, 3), "uint8")])
    # 40 x 80 -> 8 x 16 + padding; the 16 x 16 input's centre half maps to x 20..60, y 20..60,
    # clipped to the image (height 40)
    np.testing.assert_allclose(found[0]["boxes"], [[20, 20, 60, 40]], atol=1e-4)


def test_detect_fn_of_a_plain_model_says_to_wrap_it():
    inputs = keras.Input((16, 16, 3))
    plain = keras.Model(inputs, keras.layers.Reshape((-1, 7))(keras.layers.Conv2D(7, 16, strides=16)(inputs)))
    with pytest.raises(ValueError, match="not a kssd.models.SSDDetector"):
        make_detect_fn(plain)([np.zeros((16, 16, 3), "uint8")])


def test_detect_fn_is_kssd_inference_detect_at_the_evaluation_threshold():
    import kssd_zoo
    from kssd.inference import detect

    model = kssd_zoo.tiny_ssd(compile=False)
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, (96, 160, 3), dtype=np.uint8),
        rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
    ]
    found = make_detect_fn(model)(images)
    expected = detect(model, images, score_threshold=0.01, resize="stretch")
    assert len(found) == 2
    for got, want in zip(found, expected):
        assert len(got["scores"]) > 0
        np.testing.assert_allclose(got["boxes"], want["boxes"], atol=1e-4)
        np.testing.assert_allclose(got["scores"], want["scores"], atol=1e-6)
        np.testing.assert_array_equal(got["labels"], want["classes"])


def test_evaluator_builds_detection_from_the_model():
    records = [
        {
            "image_id": "c.jpg",
            "image": np.zeros((40, 80, 3), "uint8"),
            "boxes": np.array([[20.0, 10.0, 60.0, 30.0]]),
            "labels": np.array([2]),
        }
    ]
    evaluator = DetectionEvaluator(records, metric="voc12", verbose=0)
    evaluator.set_model(one_anchor())
    logs = {}
    evaluator.on_epoch_end(0, logs)
    assert logs["val_mAP"] == 1.0 and logs["val_AP/y"] == 1.0
