"""Real training checks that fit the CI budget (the long ones: benchmarks/training_checks.py)."""

import numpy as np
import pytest

from tests.conftest import shared_path


def face_ap(model, records, metric="voc12"):
    from kssd.inference.detect_fn import make_detect_fn
    from kssd.metrics import detect_records, detection_metrics

    return detection_metrics(metric, records, detect_records(make_detect_fn(model), records))


@pytest.mark.slow
def test_ultraface_fine_tuning_keeps_its_ap_on_dlib_faces(tmp_path):
    """Imported UltraFace weights, fine-tuned with model.fit + SSDLoss on widerface_mini,
    keep their AP on the dlib PASCAL test faces within 0.05."""
    import keras

    import kssd_zoo
    from kssd.data import ImglabReader, WiderFaceReader
    from kssd_zoo.training import train

    onnx = shared_path("models", "ultraface", "version-slim-320.onnx")
    test = list(ImglabReader(shared_path("data", "faces", "dlib_pascal", "testing.xml")))
    train_records = list(WiderFaceReader(shared_path("data", "faces", "widerface_mini")))
    assert len(test) == 5 and sum(len(r["boxes"]) for r in test) == 25

    model = kssd_zoo.ultraface_slim(weights=str(onnx), compile=False)
    before = face_ap(model, test)["mAP"]
    assert before > 0.9  # the import and the evaluation path are sound
    start = [w.copy() for w in model.get_weights()]
    keras.utils.set_random_seed(0)
    result = train(
        model,
        train_records,
        epochs=3,
        batch_size=5,
        learning_rate=1e-4,
        max_val_images=0,
        out_dir=tmp_path,
        tensorboard=False,
        verbose=0,
    )
    assert int(model.optimizer.iterations) == 6  # 10 images / batch 5 = 2 steps x 3 epochs
    moved = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), start))
    assert moved > 0  # it did train
    after = face_ap(result["model"], test)["mAP"]
    assert abs(after - before) <= 0.05, (before, after)


@pytest.mark.slow
def test_face_ssd_from_scratch_overfits_widerface_mini(tmp_path):
    """face_ssd from random weights fits the 10 widerface_mini images: the train-set AP in
    inference mode rises from ~0 to well above it (BatchNorm momentum 0.9, Adam 1e-3)."""
    import kssd_zoo
    from kssd.data import WiderFaceReader
    from kssd_zoo.training import train

    records = list(WiderFaceReader(shared_path("data", "faces", "widerface_mini")))
    adam = {"optimizer": {"name": "adam"}, "schedule": {"name": "constant", "learning_rate": 1e-3}}
    start = face_ap(kssd_zoo.load("face_ssd"), records, "widerface")["AP_all"]
    result = train(
        "face_ssd",
        records,
        epochs=70,
        batch_size=10,
        augmentation="none",
        max_val_images=0,
        out_dir=tmp_path,
        tensorboard=False,
        verbose=0,
        batch_norm_momentum=0.9,
        overrides={"training": adam},
    )
    assert result["history"]["loss"][-1] < 0.5 * result["history"]["loss"][0]
    end = face_ap(result["model"], records, "widerface")["AP_all"]
    assert start < 0.05 and end > 0.5, (start, end)
