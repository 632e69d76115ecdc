"""Anchor (prior box) generation in NumPy, for both common anchor styles.

Contract (the anchors row of "Contracts" in docs/index.md): float32 (A, 4), normalized centre
form ``(cx, cy, w, h)``, ordered level by level, row-major over each level's feature map, the
anchors of one cell contiguous.

Two styles:

* **explicit sizes** (face SSD / UltraFace): per-level ``steps`` and ``min_sizes`` in pixels.
  A size is an int (square) or an ``(h, w)`` pair.
* **SSD paper**: per-level ``scales`` (one more value than levels; the last one only feeds
  the extra box ``sqrt(s_k * s_k+1)``) and ``aspect_ratios`` (each ``r`` adds ``r`` and
  ``1/r``). Per cell the order is ``1:1``, the extra box, then ``r, 1/r`` for each ratio.

MediaPipe's ``SsdAnchorsCalculator`` options (BlazeFace and the other MediaPipe SSDs) translate
into the explicit-sizes style with :func:`mediapipe_anchor_args`: its linear scale interpolation,
the interpolated extra box, layers of equal stride merged into one level, and
``fixed_anchor_size`` (every anchor ``w = h = 1``, the whole image).
"""

import math

import numpy as np


def hw_pair(value, name):
    """``(h, w)`` floats from a number (square) or a 2-sequence; ``name`` is used in the error.

    Examples:
        >>> from kssd.anchors import hw_pair
        >>> hw_pair(8, "steps[0]"), hw_pair((8, 16), "steps[1]")
        ((8.0, 8.0), (8.0, 16.0))
    """
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise ValueError(f"`{name}` must be a number or an (h, w) pair, got {value!r}")


def _check_positive(values, name):
    for v in np.ravel(np.asarray(values, dtype="float64")):
        if not v > 0:
            raise ValueError(f"`{name}` must hold only positive values, got {values!r}")


def level_box_sizes(*, min_sizes=None, scales=None, aspect_ratios=None, extra_box=True):
    """Box sizes ``(w, h)`` of one cell per level, before placing them on the grid.

    Args:
        min_sizes: explicit style, per-level lists of sizes in pixels (int or ``(h, w)``).
        scales: SSD-paper style, ``L + 1`` relative scales.
        aspect_ratios: SSD-paper style, per-level lists of ratios (``r`` adds ``r`` and ``1/r``).
        extra_box: SSD-paper style, add the ``sqrt(s_k * s_k+1)`` box, default True.

    Returns:
        ``(sizes, relative)``: a list with one float64 array (n_k, 2) of ``(w, h)`` per level,
        and whether the sizes are relative to the image (True) or pixels (False).

    Examples:
        >>> from kssd.anchors import level_box_sizes
        >>> sizes, relative = level_box_sizes(min_sizes=[[10, 16], [32]])
        >>> [s.shape for s in sizes], relative
        ([(2, 2), (1, 2)], False)
    """
    if (min_sizes is None) == (scales is None):
        raise ValueError("give exactly one of `min_sizes` (pixel sizes) or `scales` (SSD paper style)")
    if min_sizes is not None:
        sizes = []
        for k, level in enumerate(min_sizes):
            if not isinstance(level, (list, tuple)) or not level:
                raise ValueError(f"`min_sizes[{k}]` must be a non-empty list of sizes, got {level!r}")
            pairs = [hw_pair(s, f"min_sizes[{k}]") for s in level]
            _check_positive(pairs, f"min_sizes[{k}]")
            sizes.append(np.array([(w, h) for h, w in pairs], dtype="float64"))
        return sizes, False

    scales = [float(s) for s in scales]
    _check_positive(scales, "scales")
    num_levels = len(scales) - 1
    if num_levels < 1:
        raise ValueError(f"`scales` needs one more value than levels (at least 2), got {scales}")
    if aspect_ratios is None:
        aspect_ratios = [[] for _ in range(num_levels)]
    if len(aspect_ratios) != num_levels:
        raise ValueError(
            f"`aspect_ratios` must have one list per level ({num_levels} = len(scales) - 1), "
            f"got {len(aspect_ratios)}"
        )
    sizes = []
    for k in range(num_levels):
        s, s_next = scales[k], scales[k + 1]
        _check_positive(aspect_ratios[k] or [1.0], f"aspect_ratios[{k}]")
        cell = [(s, s)]
        if extra_box:
            extra = math.sqrt(s * s_next)
            cell.append((extra, extra))
        for r in aspect_ratios[k]:
            root = math.sqrt(float(r))
            cell.append((s * root, s / root))
            cell.append((s / root, s * root))
        sizes.append(np.array(cell, dtype="float64"))
    return sizes, True


