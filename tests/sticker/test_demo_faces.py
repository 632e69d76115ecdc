"""The demo's face application on the shipped photo: offline, the faces found, both pictures written."""

import urllib.request

from kssd.data.images import read_image
from kssd_zoo.demo import run_faces


def test_the_demo_stickers_the_shipped_photo_offline(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("KSSD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    result = run_faces(tmp_path)
    assert result["faces"] >= 5  # six copies of the portrait, faces from about 170 down to 14 px
    for key in ("detections", "stickered"):
        assert read_image(result[key]).shape == (720, 1280, 3)
    assert read_image(result["detections"]).tobytes() != read_image(result["stickered"]).tobytes()
