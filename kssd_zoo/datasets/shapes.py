"""A procedurally generated detection dataset: circles, squares and triangles on noisy backgrounds.

Needs no download and generates about a thousand 128x128 images per second (NumPy + OpenCV), which
makes it the data of examples, tests and smoke runs. Image ``i`` of a split depends only on
``(seed, split, i)``, so ``num_images`` can grow without changing the first images, and the
``"train"`` and ``"val"`` splits come from different random streams.
"""

import cv2
import numpy as np

#: Class names; class id = index + 1 (0 is background).
CLASS_NAMES = ["circle", "square", "triangle"]

_SPLITS = {"train": 0, "val": 1, "test": 2}


def _background(rng, height, width, noise_std):
    base = rng.uniform(30, 225, size=3)
    gradient = rng.uniform(-40, 40, size=(2, 3))
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :, None]
    image = (base + ys * gradient[0] + xs * gradient[1]).astype(np.float32)
    image = np.broadcast_to(image, (height, width, 3))
    if noise_std > 0:
        image = image + noise_std * rng.standard_normal((height, width, 3), dtype=np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), base


def _colour(rng, background, min_distance=90.0):
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - background) >= min_distance:
            break
    return tuple(int(c) for c in colour)


def _shape_mask(rng, kind, height, width, size):
    """Draw one shape of class ``kind`` (1, 2, 3) into a fresh mask; return mask and its box."""
    mask = np.zeros((height, width), np.uint8)
    cx = rng.uniform(size / 2, width - size / 2)
    cy = rng.uniform(size / 2, height - size / 2)
    if kind == 1:
        cv2.circle(mask, (int(round(cx)), int(round(cy))), max(int(size / 2), 1), 255, -1)
    elif kind == 2:
        half = size / 2
        cv2.rectangle(
            mask, (int(cx - half), int(cy - half)), (int(cx + half) - 1, int(cy + half) - 1), 255, -1
        )
    else:
        angle = rng.uniform(0, 2 * np.pi)
        angles = angle + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
        points = np.stack([cx + size / 2 * np.cos(angles), cy + size / 2 * np.sin(angles)], -1)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 255)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None, None
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    return mask, box


def _overlaps(box, boxes, margin=2.0):
    for other in boxes:
        if (
            box[0] < other[2] + margin
            and other[0] < box[2] + margin
            and box[1] < other[3] + margin
            and other[1] < box[3] + margin
        ):
            return True
    return False


def generate_image(
    seed,
    split_index,
    index,
    image_size=(128, 128),
    max_objects=4,
    min_objects=1,
    size_range=(0.1, 0.4),
    noise_std=8.0,
):
    """Generate image ``index`` of a split: ``(image uint8 RGB (H, W, 3), boxes, labels)``.

    Args:
        seed: dataset seed.
        split_index: 0 train, 1 val, 2 test.
        index: image number within the split.
        image_size: ``(height, width)``, default (128, 128).
        max_objects: most objects per image, default 4.
        min_objects: fewest objects per image, default 1.
        size_range: object size as fractions of the short image side, default (0.1, 0.4).
        noise_std: standard deviation of the Gaussian pixel noise, default 8.0 (0 = none).

    Returns:
        ``(image, boxes float32 (N, 4) absolute xyxy, labels int32 (N,))``; boxes are the tight
        pixel-edge boxes of the drawn shapes (a shape covering columns 3..7 has x1=3, x2=8).

    Examples:
        >>> from kssd_zoo.datasets.shapes import generate_image
        >>> image, boxes, labels = generate_image(0, 0, 0)
        >>> image.shape, boxes.shape[1], bool(set(labels.tolist()) <= {1, 2, 3})
        ((128, 128, 3), 4, True)
    """
    height, width = image_size
    rng = np.random.default_rng([seed, split_index, index])
    image, base = _background(rng, height, width, 0.0)
    count = int(rng.integers(min_objects, max_objects + 1))
    short = min(height, width)
    boxes, labels = [], []
    for _ in range(count):
        for _attempt in range(10):
            kind = int(rng.integers(1, 4))
            size = rng.uniform(*size_range) * short
            mask, box = _shape_mask(rng, kind, height, width, max(size, 4.0))
            if box is not None and not _overlaps(box, boxes):
                image[mask > 0] = _colour(rng, base)
                boxes.append(box)
                labels.append(kind)
                break
    if noise_std > 0:
        noise = noise_std * rng.standard_normal(image.shape, dtype=np.float32)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return (image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int32).reshape(-1))


