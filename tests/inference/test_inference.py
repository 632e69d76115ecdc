"""Inference graph: letterbox/pad/recover math on hand cases, stub networks, detect()."""

import cv2
import keras
import numpy as np
import pytest

import kssd_zoo
from kssd.data.images import ImageReadError
from kssd.inference import RecoverBoxes, ResizePad, build_inference_model, detect, to_rgb_uint8
from kssd.layers import AnchorBoxes
from kssd.models import SSDDetector


class StubHead(keras.layers.Layer):
    """Zero offsets and one confident cell (index ``hot``, row-major) of class 1."""

    def __init__(self, hot=5, **kwargs):
        super().__init__(**kwargs)
        self.hot = hot

    def call(self, feature_map):
        shape = keras.ops.shape(feature_map)
        ids = keras.ops.reshape(keras.ops.arange(shape[1] * shape[2]), (shape[1], shape[2]))
        logit = keras.ops.where(ids == self.hot, 10.0, -10.0)
        cells = keras.ops.stack([keras.ops.zeros_like(logit)] * 5 + [logit], axis=-1)  # (h, w, 6)
        return keras.ops.ones_like(feature_map[:, :1, :1, :1]) * cells[None]

    def compute_output_spec(self, feature_map):
        return keras.KerasTensor((*feature_map.shape[:3], 6), dtype="float32")


def stub_model(size=(128, 128)):
    """One level of stride 32 with one anchor of 64 px per cell; the head fires on cell 5."""
    inputs = keras.Input((*size, 3) if size else (None, None, 3))
    grid = keras.layers.AveragePooling2D(32, padding="same")(inputs)
    return SSDDetector(
        keras.Model(inputs, [grid], name="stub"),
        [StubHead()],
        anchor_generator=AnchorBoxes(steps=[32], min_sizes=[[64]]),
        num_classes=1,
    )


def test_resize_pad_letterbox_hand_case():
    image = np.full((1, 480, 480, 3), 200, np.uint8)
    out, info = ResizePad("letterbox", target_size=(240, 320), pad_value=[1.0, 2.0, 3.0])(image)
    out = np.asarray(out)
    assert out.shape == (1, 240, 320, 3)
    np.testing.assert_allclose(np.asarray(info), [480.0, 640.0, 480.0, 480.0])
    np.testing.assert_allclose(out[0, :, :240], 200.0, atol=1e-4)
    np.testing.assert_allclose(out[0, :, 240:], np.broadcast_to([1.0, 2.0, 3.0], (240, 80, 3)), atol=1e-4)


def test_resize_pad_pad_mode_and_stretch():
    image = np.zeros((2, 250, 330, 3), np.uint8)
    out, info = ResizePad("pad", pad_to_multiple=64, pad_value=127.5)(image)
    assert tuple(out.shape) == (2, 256, 384, 3)
    np.testing.assert_allclose(np.asarray(info), [256.0, 384.0, 250.0, 330.0])
    assert float(np.asarray(out)[0, 252, 10, 0]) == pytest.approx(127.5)
    assert float(np.asarray(out)[0, 10, 10, 0]) == pytest.approx(0.0)
    _, info = ResizePad("stretch", target_size=(100, 100))(image)
    np.testing.assert_allclose(np.asarray(info), [250.0, 330.0, 250.0, 330.0])


def test_recover_boxes_clips_to_image():
    boxes = np.array([[[0.125, 0.125, 0.625, 0.625], [0, 0, 0, 0]]], "float32")
    out = RecoverBoxes()(boxes, np.array([512.0, 512.0, 256.0, 512.0], "float32"))
    np.testing.assert_allclose(np.asarray(out), [[[64, 64, 320, 256], [0, 0, 0, 0]]])


@pytest.mark.parametrize(
    "resize, expected",
    [("letterbox", [64.0, 64.0, 320.0, 256.0]), ("stretch", [64.0, 32.0, 320.0, 160.0])],
)
def test_stub_network_boxes_in_original_pixels(resize, expected):
    # anchor 5 of a 4x4 grid (step 32, size 64): centre (48, 48) -> box 16..80 of 128
    infer = build_inference_model(stub_model(), resize=resize, score_threshold=0.5, max_detections=3)
    out = infer(np.zeros((1, 256, 512, 3), np.uint8))
    assert int(out["num_detections"][0]) == 1
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, 0], expected, atol=1e-3)
    assert int(out["classes"][0, 0]) == 1
    assert float(out["scores"][0, 0]) > 0.99


def test_stub_network_native_size():
    model = stub_model(size=None)
    infer = build_inference_model(model, input_size=None, max_detections=2)
    out = infer(np.zeros((1, 70, 100, 3), np.uint8))  # padded to 96 x 128: grid 3 x 4, anchor 5 = (1, 1)
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, 0], [16.0, 16.0, 80.0, 70.0], atol=1e-3)


def test_fixed_size_model_rejects_native_size_and_plain_models():
    with pytest.raises(ValueError, match="not fully convolutional"):
        build_inference_model(stub_model(), input_size=None)
    inputs = keras.Input((32, 32, 3))
    plain = keras.Model(inputs, keras.layers.Reshape((-1, 6))(keras.layers.Conv2D(6, 1)(inputs)))
    with pytest.raises(ValueError, match="not a kssd.models.SSDDetector: wrap the network"):
        build_inference_model(plain)


def test_anchors_on_the_real_feature_maps_match_anchors_for():
    # At an odd size the network's own feature maps give the grids anchors_for computes.
    model = kssd_zoo.face_ssd(compile=False)
    images = np.zeros((1, 250, 330, 3), "float32")
    feature_maps = model.network(images)["feature_maps"]
    anchors = np.asarray(model.anchor_generator(images, feature_maps))
    np.testing.assert_allclose(anchors, model.anchors_for((250, 330)), atol=1e-6)