def feature_map_sizes(image_size, *, steps=None, feature_sizes=None):
    """Feature-map ``(h, w)`` of each level: given, or ``ceil(image_dim / step)``.

    Examples:
        >>> from kssd.anchors import feature_map_sizes
        >>> feature_map_sizes((240, 320), steps=[8, 16, 32, 64])
        [(30, 40), (15, 20), (8, 10), (4, 5)]
    """
    height, width = _image_size(image_size)
    if feature_sizes is not None:
        result = [
            tuple(int(v) for v in hw_pair(f, f"feature_sizes[{k}]")) for k, f in enumerate(feature_sizes)
        ]
        _check_positive(result, "feature_sizes")
        return result
    if steps is None:
        raise ValueError("give `steps` or `feature_sizes` to place anchors on a grid")
    _check_positive(steps, "steps")
    out = []
    for k, step in enumerate(steps):
        step_h, step_w = hw_pair(step, f"steps[{k}]")
        out.append((math.ceil(height / step_h), math.ceil(width / step_w)))
    return out


def _image_size(image_size):
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"`image_size` must be an int or an (height, width) pair, got {image_size!r}")
    _check_positive(image_size, "image_size")
    return float(image_size[0]), float(image_size[1])


def generate_anchors(
    image_size,
    *,
    steps=None,
    min_sizes=None,
    feature_sizes=None,
    scales=None,
    aspect_ratios=None,
    extra_box=True,
    clip=False,
    centers=None,
):
    """Generate SSD anchors in the contract order (see module docstring).

    Args:
        image_size: ``(height, width)`` in pixels (or one int for a square image).
        steps: per-level stride in pixels (int or ``(h, w)``). With only steps, a level's
            feature map is ``ceil(image_dim / step)`` and centres sit at ``(j + 0.5) * step``.
        min_sizes: explicit style, per-level lists of box sizes in pixels.
        feature_sizes: per-level feature-map size (int or ``(h, w)``); with no steps, centres
            sit at ``(j + 0.5) / f``.
        scales: SSD-paper style, ``L + 1`` relative scales.
        aspect_ratios: SSD-paper style, per-level ratio lists.
        extra_box: add the ``sqrt(s_k * s_k+1)`` box (SSD-paper style), default True.
        clip: clip the centre-form values to [0, 1] (the ``clip`` option of the slim face SSD tutorial's priors), default False.
        centers: where a level's cell centres sit: ``"step"`` at ``(j + 0.5) * step / size``
            (the slim face SSD tutorial, the original SSD) or ``"grid"`` at ``(j + 0.5) / feature_size`` (the
            released UltraFace priors; differs from "step" when the size is not a multiple of
            the step). Default None = ``"step"`` when steps are given, else ``"grid"``.

    Returns:
        float32 array (A, 4) of ``(cx, cy, w, h)`` normalized anchors.

    Raises:
        ValueError: mismatched levels, non-positive sizes or a malformed argument, naming it.

    Examples:
        >>> from kssd.anchors import generate_anchors
        >>> generate_anchors((240, 320), steps=[8, 16, 32, 64],
        ...     min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]).shape
        (4420, 4)
        >>> generate_anchors(300, feature_sizes=[38, 19, 10, 5, 3, 1],
        ...     scales=[0.1, 0.2, 0.375, 0.55, 0.725, 0.9, 1.075],
        ...     aspect_ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]]).shape
        (8732, 4)
    """
    height, width = _image_size(image_size)
    sizes, relative = level_box_sizes(
        min_sizes=min_sizes, scales=scales, aspect_ratios=aspect_ratios, extra_box=extra_box
    )
    grids = feature_map_sizes(image_size, steps=steps, feature_sizes=feature_sizes)
    levels_name = "min_sizes" if min_sizes is not None else "len(scales) - 1"
    if len(grids) != len(sizes):
        given = "steps" if feature_sizes is None else "feature_sizes"
        raise ValueError(
            f"`{given}` has {len(grids)} levels but `{levels_name}` has {len(sizes)}: "
            "give one entry per detection level"
        )
    if steps is not None and len(steps) != len(sizes):
        raise ValueError(f"`steps` has {len(steps)} levels but `{levels_name}` has {len(sizes)}")

    if centers is None:
        centers = "step" if steps is not None else "grid"
    if centers not in ("step", "grid"):
        raise ValueError(f"`centers` must be 'step' or 'grid', got {centers!r}")
    if centers == "step" and steps is None:
        raise ValueError("`centers='step'` needs `steps`")

    per_level = []
    for k, ((rows, cols), cell_sizes) in enumerate(zip(grids, sizes)):
        if centers == "step":
            step_h, step_w = hw_pair(steps[k], f"steps[{k}]")
            cy = (np.arange(rows) + 0.5) * step_h / height
            cx = (np.arange(cols) + 0.5) * step_w / width
        else:
            cy = (np.arange(rows) + 0.5) / rows
            cx = (np.arange(cols) + 0.5) / cols
        wh = cell_sizes if relative else cell_sizes / np.array([width, height])
        grid_cy, grid_cx = np.meshgrid(cy, cx, indexing="ij")  # row-major cells
        centres = np.stack([grid_cx, grid_cy], axis=-1).reshape(-1, 1, 2)
        centres = np.broadcast_to(centres, (rows * cols, len(wh), 2))
        boxes = np.broadcast_to(wh[None], (rows * cols, len(wh), 2))
        per_level.append(np.concatenate([centres, boxes], axis=-1).reshape(-1, 4))
    anchors = np.concatenate(per_level, axis=0)
    if clip:
        anchors = np.clip(anchors, 0.0, 1.0)
    return anchors.astype("float32")