def shapes(
    num_images=1000,
    image_size=(128, 128),
    split="train",
    seed=0,
    max_objects=4,
    *,
    min_objects=1,
    size_range=(0.1, 0.4),
    noise_std=8.0,
    encode_png=False,
):
    """Generate the shapes detection dataset as kssd records.

    Each image holds ``min_objects``..``max_objects`` non-overlapping filled circles (class 1),
    squares (2) and triangles (3) of random colour, size and position on a noisy gradient
    background. The splits use disjoint random streams of the same seed.

    Records follow the kssd record interface (see :mod:`kssd.data`) plus one extension: the
    decoded image is in ``"image"`` (uint8 (H, W, 3) RGB), and ``"image_bytes"`` holds PNG bytes
    only with ``encode_png=True`` (e.g. to write TFRecords); ``"image_path"`` is None.

    Args:
        num_images: number of images, default 1000.
        image_size: ``(height, width)``, default (128, 128).
        split: ``"train"`` (default), ``"val"`` or ``"test"``.
        seed: dataset seed, default 0.
        max_objects: most objects per image, default 4.
        min_objects: fewest objects per image, default 1.
        size_range: object size as fractions of the short side, default (0.1, 0.4).
        noise_std: pixel noise, default 8.0.
        encode_png: also fill ``image_bytes`` with PNG bytes, default False.

    Returns:
        List of record dicts; class names are :data:`CLASS_NAMES`.

    Examples:
        >>> from kssd_zoo.datasets import shapes
        >>> records = shapes(num_images=3, seed=1)
        >>> len(records), records[0]["image"].shape, records[0]["image_id"]
        (3, (128, 128, 3), 'shapes/train/000000.png')
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    height, width = (int(v) for v in image_size)
    if min(height, width) < 16:
        raise ValueError(f"image_size must be at least 16x16, got {image_size!r}")
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
    records = []
    for index in range(int(num_images)):
        image, boxes, labels = generate_image(
            seed, _SPLITS[split], index, (height, width), max_objects, min_objects, size_range, noise_std
        )
        image_bytes = None
        if encode_png:
            image_bytes = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()
        records.append(
            {
                "image_id": f"shapes/{split}/{index:06d}.png",
                "image_path": None,
                "image_bytes": image_bytes,
                "image": image,
                "height": height,
                "width": width,
                "boxes": boxes,
                "labels": labels,
                "attributes": {},
            }
        )
    return records


def shapes_dataset(
    model=None,
    *,
    num_images=1000,
    image_size=None,
    split="train",
    seed=0,
    max_objects=4,
    batch_size=32,
    **load_kwargs,
):
    """The shapes dataset as a ready ``tf.data`` pipeline (see :func:`kssd.data.load_dataset`).

    Args:
        model: detector (duck-typed: ``anchors``, ``input_size``...), default None.
        num_images: default 1000.
        image_size: size of the generated images, default None = the model's input size, or
            (128, 128).
        split: default ``"train"``; ``"train"`` turns on training-time augmentation.
        seed: dataset and pipeline seed, default 0.
        max_objects: default 4.
        batch_size: default 32.
        **load_kwargs: more arguments of :func:`kssd.data.load_dataset` (``anchors``,
            ``augmentation``, ``training``, ...).

    Returns:
        ``tf.data.Dataset`` of ``(images, y_true)``.

    Examples:
        >>> import numpy as np
        >>> from kssd_zoo.datasets import shapes_dataset
        >>> anchors = np.array([[0.5, 0.5, 0.5, 0.5]], "float32")
        >>> ds = shapes_dataset(num_images=4, image_size=(64, 64), anchors=anchors,
        ...                     batch_size=2, training=False)
        >>> [tuple(t.shape) for t in next(iter(ds))]
        [(2, 64, 64, 3), (2, 1, 5)]
    """
    from kssd.data.pipeline import load_dataset

    if image_size is None:
        image_size = getattr(model, "input_size", None) or (128, 128)
    records = shapes(num_images, image_size, split, seed, max_objects)
    load_kwargs.setdefault("training", split == "train")
    load_kwargs.setdefault("seed", seed)
    load_kwargs.setdefault("image_size", image_size)
    return load_dataset(records, model, batch_size=batch_size, **load_kwargs)
