"""The input-size policy: passes per model, and their merge (greedy NMS per class, as kssd's NMS layer)."""

import numpy as np
import pytest

from kssd.inference import describe_input_size, detect, input_size_passes, merge_detections
from kssd.testing import toy_detector


def _greedy_reference(boxes, scores, iou_threshold):
    """Greedy NMS written out box by box: best score first, ties by lowest index."""
    from kssd.boxes import iou_numpy

    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(iou_numpy(boxes[i], boxes[j])[0, 0] <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def test_merge_keeps_the_best_of_overlapping_boxes_in_pixels():
    boxes = np.array([[100, 100, 200, 200], [105, 102, 205, 198], [400, 50, 480, 150]], np.float32)
    kept, scores, _ = merge_detections(boxes, [0.8, 0.9, 0.75], 0.4)
    np.testing.assert_array_equal(kept, boxes[[1, 2]])
    np.testing.assert_allclose(scores, [0.9, 0.75])


def test_merge_matches_greedy_nms_with_ties_and_a_fixed_limit():
    rng = np.random.default_rng(0)
    for trial in range(6):
        n = int(rng.integers(1, 40))
        low = rng.uniform(0, 600, (n, 2))
        boxes = np.concatenate([low, low + rng.uniform(10, 150, (n, 2))], 1).astype(np.float32)
        scores = rng.choice([0.7, 0.8, 0.9], n) if trial % 2 else rng.uniform(0.5, 1.0, n)
        scores = scores.astype(np.float32)
        expected = _greedy_reference(boxes, scores, 0.4)
        kept, kept_scores, _ = merge_detections(boxes, scores, 0.4, max_detections=64)
        np.testing.assert_array_equal(kept, boxes[expected])
        np.testing.assert_array_equal(kept_scores, scores[expected])


def test_merge_keeps_what_the_nms_layer_keeps_across_classes_and_ties():
    """The NumPy merge against kssd's NMS layer (one score column per class) on random passes."""
    from kssd.layers import NonMaxSuppression

    rng = np.random.default_rng(1)
    for trial in range(8):
        n = int(rng.integers(1, 120))
        low = rng.uniform(0, 300, (n, 2))
        boxes = np.concatenate([low, low + rng.uniform(1, 120, (n, 2))], 1).astype(np.float32)
        scores = (rng.choice([0.6, 0.7, 0.8], n) if trial % 2 else rng.uniform(0.3, 1.0, n)).astype(
            np.float32
        )
        classes = rng.integers(1, 4, n)
        limit = int(rng.integers(1, n + 2))
        columns = np.full((n, 4), -2.0, np.float32)
        columns[np.arange(n), classes] = scores
        layer = NonMaxSuppression(
            score_threshold=-1.0, iou_threshold=0.45, max_detections=limit, max_detections_per_class=limit
        )
        out = layer(boxes[None], columns[None])
        k = int(np.asarray(out["num_detections"])[0])
        kept, kept_scores, kept_classes = merge_detections(boxes, scores, 0.45, limit, classes)
        np.testing.assert_array_equal(kept, np.asarray(out["boxes"])[0, :k])
        np.testing.assert_array_equal(kept_scores, np.asarray(out["scores"])[0, :k])
        np.testing.assert_array_equal(kept_classes, np.asarray(out["classes"])[0, :k])


def test_merge_of_nothing_is_empty():
    kept, scores, classes = merge_detections(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert kept.shape == (0, 4) and scores.shape == (0,) and classes.shape == (0,)


def test_merge_is_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    kept, scores, classes = merge_detections(boxes, [0.9, 0.8, 0.7, 0.6], 0.5, classes=[3, 3, 7, 3])
    np.testing.assert_array_equal(kept, boxes[[0, 2, 3]])
    assert classes.tolist() == [3, 7, 3] and scores.tolist() == pytest.approx([0.9, 0.7, 0.6])


def test_passes_follow_what_the_model_can_run():
    fixed, dynamic = toy_detector(input_size=(64, 96)), toy_detector(input_size=(64, 96), dynamic=True)
    assert input_size_passes(fixed) == ["spec"]
    assert input_size_passes(dynamic) == ["spec", None]
    assert input_size_passes(dynamic, "native") == [None] and input_size_passes(dynamic, (32, 32)) == [
        (32, 32)
    ]
    assert describe_input_size(fixed, "spec") == "trained size 64x96 (spec)"
    assert describe_input_size(dynamic) == "trained size 64x96 + native (auto)"


def test_auto_detect_is_the_merge_of_the_trained_size_and_native_passes():
    model = toy_detector(input_size=(64, 96), dynamic=True)
    images = [
        np.random.default_rng(i).integers(0, 255, (80 + 16 * i, 120, 3)).astype(np.uint8) for i in range(2)
    ]
    options = {"score_threshold": 0.0, "iou_threshold": 0.5, "max_detections": 20}
    auto = detect(model, images, input_size="auto", **options)
    spec = detect(model, images, input_size="spec", **options)
    native = detect(model, images, input_size="native", **options)
    for a, s, n in zip(auto, spec, native):
        boxes, scores, classes = merge_detections(
            np.concatenate([s["boxes"], n["boxes"]]),
            np.concatenate([s["scores"], n["scores"]]),
            0.5,
            classes=np.concatenate([s["classes"], n["classes"]]),
        )
        np.testing.assert_array_equal(a["boxes"], boxes[:20])
        np.testing.assert_array_equal(a["scores"], scores[:20])
        assert len(a["class_names"]) == len(a["boxes"]) <= 20
    assert len(detect(toy_detector(), images[0], input_size="auto", **options)) == 1  # fixed size: one pass


def test_auto_runs_native_only_for_pixel_sized_anchors():
    import kssd_zoo
    from kssd.inference.passes import export_input_size, native_by_default

    face, shapes = kssd_zoo.build("face_ssd", compile=False), kssd_zoo.build("tiny_ssd", compile=False)
    assert native_by_default(face) and input_size_passes(face) == ["spec", None]
    assert export_input_size(face) is None and export_input_size(face, "spec") == "spec"
    # tiny_ssd is fully convolutional, but its anchors are fractions of the image
    assert not native_by_default(shapes) and input_size_passes(shapes) == ["spec"]
    assert export_input_size(shapes) == "spec"


def test_export_auto_reports_the_size_it_chose(tmp_path):
    from kssd.export import export

    model = toy_detector(input_size=(64, 96), dynamic=True)
    report = export(model, "keras", tmp_path / "native.keras")
    assert report["input_size"].startswith("native") and report["input_size"].endswith("policy auto")
    assert report["verification"]["ok"]
    fixed = export(model, "keras", tmp_path / "fixed.keras", input_size="spec")
    assert fixed["input_size"] == "64x96 (letterbox), policy spec"


def test_suppress_nested_keeps_the_outermost_box_of_a_face():
    from kssd.inference.passes import suppress_nested

    boxes = [[0, 0, 100, 100], [20, 20, 60, 70], [30, 30, 50, 50], [200, 0, 260, 60], [250, 0, 320, 60]]
    scores = [0.9, 0.95, 0.8, 0.9, 0.9]
    # the two boxes inside the face go (a chain keeps the outermost); side by side faces stay,
    # even when they overlap
    assert suppress_nested(boxes, scores).tolist() == [0, 3, 4]
    # a larger box that scores less than half the nested one does not remove it
    assert suppress_nested(boxes[:2], [0.4, 0.95]).tolist() == [0, 1]
    # containment below the bound: kept
    assert suppress_nested([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.9], containment=0.75).tolist() == [0, 1]
    assert suppress_nested(np.zeros((0, 4)), np.zeros(0)).tolist() == []


@pytest.mark.shared
def test_sticker_detector_drops_the_box_stacked_on_a_dog_in_dogs_jpg(shared):
    """dogs.jpg with the RFB-320 weights, one pass: without the nested-box step, one dog gets a
    second box inside its first."""
    import cv2

    from kssd.inference.passes import suppress_nested
    from kssd_zoo.sticker.detection import SSDFaceDetector

    image = cv2.cvtColor(
        cv2.imread(str(shared("data", "faces", "dlib_pascal", "dogs.jpg"))), cv2.COLOR_BGR2RGB
    )
    options = {"weights": "ultraface_rfb_320", "quality": "fast"}
    plain = SSDFaceDetector(nested_containment=None, **options)(image)
    found = SSDFaceDetector(**options)(image)
    assert len(suppress_nested(plain["boxes"], plain["scores"])) < len(plain["boxes"])  # the stacked box
    assert len(found["boxes"]) == len(suppress_nested(plain["boxes"], plain["scores"]))
    assert len(suppress_nested(found["boxes"], found["scores"])) == len(found["boxes"])


def test_sticker_detector_ranks_the_trained_size_pass_below_native(monkeypatch):
    from kssd_zoo.sticker.detection import TRAINED_PASS_WEIGHT, SSDFaceDetector

    # UltraFace with the 320x240-trained weights: native + its trained size (320 px)
    detector = SSDFaceDetector(weights="ultraface_rfb_320", quality="fast")
    assert detector.run_sizes((480, 640, 3)) == [640, 320]
    face, other = [100, 100, 200, 200], [300, 100, 400, 200]
    found = {
        640: (np.array([face], np.float32), np.array([0.8], np.float32)),
        320: (np.array([[102, 101, 203, 199], other], np.float32), np.array([0.95, 0.9], np.float32)),
    }
    monkeypatch.setattr(detector, "_run_at", lambda image, side, flip=False: found[side])
    out = detector(np.zeros((480, 640, 3), np.uint8))
    # the native box wins over the trained-size pass's box of the same face, despite its
    # higher raw score; the face only the trained size found stays, at its weighted score
    np.testing.assert_allclose(out["boxes"], [face, other])
    np.testing.assert_allclose(out["scores"], [0.8, 0.9 * TRAINED_PASS_WEIGHT], rtol=1e-6)


def test_sticker_detector_default_is_rfb_640_with_its_trained_size():
    from kssd_zoo.sticker.detection import SSDFaceDetector

    detector = SSDFaceDetector()
    assert detector.trained_size == (480, 640) and detector.runtime == "tflite"
    assert tuple(SSDFaceDetector(runtime="keras").model.input_size) == (480, 640)
    assert detector.smallest_anchor == 10.0
    # 640x480 is the trained size: no second size; 1024 px also runs at 640
    assert detector.run_sizes((480, 640, 3)) == [640]
    assert detector.run_sizes((768, 1024, 3)) == [1024, 640]


@pytest.mark.parametrize(
    "quality, expected",
    [
        ("fast", [(640, False, None)]),
        ("balanced", [(640, False, None), (640, True, None)]),
        ("best", [(640, False, None), (640, True, None), (1280, False, 40.0), (1280, True, 40.0)]),
    ],
)
def test_sticker_detector_quality_plans_its_passes(quality, expected):
    from kssd_zoo.sticker.detection import SSDFaceDetector

    detector = SSDFaceDetector(quality=quality)
    assert [(p.long_side, p.flip, p.max_box) for p in detector.plan((480, 640, 3))] == expected
    assert f"quality {quality}, runtime tflite" in detector.policy


def test_sticker_detector_rejects_an_unknown_quality():
    from kssd_zoo.sticker.detection import SSDFaceDetector

    with pytest.raises(ValueError, match="quality must be one of fast, balanced, best; got 'max'"):
        SSDFaceDetector(quality="max")


def test_sticker_detector_keeps_only_small_boxes_of_the_upscaled_pass(monkeypatch):
    from kssd_zoo.sticker.detection import SSDFaceDetector

    detector = SSDFaceDetector(quality="best", nested_containment=None)
    small, large = [10, 10, 25, 25], [300, 100, 400, 220]  # 15 px and 120 px in the photo
    runs = {
        (640, False): (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)),
        (640, True): (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)),
        # at x2 they are 30 px (under 4 x the 10 px anchor: kept) and 240 px (dropped)
        (1280, False): (np.array([small, large], np.float32), np.array([0.9, 0.95], np.float32)),
        (1280, True): (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)),
    }
    monkeypatch.setattr(detector, "_run_at", lambda image, side, flip=False: runs[(side, flip)])
    out = detector(np.zeros((480, 640, 3), np.uint8))
    np.testing.assert_allclose(out["boxes"], [small])


def test_sticker_detector_mirrored_pass_maps_boxes_back():
    import cv2

    from kssd_zoo.sticker.detection import SSDFaceDetector
    from kssd_zoo.sticker.make_assets import DEMO_PHOTO

    image = cv2.cvtColor(cv2.imread(str(DEMO_PHOTO)), cv2.COLOR_BGR2RGB)
    detector = SSDFaceDetector(quality="fast")
    side = max(image.shape[:2])
    boxes, scores = detector._run_at(image, side, flip=True)
    mirrored, mirrored_scores = detector._run_at(np.ascontiguousarray(image[:, ::-1]), side)
    width = image.shape[1]
    assert len(boxes) >= 5  # the faces of 9 px and more
    expected = np.stack([width - mirrored[:, 2], mirrored[:, 1], width - mirrored[:, 0], mirrored[:, 3]], 1)
    np.testing.assert_allclose(boxes, expected, atol=1e-3)
    np.testing.assert_allclose(scores, mirrored_scores)
    # and the mirrored pass finds the same faces as the plain one, in the photo's own frame
    plain, _ = detector._run_at(image, side)
    from kssd.boxes import iou_numpy

    assert np.mean(iou_numpy(plain, boxes).max(axis=1) > 0.5) > 0.9
