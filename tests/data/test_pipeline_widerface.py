"""The face training pipeline on real WIDER FACE images (../shared/data/faces/widerface_mini)."""

from types import SimpleNamespace

import numpy as np
import pytest

from kssd.anchors import generate_anchors
from kssd.data.pipeline import load_dataset

pytestmark = [pytest.mark.shared, pytest.mark.slow]

FACE_SIZE = (240, 320)


def face_model():
    """Duck-typed stand-in for kssd_zoo.face_ssd(): the UltraFace anchor layout at 240x320."""
    anchors = generate_anchors(
        FACE_SIZE, steps=[8, 16, 32, 64], min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
    )
    return SimpleNamespace(
        anchors=anchors,
        input_size=FACE_SIZE,
        variances=(0.1, 0.2),
        match_threshold=0.45,
        augmentation="face",
    )


@pytest.fixture
def wider_records(shared):
    from kssd.data.widerface import WiderFaceReader

    root = shared("data", "faces", "widerface_mini")
    return list(WiderFaceReader(root, split="train"))


def test_face_training_batch_from_reader(wider_records):
    assert len(wider_records) == 10
    ds = load_dataset(wider_records, face_model(), batch_size=4, seed=0, deterministic=True)
    x, y = next(iter(ds))
    assert x.shape == (4, 240, 320, 3) and y.shape == (4, 4420, 5)
    y = y.numpy()
    assert ((y[..., 4] > 0).sum(axis=1) > 0).all()  # every image keeps at least one face
    assert set(np.unique(y[..., 4]).tolist()) <= {0.0, 1.0}
    assert np.isfinite(y).all()
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 255.0


def test_face_training_batch_from_tfrecords(wider_records, tmp_path):
    from kssd.data.tfrecord import write_tfrecords

    write_tfrecords(wider_records, tmp_path, "train", num_shards=2)
    ds = load_dataset(tmp_path, face_model(), split="train", batch_size=5, seed=1, deterministic=True)
    shapes = [(tuple(x.shape), tuple(y.shape), int((y.numpy()[..., 4] > 0).sum())) for x, y in ds]
    assert [s[:2] for s in shapes] == [((5, 240, 320, 3), (5, 4420, 5))] * 2
    assert all(s[2] > 0 for s in shapes)


def test_face_eval_batch_keeps_all_large_faces(wider_records):
    ds = load_dataset(wider_records[:2], face_model(), batch_size=2, training=False, min_box_size=0)
    _, y = next(iter(ds))
    positives = y.numpy()[..., 4] > 0
    assert positives.sum() >= sum(len(r["boxes"]) for r in wider_records[:2])
