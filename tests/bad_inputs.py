"""A bad-input corpus generated on the spot: good images in every odd variant, damaged files, and an
imglab annotation file that lists them all.

``make_corpus(folder)`` writes the images and returns a :class:`Corpus` that says which files a
command must process (``usable``) and which it must skip, with the reason its message must give
(``unusable``). Used by ``tests/cli/test_bad_input_corpus.py``.
"""

import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def _photo(height, width, seed):
    """A blurred random photo: structure enough for JPEG to compress like a real one."""
    noise = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (5, 5), 2)


def _jpeg(image, mode=None, **options):
    buffer = io.BytesIO()
    picture = Image.fromarray(image)
    (picture.convert(mode) if mode else picture).save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def _png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def corrupt_scan(jpeg):
    """The JPEG with 120 bytes of its entropy-coded data zeroed (markers intact)."""
    data = bytearray(jpeg)
    start = data.rfind(b"\xff\xda")
    middle = start + (len(data) - start) // 2
    data[middle : middle + 120] = bytes(120)
    return bytes(data)


@dataclass
class Corpus:
    folder: Path
    usable: dict = field(default_factory=dict)  # file name -> (height, width) as displayed
    unusable: dict = field(default_factory=dict)  # file name -> reason the message must give
    annotations: Path = None


def make_corpus(folder):
    """Write the corpus into ``folder`` (created) and an imglab ``training.xml`` listing every entry."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder)
    photo = _photo(96, 128, 0)

    def usable(name, data, size=(96, 128)):
        (folder / name).write_bytes(data)
        corpus.usable[name] = size

    def unusable(name, data, reason):
        (folder / name).write_bytes(data)
        corpus.unusable[name] = reason

    usable("good.jpg", _jpeg(photo))
    usable("good.png", _png(photo))
    usable("gray.jpg", _jpeg(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)))
    usable("cmyk.jpg", _jpeg(photo, mode="CMYK"))
    usable("rgba.png", _png(np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])))
    usable("deep16.png", _png(photo.astype(np.uint16) * 257))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    usable("rotated.jpg", _jpeg(photo, exif=exif.tobytes()), size=(128, 96))
    usable("one_pixel.png", _png(photo[:1, :1]), size=(1, 1))
    usable("large.jpg", _jpeg(_photo(2000, 3000, 1)), size=(2000, 3000))
    gif = io.BytesIO()
    Image.fromarray(photo).save(gif, format="GIF")
    usable("animation.gif", gif.getvalue())
    usable("odd name ü #1.jpg", _jpeg(photo))
    usable("-leading-dash.jpg", _jpeg(photo))

    good = _jpeg(photo)
    unusable("zero_bytes.jpg", b"", "empty file")
    unusable("truncated.jpg", good[: len(good) // 2], "truncated image")
    unusable("corrupt_scan.jpg", corrupt_scan(good), "corrupt image")
    unusable("text_named.jpg", b"these are not pixels\n", "unknown image format")
    (folder / "folder.jpg").mkdir()  # a folder where a file is expected
    corpus.unusable["folder.jpg"] = "unreadable file"

    entries = []
    for name, size in corpus.usable.items():
        height, width = size
        box = dict(top=height // 4, left=width // 4, width=max(1, width // 2), height=max(1, height // 2))
        entries.append((name, box))
    for name in corpus.unusable:
        entries.append((name, dict(top=10, left=10, width=40, height=40)))
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<dataset><images>"]
    for name, box in entries:
        attributes = " ".join(f"{key}='{value}'" for key, value in box.items())
        escaped = name.replace("&", "&amp;").replace("'", "&apos;")
        lines.append(f"<image file='{escaped}'><box {attributes}><label>face</label></box></image>")
    lines.append("</images></dataset>")
    corpus.annotations = folder / "training.xml"
    corpus.annotations.write_text("\n".join(lines), encoding="utf-8")
    return corpus
