"""UltraFace specs, blocks and the ONNX import: parity with onnxruntime on real photos."""

import keras
import numpy as np
import pytest

import kssd_zoo
from kssd.anchors import generate_anchors
from kssd.boxes import decode
from kssd_zoo.blocks.ultraface import ultraface_head, ultraface_rfb, weight_units
from kssd_zoo.weights import PRESETS, load_weights

MIN_SIZES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
WIDER = ("data", "faces", "widerface_mini", "WIDER_train", "images", "0--Parade")
WIDER_IMAGES = ["0_Parade_Parade_0_1014.jpg", "0_Parade_Parade_0_106.jpg", "0_Parade_Parade_0_11.jpg"]
DLIB_IMAGES = ["2007_007763.jpg", "2008_002506.jpg", "dogs.jpg"]
TOL = 1e-4


@pytest.fixture(scope="module")
def slim():
    return kssd_zoo.build("ultraface_slim", compile=False)


@pytest.fixture(scope="module")
def rfb():
    return kssd_zoo.build("ultraface_rfb", compile=False)


def _ort_session(path):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the released files list initializers as inputs (warnings)
    return ort.InferenceSession(str(path), options)


def _photos(shared, size=(320, 240)):
    import cv2

    paths = [shared(*WIDER, n) for n in WIDER_IMAGES]
    paths += [shared("data", "faces", "dlib_pascal", n) for n in DLIB_IMAGES]
    images = []
    for p in paths:
        bgr = cv2.imread(str(p))
        assert bgr is not None, p
        images.append(cv2.resize(bgr[:, :, ::-1], size, interpolation=cv2.INTER_LINEAR))
    return np.stack(images).astype("float32")  # RGB 0..255


def _onnx_outputs(session, images):
    scores, boxes = [], []
    for image in images:  # the released files have a fixed batch of 1
        x = ((image[None] - 127.0) / 128.0).transpose(0, 3, 1, 2).astype("float32")
        s, b = session.run(["scores", "boxes"], {"input": x})
        scores.append(s[0])
        boxes.append(b[0])
    return np.stack(scores), np.stack(boxes)


def _softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Specs and blocks (no shared data needed)


@pytest.mark.parametrize("fixture", ["slim", "rfb"])
def test_spec_builds_the_released_shapes(fixture, request):
    model = request.getfixturevalue(fixture)
    assert model.num_classes == 1 and model.class_names == ["face"]
    assert model.output_shape == (None, None, 6)  # dynamic: A follows the input size
    assert model.anchors.shape == (4420, 4)
    assert model.feature_shapes == [(30, 40), (15, 20), (8, 10), (4, 5)]
    # The released priors: centres (j + 0.5) / grid, clipped to [0, 1].
    expected = generate_anchors(
        (240, 320), feature_sizes=[(30, 40), (15, 20), (8, 10), (4, 5)], min_sizes=MIN_SIZES, clip=True
    )
    np.testing.assert_array_equal(model.anchors, expected)
    assert model.anchors[-1].tolist() == pytest.approx([0.9, 0.875, 0.8, 1.0])
    # normalization: (x - 127) / 128
    out = np.asarray(model.get_layer("normalization")(np.array([[[[255.0, 127.0, -1.0]]]], "float32")))
    np.testing.assert_allclose(out.ravel(), [1.0, 0.0, -1.0], atol=1e-6)


def test_parameter_counts(slim, rfb):
    # Same number of weights as the released ONNX graphs (conv + BN, running stats included).
    assert slim.count_params() == 264732
    assert rfb.count_params() == 281100


def test_stride2_convs_pad_like_pytorch(slim):
    # PyTorch pads 1 on every side; Keras "same" would pad only bottom/right at stride 2.
    pad = slim.get_layer("stem_conv_pad")
    assert pad.padding == ((1, 1), (1, 1))
    assert slim.get_layer("stem_conv").padding == "valid"
    assert slim.get_layer("dw1_dw").padding == "same"  # stride 1: symmetric


def test_bn_epsilon_matches_pytorch(rfb):
    assert rfb.get_layer("stem_bn").epsilon == pytest.approx(1e-5)
    assert rfb.get_layer("rfb_b2_3_bn").epsilon == pytest.approx(1e-5)


def test_rfb_block_layers_and_dilations():
    x = keras.Input((30, 40, 64))
    y = ultraface_rfb(x, name="r", filters=64)
    model = keras.Model(x, y)
    assert tuple(y.shape) == (None, 30, 40, 64)
    assert all(layer.name.startswith("r_") for layer in model.layers[1:])
    dilations = {n: model.get_layer(f"{n}_conv").dilation_rate for n in ("r_b0_2", "r_b1_2", "r_b2_3")}
    assert dilations == {"r_b0_2": (2, 2), "r_b1_2": (3, 3), "r_b2_3": (5, 5)}
    widths = [model.get_layer(c).filters for c, _ in weight_units("ultraface_rfb", "r")]
    assert widths == [8, 16, 16, 8, 16, 16, 8, 12, 16, 16, 64, 64]


