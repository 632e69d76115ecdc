"""Export round trips (every format), overwrite protection, loud verification failures."""

import keras
import numpy as np
import pytest

import kssd_zoo
from kssd.compat import tflite_ops_details
from kssd.export import ExportError, ExportVerificationError, compare_detections, export
from kssd.export.verify import load_runner, sample_images, tflite_ops
from kssd.inference import build_inference_model

SUFFIX = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx", "keras": ".keras"}


@pytest.fixture(scope="module")
def tiny():
    # score_threshold 0.2: an untrained 4-way softmax scores ~0.25, so the sample has detections.
    # Seeded: the int8 drift bounds below hold for these weights (random ones drift more or less).
    keras.utils.set_random_seed(0)
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
        # any thread count gives the same detections
        images = np.stack(sample_images(seed=3)[:2])
        one, every = load_runner(path, fmt, num_threads=1), load_runner(path, fmt)
        for key, value in one(images).items():
            np.testing.assert_allclose(value, every(images)[key], atol=1e-4, err_msg=key)


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
    # with --overwrite, a failed export keeps the previous artifact and leaves no temporary
    path.write_text("previous export")
    with pytest.raises(ExportVerificationError, match="previous file is kept"):
        export(tiny, "keras", path, overwrite=True)
    assert path.read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.keras"]


def test_overwrite_replaces_only_folders_kssd_wrote(tiny, tmp_path):
    user_folder = tmp_path / "photos"
    user_folder.mkdir()
    (user_folder / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(FileExistsError, match="holds holiday.jpg.*not replaced"):
        export(tiny, "saved_model", user_folder, overwrite=True, verify=False)
    assert (user_folder / "holiday.jpg").read_bytes() == b"jpeg"
    out = tmp_path / "model"
    first = export(tiny, "saved_model", out, verify=False)
    assert first["path"] == str(out) and (out / "saved_model.pb").is_file()
    export(tiny, "saved_model", out, overwrite=True, verify=False)
    assert (out / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "photos"]


def test_compare_detections_tolerates_tie_order_only():
    ref = {
        "boxes": np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0]]], "float32"),
        "scores": np.array([[0.8, 0.8, 0.0]], "float32"),
        "classes": np.array([[1, 1, 0]]),
        "num_detections": np.array([2]),
    }
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


def _op_dtypes(interpreter):
    """[(op name, input dtypes, output dtypes)] of the main subgraph (-1 inputs skipped)."""
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    return [
        (op["op_name"], [dtypes[i] for i in op["inputs"] if i >= 0], [dtypes[i] for i in op["outputs"]])
        for op in tflite_ops_details(interpreter)
    ]


@pytest.mark.slow
def test_int8_tflite_is_full_integer_network(tiny, tmp_path):
    import tensorflow as tf

    from kssd.export.tflite import int8_compute_ops
    from kssd.export.verify import sample_images

    path = tmp_path / "q8.tflite"
    report = export(tiny, "tflite", path, quantization="int8", representative_images=sample_images(seed=1))
    assert report["quantization"] == "int8"
    assert not [op for op in report["ops"] if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE")]
    assert "WHILE" in report["ops"] and "QUANTIZE" in report["ops"] and "DEQUANTIZE" in report["ops"]

    interpreter = tf.lite.Interpreter(model_path=str(path))
    ops = _op_dtypes(interpreter)
    convs = [op for op in ops if op[0] == "CONV_2D"]
    n_conv = sum(type(layer).__name__ == "Conv2D" for layer in tiny.get_layer("tiny_ssd").layers)
    assert len(convs) == n_conv > 0
    # int8 activations in and out, int8 weights, int32 bias: every convolution
    assert all(
        ins[:2] == [np.int8, np.int8] and ins[2:] == [np.int32] and outs == [np.int8]
        for _, ins, outs in convs
    )
    assert int8_compute_ops(path.read_bytes()) == {"CONV_2D": n_conv}
    # activation ranges were calibrated: every int8 conv output has a real scale
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    for op in tflite_ops_details(interpreter):
        if op["op_name"] == "CONV_2D":
            scale = details[op["outputs"][0]]["quantization_parameters"]["scales"]
            assert scale.size == 1 and 0 < scale[0] < 1
    # preprocessing, decode and NMS stay float: uint8 -> float cast, softmax and the loop in float
    assert ("CAST", [np.uint8], [np.float32]) in ops
    assert all(np.int8 not in ins + outs for name, ins, outs in ops if name in ("SOFTMAX", "EXP", "WHILE"))

    out = interpreter.get_signature_runner("serve")(images=sample_images()[2][None, :97, :111])
    assert out["boxes"].dtype == np.float32 and out["boxes"].shape == (1, 25, 4)
    assert out["classes"].dtype == np.int32 and out["num_detections"].shape == (1,)
    n = int(out["num_detections"][0])
    assert n > 0 and np.all(out["boxes"][0, :n, 2:] <= [111.01, 97.01])

    drift = report["drift"]
    assert drift["reference_detections"] > 0 and drift["export_detections"] > 0
    assert drift["matched"] >= 0.8 * drift["reference_detections"]
    assert drift["mean_box_diff"] < 2.0 and drift["mean_score_diff"] < 0.01


@pytest.mark.slow
def test_dynamic_int8_keeps_float_activations(tiny, tmp_path):
    import tensorflow as tf

    from kssd.export.tflite import int8_compute_ops

    path = tmp_path / "dyn.tflite"
    report = export(tiny, "tflite", path, quantization="dynamic_int8")
    assert report["drift"]["matched"] > 0
    convs = [op for op in _op_dtypes(tf.lite.Interpreter(model_path=str(path))) if op[0] == "CONV_2D"]
    # float activations; int8 weights (TFLite leaves tensors under 1024 weights float)
    assert convs and all(ins[0] == np.float32 and outs == [np.float32] for _, ins, outs in convs)
    assert any(ins[1] == np.int8 for _, ins, _ in convs)
    assert int8_compute_ops(path.read_bytes()) == {}


def test_int8_needs_representative_images(tiny, tmp_path):
    from kssd.export.tflite import QUANTIZATIONS, export_tflite
    from kssd_zoo.cli.main import build_parser

    with pytest.raises(ValueError, match="representative_images"):
        export_tflite(tiny, tmp_path / "x.tflite", quantization="int8")
    with pytest.raises(ValueError, match=r"representative_images\[1\].*uint8"):
        export_tflite(
            tiny,
            tmp_path / "x.tflite",
            quantization="int8",
            representative_images=[np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)],
        )
    with pytest.raises(ValueError, match="dynamic_int8"):
        export_tflite(tiny, tmp_path / "x.tflite", quantization="int4")
    assert not (tmp_path / "x.tflite").exists()
    args = build_parser().parse_args(
        ["export", "tiny_ssd", "--format", "tflite", "--out", "x.tflite", "--quantization", "dynamic_int8"]
    )
    assert args.quantization == "dynamic_int8" and set(QUANTIZATIONS) == {
        None,
        "float16",
        "int8",
        "dynamic_int8",
    }


