"""OpenCV's DNN module runs the ``onnx_opencv`` export (and crashes on the end-to-end ONNX's NMS).

OpenCV runs in subprocesses: its crashes are signals that would take pytest down with them.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, SHARED

pytest.importorskip("tf2onnx")
cv2 = pytest.importorskip("cv2")

from kssd.export import export  # noqa: E402
from kssd.export.opencv import candidates_model  # noqa: E402
from kssd.inference import build_inference_model  # noqa: E402
from kssd.testing import toy_detector  # noqa: E402

_RUN_IN_OPENCV = """
import sys, numpy as np, cv2
net = cv2.dnn.readNetFromONNX(sys.argv[1])
image = np.load(sys.argv[2])
net.setInput(image)
names = net.getUnconnectedOutLayersNames()
outputs = net.forward(names)
np.savez(sys.argv[3], **dict(zip(names, outputs)))
"""


def _opencv_forward(model_path, image, tmp_path):
    np.save(tmp_path / "input.npy", image)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_IN_OPENCV, str(model_path), str(tmp_path / "input.npy")]
        + [str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, (dict(np.load(tmp_path / "out.npz")) if done.returncode == 0 else None)


@pytest.fixture(scope="module")
def toy_exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("opencv")
    infer = build_inference_model(toy_detector(), score_threshold=0.99)  # random weights: no detections
    export(infer, "onnx_opencv", folder / "toy_cv.onnx", verify=False)
    export(infer, "onnx", folder / "toy.onnx", verify=False)
    return infer, folder


def test_opencv_runs_the_candidates_graph_on_an_image_without_detections(toy_exports, tmp_path):
    infer, folder = toy_exports
    image = np.zeros((1, 90, 120, 3), np.uint8)
    code, outputs = _opencv_forward(folder / "toy_cv.onnx", image, tmp_path)
    assert code == 0
    reference = {k: np.asarray(v) for k, v in candidates_model(infer)(image).items()}
    assert outputs["boxes"].shape == reference["boxes"].shape == (1, 160, 4)
    np.testing.assert_allclose(outputs["boxes"], reference["boxes"], atol=1e-3)
    np.testing.assert_allclose(outputs["scores"], reference["scores"], atol=1e-5)


def test_the_end_to_end_onnx_still_crashes_opencv(toy_exports, tmp_path):
    """Pins the reason the onnx_opencv format exists: when this starts passing, OpenCV has fixed its
    NonMaxSuppression and the plain onnx export can be recommended for it."""
    _, folder = toy_exports
    code, _ = _opencv_forward(folder / "toy.onnx", np.zeros((1, 90, 120, 3), np.uint8), tmp_path)
    assert code < 0  # killed by a signal (SIGSEGV with OpenCV 5.0)


@pytest.mark.shared
def test_the_opencv_client_finds_what_kssd_finds_on_real_photos(tmp_path):
    from kssd_zoo import load

    weights = SHARED / "models" / "ultraface" / "version-RFB-320.onnx"
    photo = SHARED / "data" / "faces" / "dlib_pascal" / "2008_002470.jpg"
    if not (weights.is_file() and photo.is_file()):
        pytest.skip("needs ../shared (UltraFace weights and the dlib PASCAL photos)")
    model = load("ultraface_rfb", str(weights))
    path = tmp_path / "faces.onnx"
    from kssd.data.images import read_image

    image = read_image(photo)
    report = export(model, "onnx_opencv", path, score_threshold=0.7, iou_threshold=0.3, verify_images=[image])
    assert report["verification"]["ok"] and report["verification"]["matched"] > 0
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "opencv_dnn_client.py"), str(path), str(photo)]
        + ["--score", "0.7", "--iou", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = [json.loads(line) for line in done.stdout.splitlines()]
    # the export's default size policy (auto: native for UltraFace's pixel-sized anchors)
    from kssd.inference.passes import export_input_size

    size = export_input_size(model)
    assert size is None
    ours = build_inference_model(model, input_size=size, score_threshold=0.7, iou_threshold=0.3)(image[None])
    count = int(ours["num_detections"][0])
    assert len(found) == count > 0
    client = np.array(sorted(d["box"] for d in found))
    kssd_boxes = np.array(sorted(np.asarray(ours["boxes"][0][:count]).round(2).tolist()))
    np.testing.assert_allclose(client, kssd_boxes, atol=0.05)
