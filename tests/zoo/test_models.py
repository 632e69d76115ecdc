"""Every shipped spec builds, runs, has the contract shapes and anchor counts, saves and reloads."""

import keras
import numpy as np
import pytest

import kssd_zoo
from kssd.compat import optimizer_learning_rate

# name -> (input (h, w), anchors A, num_classes C), pinned for the shipped specs; a new spec is
# still built and run by the tests parametrized over kssd_zoo.list_models().
EXPECTED = {
    "face_ssd": ((240, 320), 4420, 1),
    "tiny_ssd": ((128, 128), 1344, 3),
    "ultraface_rfb": ((240, 320), 4420, 1),
    "ultraface_slim": ((240, 320), 4420, 1),
    "vgg16_ssd300": ((300, 300), 8732, 20),
    "mobilenetv2_ssd": ((224, 224), 4722, 20),
}
HEAVY = ("vgg16_ssd300", "mobilenetv2_ssd")
LIGHT = [name for name in kssd_zoo.list_models() if name not in HEAVY]


def images(size, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (batch, size[0], size[1], 3)).astype("float32")


@pytest.mark.parametrize("name", kssd_zoo.list_models())
def test_builds_and_forward(name, built):
    model = built(name)
    size, num_anchors, num_classes = EXPECTED.get(
        name, (model.input_size, len(model.anchors), model.num_classes)
    )
    assert model.input_size == size
    assert model.anchors.shape == (num_anchors, 4) and model.anchors.dtype == np.float32
    y = np.asarray(model(images(size)))
    assert y.shape == (1, num_anchors, 4 + num_classes + 1)
    assert np.isfinite(y).all()
    assert model.num_classes == num_classes and len(model.class_names) == num_classes


def test_anchor_counts_by_hand(built):
    # face: (30*40*3 + 15*20*2 + 8*10*2 + 4*5*3); SSD300: 38^2*4 + 19^2*6 + 10^2*6 + 5^2*6 + 3^2*4 + 4
    assert 30 * 40 * 3 + 15 * 20 * 2 + 8 * 10 * 2 + 4 * 5 * 3 == 4420 == len(built("face_ssd").anchors)
    assert (
        38**2 * 4 + 19**2 * 6 + 10**2 * 6 + 5**2 * 6 + 9 * 4 + 4 == 8732 == len(built("vgg16_ssd300").anchors)
    )
    assert (
        28**2 * 4 + 14**2 * 6 + 7**2 * 6 + 4**2 * 6 + 2**2 * 4 + 4
        == 4722
        == len(built("mobilenetv2_ssd").anchors)
    )
    assert 16**2 * 4 + 8**2 * 4 + 4**2 * 4 == 1344 == len(built("tiny_ssd").anchors)
    assert built("vgg16_ssd300").feature_shapes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert built("mobilenetv2_ssd").feature_shapes == [(28, 28), (14, 14), (7, 7), (4, 4), (2, 2), (1, 1)]


def test_parameter_counts(built):
    # Figures reported in docs/models/*.md; face_ssd is checked against the tutorial's network too.
    assert built("face_ssd").count_params() == 1_038_956
    assert built("tiny_ssd").count_params() == 218_448
    assert built("vgg16_ssd300").count_params() == 26_285_486  # the SSD300 VOC figure
    assert built("mobilenetv2_ssd").count_params() == 4_443_118


def test_face_ssd_dynamic_input(built):
    model = built("face_ssd")
    y = np.asarray(model(images((480, 640))))
    anchors = model.anchors_for((480, 640))
    assert y.shape == (1, len(anchors), 6) == (1, 60 * 80 * 3 + 30 * 40 * 2 + 15 * 20 * 2 + 8 * 10 * 3, 6)
    assert np.isfinite(y).all()


def test_fixed_size_model_refuses_other_anchor_sizes(built):
    with pytest.raises(ValueError, match=r"built for input \(300, 300\)"):
        built("vgg16_ssd300").anchors_for((512, 512))


def test_normalization_is_first_layer(built):
    face = built("face_ssd").get_layer("normalization")
    out = np.asarray(face(np.array([[[[0.0, 127.5, 255.0]]]], "float32")))
    np.testing.assert_allclose(out.ravel(), [-0.5, 0.0, 0.5], atol=1e-6)
    vgg = built("vgg16_ssd300").get_layer("normalization")
    out = np.asarray(vgg(np.array([[[[123.68, 116.78, 103.94]]]], "float32")))
    np.testing.assert_allclose(out.ravel(), [0, 0, 0], atol=1e-4)


