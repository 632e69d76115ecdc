"""``kssd evaluate``, run in-process."""

import numpy as np
import pytest

from kssd_zoo.cli.main import main


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import keras

    import kssd_zoo

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    kssd_zoo.tiny_ssd(compile=False).save(path)
    return path


def test_help(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "--metric" in text and "widerface" in text and "coco" in text


def test_results_table_matches_the_api(saved_model, capsys):
    from kssd_zoo.training import evaluate

    code = main(["evaluate", str(saved_model), "--data", "shapes:6", "--split", "val", "--metric", "voc07"])
    assert code == 0
    out = capsys.readouterr().out
    expected = evaluate(str(saved_model), "shapes:6", "voc07", split="val", progress=False)
    assert (
        f"mAP     {expected['metrics']['mAP']:.4f}" in out.replace("mAP    ", "mAP     ", 1)
        or f"{expected['metrics']['mAP']:.4f}" in out
    )
    assert "voc07, 6 images" in out


def test_coco_metric_table(saved_model, capsys):
    assert main(["evaluate", str(saved_model), "--data", "shapes:4", "--metric", "coco"]) == 0
    out = capsys.readouterr().out
    for name in ("AP50", "AP75", "AR100"):
        assert name in out


def test_unknown_images_are_named(saved_model, capsys, shared):
    gt = shared("data", "faces", "widerface_mini", "val_ground_truth")
    code = main(
        [
            "evaluate",
            str(saved_model),
            "--data",
            "shapes:3",
            "--metric",
            "widerface",
            "--widerface-gt",
            str(gt),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "not WIDER FACE val images" in err and "000000" in err


def test_missing_images_are_reported(capsys, shared):
    from kssd.metrics import detection_metrics, load_widerface_ground_truth

    gt = load_widerface_ground_truth(shared("data", "faces", "widerface_mini", "val_ground_truth"))
    names = list(gt)[:2]
    records = [{"image_id": f"{n}.jpg", "boxes": np.zeros((0, 4)), "labels": np.zeros(0)} for n in names]
    found = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}] * 2
    with pytest.warns(UserWarning, match="1 of the 2 images .* not in the evaluated data") as got:
        detection_metrics(
            "widerface", records[:1], found[:1], widerface_ground_truth={k: gt[k] for k in names}
        )
    assert names[1] in str(got[0].message)
