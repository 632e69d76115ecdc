"""End-to-end sticker tests on real faces (astronaut, ../shared faces), video, CLI and bad input."""

import json
import urllib.error
import urllib.request
import warnings

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def ssd():
    from kssd_zoo.sticker.detection import SSDFaceDetector

    return SSDFaceDetector()  # the default: UltraFace-RFB, shipped RFB-640 weights, fast


def _patch_box(stickerer, placement, shape):
    """Image rectangle covered by a placed sticker's transformed patch (clipped)."""
    from kssd_zoo.sticker.compositing import transform_sticker

    patch, x0, y0 = transform_sticker(
        stickerer._premultiplied,
        stickerer.sticker.reference_px,
        placement["centre"],
        placement["scale"],
        placement["angle"],
    )
    visible = patch[..., 3] > 0
    ys, xs = np.nonzero(visible)
    return (
        max(x0 + xs.min(), 0),
        max(y0 + ys.min(), 0),
        min(x0 + xs.max() + 1, shape[1]),
        min(y0 + ys.max() + 1, shape[0]),
    )


def _check_changes(image, out, faces, stickerer):
    """Every sticker changed pixels in its region; pixels outside all regions are unchanged."""
    changed = np.any(out != image, axis=-1)
    covered = np.zeros(changed.shape, bool)
    for face in faces:
        x1, y1, x2, y2 = _patch_box(stickerer, face["placement"], image.shape)
        assert changed[y1:y2, x1:x2].mean() > 0.05, face
        covered[y1:y2, x1:x2] = True
    assert not changed[~covered].any()


def test_astronaut_one_face_sunglasses_on_the_eyes(ssd):
    from kssd_zoo.sticker import Stickerer

    image = skimage_data.astronaut()
    st = Stickerer(detector=ssd, sticker="sunglasses")
    out, faces = st(image)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0]["box"]
    assert 160 < x1 < 200 and 50 < y1 < 90 and 250 < x2 < 290 and 160 < y2 < 200
    cx, cy = faces[0]["placement"]["centre"]
    assert x1 < cx < x2 and y1 + 0.2 * (y2 - y1) < cy < y1 + 0.55 * (y2 - y1)  # eye level
    assert abs(faces[0]["placement"]["angle"]) < 15
    _check_changes(image, out, faces, st)
    # Far from the face (the lower right of the picture) nothing changed.
    assert np.array_equal(out[300:, 300:], image[300:, 300:])


def test_dlib_pascal_faces_all_get_stickers(ssd):
    from kssd.data.images import read_image
    from kssd_zoo.sticker import Stickerer
    from kssd_zoo.sticker.evaluate import match_count, read_dlib_xml

    records = read_dlib_xml(shared_path("data", "faces", "dlib_pascal", "testing.xml"))
    st = Stickerer(detector=ssd, sticker="crown")
    total = found = 0
    for record in records:
        image = read_image(record["image_path"])
        out, faces = st(image)
        _check_changes(image, out, faces, st)
        boxes = np.array([f["box"] for f in faces]).reshape(-1, 4)
        total += len(record["boxes"])
        found += match_count(record["boxes"], boxes, 0.3)
        # Large faces use landmarks when the model is installed, small ones the box.
        for face in faces:
            w = face["box"][2] - face["box"][0]
            if w < 40:
                assert not face["landmarks"]
    assert total == 25 and found >= 23


@pytest.mark.slow
def test_wider_parade_ssd_finds_more_faces_than_dlib_hog(ssd):
    from kssd_zoo.sticker.detection import DlibHogDetector
    from kssd_zoo.sticker.evaluate import evaluate, read_wider_parade

    records = read_wider_parade(shared_path("data", "faces", "widerface_mini"))
    ssd_result = evaluate(ssd, records)
    hog_result = evaluate(DlibHogDetector(upsample=1), records)
    assert ssd_result["faces"] == 146
    # Measured: SSD 88/146 at IoU 0.5 (29 of the 73 faces under 20 px), dlib HOG 17/146.
    assert ssd_result["matched"][0.5] >= 80
    assert ssd_result["small_matched"] >= 20
    assert ssd_result["matched"][0.5] >= 3 * hog_result["matched"][0.5]


def test_api_function_and_missing_landmark_model(monkeypatch):
    import kssd_zoo
    from kssd_zoo.sticker import landmarks as landmarks_module

    monkeypatch.setattr(landmarks_module, "find_predictor_file", lambda kind="68": None)
    with pytest.warns(UserWarning, match="landmark model was not found"):
        out, faces = kssd_zoo.sticker(
            skimage_data.astronaut(),
            sticker="cat_whiskers",
            landmarks="68",
            min_landmark_size=30,
        )
    assert len(faces) == 1 and faces[0]["landmarks"] is False
    assert faces[0]["placement"]["source"] == "box" and faces[0]["placement"]["angle"] == 0.0
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8


def test_landmarks_set_the_roll_angle(ssd):
    from kssd_zoo.sticker import Stickerer
    from kssd_zoo.sticker.landmarks import find_predictor_file

    if find_predictor_file("68") is None:
        pytest.skip("dlib's 68-point model is not installed (pip install face_recognition_models)")
    image = skimage_data.astronaut()
    # Rotate the photo by 20 degrees counter-clockwise around the face: the eye line then
    # tilts up to the right, so the roll is about -20 degrees.
    matrix = cv2.getRotationMatrix2D((220, 120), 20, 1.0)
    rotated = cv2.warpAffine(image, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT)
    st = Stickerer(detector=ssd, sticker="crown", landmarks="68")
    _, base = st(image)
    _, turned = st(rotated)
    assert base[0]["landmarks"] and turned[0]["landmarks"]
    assert turned[0]["placement"]["angle"] - base[0]["placement"]["angle"] == pytest.approx(-20, abs=6)


