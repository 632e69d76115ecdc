"""SSDDetector: the detector contract (fit on raw y_pred, predict -> detections, reload)."""

import keras
import numpy as np
import pytest

from kssd.encoding import encode_targets
from kssd.layers import NMS, AnchorBoxes
from kssd.losses import SSDLoss
from kssd.models import SSDDetector
from kssd.testing import run_model_saving_test

SIZE = 32


def make_detector(**kwargs):
    images = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="normalization")(images)
    x = keras.layers.Conv2D(8, 3, strides=8, padding="same", name="stem")(x)  # 4x4 grid
    kwargs.setdefault("prediction_decoder", NMS(score_threshold=0.05, max_detections=8))
    return SSDDetector(
        keras.Model(images, [x], name="toy_ssd"),
        [keras.layers.Conv2D(2 * (4 + 3), 3, padding="same", name="head")],  # 2 boxes / cell
        anchor_generator=AnchorBoxes(steps=[8], min_sizes=[[8, 16]]),
        num_classes=2,
        class_names=["a", "b"],
        normalization={"scale": 1 / 255.0, "offset": 0.0},
        **kwargs,
    )


def test_the_detector_owns_its_contract():
    model = make_detector(match_threshold=0.5, matching="forced", negative_threshold=0.3)
    assert model.anchors.shape == (4 * 4 * 2, 4)
    assert model.input_size == (SIZE, SIZE) and model.dynamic is False
    assert (model.num_classes, model.class_names) == (2, ["a", "b"])
    assert (model.match_threshold, model.matching, model.negative_threshold) == (0.5, "forced", 0.3)
    assert model.postprocess == {
        "score_threshold": 0.05,
        "iou_threshold": 0.45,
        "max_detections": 8,
        "max_detections_per_class": None,
    }
    assert model.anchor_config == {"steps": [8], "min_sizes": [[8, 16]], "extra_box": True, "clip": False}
    assert [layer.name for layer in model.layers][1:4] == ["normalization", "stem", "head"]
    assert model.feature_shapes == [(4, 4)] and model.augmentation is None
    with pytest.raises(ValueError, match=r"built for input \(32, 32\)"):
        model.anchors_for((64, 64))


def test_predict_decodes_to_pixel_boxes_and_raw_predict_gives_y_pred():
    model = make_detector()
    images = np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")
    y_pred = model.raw_predict(images, verbose=0)
    assert y_pred.shape == (3, 32, 7)
    np.testing.assert_allclose(y_pred, keras.ops.convert_to_numpy(model(images)), atol=1e-5)
    out = model.predict(images, batch_size=2, verbose=0)
    assert out["boxes"].shape == (3, 8, 4) and out["classes"].dtype == np.int32
    # the same decoding by hand: the library layers, then normalized -> pixels
    from kssd.layers import DecodeDetections

    decoded = DecodeDetections()(y_pred, model.anchors)
    expected = NMS(score_threshold=0.05, max_detections=8)(decoded["boxes"], decoded["scores"])
    np.testing.assert_allclose(out["boxes"], keras.ops.convert_to_numpy(expected["boxes"]) * SIZE, atol=1e-3)
    np.testing.assert_array_equal(
        out["num_detections"], keras.ops.convert_to_numpy(expected["num_detections"])
    )
    assert out["num_detections"].min() > 0  # something was compared


def test_fit_trains_on_raw_outputs_then_predict_finds_the_object():
    model = make_detector()
    rng = np.random.default_rng(1)
    images = rng.uniform(100, 140, (16, SIZE, SIZE, 3)).astype("float32")
    images[:, 8:24, 8:24] = 250.0
    box = np.array([[8, 8, 24, 24]], "float32") / SIZE
    y_true = np.stack([np.asarray(encode_targets(box, np.array([1]), model.anchors))] * 16)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=SSDLoss())
    history = model.fit(images, y_true, epochs=60, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    out = model.predict(images[:2], verbose=0)
    assert out["classes"][0, 0] == 1 and out["scores"][0, 0] > 0.5
    np.testing.assert_allclose(out["boxes"][0, 0], [8, 8, 24, 24], atol=3.0)


def test_config_round_trip_and_reload_in_a_fresh_process(tmp_path):
    model = make_detector(matching="forced", negative_threshold=0.2)
    clone = SSDDetector.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    images = np.random.default_rng(2).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    loaded = run_model_saving_test(model, images, fresh_process=True, tmp_dir=tmp_path)
    assert isinstance(loaded, SSDDetector)
    assert (loaded.matching, loaded.negative_threshold) == ("forced", 0.2)
    assert loaded.postprocess == model.postprocess
    expected = model.predict(images, verbose=0)
    for key, value in loaded.predict(images, verbose=0).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-4)