def anchors_per_cell(*, min_sizes=None, scales=None, aspect_ratios=None, extra_box=True):
    """Number of anchors per feature-map cell for each level (what a head must predict).

    Examples:
        >>> from kssd.anchors import anchors_per_cell
        >>> anchors_per_cell(min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]])
        [3, 2, 2, 3]
        >>> anchors_per_cell(scales=[0.1, 0.2, 0.4], aspect_ratios=[[2], [2, 3]])
        [4, 6]
    """
    sizes, _ = level_box_sizes(
        min_sizes=min_sizes, scales=scales, aspect_ratios=aspect_ratios, extra_box=extra_box
    )
    return [len(s) for s in sizes]


def _mediapipe_scale(min_scale, max_scale, index, count):
    # MediaPipe's CalculateScale: linear from min_scale to max_scale over the strides.
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def mediapipe_anchor_args(
    input_size,
    *,
    strides,
    min_scale,
    max_scale,
    num_layers=None,
    aspect_ratios=(1.0,),
    interpolated_scale_aspect_ratio=1.0,
    reduce_boxes_in_lowest_layer=False,
    fixed_anchor_size=False,
    anchor_offset=0.5,
):
    """:func:`generate_anchors` arguments for MediaPipe ``SsdAnchorsCalculator`` options.

    MediaPipe (``mediapipe/calculators/tflite/ssd_anchors_calculator.cc``) gives layer ``i`` of
    ``n`` strides the scale ``min_scale + (max_scale - min_scale) * i / (n - 1)`` (the mean of
    the two for one stride), one box per aspect ratio ``r`` (``w = s * sqrt(r)``,
    ``h = s / sqrt(r)``), plus, when ``interpolated_scale_aspect_ratio > 0``, a box of scale
    ``sqrt(s_i * s_i+1)`` (``s_n = 1``) at that ratio. Consecutive layers of equal stride share
    one feature map ``ceil(size / stride)``, their boxes contiguous per cell; centres sit at
    ``(j + anchor_offset) / feature_size``. ``fixed_anchor_size`` makes every box ``w = h = 1``
    (the whole image), as the BlazeFace face detectors use with the ``"linear"`` box coding
    (:mod:`kssd.boxes.coder`). The result is the explicit-sizes style (pixel ``(h, w)`` sizes,
    ``centers="grid"``), so ``generate_anchors(input_size, **args)`` equals MediaPipe's anchors
    in its order.

    Args:
        input_size: ``(height, width)`` of the model input (``input_size_height/width``), or
            one int.
        strides: per-layer strides in pixels (``strides``).
        min_scale: ``min_scale``.
        max_scale: ``max_scale``.
        num_layers: ``num_layers``, default None (``len(strides)``).
        aspect_ratios: ``aspect_ratios``, default ``(1.0,)``.
        interpolated_scale_aspect_ratio: default 1.0; 0 adds no interpolated box.
        reduce_boxes_in_lowest_layer: default False (True: the first layer has the three boxes
            ``(1.0, 0.1), (2.0, s), (0.5, s)`` of ``(ratio, scale)``).
        fixed_anchor_size: default False.
        anchor_offset: ``anchor_offset_x`` = ``anchor_offset_y``; only 0.5 (kssd's cell
            centres), default 0.5.

    Returns:
        Dict with ``steps``, ``min_sizes`` (per level lists of ``[h, w]`` pixel pairs) and
        ``centers`` (``"grid"``), for :func:`generate_anchors` or
        :class:`kssd.layers.AnchorBoxes`.

    Raises:
        ValueError: ``num_layers`` other than ``len(strides)``, ``anchor_offset`` other than
            0.5, or non-positive scales.

    Examples:
        >>> from kssd.anchors import generate_anchors, mediapipe_anchor_args
        >>> args = mediapipe_anchor_args(128, strides=[8, 16, 16, 16], min_scale=0.1484375,
        ...     max_scale=0.75, fixed_anchor_size=True)   # BlazeFace short range
        >>> args["steps"], [len(level) for level in args["min_sizes"]]
        ([8, 16], [2, 6])
        >>> anchors = generate_anchors(128, **args)
        >>> anchors.shape, anchors[0].tolist()
        ((896, 4), [0.03125, 0.03125, 1.0, 1.0])
    """
    height, width = _image_size(input_size)
    strides = list(strides)
    if num_layers is None:
        num_layers = len(strides)
    if num_layers != len(strides) or not strides:
        raise ValueError(f"`num_layers` ({num_layers}) must equal the number of `strides` ({len(strides)})")
    if float(anchor_offset) != 0.5:
        raise ValueError(f"`anchor_offset` must be 0.5 (cell centres), got {anchor_offset!r}")
    _check_positive([min_scale, max_scale], "min_scale/max_scale")
    _check_positive(strides, "strides")
    count = len(strides)
    steps, min_sizes = [], []
    layer = 0
    while layer < count:
        sizes = []
        last = layer
        while last < count and strides[last] == strides[layer]:
            scale = _mediapipe_scale(min_scale, max_scale, last, count)
            if last == 0 and reduce_boxes_in_lowest_layer:
                boxes = [(1.0, 0.1), (2.0, scale), (0.5, scale)]
            else:
                boxes = [(float(r), scale) for r in aspect_ratios]
                if interpolated_scale_aspect_ratio > 0:
                    following = (
                        1.0 if last == count - 1 else _mediapipe_scale(min_scale, max_scale, last + 1, count)
                    )
                    boxes.append((float(interpolated_scale_aspect_ratio), math.sqrt(scale * following)))
            for ratio, box_scale in boxes:
                root = math.sqrt(ratio)
                box_h, box_w = (1.0, 1.0) if fixed_anchor_size else (box_scale / root, box_scale * root)
                sizes.append([box_h * height, box_w * width])
            last += 1
        steps.append(strides[layer])
        min_sizes.append(sizes)
        layer = last
    return {"steps": steps, "min_sizes": min_sizes, "centers": "grid"}
