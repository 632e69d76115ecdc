"""Geometric, box-aware augmentations for tf.data: crops, expansion, padding, flips, resizing.

Every function here is a graph-mode TensorFlow op sequence meant for ``tf.data.Dataset.map``
and takes the same arguments:

* ``image``: float32 (H, W, 3) RGB in 0..255;
* ``boxes``: float32 (N, 4) **absolute pixel** ``xyxy`` in the coordinates of ``image``
  (absolute pixels because crops, pads and expansions change the image size: the boxes then only
  need a shift, and the final normalization happens once, in the pipeline);
* ``labels``: int32 (N,) class ids;
* ``seed``: an int32/int64 tensor of shape (2,), the stateless-random seed of this call, so that the
  same seed always gives the same output (see :mod:`kssd.data.pipeline` for how each element gets
  its own seed).

Randomness uses ``tf.random.stateless_*`` only, never a stateful generator: results do not depend
on the order in which parallel ``map`` calls run.
"""

import tensorflow as tf

from kssd.boxes.iou import box_area, intersection, iou

#: Interpolations drawn by :func:`random_resize` (the set of the slim face SSD tutorial).
RESIZE_METHODS = ("bilinear", "bicubic", "area", "nearest", "lanczos3")


def _split(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num))


def _image_hw(image):
    shape = tf.shape(image)
    return shape[0], shape[1]


def _box_centres(boxes):
    return (boxes[:, :2] + boxes[:, 2:]) / 2.0


def _centres_inside(boxes, windows):
    """(T, N) mask: centre of box n strictly inside window t (windows (T, 4) xyxy)."""
    centres = _box_centres(boxes)[None]  # (1, N, 2)
    low = windows[:, None, :2]
    high = windows[:, None, 2:]
    return tf.reduce_all(tf.logical_and(centres > low, centres < high), axis=-1)


def _apply_window(image, boxes, labels, window, keep):
    """Crop ``image`` to the integer window (x0, y0, x1, y1), keep the boxes in ``keep``, shift
    and clip them into the crop."""
    x0, y0, x1, y1 = tf.unstack(window)
    image = image[y0:y1, x0:x1, :]
    boxes = tf.boolean_mask(boxes, keep)
    labels = tf.boolean_mask(labels, keep)
    offset = tf.cast(tf.stack([x0, y0, x0, y0]), tf.float32)
    limit = tf.cast(tf.stack([x1 - x0, y1 - y0, x1 - x0, y1 - y0]), tf.float32)
    boxes = tf.clip_by_value(boxes - offset, 0.0, limit)
    return image, boxes, labels


def _pick_window(image, boxes, labels, windows, valid):
    """Apply the first valid candidate window, or leave everything unchanged when none is."""
    height, width = _image_hw(image)
    found = tf.reduce_any(valid)
    index = tf.argmax(tf.cast(valid, tf.int32), output_type=tf.int32)
    full = tf.stack([0, 0, width, height])
    window = tf.where(found, windows[index], full)
    window_f = tf.cast(window, tf.float32)[None]
    keep = tf.where(
        found,
        _centres_inside(boxes, window_f)[0],
        tf.ones_like(labels, dtype=tf.bool),
    )
    return _apply_window(image, boxes, labels, window, keep)