def test_overrides_change_the_network():
    model = kssd_zoo.face_ssd(num_classes=3, compile=False)
    assert model.output_shape == (None, None, 4 + 3 + 1)
    assert model.class_names == ["class_1", "class_2", "class_3"]
    model = kssd_zoo.tiny_ssd(input_shape=(96, 64), compile=False)
    assert model.anchors.shape == ((12 * 8 + 6 * 4 + 3 * 2) * 4, 4)


def _save_reload(model, tmp_path):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return keras.saving.load_model(path)


@pytest.mark.parametrize("name", LIGHT)
def test_save_and_reload(name, tmp_path):
    model = kssd_zoo.build(name)  # compiled: the optimizer and schedule are saved too
    x = images(model.input_size, seed=1)
    clone = _save_reload(model, tmp_path)
    assert isinstance(clone, kssd_zoo.Detector)
    assert clone.spec == model.spec and clone.name == name
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(clone.anchors, model.anchors)


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_save_and_reload_heavy(name, tmp_path, built):
    model = built(name)
    x = images(model.input_size, seed=2)
    clone = _save_reload(model, tmp_path)
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-4)


def test_compiled_with_spec_optimizer_and_schedule():
    from kssd.callbacks import WarmUpMultiStep
    from kssd.losses import SSDLoss

    model = kssd_zoo.face_ssd(steps_per_epoch=10)
    assert isinstance(model.loss, SSDLoss) and model.loss.neg_pos_ratio == 3
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == 0.9 and opt.weight_decay == 0.0005
    sched = optimizer_learning_rate(opt)
    assert isinstance(sched, WarmUpMultiStep)
    assert sched.warmup_steps == 50 and sched.boundaries == [500, 700]  # 5, 50, 70 epochs * 10 steps
    assert optimizer_learning_rate(kssd_zoo.face_ssd().optimizer).boundaries == [50 * 403, 70 * 403]
    assert isinstance(kssd_zoo.tiny_ssd().optimizer, keras.optimizers.Adam)


def test_tiny_ssd_fits_two_steps():
    from kssd.encoding import encode_targets

    keras.utils.set_random_seed(0)
    model = kssd_zoo.tiny_ssd()
    x = images((128, 128), batch=4, seed=3)
    y = []
    for i in range(4):
        boxes = np.array([[10.0 + i, 20.0, 60.0, 70.0], [70.0, 64.0, 120.0, 110.0]], "float32") / 128.0
        labels = np.array([1 + i % 3, 2], "int32")
        y.append(np.asarray(encode_targets(boxes, labels, model.anchors)))
    y = np.stack(y).astype("float32")
    assert y.shape == (4, 1344, 5) and (y[..., 4] > 0).any()
    history = model.fit(x, y, batch_size=2, epochs=1, steps_per_epoch=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 1 and np.isfinite(losses[0]) and losses[0] > 0


@pytest.mark.parametrize("name", kssd_zoo.list_models())
def test_predict_returns_detections_and_raw_predict_y_pred(name):
    """Every zoo model is a kssd.models.SSDDetector: predict decodes, raw_predict does not."""
    from kssd.layers import DecodeDetections, NonMaxSuppression
    from kssd.models import SSDDetector

    # a threshold of 0 so that the random network's boxes are compared, not zero padding
    model = kssd_zoo.build(name, compile=False, postprocess={"score_threshold": 0.0, "max_detections": 50})
    assert isinstance(model, SSDDetector)
    x = images(model.input_size, batch=2, seed=5)
    y_pred = model.raw_predict(x, verbose=0)
    assert y_pred.shape == (2, len(model.anchors), 4 + model.num_classes + 1)
    out = model.predict(x, verbose=0)
    k = model.postprocess["max_detections"]
    assert out["boxes"].shape == (2, k, 4) and out["num_detections"].shape == (2,)
    # the same as decoding y_pred with the library layers at a low threshold
    decoded = DecodeDetections(model.variances, box_coding=model.box_coding)(y_pred, model.anchors)
    nms = NonMaxSuppression(**model.postprocess)(decoded["boxes"], decoded["scores"])
    np.testing.assert_array_equal(out["num_detections"], np.asarray(nms["num_detections"]))
    assert out["num_detections"].min() > 0
    h, w = model.input_size
    np.testing.assert_allclose(out["boxes"], np.asarray(nms["boxes"]) * [w, h, w, h], atol=1e-2)