def test_cli_representative_images_are_read_and_checked(tmp_path, capsys):
    import cv2

    from kssd_zoo.cli.export import read_images
    from kssd_zoo.cli.main import main

    folder = tmp_path / "calib"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((20 + i, 30, 3), 40 * i, np.uint8))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    images, skipped = read_images([str(folder)], 10, "--x")
    assert [im.shape for im in images] == [(20, 30, 3), (21, 30, 3), (22, 30, 3)]
    assert all(im.dtype == np.uint8 for im in images)
    assert len(skipped) == 1 and "broken.jpg" in skipped[0]
    assert len(read_images([str(folder)], 2, "--x")[0]) == 2

    out = str(tmp_path / "m.tflite")
    assert (
        main(
            ["export", "tiny_ssd", "--format", "tflite", "--out", out, "--representative-images", str(folder)]
        )
        == 2
    )
    assert "only applies to --quantization int8" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "bad.png").write_bytes(b"\x89PNG broken")
    assert (
        main(
            [
                "export",
                "tiny_ssd",
                "--format",
                "tflite",
                "--out",
                out,
                "--quantization",
                "int8",
                "--representative-images",
                str(empty),
            ]
        )
        == 2
    )
    assert "--representative-images: no readable image" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_native_size_round_trip(fmt, tmp_path):
    """input_size=None (each image at its own size) exports too; the sample images differ in
    size, so the artifact runs at several input sizes during verification."""
    from kssd.export.verify import sample_images

    native = build_inference_model(
        kssd_zoo.tiny_ssd(compile=False), input_size=None, score_threshold=0.2, max_detections=25
    )
    assert len({im.shape for im in sample_images()}) > 1
    _check(export(native, fmt, tmp_path / f"native{SUFFIX[fmt]}"), fmt)


def test_verification_that_compared_nothing_says_so(tmp_path):
    blind = build_inference_model(kssd_zoo.tiny_ssd(compile=False), score_threshold=0.999)
    with pytest.warns(UserWarning, match="verification compared nothing"):
        report = export(blind, "keras", tmp_path / "blind.keras")
    assert report["verification"]["nothing_compared"] and report["verification"]["matched"] == 0


def test_onnx_runs_on_images_with_no_candidate_at_all(tmp_path):
    """No score above the threshold anywhere: the TF-kernel NMS once built a (B, C * 0) reshape,
    which onnxruntime reads as "keep the dimension" and fails on."""
    blind = build_inference_model(kssd_zoo.tiny_ssd(compile=False), score_threshold=0.999)
    path = tmp_path / "blind.onnx"
    with pytest.warns(UserWarning, match="verification compared nothing"):
        export(blind, "onnx", path)
    out = load_runner(path, "onnx")(np.stack(sample_images(seed=3)[:2]))
    assert out["num_detections"].tolist() == [0, 0] and not out["scores"].any()


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1, 0, 64, 3), (1, 64, 0, 3), (0, 64, 64, 3)])
def test_degenerate_images_never_kill_the_tflite_runtime(tmp_path, shape):
    """An empty image once segfaulted TFLite; now it runs (boxes without area) or raises."""
    import subprocess
    import sys

    from kssd.testing import toy_detector

    path = tmp_path / "toy.tflite"
    export(toy_detector(dynamic=True), "tflite", path, verify=False)
    code = (
        "import numpy as np, tensorflow as tf\n"
        f"run = tf.lite.Interpreter({str(path)!r}).get_signature_runner('serve')\n"
        f"out = run(images=np.zeros({shape}, np.uint8))\n"
        "print('box area', float(np.sum((out['boxes'][..., 2:] - out['boxes'][..., :2]).prod(-1))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {done.stderr[-2000:]}"
    if shape[0]:  # one empty image: runs, every box has no area
        assert done.returncode == 0 and "box area 0.0" in done.stdout, done.stderr[-2000:]