def random_square_crop(
    image, boxes, labels, seed, *, scales=(0.3, 0.45, 0.6, 0.8, 1.0), max_tries=250, min_iof=1.0
):
    """Random square crop that keeps at least one face whole (the face crop of the slim face SSD tutorial).

    ``max_tries`` candidate squares are drawn at once, each with a side of ``scale * short side``
    (``scale`` drawn from ``scales``) at a random position. A candidate is acceptable when at least
    one box lies inside it with intersection-over-foreground (IoF: the part of the box's own area
    inside the crop) >= ``min_iof``, and at least one box centre falls inside it. The first
    acceptable candidate is applied: boxes whose centres are inside are kept, shifted and clipped
    to the crop; the others are removed. When no candidate is acceptable (or there is no box), the
    image and boxes are returned unchanged.

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        labels: int32 (N,).
        seed: int tensor (2,), stateless seed.
        scales: candidate crop sides as fractions of the short side, default
            ``(0.3, 0.45, 0.6, 0.8, 1.0)``.
        max_tries: number of candidate crops (drawn at once, vectorized), default 250.
        min_iof: IoF a box needs to count as inside a candidate, default 1.0 (fully inside).

    Returns:
        ``(image, boxes, labels)`` with the square crop applied.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import random_square_crop
        >>> image = tf.zeros((100, 200, 3))
        >>> boxes = tf.constant([[90., 40., 110., 60.]])
        >>> out, b, l = random_square_crop(image, boxes, tf.constant([1]), tf.constant([1, 2]))
        >>> int(out.shape[0]) == int(out.shape[1]), int(tf.size(l))
        (True, 1)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    labels = tf.cast(labels, tf.int32)
    height, width = _image_hw(image)
    s_scale, s_x, s_y = _split(seed, 3)
    scale_table = tf.constant(scales, tf.float32)
    pick = tf.random.stateless_uniform([max_tries], s_scale, 0, len(scales), dtype=tf.int32)
    short = tf.cast(tf.minimum(height, width), tf.float32)
    side = tf.maximum(tf.cast(tf.gather(scale_table, pick) * short, tf.int32), 1)
    x0 = tf.cast(
        tf.random.stateless_uniform([max_tries], s_x) * tf.cast(width - side + 1, tf.float32), tf.int32
    )
    y0 = tf.cast(
        tf.random.stateless_uniform([max_tries], s_y) * tf.cast(height - side + 1, tf.float32), tf.int32
    )
    x0 = tf.minimum(x0, width - side)
    y0 = tf.minimum(y0, height - side)
    windows = tf.stack([x0, y0, x0 + side, y0 + side], axis=-1)
    windows_f = tf.cast(windows, tf.float32)
    iof = intersection(windows_f, boxes) / tf.maximum(box_area(boxes)[None], 1e-6)  # (T, N)
    whole = tf.reduce_any(iof >= min_iof - 1e-6, axis=-1)
    centred = tf.reduce_any(_centres_inside(boxes, windows_f), axis=-1)
    return _pick_window(image, boxes, labels, windows, tf.logical_and(whole, centred))


def min_iou_crop(
    image,
    boxes,
    labels,
    seed,
    *,
    min_ious=(None, 0.1, 0.3, 0.5, 0.7, 0.9),
    min_scale=0.3,
    max_aspect_ratio=2.0,
    max_tries=50,
):
    """SSD-paper random crop: a patch whose IoU with some box reaches a randomly chosen minimum.

    One entry of ``min_ious`` is drawn; ``None`` keeps the whole image. Otherwise ``max_tries``
    candidate patches are drawn (each side ``min_scale``..1 of the image side, aspect ratio within
    ``1/max_aspect_ratio``..``max_aspect_ratio``); a candidate is acceptable when some box has IoU
    >= the drawn minimum with it and some box centre lies inside it. The first acceptable one is
    applied, keeping the boxes whose centres are inside (shifted and clipped); when none is, the
    input is returned unchanged.

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        labels: int32 (N,).
        seed: int tensor (2,).
        min_ious: the choices of minimum IoU, ``None`` = no crop; default
            ``(None, 0.1, 0.3, 0.5, 0.7, 0.9)``.
        min_scale: smallest patch side as a fraction of the image side, default 0.3.
        max_aspect_ratio: largest patch aspect ratio (and inverse smallest), default 2.0.
        max_tries: number of candidate patches, default 50.

    Returns:
        ``(image, boxes, labels)``.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import min_iou_crop
        >>> boxes = tf.constant([[20., 20., 80., 80.]])
        >>> out, b, l = min_iou_crop(tf.zeros((100, 100, 3)), boxes, tf.constant([1]),
        ...                          tf.constant([3, 4]), min_ious=(0.5,))
        >>> int(tf.size(l)), bool(tf.reduce_all(b[:, 2:] <= [out.shape[1], out.shape[0]]))
        (1, True)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    labels = tf.cast(labels, tf.int32)
    height, width = _image_hw(image)
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    s_mode, s_w, s_h, s_x, s_y = _split(seed, 5)
    thresholds = tf.constant([-1.0 if t is None else float(t) for t in min_ious], tf.float32)
    mode = tf.random.stateless_uniform([], s_mode, 0, len(min_ious), dtype=tf.int32)
    threshold = thresholds[mode]
    crop_w = tf.random.stateless_uniform([max_tries], s_w, min_scale, 1.0) * w_f
    crop_h = tf.random.stateless_uniform([max_tries], s_h, min_scale, 1.0) * h_f
    crop_w = tf.maximum(tf.floor(crop_w), 1.0)
    crop_h = tf.maximum(tf.floor(crop_h), 1.0)
    aspect = crop_h / crop_w
    aspect_ok = tf.logical_and(aspect >= 1.0 / max_aspect_ratio, aspect <= max_aspect_ratio)
    x0 = tf.floor(tf.random.stateless_uniform([max_tries], s_x) * (w_f - crop_w + 1.0))
    y0 = tf.floor(tf.random.stateless_uniform([max_tries], s_y) * (h_f - crop_h + 1.0))
    x0 = tf.minimum(x0, w_f - crop_w)
    y0 = tf.minimum(y0, h_f - crop_h)
    windows_f = tf.stack([x0, y0, x0 + crop_w, y0 + crop_h], axis=-1)
    overlap = iou(windows_f, boxes)  # (T, N); a window is at least 1x1, so the union is > 0
    iou_ok = tf.reduce_any(overlap >= threshold, axis=-1)
    centred = tf.reduce_any(_centres_inside(boxes, windows_f), axis=-1)
    valid = tf.logical_and(aspect_ok, tf.logical_and(iou_ok, centred))
    valid = tf.logical_and(valid, threshold >= 0.0)  # None: keep the whole image
    return _pick_window(image, boxes, labels, tf.cast(windows_f, tf.int32), valid)