@pytest.fixture(scope="module")
def face():
    return kssd_zoo.face_ssd(compile=False)


def test_batch_and_single_agree(face):
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 255, (120, 200, 3), dtype=np.uint8) for _ in range(2))
    both = detect(face, [a, b])
    alone = detect(face, a)[0]
    assert len(alone["scores"]) > 0
    np.testing.assert_allclose(both[0]["boxes"], alone["boxes"], atol=1e-3)
    np.testing.assert_allclose(both[0]["scores"], alone["scores"], atol=1e-5)
    assert both[0]["class_names"][0] == "face"


@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
def test_images_of_different_sizes_share_a_batch_with_the_detections_of_the_whole_graph(face, resize):
    # At a fixed input size each image is resized on its own (the inference model's
    # ResizePad) and the batch runs from the network input: the detections equal those of
    # the whole uint8 graph run on each image alone.
    rng = np.random.default_rng(2)
    images = [
        rng.integers(0, 255, shape, dtype=np.uint8) for shape in ((120, 200, 3), (333, 251, 3), (90, 90, 3))
    ]
    settings = {"score_threshold": 0.3, "max_detections": 50}
    together = detect(face, images, resize=resize, batch_size=3, **settings)
    kernel = "tensorflow" if keras.backend.backend() == "tensorflow" else "portable"
    infer = build_inference_model(face, resize=resize, nms_implementation=kernel, **settings)
    found = 0
    for image, result in zip(images, together):
        out = {k: np.asarray(v)[0] for k, v in infer(image[None]).items()}
        n = int(out["num_detections"])
        found += n
        assert len(result["scores"]) == n
        np.testing.assert_allclose(result["scores"], out["scores"][:n], atol=1e-5)
        np.testing.assert_allclose(result["boxes"], out["boxes"][:n], atol=1e-3)
        assert np.all(result["boxes"][:, 2:] <= np.array(image.shape[1::-1]) + 1e-3)
    assert found > 0
    from kssd.inference.detect import _CACHE

    assert any(resize_pad is not None for _, resize_pad, _ in _CACHE[face].values())  # the batched path ran


def test_detect_uses_the_nms_kernel_on_tensorflow_with_the_portable_detections(face):
    from kssd.inference.detect import _CACHE

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, (150, 170, 3), dtype=np.uint8) for _ in range(2)]
    default = detect(face, images, score_threshold=0.05)
    portable = detect(face, images, score_threshold=0.05, nms_implementation="portable")
    implementations = {dict(settings)["nms_implementation"] for settings in _CACHE[face]}
    assert implementations == (
        {"tensorflow", "portable"} if keras.backend.backend() == "tensorflow" else {"portable"}
    )
    assert sum(len(r["scores"]) for r in default) > 0
    for a, b in zip(default, portable):
        np.testing.assert_array_equal(a["classes"], b["classes"])
        np.testing.assert_array_equal(a["scores"], b["scores"])
        np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_detect_files_and_bad_inputs(face, tmp_path):
    image = np.random.default_rng(2).integers(0, 255, (90, 140, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    from_file = detect(face, str(path), max_detections=5)[0]
    from_array = detect(face, image, max_detections=5)[0]
    np.testing.assert_allclose(from_file["boxes"], from_array["boxes"], atol=1e-3)
    assert from_file["boxes"].shape[1] == 4 and np.all(from_file["boxes"][:, 2] <= 140)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.txt"):
        detect(face, [str(tmp_path / "notes.txt")])
    with pytest.raises(ValueError, match="empty image"):
        detect(face, [np.zeros((0, 5, 3), np.uint8)])


def test_to_rgb_uint8_conversions():
    assert to_rgb_uint8(np.full((2, 2), 65535, np.uint16)).tolist() == np.full((2, 2, 3), 255).tolist()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 10, 255
    assert to_rgb_uint8(rgba)[0, 0].tolist() == [10, 0, 0]
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="outside 0..255"):
        to_rgb_uint8(np.full((2, 2, 3), 300, np.int32))


def test_inference_model_keras_round_trip(tmp_path):
    infer = build_inference_model(kssd_zoo.tiny_ssd(compile=False), score_threshold=0.2, max_detections=10)
    path = tmp_path / "infer.keras"
    infer.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(3).integers(0, 255, (1, 64, 96, 3), dtype=np.uint8)
    a, b = infer(x), loaded(x)
    np.testing.assert_allclose(np.asarray(a["boxes"]), np.asarray(b["boxes"]), atol=1e-4)
    assert int(a["num_detections"][0]) == 10


def test_inference_graph_uses_the_spec_anchor_centres():
    # UltraFace's spec places centres on the grid (the released priors); at 240x320 these differ
    # from step centres on levels 3-4, so the inference graph must carry `centers` through.
    model = kssd_zoo.ultraface_slim(compile=False)
    inference = build_inference_model(model)
    anchor_layer = inference.get_layer("anchor_boxes")
    assert anchor_layer.get_config()["centers"] == "grid"
    net_input = np.zeros((1, 240, 320, 3), "float32")
    feature_maps = model.network(net_input)["feature_maps"]
    np.testing.assert_allclose(np.asarray(anchor_layer(net_input, feature_maps)), model.anchors, atol=1e-6)


def test_network_input_model_needs_a_fixed_input_size():
    from kssd.inference.inference_model import build_network_input_model
    from kssd.testing import toy_detector

    with pytest.raises(ValueError, match="needs a fixed input_size"):
        build_network_input_model(toy_detector(dynamic=True), input_size=None)
