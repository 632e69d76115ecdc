"""``kssd predict``: distinct outputs that mirror the inputs, no silent replacement, clear exits."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from kssd_zoo.cli.main import main


def _photo(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    if path.suffix == ".gif":  # OpenCV does not write GIF
        Image.fromarray(image).save(path, format="GIF")
    else:
        assert cv2.imwrite(str(path), image)


def test_outputs_mirror_the_inputs_and_never_collide(tmp_path, capsys):
    photos = tmp_path / "photos"
    for seed, name in enumerate(["day1/photo.jpg", "day2/photo.jpg", "x.png", "x.gif", "x.bmp"]):
        _photo(photos / name, seed)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="random initial weights"):
        code = main(["predict", "tiny_ssd", str(photos), "--out", str(out)])
    assert code == 1  # one unreadable file: reported, the others written
    err = capsys.readouterr().err
    assert "skipped 1 unreadable file(s)" in err and "broken.jpg" in err
    drawn = sorted(p.relative_to(out).as_posix() for p in out.rglob("*_det.*"))
    assert drawn == [
        "day1/photo_det.jpg",
        "day2/photo_det.jpg",
        "x_bmp_det.png",
        "x_det.png",
        "x_gif_det.png",
    ]
    summary = json.loads((out / "images.json").read_text())
    assert len(summary["images"]) == 5 and summary["failed_writes"] == []
    (out / "sentinel.txt").write_text("mine")
    before = (out / "detections.json").read_bytes()
    assert main(["predict", "tiny_ssd", str(photos), "--out", str(out)]) == 2
    assert "holds the results of a previous run" in capsys.readouterr().err
    assert (out / "detections.json").read_bytes() == before and (out / "sentinel.txt").read_text() == "mine"


def test_a_folder_without_images_is_an_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos here")
    assert main(["predict", "tiny_ssd", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "no images in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