def _mean_colour(image):
    return tf.reduce_mean(image, axis=[0, 1])


def expand(image, boxes, seed, *, max_ratio=4.0, probability=0.5, fill_value=None):
    """Zoom out: place the image at a random spot of a canvas up to ``max_ratio`` times larger.

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        seed: int tensor (2,).
        max_ratio: largest canvas side / image side, default 4.0 (the ratio is uniform in
            1..max_ratio).
        probability: chance of expanding at all, default 0.5.
        fill_value: RGB fill of the canvas, default None = the image's mean colour.

    Returns:
        ``(image, boxes)`` on the canvas.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import expand
        >>> out, b = expand(tf.ones((10, 20, 3)), tf.constant([[0., 0., 20., 10.]]),
        ...                 tf.constant([0, 1]), probability=1.0)
        >>> float(b[0, 2] - b[0, 0]), out.shape[0] >= 10
        (20.0, True)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    height, width = _image_hw(image)
    s_apply, s_ratio, s_x, s_y = _split(seed, 4)
    apply = tf.random.stateless_uniform([], s_apply) < probability
    ratio = tf.random.stateless_uniform([], s_ratio, 1.0, max_ratio)
    ratio = tf.where(apply, ratio, 1.0)
    new_h = tf.cast(tf.cast(height, tf.float32) * ratio, tf.int32)
    new_w = tf.cast(tf.cast(width, tf.float32) * ratio, tf.int32)
    top = tf.cast(tf.random.stateless_uniform([], s_y) * tf.cast(new_h - height + 1, tf.float32), tf.int32)
    left = tf.cast(tf.random.stateless_uniform([], s_x) * tf.cast(new_w - width + 1, tf.float32), tf.int32)
    top = tf.minimum(top, new_h - height)
    left = tf.minimum(left, new_w - width)
    fill = _mean_colour(image) if fill_value is None else tf.constant(fill_value, tf.float32)
    canvas = tf.image.pad_to_bounding_box(image - fill, top, left, new_h, new_w) + fill
    shift = tf.cast(tf.stack([left, top, left, top]), tf.float32)
    return canvas, boxes + shift


def pad_to_square(image, boxes=None, *, fill_value=None):
    """Pad the bottom or right side so the image becomes square (boxes do not move).

    Args:
        image: float32 (H, W, 3).
        boxes: optional float32 (N, 4) absolute ``xyxy``; returned unchanged.
        fill_value: RGB fill, default None = the image's mean colour (as in the slim face SSD tutorial).

    Returns:
        The square image, or ``(image, boxes)`` when boxes are given.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import pad_to_square
        >>> pad_to_square(tf.ones((4, 6, 3))).shape
        TensorShape([6, 6, 3])
    """
    image = tf.convert_to_tensor(image, tf.float32)
    height, width = _image_hw(image)
    side = tf.maximum(height, width)

    def pad():
        fill = _mean_colour(image) if fill_value is None else tf.constant(fill_value, tf.float32)
        return tf.image.pad_to_bounding_box(image - fill, 0, 0, side, side) + fill

    image = tf.cond(tf.equal(height, width), lambda: image, pad)
    return image if boxes is None else (image, boxes)


def flip_horizontal(image, boxes):
    """Mirror the image left-right and its absolute ``xyxy`` boxes with it.

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.

    Returns:
        ``(image, boxes)`` mirrored.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import flip_horizontal
        >>> _, b = flip_horizontal(tf.zeros((10, 100, 3)), tf.constant([[10., 2., 30., 8.]]))
        >>> b.numpy().tolist()
        [[70.0, 2.0, 90.0, 8.0]]
    """
    width = tf.cast(tf.shape(image)[1], tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    return tf.reverse(image, axis=[1]), tf.stack([width - x2, y1, width - x1, y2], axis=-1)


def random_flip(image, boxes, seed, *, probability=0.5):
    """Flip left-right with the given probability (see :func:`flip_horizontal`).

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        seed: int tensor (2,).
        probability: chance of flipping, default 0.5.

    Returns:
        ``(image, boxes)``.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import random_flip
        >>> _, b = random_flip(tf.zeros((10, 100, 3)), tf.constant([[10., 2., 30., 8.]]),
        ...                    tf.constant([0, 0]), probability=1.0)
        >>> b.numpy().tolist()
        [[70.0, 2.0, 90.0, 8.0]]
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    do_flip = tf.random.stateless_uniform([], tf.cast(seed, tf.int64)) < probability
    return tf.cond(do_flip, lambda: flip_horizontal(image, boxes), lambda: (image, boxes))


