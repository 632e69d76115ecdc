"""Encoded images in pipelines and training: EXIF orientation applied, unusable files skipped and
counted (never a TensorFlow traceback)."""

import io
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kssd.data.images import read_image
from kssd.data.pipeline import load_dataset, prepare_encoded_records, upright


def _jpeg(orientation, size=(40, 64)):
    """A JPEG whose stored pixels need EXIF ``orientation`` to be shown upright."""
    rng = np.random.default_rng(orientation)
    pixels = np.kron(rng.integers(0, 255, (size[0] // 8, size[1] // 8, 3)), np.ones((8, 8, 1))).astype(
        np.uint8
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_training_decodes_as_viewers_show_the_photo(orientation):
    data = _jpeg(orientation)
    (record,), problems = prepare_encoded_records([{"image_bytes": data, "boxes": [], "labels": []}])
    assert problems == [] and record["orientation"] == orientation
    ours = upright(tf.io.decode_image(data, channels=3), record["orientation"]).numpy()
    reference = read_image(data)  # OpenCV applies EXIF orientation
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 3


def test_unusable_images_are_skipped_counted_and_named(tmp_path):
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), np.full((32, 32, 3), 128, np.uint8))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:-40])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    records = [
        {"image_path": str(path), "boxes": [[4, 4, 20, 20]], "labels": [1]}
        for path in (good, truncated, empty)
    ]
    with pytest.warns(
        UserWarning, match=r"skipped 2 record\(s\).*truncated.jpg: truncated image.*empty.png: empty file"
    ):
        ds = load_dataset(records, anchors=None, image_size=(32, 32), batch_size=1, training=False)
    assert len(list(ds)) == 1


def test_train_skips_a_truncated_image_and_reports_it(tmp_path):
    from kssd_zoo.training import train

    folder = tmp_path / "faces"
    folder.mkdir()
    entries = []
    for index in range(4):
        path = folder / f"img{index}.jpg"
        image = np.full((96, 96, 3), 100, np.uint8)
        image[24:72, 24:72] = 220
        cv2.imwrite(str(path), image)
        entries.append(
            f"<image file='{path.name}'><box top='24' left='24' width='48' height='48'><label>face</label></box></image>"
        )
    (folder / "img3.jpg").write_bytes((folder / "img3.jpg").read_bytes()[:-100])
    xml = folder / "training.xml"
    xml.write_text(f"<dataset><images>{''.join(entries)}</images></dataset>")
    result = train(
        "tiny_ssd",
        str(xml),
        epochs=1,
        batch_size=2,
        max_val_images=0,
        tensorboard=False,
        verbose=0,
        out_dir=tmp_path / "run",
    )
    assert [(s["image"].endswith("img3.jpg"), s["reason"]) for s in result["skipped_images"]] == [
        (True, "truncated image")
    ]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["skipped_images"][0]["reason"] == "truncated image"
    assert saved["boxes_dropped"] == {}


def test_bad_boxes_are_dropped_and_counted_and_nan_images_rejected():
    image = np.full((32, 32, 3), 100, np.uint8)
    records = [
        {
            "image": image,
            "boxes": [[4, 4, 20, 20], [np.nan, 1, 5, 5], [8, 8, 8, 20], [40, 40, 50, 50], [20, 20, 40, 30]],
            "labels": [1, 1, 1, 1, 1],
        }
    ]
    message = r"dropped 3 box\(es\) \(1 non-finite coordinates, 1 outside the image, 1 zero width or height\); clipped 1"
    with pytest.warns(UserWarning, match=message):
        ds = load_dataset(records, anchors=None, image_size=(32, 32), batch_size=1, training=False)
    _, targets = next(iter(ds))
    assert int(np.sum(targets["labels"].numpy() > 0)) == 2
    bad = [{"image": np.full((8, 8, 3), np.nan, np.float32), "boxes": [], "labels": []}]
    with pytest.raises(ValueError, match="'image' holds NaN or infinite values"):
        load_dataset(bad, anchors=None, image_size=(8, 8), batch_size=1, training=False)


def test_corrupt_jpeg_scan_data_is_an_error_where_opencv_decodes_it_silently():
    from kssd.data.images import ImageReadError, check_encoded_image
    from tests.bad_inputs import corrupt_scan

    photo = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 255, (120, 160, 3), np.uint8), (5, 5), 2)
    damaged = corrupt_scan(cv2.imencode(".jpg", photo)[1].tobytes())
    assert cv2.imdecode(np.frombuffer(damaged, np.uint8), cv2.IMREAD_COLOR) is not None  # no error there
    for check in (read_image, check_encoded_image):
        with pytest.raises(ImageReadError, match="corrupt image .*Corrupt JPEG data"):
            check(damaged)
    kept, problems = prepare_encoded_records([{"image_bytes": damaged, "image_id": "x.jpg", "boxes": []}])
    assert kept == [] and [(p.path, p.reason) for p in problems] == [("x.jpg", "corrupt image")]
