"""Robust image reading: OpenCV decoding, EXIF orientation, colour conversion, damage checks.

Every image comes out as uint8 RGB (H, W, 3), upright:

- JPEG EXIF orientation is applied (OpenCV's ``IMREAD_COLOR`` does it), so boxes
  drawn on the upright photo (what viewers and annotation tools show) fit.
- Grayscale, CMYK, palette and RGBA images are converted to RGB (alpha is dropped).
- Truncated or corrupt files raise :class:`ImageReadError`, which the converter
  counts instead of aborting. A JPEG is "truncated" when no end-of-image marker
  follows its last scan (libjpeg would otherwise fill the missing rows with gray and
  only print a warning); a PNG when its ``IEND`` chunk is missing. A JPEG whose scan
  data libjpeg reports as corrupt (OpenCV, Pillow and TensorFlow decode it to a
  partly grey picture without an error) is a "corrupt image": every JPEG's entropy-coded
  data is checked by a strict decode at 1/8 scale (:func:`verify_jpeg_scan`).

For TFRecords, :func:`load_encoded_image` keeps the original file bytes whenever
TensorFlow's decoder would read them as OpenCV does (plain JPEG, PNG, BMP) and
re-encodes as JPEG (quality 95) only when needed: CMYK/YCCK JPEG, a JPEG with an EXIF
rotation, or a format TensorFlow cannot decode (WebP, TIFF, ...).

Examples:
    >>> import numpy as np, cv2
    >>> from kssd.data.images import read_image
    >>> png = cv2.imencode(".png", np.full((4, 6), 200, np.uint8))[1].tobytes()
    >>> read_image(png).shape
    (4, 6, 3)
"""

import os
import struct

import cv2
import numpy as np

#: Quality used when an image has to be re-encoded as JPEG.
JPEG_QUALITY = 95

#: File suffixes (lower case) taken for images wherever kssd and kssd_zoo look for them:
#: the formats :func:`read_image` decodes (see :func:`sniff_format`).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