def test_bad_arguments_name_the_argument():
    images = keras.Input((SIZE, SIZE, 3))
    backbone = keras.Model(images, [keras.layers.Conv2D(8, 3, strides=8, padding="same")(images)])
    anchors = AnchorBoxes(steps=[8], min_sizes=[[8, 16]])

    def head():
        return [keras.layers.Conv2D(2 * 7, 3, padding="same")]

    with pytest.raises(ValueError, match="`backbone`"):
        SSDDetector("not a model", head(), anchor_generator=anchors, num_classes=2)
    with pytest.raises(ValueError, match="`anchor_generator`"):
        SSDDetector(backbone, head(), anchor_generator=[1, 2], num_classes=2)
    with pytest.raises(ValueError, match="`num_classes`"):
        SSDDetector(backbone, head(), anchor_generator=anchors, num_classes=0)
    with pytest.raises(ValueError, match="`matching`"):
        SSDDetector(backbone, head(), anchor_generator=anchors, num_classes=2, matching="optimal")
    with pytest.raises(ValueError, match="`heads` has 2 entries but the backbone returns 1"):
        SSDDetector(backbone, head() * 2, anchor_generator=anchors, num_classes=2)
    with pytest.raises(ValueError, match="heads.0. returns 14 channels; expected a multiple of .* = 6"):
        SSDDetector(backbone, head(), anchor_generator=anchors, num_classes=1)
    with pytest.raises(ValueError, match=r"gives feature maps \[\(2, 2\)\] at input 32x32 but the backbone"):
        SSDDetector(
            backbone, head(), anchor_generator=AnchorBoxes(steps=[16], min_sizes=[[8, 16]]), num_classes=2
        )


def test_heads_may_return_location_and_logit_pairs_or_be_one_callable():
    images = keras.Input((SIZE, SIZE, 3))
    levels = [keras.layers.Conv2D(4, 3, strides=s, padding="same")(images) for s in (8, 16)]
    backbone = keras.Model(images, levels)
    anchors = AnchorBoxes(steps=[8, 16], min_sizes=[[8], [16]])

    def pair_head(feature_map):
        return keras.layers.Conv2D(4, 1)(feature_map), keras.layers.Conv2D(2, 1)(feature_map)

    pairs = SSDDetector(backbone, [pair_head, pair_head], anchor_generator=anchors, num_classes=1)
    assert tuple(pairs.output.shape) == (None, 16 + 4, 6)

    def whole_head(feature_maps):
        flat = [keras.layers.Reshape((-1, 6))(keras.layers.Conv2D(6, 1)(f)) for f in feature_maps]
        return keras.layers.Concatenate(axis=1)(flat)

    single = SSDDetector(backbone, whole_head, anchor_generator=anchors, num_classes=1)
    assert single.anchors.shape == (20, 4)
    assert single.predict(np.zeros((1, SIZE, SIZE, 3), "float32"), verbose=0)["boxes"].shape == (1, 200, 4)


def test_inference_graph_reads_the_detector_not_a_spec():
    from kssd.inference import build_inference_model

    model = make_detector()
    infer = build_inference_model(model)  # no anchors= argument: the detector owns them
    photo = np.random.default_rng(3).uniform(0, 255, (1, 64, 48, 3)).astype("uint8")
    out = infer(photo)
    assert tuple(out["boxes"].shape) == (1, 8, 4)
    assert float(np.max(keras.ops.convert_to_numpy(out["boxes"]))) <= 64.0 + 1e-3
    assert infer.get_layer("anchor_boxes").get_config()["steps"] == [8]