def test_multiclass_model_needs_a_class():
    from kssd_zoo.sticker.detection import SSDFaceDetector

    with pytest.raises(ValueError, match="--class NAME"):
        SSDFaceDetector("vgg16_ssd300")
    with pytest.raises(ValueError, match="is not detected by model"):
        SSDFaceDetector("tiny_ssd", class_name="zebra")


def _fixed_box_detector(image):
    h, w = image.shape[:2]
    return {
        "boxes": np.array([[w * 0.3, h * 0.3, w * 0.7, h * 0.8]], np.float32),
        "scores": np.ones(1, np.float32),
    }


def test_video_round_trip(tmp_path):
    from kssd_zoo.sticker import Stickerer
    from kssd_zoo.sticker.batch import run_batch
    from kssd_zoo.sticker.video import video_properties

    source = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (160, 96))
    assert writer.isOpened()
    for k in range(10):
        writer.write(np.full((96, 160, 3), 40 + 10 * k, np.uint8))
    writer.release()
    st = Stickerer(detector=_fixed_box_detector, sticker="sunglasses", landmarks="none")
    result = run_batch(
        st, [source], tmp_path / "out", report=tmp_path / "r.json", progress=False, verbose=False
    )
    item = result["items"][0]
    props = video_properties(item["output"])
    assert (props["frames"], props["width"], props["height"]) == (10, 160, 96)
    assert props["fps"] == pytest.approx(12.0)
    assert item["frames"] == 10 and len(item["per_frame"]) == 10
    capture = cv2.VideoCapture(item["output"])
    ok, frame = capture.read()
    capture.release()
    assert ok and frame[int(96 * 0.45), 80].max() < 30  # dark sunglasses on a grey (40) frame
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["faces"] == 10


def test_camera_path_with_a_video_source(tmp_path):
    from kssd_zoo.sticker import Stickerer
    from kssd_zoo.sticker.video import process_camera, video_properties

    source = tmp_path / "cam.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for _ in range(6):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    st = Stickerer(detector=_fixed_box_detector, sticker="crown", landmarks="none")
    count = process_camera(st, str(source), tmp_path / "cam_out.mp4", show=False, max_frames=4)
    assert count == 4 and video_properties(tmp_path / "cam_out.mp4")["frames"] == 4
    with pytest.raises(ValueError, match="no display"):
        process_camera(st, str(source), None, show=False)


def test_cli_images_folders_report_suffix_and_bad_files(tmp_path, capsys):
    from kssd_zoo.cli.main import main

    folder = tmp_path / "photos" / "sub"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "astro.png"), cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    args = [
        "sticker",
        str(tmp_path / "photos"),
        "--out",
        str(out),
        "--sticker",
        "party_hat",
        "--report",
        str(tmp_path / "report.json"),
        "--no-progress",
    ]
    assert main(args) == 1  # broken.jpg skipped
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["written"] == 1 and report["summary"]["faces"] == 1
    assert report["skipped"][0]["input"].endswith("broken.jpg")
    face = report["items"][0]["faces"][0]
    assert set(face) == {"box", "score", "landmarks", "placement"}
    assert set(face["placement"]) >= {"centre", "scale", "angle"}
    first = out / "photos" / "sub" / "astro.png"
    assert first.is_file()
    before = first.read_bytes()
    # A second run never overwrites silently: it writes astro_1.png.
    assert main(args) == 1  # broken.jpg skipped
    assert (out / "photos" / "sub" / "astro_1.png").is_file() and first.read_bytes() == before
    printed = capsys.readouterr().out
    assert "skipped" in printed and "broken.jpg" in printed


def test_cli_default_detector_works_offline_without_onnx(tmp_path, monkeypatch, capsys):
    """The default weights ship in the package: no download, no onnx package."""
    import sys

    from kssd_zoo.cli.main import main

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx fails
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "o"
    assert main(["sticker", str(image), "--out", str(out), "--no-progress", "--landmarks", "none"]) == 0
    assert "1 written, 0 skipped, 1 faces" in capsys.readouterr().out
    assert not (tmp_path / "cache").exists()


def test_cli_offline_with_a_preset_not_shipped_explains_how_to_pass_a_file(tmp_path, monkeypatch, capsys):
    from kssd_zoo.cli.main import main

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    command = ["sticker", str(image), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main([*command, "--weights", "ultraface_slim_320", "--model", "ultraface_slim"]) == 2
    err = capsys.readouterr().err
    assert "/path/to/version-slim-320.onnx" in err


def test_dlib_hog_detector_on_astronaut():
    from kssd_zoo.sticker import Stickerer

    st = Stickerer("dlib-hog", sticker="crown", landmarks="none")
    image = skimage_data.astronaut()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, faces = st(image)
    # The astronaut's face (top) is found; a badge lower down may add a weak detection.
    assert any(f["box"][1] < 120 and f["box"][0] > 150 for f in faces)
    _check_changes(image, out, faces, st)