class ImageReadError(ValueError):
    """An image file that cannot be used: unreadable, empty, truncated or corrupt.

    Args:
        path: file path or a description of the source (e.g. ``"<bytes>"``).
        reason: short category used for counting, e.g. ``"truncated image"``.
        detail: longer explanation, default ``""``.

    Examples:
        >>> from kssd.data.images import ImageReadError
        >>> str(ImageReadError("a.jpg", "truncated image", "no end marker"))
        'a.jpg: truncated image (no end marker)'
    """

    def __init__(self, path, reason, detail=""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(message)


def sniff_format(data):
    """Name of the image format from the file's first bytes.

    Args:
        data: the file's bytes (at least the first 12).

    Returns:
        ``"jpeg"``, ``"png"``, ``"bmp"``, ``"gif"``, ``"webp"``, ``"tiff"`` or ``None``.

    Examples:
        >>> from kssd.data.images import sniff_format
        >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n....")
        'png'
    """
    head = bytes(data[:12])
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def _exif_orientation(segment):
    """Orientation tag (1..8) of an APP1 Exif segment payload, or None."""
    if not segment.startswith(b"Exif\x00\x00"):
        return None
    tiff = segment[6:]
    if len(tiff) < 8:
        return None
    endian = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if endian is None:
        return None
    (ifd_offset,) = struct.unpack(endian + "I", tiff[4:8])
    if ifd_offset + 2 > len(tiff):
        return None
    (count,) = struct.unpack(endian + "H", tiff[ifd_offset : ifd_offset + 2])
    for i in range(count):
        entry = ifd_offset + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        tag, kind = struct.unpack(endian + "HH", tiff[entry : entry + 4])
        if tag == 0x0112 and kind == 3:  # Orientation, SHORT
            (value,) = struct.unpack(endian + "H", tiff[entry + 8 : entry + 10])
            return int(value)
    return None


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_info(data):
    """Header facts of a JPEG: size, colour components, EXIF orientation, completeness.

    Reads the marker segments only (no decoding).

    Args:
        data: the JPEG file's bytes.

    Returns:
        Dict with ``height``, ``width`` (as stored, before EXIF rotation; None if no
        frame header was found), ``components`` (1 gray, 3 YCbCr, 4 CMYK/YCCK),
        ``orientation`` (EXIF 1..8 or None) and ``complete`` (an end-of-image marker
        follows the last scan).

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import jpeg_info
        >>> jpeg = cv2.imencode(".jpg", np.zeros((5, 7, 3), np.uint8))[1].tobytes()
        >>> info = jpeg_info(jpeg)
        >>> info["height"], info["width"], info["components"], info["complete"]
        (5, 7, 3, True)
        >>> jpeg_info(jpeg[: len(jpeg) // 2])["complete"]
        False
    """
    data = bytes(data)
    info = {"height": None, "width": None, "components": None, "orientation": None, "complete": False}
    pos, size = 2, len(data)
    last_scan = None
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        payload = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_MARKERS and len(payload) >= 6 and info["height"] is None:
            info["height"], info["width"] = struct.unpack(">HH", payload[1:5])
            info["components"] = payload[5]
        elif marker == 0xE1 and info["orientation"] is None:
            info["orientation"] = _exif_orientation(payload)
        elif marker == 0xDA:
            last_scan = pos
            break
        pos += 2 + length
    if last_scan is not None:
        # Entropy-coded data stuffs 0x00 after every 0xFF, so a real EOI (FF D9)
        # after the last SOS marker is the end of the image.
        last_sos = data.rfind(b"\xff\xda")
        info["complete"] = data.find(b"\xff\xd9", max(last_sos, last_scan)) >= 0
    return info


def png_info(data):
    """Header facts of a PNG: size and completeness (an ``IEND`` chunk is present).

    Args:
        data: the PNG file's bytes.

    Returns:
        Dict with ``height``, ``width`` and ``complete``.

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import png_info
        >>> png = cv2.imencode(".png", np.zeros((3, 9), np.uint8))[1].tobytes()
        >>> png_info(png)
        {'height': 3, 'width': 9, 'complete': True}
    """
    data = bytes(data)
    if len(data) < 24 or data[12:16] != b"IHDR":
        return {"height": None, "width": None, "complete": False}
    width, height = struct.unpack(">II", data[16:24])
    return {"height": int(height), "width": int(width), "complete": b"IEND" in data[-16:]}


def _read_bytes(source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    path = os.fspath(source)
    try:
        with open(path, "rb") as handle:
            return handle.read(), path
    except OSError as error:
        raise ImageReadError(path, "unreadable file", error.strerror or str(error)) from None


def _check_structure(data, name):
    if not data:
        raise ImageReadError(name, "empty file")
    kind = sniff_format(data)
    if kind is None:
        raise ImageReadError(name, "unknown image format", f"first bytes {data[:8]!r}")
    if kind == "jpeg":
        info = jpeg_info(data)
        if info["height"] is None:
            raise ImageReadError(name, "corrupt image", "JPEG without a frame header")
        if not info["complete"]:
            raise ImageReadError(name, "truncated image", "JPEG data ends before its end marker")
        verify_jpeg_scan(data, name)
        return kind, info
    if kind == "png":
        info = png_info(data)
        if info["height"] is None:
            raise ImageReadError(name, "corrupt image", "PNG without an IHDR chunk")
        if not info["complete"]:
            raise ImageReadError(name, "truncated image", "PNG without its IEND chunk")
        return kind, info
    return kind, {}


def verify_jpeg_scan(data, name="<bytes>"):
    """Raise if libjpeg reports the JPEG's scan data as corrupt.

    Decoders that go on after libjpeg's warnings (OpenCV, Pillow, ``tf.io.decode_jpeg``)
    turn damaged scan data into grey or smeared rows without an error. This runs a strict
    decode (libjpeg-turbo through ``simplejpeg``, warnings are errors) at 1/8 scale,
    which reads all the entropy-coded data at a fraction of a full decode's cost (about
    6 ms for a 1920x1080 photo here, against 22 ms for OpenCV's full decode). Damage that
    still decodes to valid Huffman codes cannot be seen by any decoder and passes.

    Args:
        data: the JPEG file's bytes.
        name: how to name the file in the error.

    Raises:
        ImageReadError: reason ``"corrupt image"`` with libjpeg's message.

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import verify_jpeg_scan
        >>> noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8)
        >>> jpeg = bytearray(cv2.imencode(".jpg", noise)[1].tobytes())
        >>> verify_jpeg_scan(bytes(jpeg))
        >>> middle = len(jpeg) // 2
        >>> jpeg[middle : middle + 100] = bytes(100)       # zero part of the scan data
        >>> verify_jpeg_scan(bytes(jpeg), "photo.jpg")
        Traceback (most recent call last):
        ...
        kssd.data.images.ImageReadError: photo.jpg: corrupt image (Corrupt JPEG data: ...)
    """
    import simplejpeg

    try:
        simplejpeg.decode_jpeg(data, strict=True, colorspace="GRAY", min_height=1, min_width=1)
    except ValueError as error:
        raise ImageReadError(name, "corrupt image", str(error)) from None


def _decode(data, name):
    array = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_COLOR)  # applies EXIF orientation; gray->3 ch
    if image is None or image.size == 0:
        raise ImageReadError(name, "corrupt image", "OpenCV could not decode it")
    if image.dtype != np.uint8:  # e.g. 16-bit PNG
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(source):
    """Decode an image file or bytes into an upright uint8 RGB array.

    Args:
        source: a path (str or PathLike) or the encoded bytes.

    Returns:
        uint8 array (H, W, 3), RGB, EXIF orientation applied.

    Raises:
        ImageReadError: the file cannot be read, is empty, truncated or corrupt.

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import read_image
        >>> bgr = np.zeros((2, 2, 3), np.uint8); bgr[..., 2] = 255   # red in BGR
        >>> read_image(cv2.imencode(".png", bgr)[1].tobytes())[0, 0].tolist()
        [255, 0, 0]
    """
    data, name = _read_bytes(source)
    _check_structure(data, name)
    return _decode(data, name)


def load_encoded_image(source):
    """Encoded bytes for a TFRecord plus the image size, after checking the image decodes.

    The original bytes are kept for plain JPEG, PNG and BMP files; the image is
    re-encoded as JPEG (quality :data:`JPEG_QUALITY`) when TensorFlow would decode
    the original differently or not at all: CMYK/YCCK JPEG, JPEG with an EXIF
    orientation other than 1 (stored upright), GIF, WebP, TIFF.

    Args:
        source: a path or the encoded bytes.

    Returns:
        ``(encoded_bytes, height, width, note)`` with ``note`` None when the original
        bytes are kept, else the reason for re-encoding (e.g. ``"CMYK JPEG"``).

    Raises:
        ImageReadError: the file cannot be read, is empty, truncated or corrupt.

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import load_encoded_image
        >>> jpeg = cv2.imencode(".jpg", np.zeros((5, 7, 3), np.uint8))[1].tobytes()
        >>> data, h, w, note = load_encoded_image(jpeg)
        >>> data == jpeg, h, w, note
        (True, 5, 7, None)
    """
    data, name = _read_bytes(source)
    kind, info = _check_structure(data, name)
    image = _decode(data, name)
    height, width = image.shape[:2]
    note = None
    if kind == "jpeg":
        if info.get("components") == 4:
            note = "CMYK JPEG"
        elif info.get("orientation") not in (None, 1):
            note = f"EXIF orientation {info['orientation']}"
    elif kind not in ("png", "bmp"):
        note = f"{kind} image" if kind else "unknown format"
    if note is None:
        return data, height, width, None
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGR
        raise ImageReadError(name, "cannot re-encode image")
    return encoded.tobytes(), height, width, note


_ROTATED_ORIENTATIONS = (5, 6, 7, 8)

#: Formats TensorFlow's ``decode_image`` reads as OpenCV does (JPEG only without CMYK).
TF_DECODABLE = ("jpeg", "png", "bmp")


def check_encoded_image(source):
    """Check an encoded image without decoding it; say how TensorFlow can read it upright.

    Reads the file's structure (JPEG markers, PNG chunks): empty, unknown, truncated and
    header-less files raise. Costs one file read, no decoding.

    Args:
        source: a path or the encoded bytes.

    Returns:
        ``(data, orientation)``: the bytes, and the EXIF orientation (1..8) to apply after
        TensorFlow decodes them; orientation None means TensorFlow cannot decode this image
        as OpenCV does (CMYK JPEG, GIF, WebP, TIFF, ...): use :func:`load_encoded_image`.

    Raises:
        ImageReadError: the file cannot be read, is empty, truncated or corrupt.

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import check_encoded_image
        >>> jpeg = cv2.imencode(".jpg", np.zeros((5, 7, 3), np.uint8))[1].tobytes()
        >>> check_encoded_image(jpeg)[1]
        1
        >>> check_encoded_image(jpeg[:-2])
        Traceback (most recent call last):
        ...
        kssd.data.images.ImageReadError: <bytes>: truncated image (JPEG data ends before its end marker)
    """
    data, name = _read_bytes(source)
    kind, info = _check_structure(data, name)
    if kind not in TF_DECODABLE or info.get("components") == 4:
        return data, None
    return data, int(info.get("orientation") or 1)


def image_size(source):
    """(height, width) of an image as it is displayed (EXIF rotation applied).

    Reads only the header for JPEG and PNG files; other formats are decoded.

    Args:
        source: a path or the encoded bytes.

    Returns:
        ``(height, width)`` ints.

    Raises:
        ImageReadError: the file cannot be read or its header is invalid.

    Examples:
        >>> import numpy as np, cv2
        >>> from kssd.data.images import image_size
        >>> image_size(cv2.imencode(".png", np.zeros((3, 9), np.uint8))[1].tobytes())
        (3, 9)
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        name = os.fspath(source)
        try:
            with open(name, "rb") as handle:
                data = handle.read(1 << 16)
        except OSError as error:
            raise ImageReadError(name, "unreadable file", error.strerror or str(error)) from None
    kind = sniff_format(data) if data else None
    if kind == "jpeg":
        info = jpeg_info(data)
        if info["height"] is not None:
            height, width = info["height"], info["width"]
            if info["orientation"] in _ROTATED_ORIENTATIONS:
                height, width = width, height
            return int(height), int(width)
    elif kind == "png":
        info = png_info(data)
        if info["height"] is not None:
            return info["height"], info["width"]
    if not isinstance(source, (bytes, bytearray, memoryview)):
        data, name = _read_bytes(source)
    if not data:
        raise ImageReadError(name, "empty file")
    image = _decode(data, name)
    return int(image.shape[0]), int(image.shape[1])


def write_image(path, image):
    """Encode a uint8 RGB image in the format of ``path``'s suffix and write it atomically.

    Raises:
        OSError: naming ``path`` when the image cannot be encoded or written (any previous
            file is kept).

    Examples:
        >>> import pathlib, tempfile, numpy as np
        >>> from kssd.data.images import read_image, write_image
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
        >>> write_image(path, np.full((2, 3, 3), 7, np.uint8))
        >>> read_image(path).shape
        (2, 3, 3)
    """
    from kssd.files import write_atomically

    try:
        ok, data = cv2.imencode(
            os.path.splitext(os.fspath(path))[1].lower(), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        )
    except cv2.error:
        ok = False
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the image")
    write_atomically(path, lambda temp: data.tofile(str(temp)))
