"""Dataset statistics: box-size histogram and anchor coverage.

Sizes are measured after resizing each image to the model's input size (a plain
resize of the whole image to ``(height, width)``, as the training pipeline does after
its crop), so they can be compared with the anchors' sizes in pixels.

A ground-truth box is *covered* when its best anchor reaches ``match_threshold`` IoU:
such a box gets positive anchors in training by the threshold rule. The target
encoder still forces one anchor onto every box, but a box no anchor overlaps well is
learnt from a poorly fitting anchor, so low coverage in a size bucket shows where the
anchor design (``min_sizes``/``steps`` or ``scales``) does not suit the data.

Given a ``matching`` strategy, :func:`anchor_coverage` also runs the training matcher
(:func:`kssd.boxes.match_anchors`) and counts the boxes that end up with *no* positive anchor
at all: such a box is never a training target. With ``"bipartite"`` matching that count is 0
(every box gets an anchor of its own); ``"forced"`` matching loses boxes that share their best
anchor with another box.

Examples:
    >>> import numpy as np
    >>> from kssd.data import anchor_coverage, make_record
    >>> anchors = np.array([[0.25, 0.25, 0.5, 0.5]], np.float32)  # one anchor, cx cy w h
    >>> recs = [make_record("a.jpg", [[0, 0, 50, 50], [60, 60, 70, 70]], [1, 1],
    ...                     image_path="a.jpg", height=100, width=100)]
    >>> result = anchor_coverage(recs, anchors, (100, 100), match_threshold=0.45)
    >>> result["boxes"], result["covered"], result["buckets"]["<10"]["boxes"]
    (2, 1, 0)
"""

import math

import numpy as np

from kssd.boxes import DEFAULT_MATCH_THRESHOLD, center_to_corners, check_matching, iou, match_anchors

#: Bucket edges in pixels (after resizing to the model input): <10, 10-20, ..., >=160.
DEFAULT_EDGES = (10, 20, 40, 80, 160)
SIZE_MEASURES = ("sqrt_area", "min_side", "max_side")


def bucket_labels(edges=DEFAULT_EDGES):
    """Names of the size buckets for ``edges``: ``['<10', '10-20', ..., '>=160']``.

    Examples:
        >>> from kssd.data.stats import bucket_labels
        >>> bucket_labels((10, 20))
        ['<10', '10-20', '>=20']
    """
    edges = [float(e) for e in edges]
    if any(b <= a for a, b in zip(edges, edges[1:])) or not edges:
        raise ValueError(f"bucket edges must be increasing and non-empty, got {edges}")
    names = [f"<{edges[0]:g}"]
    names += [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])]
    names.append(f">={edges[-1]:g}")
    return names


def _record_size(record, verify):
    height, width = record.get("height"), record.get("width")
    source = record.get("image_bytes")
    if source is None:
        source = record.get("image_path")
    if verify and source is not None:
        from kssd.data.images import check_encoded_image

        source = check_encoded_image(source)[0]
    if height is None or width is None:
        from kssd.data.images import image_size

        height, width = image_size(source)
    return int(height), int(width)


def records_with_sizes(records, verify=True):
    """Records with their image sizes filled in, and the ones whose size cannot be read.

    Args:
        records: reader records (``image_path`` or ``image_bytes``, optional ``height``/``width``).
        verify: also check each image as training does (structure, JPEG scan data), so the
            records left out are exactly those training would skip; False reads sizes only.

    Returns:
        ``(kept, problems)``: records with ``height`` and ``width``, and one
        :class:`kssd.data.images.ImageReadError` per left-out record.

    Examples:
        >>> from kssd.data.stats import records_with_sizes
        >>> kept, problems = records_with_sizes([{"image_bytes": b"", "boxes": []}])
        >>> kept, [p.reason for p in problems]
        ([], ['empty file'])
    """
    from kssd.data.images import ImageReadError

    kept, problems = [], []
    for record in records:
        try:
            height, width = _record_size(record, verify)
        except ImageReadError as error:
            problems.append(error)
            continue
        kept.append({**record, "height": height, "width": width})
    return kept, problems


def _target_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    height, width = (int(v) for v in image_size)
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size must be positive (height, width), got {image_size}")
    return height, width