def resize(image, boxes, size, *, method="bilinear", antialias=True):
    """Resize to ``size`` (stretching) and scale absolute ``xyxy`` boxes to match.

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        size: ``(height, width)`` of the output.
        method: a ``tf.image.resize`` method, default ``"bilinear"``.
        antialias: smooth when shrinking, default True.

    Returns:
        ``(image, boxes)``: float32 (height, width, 3) clipped to 0..255, boxes in its pixels.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import resize
        >>> out, b = resize(tf.zeros((50, 100, 3)), tf.constant([[10., 10., 20., 20.]]), (100, 50))
        >>> b.numpy().tolist()
        [[5.0, 20.0, 10.0, 40.0]]
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    scale = _box_scale(image, size)
    image = tf.image.resize(image, size, method=method, antialias=antialias)
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape((size[0], size[1], 3))
    return image, boxes * scale


def _box_scale(image, size):
    height, width = _image_hw(image)
    sx = float(size[1]) / tf.cast(width, tf.float32)
    sy = float(size[0]) / tf.cast(height, tf.float32)
    return tf.stack([sx, sy, sx, sy])


def random_resize(image, boxes, size, seed, *, methods=RESIZE_METHODS, antialias=True, prefilter=True):
    """Resize to ``size`` with an interpolation drawn from ``methods`` (the slim face SSD tutorial's resize).

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        size: ``(height, width)``.
        seed: int tensor (2,).
        methods: interpolations to draw from, default
            ``("bilinear", "bicubic", "area", "nearest", "lanczos3")``.
        antialias: default True.
        prefilter: first shrink large images by an integer factor with a box filter (exact
            averaging, fast) while they stay at least twice ``size``, so the random interpolation
            only covers the last < 4x; default True.

    Returns:
        ``(image, boxes)`` as :func:`resize`.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import random_resize
        >>> out, _ = random_resize(tf.zeros((50, 100, 3)), tf.zeros((0, 4)), (8, 8),
        ...                        tf.constant([1, 1]))
        >>> out.shape
        TensorShape([8, 8, 3])
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    if prefilter:
        image, boxes = _box_prefilter(image, boxes, size)
    choice = tf.random.stateless_uniform([], tf.cast(seed, tf.int64), 0, len(methods), dtype=tf.int32)
    branches = [(lambda m=m: tf.image.resize(image, size, method=m, antialias=antialias)) for m in methods]
    out = tf.switch_case(choice, branches)
    out = tf.clip_by_value(out, 0.0, 255.0)
    out.set_shape((size[0], size[1], 3))
    limit = tf.constant([size[1], size[0], size[1], size[0]], tf.float32)
    return out, tf.minimum(boxes * _box_scale(image, size), limit)


def _box_prefilter(image, boxes, size):
    """Shrink by an integer factor k with a k x k box filter while the image stays >= 2x ``size``.

    An exact anti-aliased decimation that is much cheaper than an antialiased resize over a large
    scale factor; boxes are divided by k (the < k rightmost/bottom pixels are dropped).
    """
    height, width = _image_hw(image)
    factor = tf.minimum(height // (2 * size[0]), width // (2 * size[1]))

    def pool():
        rows, cols = height // factor, width // factor
        blocks = tf.reshape(
            image[: rows * factor, : cols * factor], tf.stack([rows, factor, cols, factor, 3])
        )
        pooled = tf.reduce_mean(blocks, axis=[1, 3])
        return pooled, boxes / tf.cast(factor, tf.float32)

    return tf.cond(factor > 1, pool, lambda: (image, boxes))


def resize_with_pad(image, boxes, size, *, method="bilinear", fill_value=0.0):
    """Resize keeping the aspect ratio, then pad the bottom/right to ``size``.

    Args:
        image: float32 (H, W, 3).
        boxes: float32 (N, 4) absolute ``xyxy``.
        size: ``(height, width)``.
        method: interpolation, default ``"bilinear"``.
        fill_value: value of the padding, default 0.0.

    Returns:
        ``(image, boxes)``: float32 (height, width, 3), boxes in its pixels.

    Examples:
        >>> import tensorflow as tf
        >>> from kssd.data.augment_geometric import resize_with_pad
        >>> out, b = resize_with_pad(tf.zeros((50, 100, 3)), tf.constant([[0., 0., 100., 50.]]),
        ...                          (100, 100))
        >>> b.numpy().tolist(), out.shape
        ([[0.0, 0.0, 100.0, 50.0]], TensorShape([100, 100, 3]))
    """
    image = tf.convert_to_tensor(image, tf.float32)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))
    height, width = _image_hw(image)
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    ratio = tf.minimum(size[0] / h_f, size[1] / w_f)
    new_h = tf.clip_by_value(tf.cast(tf.round(h_f * ratio), tf.int32), 1, size[0])
    new_w = tf.clip_by_value(tf.cast(tf.round(w_f * ratio), tf.int32), 1, size[1])
    resized = tf.image.resize(image, tf.stack([new_h, new_w]), method=method, antialias=True)
    resized = tf.clip_by_value(resized, 0.0, 255.0)
    out = tf.image.pad_to_bounding_box(resized - fill_value, 0, 0, size[0], size[1]) + fill_value
    out.set_shape((size[0], size[1], 3))
    sx = tf.cast(new_w, tf.float32) / w_f
    sy = tf.cast(new_h, tf.float32) / h_f
    return out, boxes * tf.stack([sx, sy, sx, sy])
