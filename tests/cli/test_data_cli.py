"""``kssd data convert`` and ``kssd data stats``, run in-process."""

import io

import cv2
import numpy as np
import pytest

from kssd.data import WiderFaceReader, read_dataset_info, read_tfrecords
from kssd_zoo.cli.main import main


def test_convert_widerface_mini_and_read_back(shared, tmp_path, capsys):
    root = shared("data", "faces", "widerface_mini")
    out = tmp_path / "out"
    code = main(
        [
            "data",
            "convert",
            "--format",
            "widerface",
            str(root),
            "--out",
            str(out),
            "--num-shards",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "images written" in text and " 10" in text and " 146" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset.json",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    truth = {r["image_id"]: r["boxes"] for r in WiderFaceReader(root)}
    back = list(read_tfrecords(out))
    assert len(back) == 10 and sum(len(r["boxes"]) for r in back) == 146
    for record in back:
        np.testing.assert_array_equal(record["boxes"], truth[record["image_id"]])
    info = read_dataset_info(out)
    assert info["format"] == "widerface" and info["class_names"] == ["face"]
    assert info["splits"]["train"]["boxes"] == 146

    # An existing output is not overwritten without --overwrite.
    code = main(["data", "convert", "--format", "widerface", str(root), "--out", str(out), "--no-progress"])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (
        main(
            [
                "data",
                "convert",
                "--format",
                "widerface",
                str(root),
                "--out",
                str(out),
                "--overwrite",
                "--no-progress",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.glob("*.tfrecord")) == ["train-00000-of-00001.tfrecord"]


def _bgr(height, width):
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2] = (0, 0, 255)
    return image


@pytest.fixture
def messy_yolo(tmp_path):
    """YOLO folder with a truncated JPEG, a PNG, a grayscale and (with Pillow) a CMYK JPEG."""
    images = tmp_path / "messy" / "images" / "train"
    labels = tmp_path / "messy" / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    good = cv2.imencode(".jpg", _bgr(40, 60))[1].tobytes()
    (images / "cut.jpg").write_bytes(good[: len(good) // 2])
    cv2.imwrite(str(images / "pic.png"), _bgr(30, 50))
    cv2.imwrite(str(images / "gray.jpg"), np.full((20, 20), 100, np.uint8))
    (images / "fine.jpg").write_bytes(good)
    label = "0 0.5 0.5 0.2 0.2\n"
    for stem in ("cut", "pic", "gray"):
        (labels / f"{stem}.txt").write_text(label)
    # fine.jpg: one box sticking out on the right (cx 0.95, w 0.3) -> clipped.
    (labels / "fine.txt").write_text(label + "0 0.95 0.5 0.3 0.2\n")
    expected = {"written": 3, "boxes": 4}
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional: the CMYK case is then left out
        return tmp_path / "messy", expected
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(_bgr(24, 32), cv2.COLOR_BGR2RGB)).convert("CMYK").save(buffer, "JPEG")
    (images / "cmyk.jpg").write_bytes(buffer.getvalue())
    (labels / "cmyk.txt").write_text(label)
    return tmp_path / "messy", {"written": 4, "boxes": 5, "cmyk": True}


def test_convert_reports_exactly_the_broken_file(messy_yolo, tmp_path, capsys):
    root, expected = messy_yolo
    out = tmp_path / "out"
    code = main(["data", "convert", "--format", "yolo", str(root), "--out", str(out), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "truncated image" in text and "images/train/cut.jpg" in text
    for name in ("pic.png", "gray.jpg", "fine.jpg", "cmyk.jpg"):
        assert f"images/train/{name}" not in text.split("truncated image: e.g.")[-1]
    split = read_dataset_info(out)["splits"]["train"]
    assert split["images"] == expected["written"] and split["boxes"] == expected["boxes"]
    assert split["images_skipped"] == {"truncated image": 1}
    assert split["boxes_clipped"] == {"partly outside the image": 1}
    if expected.get("cmyk"):
        assert split["notes"] == {"images re-encoded as JPEG: CMYK JPEG": 1}
    records = {r["image_id"]: r for r in read_tfrecords(out)}
    assert sorted(records) == sorted(
        f"images/train/{n}"
        for n in ("pic.png", "gray.jpg", "fine.jpg", "cmyk.jpg")
        if n != "cmyk.jpg" or expected.get("cmyk")
    )
    fine = records["images/train/fine.jpg"]
    np.testing.assert_allclose(fine["boxes"], [[24, 16, 36, 24], [48, 16, 60, 24]], atol=1e-4)
    assert (records["images/train/pic.png"]["height"], records["images/train/pic.png"]["width"]) == (30, 50)


def test_stats_histogram_and_coverage_without_a_model(shared, capsys):
    root = shared("data", "faces", "widerface_mini")
    assert main(["data", "stats", str(root), "--image-size", "240", "320"]) == 0
    text = capsys.readouterr().out
    assert "146 boxes" in text and "at 240x320" in text
    assert "coverage" not in text  # no anchors without a model
    rows = {line.split()[0]: line.split()[1] for line in text.splitlines()[2:9]}
    assert rows["<10"] == "95" and rows["total"] == "146"


def test_stats_reads_od_api_tfrecord(shared, capsys):
    path = shared("data", "faces", "tfrecord_od_api", "wider_train_10.tfrecord")
    assert main(["data", "stats", str(path), "--size-measure", "min_side"]) == 0
    text = capsys.readouterr().out
    assert "10 images, 146 boxes" in text
    rows = {line.split()[0]: line.split()[1] for line in text.splitlines()[2:9]}
    assert int(rows["<10"]) in (18, 19, 20)  # the OD API file's boxes differ by < 0.5 px


@pytest.mark.slow
def test_stats_with_a_zoo_model(shared, capsys):
    pytest.importorskip("kssd_zoo")
    root = shared("data", "faces", "widerface_mini")
    assert main(["data", "stats", str(root), "--model", "face_ssd"]) == 0
    text = capsys.readouterr().out
    assert "anchors of face_ssd" in text and "at 240x320" in text
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1:4] == ["146", "100.0%", "49"]  # 49 of 146 faces covered at 0.45
    assert "no anchor" in text and "under bipartite matching" in text
    assert total.split()[-1] == "0"  # every face has a positive anchor
    assert main(["data", "stats", str(root), "--model", "face_ssd", "--matching", "forced"]) == 0
    total = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("total"))
    assert total.split()[-1] == "9"


def _zoo_models():
    try:
        import kssd_zoo
    except ImportError:  # pragma: no cover - kssd_zoo ships with kssd
        return []
    return kssd_zoo.list_models()


@pytest.mark.slow
@pytest.mark.parametrize("model_name", _zoo_models())
def test_every_zoo_model_gives_every_box_a_positive_anchor(shared, model_name):
    """Under each model's own matching (bipartite), no coco128 / widerface_mini box is lost."""
    import kssd_zoo
    from kssd.data import COCOReader, WiderFaceReader, anchor_coverage

    model = kssd_zoo.build(model_name, compile=False)
    assert model.matching == "bipartite"
    for records in (
        list(COCOReader(shared("data", "coco128"))),
        list(WiderFaceReader(shared("data", "faces", "widerface_mini"))),
    ):
        result = anchor_coverage(
            records, model.anchors, model.input_size, model.match_threshold, matching=model.matching
        )
        assert result["boxes"] > 100 and result["unmatched"] == 0


def test_usage_errors(tmp_path, capsys):
    assert main(["data", "convert", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "cannot tell the dataset format" in capsys.readouterr().err
    assert main(["data", "convert", "--format", "voc", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no voc split" in capsys.readouterr().err


def test_convert_coco128_split_option_before_source(shared, tmp_path, capsys):
    root = shared("data", "coco128")
    out = tmp_path / "coco"
    assert (
        main(
            [
                "data",
                "convert",
                "--split",
                "train2017",
                "--format",
                "coco",
                str(root),
                "--out",
                str(out),
                "--num-shards",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    split = read_dataset_info(out)["splits"]["train2017"]
    assert split["images"] == 128 and split["boxes"] == 939
    assert split["background_images"] == 2 and split["images_skipped"] == {}
    assert sum(split["examples_per_shard"]) == 128 and len(split["examples_per_shard"]) == 4
    crowd = sum(int(r["attributes"]["iscrowd"].sum()) for r in read_tfrecords(out))
    assert crowd == 10
    assert (
        main(
            [
                "data",
                "convert",
                "--split",
                "nope",
                "--format",
                "coco",
                str(root),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "instances_nope.json" in capsys.readouterr().err


def test_convert_dlib_imglab_faces_detected_format(shared, tmp_path, capsys):
    root = shared("data", "faces", "dlib_pascal")
    out = tmp_path / "dlib"
    assert (
        main(
            [
                "data",
                "convert",
                str(root),
                "--split",
                "testing,training",
                "--out",
                str(out),
                "--class-names",
                "face",
                "--no-progress",
            ]
        )
        == 0
    )
    info = read_dataset_info(out)
    assert info["format"] == "imglab" and info["class_names"] == ["face"]
    assert info["splits"]["testing"]["boxes"] == 25 and info["splits"]["training"]["boxes"] == 18
    assert "imglab testing" in capsys.readouterr().out


def test_stats_leaves_out_a_missing_image_and_says_so(messy_yolo, capsys):
    root, _ = messy_yolo
    (root / "images" / "train" / "pic.png").unlink()
    (root / "images" / "train" / "pic.jpg").write_bytes(b"")  # an empty file under the label's stem
    code = main(["data", "stats", "--format", "yolo", str(root)])
    captured = capsys.readouterr()
    assert code == 1
    assert (
        "left out 2 image(s)" in captured.err
        and "1 empty file (e.g." in captured.err
        and "pic.jpg" in captured.err
    )
    assert "1 truncated image (e.g." in captured.err and "cut.jpg" in captured.err  # as training skips it
    assert "images" in captured.out  # the table of the other images is still printed