def box_sizes(boxes, size_measure="sqrt_area"):
    """One size per xyxy box: ``sqrt(w*h)`` (default), the shorter or the longer side.

    Args:
        boxes: (N, 4) xyxy.
        size_measure: ``"sqrt_area"`` (default), ``"min_side"`` or ``"max_side"``.

    Returns:
        float64 array (N,).

    Examples:
        >>> from kssd.data.stats import box_sizes
        >>> box_sizes([[0, 0, 4, 9]]).tolist(), box_sizes([[0, 0, 4, 9]], "min_side").tolist()
        ([6.0], [4.0])
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 0.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)
    if size_measure == "sqrt_area":
        return np.sqrt(w * h)
    if size_measure == "min_side":
        return np.minimum(w, h)
    if size_measure == "max_side":
        return np.maximum(w, h)
    raise ValueError(f"size_measure must be one of {SIZE_MEASURES}, got {size_measure!r}")


def _scaled_boxes(record, target):
    boxes = np.asarray(record["boxes"], np.float64).reshape(-1, 4)
    if target is None:
        return boxes, None
    height, width = _record_size(record, verify=False)
    scale = np.array([target[1] / width, target[0] / height] * 2)
    return boxes * scale, (height, width)


def box_size_histogram(records, image_size=None, *, edges=DEFAULT_EDGES, size_measure="sqrt_area"):
    """Count boxes per size bucket.

    Args:
        records: iterable of records.
        image_size: ``(height, width)`` (or an int for square) the images are resized
            to before measuring, default None (original pixels).
        edges: bucket edges in pixels, default ``(10, 20, 40, 80, 160)``.
        size_measure: ``"sqrt_area"`` (default), ``"min_side"`` or ``"max_side"``.

    Returns:
        Dict bucket name -> number of boxes (every bucket present, in order).

    Examples:
        >>> from kssd.data import box_size_histogram, make_record
        >>> recs = [make_record("a", [[0, 0, 5, 5], [0, 0, 30, 30]], [1, 1],
        ...                     image_path="a", height=100, width=100)]
        >>> box_size_histogram(recs, edges=(10, 20))
        {'<10': 1, '10-20': 0, '>=20': 1}
        >>> box_size_histogram(recs, (50, 50), edges=(10, 20))
        {'<10': 1, '10-20': 1, '>=20': 0}
    """
    names = bucket_labels(edges)
    counts = dict.fromkeys(names, 0)
    target = _target_size(image_size)
    for record in records:
        boxes, _ = _scaled_boxes(record, target)
        index = np.searchsorted(np.asarray(edges, np.float64), box_sizes(boxes, size_measure), side="right")
        for i in index.tolist():
            counts[names[i]] += 1
    return counts


def _unmatched_boxes(normalized, corners, match_threshold, matching):
    """bool (N,): boxes that get no positive anchor from the training matcher."""
    size = normalized[:, 2:] - normalized[:, :2]
    valid = np.logical_and(size[:, 0] > 0, size[:, 1] > 0)
    matched, positive, _ = match_anchors(normalized, valid, corners, match_threshold, matching)
    owners = np.asarray(matched)[np.asarray(positive)]
    return ~np.isin(np.arange(len(normalized)), owners)


def anchor_coverage(
    records,
    anchors,
    image_size,
    match_threshold=DEFAULT_MATCH_THRESHOLD,
    *,
    edges=DEFAULT_EDGES,
    size_measure="sqrt_area",
    matching=None,
):
    """Share of ground-truth boxes whose best anchor reaches ``match_threshold`` IoU.

    IoU is computed in normalized coordinates (box / image size against the
    normalized anchors), which equals the IoU after resizing to ``image_size``.

    Args:
        records: iterable of records (height/width are read from the image header
            when a record lacks them).
        anchors: (A, 4) normalized centre-form anchors (cx, cy, w, h), as produced by
            :func:`kssd.anchors.generate_anchors` or a model's ``anchors``.
        image_size: model input ``(height, width)`` (or an int), used for the size buckets.
        match_threshold: IoU a box's best anchor must reach, default 0.45.
        edges: size-bucket edges in pixels at ``image_size``, default
            ``(10, 20, 40, 80, 160)``.
        size_measure: ``"sqrt_area"`` (default), ``"min_side"`` or ``"max_side"``.
        matching: ``"bipartite"`` or ``"forced"`` to also count the boxes the training
            matcher leaves without any positive anchor (``"unmatched"``), default None
            (not counted).

    Returns:
        Dict with ``"boxes"`` (count), ``"covered"`` (count), ``"coverage"`` (share,
        NaN without boxes), ``"mean_best_iou"``, ``"match_threshold"``, ``"matching"``,
        ``"unmatched"`` (count, None without ``matching``) and ``"buckets"``: bucket name ->
        ``{"boxes", "covered", "coverage", "mean_best_iou", "unmatched"}``.

    Examples:
        >>> import numpy as np
        >>> from kssd.anchors import generate_anchors
        >>> from kssd.data import anchor_coverage, make_record
        >>> anchors = generate_anchors((240, 320), steps=[8, 16, 32, 64],
        ...     min_sizes=[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]])
        >>> recs = [make_record("a", [[100, 100, 116, 116]], [1], image_path="a",
        ...                     height=240, width=320)]
        >>> result = anchor_coverage(recs, anchors, (240, 320), matching="bipartite")
        >>> result["coverage"], result["unmatched"]
        (1.0, 0)
    """
    target = _target_size(image_size)
    if target is None:
        raise ValueError("anchor_coverage needs image_size (the model input size)")
    anchors = np.asarray(anchors, np.float32).reshape(-1, 4)
    if anchors.size == 0:
        raise ValueError("anchors is empty; expected (A, 4) normalized cx, cy, w, h")
    if matching is not None:
        check_matching(matching, match_threshold, None)
    corners = np.asarray(center_to_corners(anchors), np.float32)
    names = bucket_labels(edges)
    edge_array = np.asarray(edges, np.float64)
    per_bucket = {name: [] for name in names}  # (best IoU, unmatched) per box
    for record in records:
        boxes, (height, width) = _scaled_boxes(record, target)
        if len(boxes) == 0:
            continue
        normalized = (boxes / np.array([target[1], target[0]] * 2)).astype(np.float32)
        best = np.asarray(iou(normalized, corners), np.float32).max(axis=1)
        unmatched = (
            np.zeros(len(boxes), bool)
            if matching is None
            else _unmatched_boxes(normalized, corners, match_threshold, matching)
        )
        index = np.searchsorted(edge_array, box_sizes(boxes, size_measure), side="right")
        for i, value, lost in zip(index.tolist(), best.tolist(), unmatched.tolist()):
            per_bucket[names[i]].append((value, lost))

    def summary(entries):
        values = np.asarray([value for value, _ in entries], np.float64)
        covered = int(np.sum(values >= match_threshold))
        return {
            "boxes": int(values.size),
            "covered": covered,
            "coverage": covered / values.size if values.size else math.nan,
            "mean_best_iou": float(values.mean()) if values.size else math.nan,
            "unmatched": None if matching is None else sum(lost for _, lost in entries),
        }

    everything = summary([e for entries in per_bucket.values() for e in entries])
    return {
        **everything,
        "match_threshold": float(match_threshold),
        "matching": matching,
        "image_size": target,
        "buckets": {name: summary(values) for name, values in per_bucket.items()},
    }


def format_stats_table(histogram, coverage=None, title=None):
    """Text table of a size histogram, with anchor coverage columns when given.

    Args:
        histogram: result of :func:`box_size_histogram`.
        coverage: result of :func:`anchor_coverage`, default None.
        title: first line, default None.

    Returns:
        The table as a string.

    Examples:
        >>> from kssd.data.stats import format_stats_table
        >>> print(format_stats_table({"<10": 1, ">=10": 3}))
        size (px)      boxes   share
        <10                1   25.0%
        >=10               3   75.0%
        total              4  100.0%
    """
    total = sum(histogram.values())
    lines = [title] if title else []
    header = f"{'size (px)':<12}{'boxes':>8}{'share':>8}"
    counts_unmatched = coverage is not None and coverage.get("matching") is not None
    if coverage is not None:
        header += f"{'covered':>10}{'coverage':>10}{'best IoU':>10}"
    if counts_unmatched:
        header += f"{'no anchor':>11}"
    lines.append(header)

    def share(n, d):
        return f"{100.0 * n / d:.1f}%" if d else "-"

    rows = list(histogram.items()) + [("total", total)]
    for name, count in rows:
        line = f"{name:<12}{count:>8d}{share(count, total):>8}"
        if coverage is not None:
            entry = coverage if name == "total" else coverage["buckets"].get(name)
            if entry is not None:
                best = entry["mean_best_iou"]
                line += (
                    f"{entry['covered']:>10d}{share(entry['covered'], entry['boxes']):>10}"
                    f"{('-' if math.isnan(best) else f'{best:.3f}'):>10}"
                )
                if counts_unmatched:
                    line += f"{entry['unmatched']:>11d}"
        lines.append(line)
    if coverage is not None:
        lines.append(
            f"covered = best anchor IoU >= {coverage['match_threshold']:g} "
            f"at input {coverage['image_size'][0]}x{coverage['image_size'][1]} (HxW)"
        )
    if counts_unmatched:
        lines.append(
            f"no anchor = boxes without any positive anchor under "
            f"{coverage['matching']} matching (never a training target)"
        )
    return "\n".join(lines)
