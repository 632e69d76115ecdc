"""POSTPROCESS_DEFAULTS is the one source of kssd's post-processing defaults.

NonMaxSuppression's constructor, build_inference_model and make_detect_fn all fall back to it
(a model's own ``postprocess`` / spec and explicit arguments override it, None never does).
"""

import numpy as np
import pytest

import kssd.inference
from kssd.inference import build_inference_model
from kssd.inference.detect_fn import make_detect_fn
from kssd.layers import POSTPROCESS_DEFAULTS, NonMaxSuppression
from tests.one_anchor import one_anchor_detector


def one_anchor(**postprocess):
    """One anchor, class 1 confident; ``postprocess`` settings for its decoder (None: default)."""
    decoder = NonMaxSuppression(**{k: v for k, v in postprocess.items() if v is not None})
    return one_anchor_detector([0, 0, 0, 0, -5, 5], prediction_decoder=decoder)


def _nms_config(model):
    layer = next(layer for layer in model.layers if isinstance(layer, NonMaxSuppression))
    return layer.get_config()


def test_the_shared_defaults():
    assert dict(POSTPROCESS_DEFAULTS) == {
        "score_threshold": 0.5,
        "iou_threshold": 0.45,
        "max_detections": 200,
        "max_detections_per_class": None,
    }


def test_inference_model_of_a_default_detector_uses_the_shared_defaults():
    infer = build_inference_model(one_anchor())
    config = _nms_config(infer)
    for key, value in POSTPROCESS_DEFAULTS.items():
        assert config[key] == value, key
    out = infer(np.zeros((1, 20, 30, 3), "uint8"))
    assert tuple(out["boxes"].shape) == (1, POSTPROCESS_DEFAULTS["max_detections"], 4)
    assert int(np.asarray(out["num_detections"])[0]) == 1


def test_inference_model_arguments_and_the_detector_override_the_defaults():
    infer = build_inference_model(one_anchor(), max_detections=7, iou_threshold=0.3)
    config = _nms_config(infer)
    assert (config["max_detections"], config["iou_threshold"]) == (7, 0.3)
    assert config["max_detections_per_class"] is None  # = max_detections
    assert config["score_threshold"] == POSTPROCESS_DEFAULTS["score_threshold"]

    model = one_anchor(max_detections=9, max_detections_per_class=None, score_threshold=0.2)
    config = _nms_config(build_inference_model(model))
    got = (config["max_detections"], config["max_detections_per_class"], config["score_threshold"])
    assert got == (9, None, 0.2)
    assert config["iou_threshold"] == POSTPROCESS_DEFAULTS["iou_threshold"]


@pytest.fixture
def captured(monkeypatch):
    """make_detect_fn's options, as handed to kssd.inference.detect."""
    calls = []

    def fake_detect(model, images, **options):
        calls.append(options)
        return []

    monkeypatch.setattr(kssd.inference, "detect", fake_detect)
    return calls


@pytest.mark.parametrize(
    "postprocess, kwargs, expected",
    [
        (None, {}, (0.45, 200, 200)),
        ({"max_detections": 5}, {}, (0.45, 5, 5)),
        ({"max_detections": 50, "max_detections_per_class": None, "iou_threshold": None}, {}, (0.45, 50, 50)),
        ({"max_detections": 50, "max_detections_per_class": 20, "iou_threshold": 0.6}, {}, (0.6, 50, 20)),
        ({"max_detections": 50}, {"max_detections": 8, "iou_threshold": 0.1}, (0.1, 8, 8)),
    ],
)
def test_make_detect_fn_falls_back_to_the_shared_defaults(captured, postprocess, kwargs, expected):
    make_detect_fn(one_anchor(**(postprocess or {})), **kwargs)([])
    options = captured[0]
    got = (options["iou_threshold"], options["max_detections"], options["max_detections_per_class"])
    assert got == expected
