"""Export round trips (every format), overwrite protection, loud verification failures."""

import numpy as np
import pytest

import kssd_zoo
from kssd.export import ExportError, ExportVerificationError, compare_detections, export
from kssd.export.verify import tflite_ops
from kssd.inference import build_inference_model

SUFFIX = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx", "keras": ".keras"}


@pytest.fixture(scope="module")
def tiny():
    # score_threshold 0.2: an untrained 4-way softmax scores ~0.25, so the sample has detections
    return build_inference_model(kssd_zoo.tiny_ssd(compile=False), score_threshold=0.2, max_detections=25)


def _check(report, fmt):
    verification = report["verification"]
    assert verification["ok"] and verification["matched"] > 0
    assert verification["max_box_diff"] <= 0.5 and verification["max_score_diff"] <= 1e-4
    if fmt == "tflite":
        assert not [op for op in report["ops"] if op.startswith("Flex") or op == "CUSTOM"]
        assert "WHILE" in report["ops"]  # NMS runs inside the TFLite graph


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx", "keras"])
def test_tiny_ssd_round_trip(tiny, fmt, tmp_path):
    path = tmp_path / f"tiny{SUFFIX[fmt]}"
    _check(export(tiny, fmt, path), fmt)
    if fmt == "tflite":
        assert tflite_ops(path) == export(tiny, fmt, path, overwrite=True, verify=False)["ops"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx", "keras"])
def test_face_ssd_round_trip(fmt, tmp_path):
    model = kssd_zoo.face_ssd(compile=False)
    _check(export(model, fmt, tmp_path / f"face{SUFFIX[fmt]}", max_detections=50), fmt)


def test_saved_model_serve_signature(tiny, tmp_path):
    import tensorflow as tf

    export(tiny, "saved_model", tmp_path / "sm", verify=False)
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serve"]
    spec = serve.structured_input_signature[1]["images"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]
    assert set(serve.structured_outputs) == {"boxes", "scores", "classes", "num_detections"}


def test_never_overwrites_without_permission(tiny, tmp_path):
    path = tmp_path / "tiny.keras"
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite"):
        export(tiny, "keras", path)
    assert path.read_text() == "precious"
    with pytest.raises(ValueError, match=r"\.onnx"):
        export(tiny, "onnx", tmp_path / "x.bin")


def test_verification_fails_loudly(tiny, tmp_path, monkeypatch):
    import kssd.export as export_module

    real = export_module.load_runner

    def shifted(path, fmt):
        run = real(path, fmt)

        def run_shifted(images):
            out = run(images)
            out["boxes"] = out["boxes"] + np.where(out["boxes"] > 0, 1.0, 0.0)
            return out

        return run_shifted

    monkeypatch.setattr(export_module, "load_runner", shifted)
    path = tmp_path / "tiny.keras"
    with pytest.raises(ExportVerificationError, match="disagrees"):
        export(tiny, "keras", path)
    assert not path.exists()


def test_compare_detections_tolerates_tie_order_only():
    ref = {"boxes": np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0]]], "float32"),
           "scores": np.array([[0.8, 0.8, 0.0]], "float32"), "classes": np.array([[1, 1, 0]]),
           "num_detections": np.array([2])}
    swapped = {k: v[:, [1, 0, 2]] if v.ndim > 1 else v for k, v in ref.items()}
    assert compare_detections(ref, swapped)["ok"]
    moved = {**ref, "boxes": ref["boxes"] + np.array([0, 0, 0.6, 0], "float32")}
    assert not compare_detections(ref, moved)["ok"]


def test_unexportable_layer_is_named(tmp_path):
    infer = build_inference_model(kssd_zoo.tiny_ssd(compile=False), nms_implementation="tensorflow")
    with pytest.raises(ExportError, match="non_max_suppression"):
        export(infer, "tflite", tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.slow
def test_quantized_tflite_reports_drift(tiny, tmp_path):
    report = export(tiny, "tflite", tmp_path / "q.tflite", quantization="float16")
    drift = report["drift"]
    assert drift["reference_detections"] > 0 and drift["matched"] >= drift["reference_detections"] * 0.9
    assert drift["max_box_diff"] < 2.0
