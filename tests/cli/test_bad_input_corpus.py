"""The generated bad-input corpus (tests/bad_inputs.py) through every command that reads images.

Each command must process every usable file (CMYK, 16-bit, RGBA, gray, EXIF-rotated, 1x1, large, GIF,
odd names), skip every damaged one with a line that names the file and the problem, exit with the
documented code, and leave files it did not write untouched.
"""

import json

import pytest

from kssd_zoo.cli.main import main
from tests.bad_inputs import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "photos")


def _out_with_sentinel(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("mine")
    return out


def _assert_names_each_problem(text, problems):
    lines = text.splitlines()
    for name, reason in problems.items():
        assert any(name in line and reason in line for line in lines), f"{name}: {reason} not reported"


def _listed_problems(corpus):
    """What a folder walk must report: a folder named like an image is walked, not a problem."""
    return {name: reason for name, reason in corpus.unusable.items() if name != "folder.jpg"}


def test_predict_processes_the_good_files_and_names_each_bad_one(corpus, tmp_path, capsys):
    out = _out_with_sentinel(tmp_path)
    with pytest.warns(UserWarning, match="random initial weights"):
        code = main(["predict", "tiny_ssd", str(corpus.folder), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    _assert_names_each_problem(captured.err, _listed_problems(corpus))
    summary = json.loads((out / "images.json").read_text())
    assert len(summary["images"]) == len(corpus.usable)
    assert len(list(out.rglob("*_det.*"))) == len(corpus.usable)
    assert (out / "sentinel.txt").read_text() == "mine"


def test_sticker_processes_the_good_files_and_names_each_bad_one(corpus, tmp_path, capsys):
    pytest.importorskip("dlib")
    out = _out_with_sentinel(tmp_path)
    code = main(
        ["sticker", str(corpus.folder), "--out", str(out), "--detector", "dlib-hog", "--landmarks", "none"]
        + ["--no-progress"]
    )
    captured = capsys.readouterr()
    assert code == 1
    _assert_names_each_problem(captured.out + captured.err, _listed_problems(corpus))
    written = [p for p in out.rglob("*") if p.is_file() and p.name != "sentinel.txt"]
    assert len(written) == len(corpus.usable)
    assert (out / "sentinel.txt").read_text() == "mine"


def test_data_convert_writes_the_good_records_and_counts_the_bad(corpus, tmp_path, capsys):
    from kssd.data import read_tfrecords

    out = _out_with_sentinel(tmp_path)
    code = main(["data", "convert", str(corpus.annotations), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0  # a dataset job: skips and counts
    for name, reason in corpus.unusable.items():
        assert f"{reason}: e.g. {name}" in captured.out
    records = list(read_tfrecords(str(out)))
    assert sorted(r["image_id"] for r in records) == sorted(corpus.usable)
    sizes = {r["image_id"]: (r["height"], r["width"]) for r in records}
    assert sizes == corpus.usable  # EXIF rotation applied, 1x1 and large kept
    assert (out / "sentinel.txt").read_text() == "mine"


def test_data_stats_leaves_out_exactly_what_training_skips(corpus, capsys):
    code = main(["data", "stats", str(corpus.annotations)])
    captured = capsys.readouterr()
    assert code == 1
    _assert_names_each_problem(captured.err, corpus.unusable)
    assert f"{len(corpus.usable)} images, {len(corpus.usable)} boxes" in captured.out


@pytest.mark.slow
def test_train_skips_counts_and_names_each_bad_image(corpus, tmp_path, capsys):
    out = _out_with_sentinel(tmp_path)
    code = main(
        ["train", "tiny_ssd", "--data", str(corpus.annotations), "--epochs", "1", "--batch-size", "4"]
        + ["--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0
    _assert_names_each_problem(captured.out, corpus.unusable)
    results = json.loads((out / "results.json").read_text())
    skipped = {entry["image"].rsplit("/", 1)[-1]: entry["reason"] for entry in results["skipped_images"]}
    assert skipped == corpus.unusable
    assert (out / "model.keras").is_file() and (out / "sentinel.txt").read_text() == "mine"


def test_evaluate_leaves_bad_images_out_and_says_so(corpus, tmp_path, capsys):
    report = tmp_path / "eval.json"
    with pytest.warns(UserWarning, match="random initial weights"):
        code = main(
            ["evaluate", "tiny_ssd", "--data", str(corpus.annotations), "--metric", "voc07"]
            + ["--json", str(report)]
        )
    captured = capsys.readouterr()
    assert code == 1
    _assert_names_each_problem(captured.err, corpus.unusable)
    result = json.loads(report.read_text())
    assert result["images"] == len(corpus.usable) and len(result["skipped_images"]) == len(corpus.unusable)
