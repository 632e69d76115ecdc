"""run_batch: every image gets its own output, write failures are reported, not fatal."""

from types import SimpleNamespace

import cv2
import numpy as np
from PIL import Image

from kssd_zoo.sticker.batch import run_batch


class FakeStickerer:
    """Returns the image unchanged and no faces (no model needed)."""

    sticker = SimpleNamespace(metadata=lambda: {"name": "fake"})
    detector_name = "fake"
    landmarks = None

    def __call__(self, image):
        return image, []


def test_a_gif_never_replaces_the_png_of_the_same_stem(tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    assert cv2.imwrite(str(photos / "x.png"), image)
    Image.fromarray(image).save(photos / "x.gif", format="GIF")
    report = run_batch(FakeStickerer(), [photos], tmp_path / "out", progress=False, verbose=False)
    outputs = sorted(p.name for p in (tmp_path / "out" / "in").iterdir())
    assert outputs == ["x.png", "x_gif.png"]
    assert len(report["items"]) == 2 and report["skipped"] == []
