"""`kssd demo`: a short run writes the picture and a model that reloads, and prints mAP@0.5."""

import cv2
import keras
import pytest

from kssd_zoo.cli.main import main


@pytest.mark.slow
def test_short_demo_writes_outputs_and_reports_map(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seconds", "5"]) == 0
    printed = capsys.readouterr().out
    line = [ln for ln in printed.splitlines() if ln.startswith("mAP@0.5 = ")]
    assert line, printed
    assert 0.0 <= float(line[0].split("=")[1]) <= 1.0
    picture = cv2.imread(str(tmp_path / "detections.png"))
    assert picture is not None and picture.shape[0] > 128 and picture.shape[1] > 128
    import kssd_zoo  # noqa: F401  (registers the Detector for loading)

    model = keras.saving.load_model(tmp_path / "tiny_ssd.keras", compile=False)
    assert model.anchors.shape == (1344, 4)
    assert "face application on the shipped photo:" in printed
    assert (tmp_path / "faces_detections.jpg").is_file() and (tmp_path / "faces_stickered.jpg").is_file()


def test_demo_rejects_a_non_positive_budget(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seconds", "0"]) == 2
    assert "--seconds must be positive" in capsys.readouterr().err
