"""The generated shapes dataset: determinism, tight boxes, disjoint splits, pipeline."""

import numpy as np
import pytest

from kssd_zoo.datasets import CLASS_NAMES, generate_image, shapes


def test_deterministic_by_seed_and_prefix_stable():
    a = shapes(num_images=5, seed=3)
    b = shapes(num_images=8, seed=3)
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra["image"], rb["image"])
        np.testing.assert_array_equal(ra["boxes"], rb["boxes"])
        np.testing.assert_array_equal(ra["labels"], rb["labels"])
    c = shapes(num_images=5, seed=4)
    assert not any(np.array_equal(ra["image"], rc["image"]) for ra, rc in zip(a, c))


def test_record_fields_follow_the_interface():
    records = shapes(num_images=20, image_size=(96, 80), max_objects=3, encode_png=True)
    assert CLASS_NAMES == ["circle", "square", "triangle"]
    for r in records:
        assert r["image"].shape == (96, 80, 3) and r["image"].dtype == np.uint8
        assert r["height"] == 96 and r["width"] == 80
        assert r["boxes"].dtype == np.float32 and r["labels"].dtype == np.int32
        assert 1 <= len(r["labels"]) <= 3
        assert set(r["labels"].tolist()) <= {1, 2, 3}
        assert r["image_bytes"][:8] == b"\x89PNG\r\n\x1a\n"
        b = r["boxes"]
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= 80).all() and (b[:, 3] <= 96).all()
    labels = np.concatenate([r["labels"] for r in records])
    assert set(labels.tolist()) == {1, 2, 3}


@pytest.mark.parametrize("index", range(6))
def test_boxes_are_tight_around_the_drawn_shapes(index):
    image, boxes, labels = generate_image(7, 0, index, (128, 128), noise_std=0.0)
    clean = image.astype(int)
    for box in boxes.astype(int):
        x1, y1, x2, y2 = box
        patch = clean[y1:y2, x1:x2]
        # the shape's colour: the most common colour on the box's centre row
        row = patch[patch.shape[0] // 2]
        colours, counts = np.unique(row, axis=0, return_counts=True)
        colour = colours[np.argmax(counts)]
        mask = np.abs(clean - colour).sum(-1) == 0
        ys, xs = np.nonzero(mask[max(y1 - 3, 0) : y2 + 3, max(x1 - 3, 0) : x2 + 3])
        ys, xs = ys + max(y1 - 3, 0), xs + max(x1 - 3, 0)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)


def test_train_and_val_differ():
    train = shapes(num_images=30, split="train", seed=0)
    val = shapes(num_images=30, split="val", seed=0)
    train_images = {r["image"].tobytes() for r in train}
    assert not any(r["image"].tobytes() in train_images for r in val)
    assert all(r["image_id"].startswith("shapes/val/") for r in val)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="split"):
        shapes(num_images=1, split="dev")
    with pytest.raises(ValueError, match="max_objects"):
        shapes(num_images=1, min_objects=3, max_objects=2)


def test_shapes_dataset_feeds_the_pipeline():
    from kssd.anchors import generate_anchors
    from kssd_zoo.datasets import shapes_dataset

    anchors = generate_anchors((64, 64), steps=[8, 16], min_sizes=[[8, 16], [24, 32]])
    ds = shapes_dataset(num_images=8, image_size=(64, 64), anchors=anchors, batch_size=4, augmentation="ssd")
    x, y = next(iter(ds))
    assert x.shape == (4, 64, 64, 3) and y.shape == (4, len(anchors), 5)
    assert set(np.unique(y.numpy()[..., 4]).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert (y.numpy()[..., 4] > 0).any()
