"""Robust image reading: formats, colour conversions, EXIF orientation, damaged files."""

import io

import cv2
import numpy as np
import pytest
import tensorflow as tf

from kssd.data.images import (
    ImageReadError,
    image_size,
    jpeg_info,
    load_encoded_image,
    read_image,
    sniff_format,
)


def _pattern(height=40, width=60):
    """RGB image with a red block top-left and a blue block bottom-right."""
    image = np.full((height, width, 3), 128, np.uint8)
    image[:10, :20] = (255, 0, 0)
    image[-10:, -20:] = (0, 0, 255)
    return image


def _jpeg(rgb, quality=95):
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[
        1
    ].tobytes()


def _png(array):
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    return cv2.imencode(".png", array)[1].tobytes()


def _mean(image, rows, cols):
    return image[rows, cols].reshape(-1, 3).mean(axis=0)


def test_jpeg_decodes_to_rgb_and_keeps_original_bytes():
    data = _jpeg(_pattern())
    image = read_image(data)
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(_mean(image, slice(0, 8), slice(0, 18)), [255, 0, 0], atol=8)
    np.testing.assert_allclose(_mean(image, slice(32, 40), slice(42, 60)), [0, 0, 255], atol=8)
    encoded, height, width, note = load_encoded_image(data)
    assert encoded == data and (height, width) == (40, 60) and note is None


def test_png_gray_and_rgba_become_rgb(tmp_path):
    gray = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (5, 1))
    path = tmp_path / "gray.png"
    path.write_bytes(_png(gray))
    image = read_image(path)
    assert image.shape == (5, 20, 3)
    np.testing.assert_array_equal(image[..., 0], gray)
    np.testing.assert_array_equal(image[..., 1], gray)
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 7  # nearly transparent: alpha is dropped, colour kept
    image = read_image(_png(rgba))
    assert image.shape == (3, 4, 3)
    assert image[0, 0].tolist() == [0, 200, 0]
    encoded, height, width, note = load_encoded_image(path)
    assert encoded == path.read_bytes() and (height, width, note) == (5, 20, None)
    # TensorFlow reads the kept PNG bytes the same way (what the pipeline sees).
    np.testing.assert_array_equal(tf.io.decode_image(encoded, channels=3).numpy(), read_image(path))


def test_grayscale_jpeg_becomes_three_equal_channels():
    gray = np.full((6, 8), 90, np.uint8)
    data = cv2.imencode(".jpg", gray)[1].tobytes()
    assert jpeg_info(data)["components"] == 1
    image = read_image(data)
    assert image.shape == (6, 8, 3)
    assert np.all(np.abs(image.astype(int) - 90) <= 2)
    assert np.all(image[..., 0] == image[..., 2])


def test_truncated_jpeg_raises_image_read_error(tmp_path):
    data = _jpeg(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.reason == "truncated image"
    assert str(path) in str(info.value)
    with pytest.raises(ImageReadError):
        load_encoded_image(path)


def test_truncated_png_and_other_damage():
    png = _png(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageReadError, match="truncated image"):
        read_image(png[:-20])
    with pytest.raises(ImageReadError, match="empty file"):
        read_image(b"")
    with pytest.raises(ImageReadError, match="unknown image format"):
        read_image(b"this is not an image at all")
    with pytest.raises(ImageReadError) as info:
        read_image("/nonexistent/dir/x.jpg")
    assert info.value.reason == "unreadable file"


def test_sniff_format():
    assert sniff_format(_jpeg(_pattern())) == "jpeg"
    assert sniff_format(_png(_pattern())) == "png"
    assert sniff_format(b"GIF89a......") == "gif"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBP") == "webp"
    assert sniff_format(b"hello") is None


@pytest.fixture
def pil_image():
    return pytest.importorskip("PIL.Image", reason="Pillow is needed to write CMYK/EXIF JPEGs")


def test_cmyk_jpeg_reads_as_rgb_and_is_reencoded(pil_image):
    buffer = io.BytesIO()
    pil_image.fromarray(_pattern()).convert("CMYK").save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    assert jpeg_info(data)["components"] == 4
    image = read_image(data)
    np.testing.assert_allclose(_mean(image, slice(0, 8), slice(0, 18)), [255, 0, 0], atol=10)
    np.testing.assert_allclose(_mean(image, slice(32, 40), slice(42, 60)), [0, 0, 255], atol=10)
    encoded, height, width, note = load_encoded_image(data)
    assert note == "CMYK JPEG" and (height, width) == (40, 60)
    assert jpeg_info(encoded)["components"] == 3
    decoded = tf.io.decode_image(encoded, channels=3).numpy()
    np.testing.assert_allclose(_mean(decoded, slice(0, 8), slice(0, 18)), [255, 0, 0], atol=12)
    np.testing.assert_allclose(_mean(decoded, slice(32, 40), slice(42, 60)), [0, 0, 255], atol=12)


def _exif_rotated(pil_image, upright, orientation):
    """JPEG whose pixels are stored turned so that EXIF ``orientation`` shows ``upright``."""
    stored = {6: np.rot90(upright, k=1), 8: np.rot90(upright, k=-1), 3: np.rot90(upright, k=2)}[orientation]
    exif = pil_image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pil_image.fromarray(np.ascontiguousarray(stored)).save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_is_read_upright(pil_image, orientation):
    upright = _pattern(40, 60)
    data = _exif_rotated(pil_image, upright, orientation)
    info = jpeg_info(data)
    assert info["orientation"] == orientation
    if orientation in (6, 8):
        assert (info["height"], info["width"]) == (60, 40)  # stored sideways
    image = read_image(data)
    assert image.shape == (40, 60, 3)
    np.testing.assert_allclose(_mean(image, slice(0, 8), slice(0, 18)), [255, 0, 0], atol=10)
    np.testing.assert_allclose(_mean(image, slice(32, 40), slice(42, 60)), [0, 0, 255], atol=10)
    assert image_size(data) == (40, 60)
    encoded, height, width, note = load_encoded_image(data)
    assert note == f"EXIF orientation {orientation}" and (height, width) == (40, 60)
    # Re-encoded upright, so TensorFlow (which ignores EXIF) sees the same picture.
    decoded = tf.io.decode_image(encoded, channels=3).numpy()
    assert decoded.shape == (40, 60, 3)
    np.testing.assert_allclose(_mean(decoded, slice(0, 8), slice(0, 18)), [255, 0, 0], atol=12)


def test_image_size_reads_headers(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg(_pattern(33, 47)))
    assert image_size(path) == (33, 47)
    assert image_size(_png(np.zeros((5, 9), np.uint8))) == (5, 9)
    bmp = cv2.imencode(".bmp", np.zeros((4, 6, 3), np.uint8))[1].tobytes()
    assert image_size(bmp) == (4, 6)  # decoded: no header parser for BMP
    with pytest.raises(ImageReadError):
        image_size(tmp_path / "missing.jpg")
