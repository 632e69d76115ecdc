"""run_batch: every image gets its own output, write failures are reported, not fatal."""

from pathlib import Path
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


def test_photos_stickered_by_several_workers_keep_the_input_order(tmp_path):
    import threading

    seen = set()

    class MarkingStickerer(FakeStickerer):
        def __call__(self, image):
            seen.add(threading.current_thread().name)
            return 255 - image, [{"box": [0, 0, 1, 1], "landmarks": False, "mean": float(image.mean())}]

    photos = tmp_path / "in"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(9):
        assert cv2.imwrite(str(photos / f"p{i}.png"), rng.integers(0, 255, (8 + i, 8, 3), dtype=np.uint8))
    (photos / "p4_broken.png").write_bytes(b"not an image")
    result = run_batch(
        MarkingStickerer(), [photos], tmp_path / "out", progress=False, verbose=False, workers=3
    )
    assert [Path(it["input"]).name for it in result["items"]] == [f"p{i}.png" for i in range(9)]
    assert [it["size"][0] for it in result["items"]] == [8 + i for i in range(9)]
    assert [Path(s["input"]).name for s in result["skipped"]] == ["p4_broken.png"]
    assert len(seen) > 1 and all(name.startswith("kssd-sticker") for name in seen)
    out = cv2.imread(str(tmp_path / "out" / "in" / "p3.png"))
    assert np.array_equal(out, 255 - cv2.imread(str(photos / "p3.png")))


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