def test_head_output_is_row_major_and_cell_contiguous():
    # One plain level, 2 anchors per cell: output channel c of cell (i, j) must land at
    # anchor (i * W + j) * n + c // width, coordinate c % width (PyTorch permute + view).
    h, w, n = 3, 4, 2
    x = keras.Input((h, w, 1))
    locs, logits = ultraface_head([x], [n], 2, name="hd", separable=[False])
    model = keras.Model(x, [locs, logits])
    for role, width in (("reg", 4), ("cls", 2)):
        layer = model.get_layer(f"hd_{role}0_conv")
        kernel = np.zeros(layer.kernel.shape, "float32")
        kernel[1, 1, 0, :] = 1000.0  # centre tap copies the cell index
        layer.set_weights([kernel, np.arange(n * width, dtype="float32")])
    cell_index = np.arange(h * w, dtype="float32").reshape(1, h, w, 1)
    got_locs, got_logits = (np.asarray(t) for t in model(cell_index))
    for out, width in ((got_locs, 4), (got_logits, 2)):
        assert out.shape == (1, h * w * n, width)
        cells = np.repeat(np.arange(h * w), n)
        channel = (np.arange(h * w * n) % n)[:, None] * width + np.arange(width)[None]
        np.testing.assert_array_equal(out[0], 1000.0 * cells[:, None] + channel)


def test_head_rejects_wrong_separable_list():
    with pytest.raises(ValueError, match="one true/false per level"):
        ultraface_head([keras.Input((4, 5, 8))], [3], 2, name="h", separable=[True, False])


# ---------------------------------------------------------------------------------------------
# Import of the released ONNX files (needs ../shared)


@pytest.mark.shared
@pytest.mark.parametrize(
    "fixture, fname",
    [("slim", "version-slim-320.onnx"), ("rfb", "version-RFB-320.onnx")],
)
def test_imported_model_reproduces_onnxruntime(fixture, fname, request, shared):
    pytest.importorskip("onnx")
    path = shared("models", "ultraface", fname)
    model = load_weights(request.getfixturevalue(fixture), path)
    images = _photos(shared)
    ref_scores, ref_boxes = _onnx_outputs(_ort_session(path), images)

    y_pred = np.asarray(model.raw_predict(images, verbose=0))
    assert y_pred.shape == (len(images), 4420, 6)
    scores = _softmax(y_pred[..., 4:])
    boxes = np.asarray(decode(y_pred[..., :4], model.anchors, model.variances))
    score_diff = np.abs(scores - ref_scores).max()
    box_diff = np.abs(boxes - ref_boxes).max()
    print(f"{fname}: max |scores| diff {score_diff:.2e}, max |boxes| diff {box_diff:.2e}")
    assert score_diff < TOL
    assert box_diff < TOL
    # The photos hold faces: the real detector is confident somewhere (not a trivial match).
    assert ref_scores[:5, :, 1].max() > 0.9


@pytest.mark.shared
@pytest.mark.parametrize(
    "fixture, fname",
    [("slim", "version-slim-320_simplified.onnx"), ("rfb", "version-RFB-320_simplified.onnx")],
)
def test_folded_bn_files_import_too(fixture, fname, request, shared):
    # The *_simplified files have BN folded into conv biases and output raw box offsets.
    pytest.importorskip("onnx")
    path = shared("models", "ultraface", fname)
    model = load_weights(request.getfixturevalue(fixture), path)
    images = _photos(shared)[:2]
    ref_scores, ref_locs = _onnx_outputs(_ort_session(path), images)
    y_pred = np.asarray(model.raw_predict(images, verbose=0))
    assert np.abs(_softmax(y_pred[..., 4:]) - ref_scores).max() < TOL
    assert np.abs(y_pred[..., :4] - ref_locs).max() < TOL


@pytest.mark.shared
@pytest.mark.slow
def test_rfb_640_preset_geometry_reproduces_onnxruntime(shared):
    pytest.importorskip("onnx")
    path = shared("models", "ultraface", "version-RFB-640.onnx")
    model = kssd_zoo.build(
        "ultraface_rfb", compile=False, weights=str(path), **PRESETS["ultraface_rfb_640"]["build_overrides"]
    )
    images = _photos(shared, size=(640, 480))[:2]
    ref_scores, ref_boxes = _onnx_outputs(_ort_session(path), images)
    y_pred = np.asarray(model.raw_predict(images, verbose=0))
    assert y_pred.shape == (2, 17640, 6)
    boxes = np.asarray(decode(y_pred[..., :4], model.anchors, model.variances))
    assert np.abs(_softmax(y_pred[..., 4:]) - ref_scores).max() < TOL
    assert np.abs(boxes - ref_boxes).max() < TOL


@pytest.mark.shared
def test_wrong_architecture_onnx_names_first_mismatching_layer(slim, shared):
    pytest.importorskip("onnx")
    model = slim
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    with pytest.raises(ValueError) as info:
        load_weights(model, shared("models", "ultraface", "version-RFB-320.onnx"))
    message = str(info.value)
    assert "'dw7_dw'" in message  # slim's 7th conv_dw is where RFB's receptive-field block sits
    assert "(3, 3, 64, 1)" in message and "(8, 64, 1, 1)" in message
    # Nothing was assigned.
    np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], before)


@pytest.mark.shared
def test_converted_model_saves_and_reloads(rfb, tmp_path, shared):
    pytest.importorskip("onnx")
    model = load_weights(rfb, shared("models", "ultraface", "version-RFB-320.onnx"))
    images = _photos(shared)[:2]
    expected = np.asarray(model.raw_predict(images, verbose=0))
    path = tmp_path / "ultraface_rfb.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded).__name__ == "Detector"
    for a, b in zip(model.weights, reloaded.weights):  # bit-identical weights
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # outputs equal up to float32 rounding of the kernels' execution order
    np.testing.assert_allclose(np.asarray(reloaded.raw_predict(images, verbose=0)), expected, atol=1e-5)
