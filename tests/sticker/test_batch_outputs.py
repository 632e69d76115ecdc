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


def test_a_video_shows_its_progress_in_frames(tmp_path, capfd):
    source = tmp_path / "in" / "clip.mp4"
    source.parent.mkdir()
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (64, 48))
    for k in range(7):
        writer.write(np.full((48, 64, 3), 30 * k, np.uint8))
    writer.release()
    report = run_batch(FakeStickerer(), [source], tmp_path / "out", progress=True, verbose=False)
    assert report["items"][0]["frames"] == 7
    err = capfd.readouterr().err
    assert "clip.mp4" in err and "/7" in err and "frame/s" in err, err
