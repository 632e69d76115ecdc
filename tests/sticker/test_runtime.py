"""The sticker's default detector on its shipped TFLite file: same faces as Keras, no TensorFlow."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kssd.data.images import read_image
from kssd.export.verify import compare_detections
from kssd_zoo.sticker.detection import SSDFaceDetector
from kssd_zoo.sticker.make_assets import DEMO_PHOTO
from kssd_zoo.sticker.runtime import (
    SHIPPED_FACTS,
    SHIPPED_TFLITE,
    shipped_facts,
    write_shipped_detector,
)
from kssd_zoo.weights.bundle import bundled_path
from kssd_zoo.weights.download import sha256_of

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "faces"


def _photos():
    """The demo photo (shipped), then real photos of ../shared when present."""
    paths = [DEMO_PHOTO]
    paths += sorted((SHARED / "dlib_pascal").glob("*.jpg"))
    paths += sorted((SHARED / "widerface_mini" / "WIDER_train").rglob("*.jpg"))[:4]
    return paths


def _as_batch(found):
    n = len(found["scores"])
    return {
        "boxes": np.asarray(found["boxes"])[None],
        "scores": np.asarray(found["scores"])[None],
        "classes": np.ones((1, n), np.int64),
        "num_detections": np.array([n]),
    }


@pytest.fixture(scope="module")
def keras_detector():
    return SSDFaceDetector(runtime="keras")


def test_the_shipped_file_is_made_from_the_shipped_weights_and_the_sticker_defaults(keras_detector):
    facts = shipped_facts()
    assert facts["weights_sha256"] == sha256_of(bundled_path("ultraface_rfb_640"))
    model = keras_detector.model
    assert facts["class_names"] == list(model.class_names)
    assert facts["input_size"] == list(model.input_size)
    assert facts["anchors"]["min_sizes"] == [list(level) for level in model.anchor_config["min_sizes"]]
    assert (facts["score_threshold"], facts["iou_threshold"], facts["max_detections"]) == (
        keras_detector.score_threshold,
        keras_detector.iou_threshold,
        keras_detector.max_detections,
    )


@pytest.mark.slow
@pytest.mark.parametrize("quality", ["fast", "best"])
def test_tflite_finds_the_faces_keras_finds_on_real_photos(keras_detector, quality):
    tflite = SSDFaceDetector(quality=quality)
    keras = keras_detector if quality == "fast" else SSDFaceDetector(runtime="keras", quality=quality)
    assert tflite.runtime == "tflite" and tflite.model is None
    photos = _photos() if quality == "fast" else _photos()[:3]
    compared = 0
    for path in photos:
        image = read_image(path)
        report = compare_detections(
            _as_batch(keras(image)), _as_batch(tflite(image)), score_threshold=keras.score_threshold
        )
        assert report["ok"], (path.name, report["problems"])
        compared += report["matched"]
    assert compared >= 5  # the demo photo alone has five faces


def test_auto_takes_the_file_only_where_it_gives_the_keras_detections():
    assert SSDFaceDetector(score_threshold=0.8).runtime == "tflite"  # above the baked 0.7: filtered
    assert SSDFaceDetector(score_threshold=0.5).runtime == "keras"
    assert SSDFaceDetector(iou_threshold=0.5).runtime == "keras"
    assert SSDFaceDetector(weights="ultraface_rfb_320").runtime == "keras"
    with pytest.raises(ValueError, match="runtime 'tflite' cannot be used: score threshold 0.5 is below"):
        SSDFaceDetector(score_threshold=0.5, runtime="tflite")
    with pytest.raises(ValueError, match="it runs the default detector only"):
        SSDFaceDetector("tiny_ssd", runtime="tflite")
    with pytest.raises(ValueError, match="runtime must be one of auto, keras, tflite; got 'onnx'"):
        SSDFaceDetector(runtime="onnx")


def test_a_higher_threshold_filters_the_file_as_keras_would():
    image = read_image(DEMO_PHOTO)
    tflite, keras = (SSDFaceDetector(score_threshold=0.9, runtime=r) for r in ("tflite", "keras"))
    found = tflite(image)
    assert len(found["scores"]) and found["scores"].min() >= 0.9
    assert compare_detections(_as_batch(keras(image)), _as_batch(found), score_threshold=0.9)["ok"]


def test_sticker_command_runs_without_tensorflow(tmp_path):
    pytest.importorskip("ai_edge_litert")
    script = (
        "import sys, kssd_command\n"
        f"rc = kssd_command.main(['sticker', {str(DEMO_PHOTO)!r}, '--out', {str(tmp_path)!r}, "
        f"'--no-progress', '--report', {str(tmp_path / 'r.json')!r}])\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules)\n"
        "print('RESULT', rc, heavy)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert "RESULT 0 []" in run.stdout, run.stdout + run.stderr
    assert "runtime tflite" in run.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["faces"] >= 5 and (tmp_path / DEMO_PHOTO.name).is_file()


@pytest.mark.slow
def test_the_maker_remakes_the_shipped_file(tmp_path):
    facts = write_shipped_detector(tmp_path / "remade.tflite")
    assert facts == json.loads(SHIPPED_FACTS.read_text())
    assert json.loads((tmp_path / "remade.json").read_text()) == facts
    image = read_image(DEMO_PHOTO)
    shipped = SSDFaceDetector()(image)
    from kssd_zoo.sticker.runtime import TFLiteRunner

    remade = TFLiteRunner(tmp_path / "remade.tflite")(image, 0.7)
    order = np.argsort(-remade[1], kind="stable")
    found = {"boxes": remade[0][order], "scores": remade[1][order]}
    assert compare_detections(_as_batch(shipped), _as_batch(found), score_threshold=0.7)["ok"]
    assert SHIPPED_TFLITE.stat().st_size > 1_000_000


def test_the_runners_numpy_decoding_is_the_decode_layers():
    from kssd.layers import DecodeDetections
    from kssd_zoo.sticker.runtime import decode_clipped

    rng = np.random.default_rng(0)
    anchors = np.concatenate([rng.uniform(0, 1, (300, 2)), rng.uniform(0.01, 0.5, (300, 2))], 1).astype(
        "float32"
    )
    y_pred = rng.normal(0, 2, (1, 300, 6)).astype("float32")
    expected = np.asarray(DecodeDetections(variances=(0.1, 0.2))(y_pred, anchors)["boxes"])[0]
    np.testing.assert_allclose(decode_clipped(y_pred[0, :, :4], anchors, (0.1, 0.2)), expected, atol=1e-6)


def test_the_maker_writes_nothing_when_the_runner_misses_the_keras_faces(tmp_path, monkeypatch):
    from kssd_zoo.sticker import runtime

    def finds_nothing(self, image, score_threshold, *rest):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)

    monkeypatch.setattr(runtime.TFLiteRunner, "__call__", finds_nothing)
    with pytest.raises(RuntimeError, match="verification image 0: the TFLite runner differs from Keras"):
        runtime.write_shipped_detector(tmp_path / "remade.tflite")
    assert list(tmp_path.iterdir()) == []
