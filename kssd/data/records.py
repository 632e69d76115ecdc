"""Record helpers: validation, box clipping/dropping with counts, and the dataset report.

A *record* is the per-image dict every reader yields (see :mod:`kssd.data`). Bad data
is never dropped silently: the helpers here record every skipped image and every
dropped or clipped box in a :class:`DatasetStats`, whose :meth:`DatasetStats.table`
is the summary printed by ``kssd data convert``.

Examples:
    >>> import numpy as np
    >>> from kssd.data.records import DatasetStats, sanitize_boxes
    >>> stats = DatasetStats()
    >>> rec = {"image_id": "a.jpg", "height": 10, "width": 10,
    ...        "boxes": np.array([[-2, 0, 5, 5], [3, 3, 3, 8]], np.float32),
    ...        "labels": np.array([1, 1], np.int32), "attributes": {}}
    >>> sanitize_boxes(rec, stats)["boxes"].tolist()
    [[0.0, 0.0, 5.0, 5.0]]
    >>> stats.boxes_clipped, stats.boxes_dropped
    ({'partly outside the image': 1}, {'zero width or height': 1})
"""

from collections import Counter

import numpy as np

RECORD_KEYS = ("image_id", "image_path", "image_bytes", "height", "width", "boxes", "labels", "attributes")


def make_record(
    image_id,
    boxes=None,
    labels=None,
    *,
    image_path=None,
    image_bytes=None,
    height=None,
    width=None,
    attributes=None,
):
    """Build a record with the agreed key set and dtypes.

    Args:
        image_id: identifier, the image path relative to the dataset root.
        boxes: (N, 4) absolute xyxy pixels, default None (no boxes).
        labels: (N,) class ids 1..C, default None (no boxes).
        image_path: path of the image file, default None.
        image_bytes: encoded image bytes, default None.
        height: image height in pixels when known, default None.
        width: image width in pixels when known, default None.
        attributes: dict name -> (N,) array, default None (empty).

    Returns:
        The record dict (float32 boxes, int32 labels).

    Examples:
        >>> from kssd.data.records import make_record
        >>> r = make_record("a.jpg", [[0, 0, 4, 4]], [2], image_path="/d/a.jpg")
        >>> r["boxes"].dtype, r["labels"].tolist()
        (dtype('float32'), [2])
    """
    boxes = np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32)
    labels = np.zeros((0,), np.int32) if labels is None else np.asarray(labels, np.int32)
    return {
        "image_id": str(image_id),
        "image_path": None if image_path is None else str(image_path),
        "image_bytes": image_bytes,
        "height": None if height is None else int(height),
        "width": None if width is None else int(width),
        "boxes": boxes.reshape(-1, 4),
        "labels": labels.reshape(-1),
        "attributes": {k: np.asarray(v).reshape(-1) for k, v in (attributes or {}).items()},
    }


def validate_record(record, num_classes=None):
    """Check a record against the record contract and return it with normalized dtypes.

    Args:
        record: the record dict.
        num_classes: number of object classes C (class ids must be 1..C; background
            0 is never a box label), default None (ids only need to be >= 1).

    Returns:
        A shallow copy with ``boxes`` float32 (N, 4), ``labels`` int32 (N,) and
        attribute arrays of length N.

    Raises:
        ValueError: naming the image and what is wrong (missing image source, shape
            mismatch, label out of range, non-finite box, x_max < x_min ...).

    Examples:
        >>> import numpy as np
        >>> from kssd.data.records import validate_record
        >>> validate_record({"image_id": "a.jpg", "image_path": "a.jpg",
        ...                  "boxes": [[0, 0, 1, 1]], "labels": [0]})
        Traceback (most recent call last):
        ...
        ValueError: record 'a.jpg': labels must be class ids >= 1 (0 is background), got [0]
    """
    image_id = record.get("image_id")
    where = f"record {image_id!r}"
    if image_id is None:
        raise ValueError("record without an image_id")
    if record.get("image_path") is None and record.get("image_bytes") is None:
        raise ValueError(f"{where}: neither image_path nor image_bytes is set")
    try:
        boxes = np.asarray(record.get("boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
    except ValueError:
        raise ValueError(f"{where}: boxes must have shape (N, 4)") from None
    labels = np.asarray(record.get("labels", np.zeros((0,))))
    if labels.ndim != 1 or len(labels) != len(boxes):
        raise ValueError(f"{where}: {len(boxes)} boxes but labels of shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int32)
    if labels.size and labels.min() < 1:
        raise ValueError(
            f"{where}: labels must be class ids >= 1 (0 is background), "
            f"got {sorted(set(labels[labels < 1].tolist()))}"
        )
    if num_classes is not None and labels.size and labels.max() > num_classes:
        raise ValueError(f"{where}: label {int(labels.max())} exceeds num_classes={num_classes}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{where}: boxes hold non-finite values")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError(f"{where}: boxes must be xyxy with x_max >= x_min and y_max >= y_min")
    attributes = {}
    for name, values in (record.get("attributes") or {}).items():
        values = np.asarray(values).reshape(-1)
        if len(values) != len(boxes):
            raise ValueError(f"{where}: attribute {name!r} has {len(values)} values for {len(boxes)} boxes")
        attributes[name] = values
    for key in ("height", "width"):
        value = record.get(key)
        if value is not None and int(value) <= 0:
            raise ValueError(f"{where}: {key} must be positive, got {value}")
    return dict(record, boxes=boxes, labels=labels, attributes=attributes)


def select_boxes(record, keep):
    """Copy of ``record`` keeping only the boxes (and labels, attributes) where ``keep``.

    Args:
        record: the record dict.
        keep: boolean mask (N,) or integer indices.

    Returns:
        The filtered record (a shallow copy).

    Examples:
        >>> import numpy as np
        >>> from kssd.data.records import make_record, select_boxes
        >>> r = make_record("a", [[0, 0, 1, 1], [0, 0, 2, 2]], [1, 2])
        >>> select_boxes(r, np.array([False, True]))["labels"].tolist()
        [2]
    """
    keep = np.asarray(keep)
    attributes = {k: np.asarray(v)[keep] for k, v in (record.get("attributes") or {}).items()}
    return dict(
        record,
        boxes=np.asarray(record["boxes"], np.float32).reshape(-1, 4)[keep],
        labels=np.asarray(record["labels"], np.int32)[keep],
        attributes=attributes,
    )


def clip_boxes(boxes, height, width):
    """Clip xyxy pixel boxes to the image ``[0, width] x [0, height]``.

    Args:
        boxes: (N, 4) absolute xyxy.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        ``(clipped, changed)``: the clipped float32 boxes and a boolean (N,) mask of
        the boxes that were changed.

    Examples:
        >>> from kssd.data.records import clip_boxes
        >>> b, changed = clip_boxes([[-1, 2, 12, 5], [1, 1, 2, 2]], 10, 10)
        >>> b.tolist(), changed.tolist()
        ([[0.0, 2.0, 10.0, 5.0], [1.0, 1.0, 2.0, 2.0]], [True, False])
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    limits = np.array([width, height, width, height], np.float32)
    clipped = np.clip(boxes, 0.0, limits)
    return clipped, np.any(clipped != boxes, axis=1)


def sanitize_boxes(record, stats=None, *, min_size=0.0, tolerance=0.5):
    """Clip a record's boxes to its image and drop boxes with no area, counting both.

    Boxes fully outside the image are dropped (reason ``"outside the image"``); boxes
    with width or height ``<= min_size`` (after clipping) are dropped (reason
    ``"zero width or height"``, or ``"smaller than <min_size> px"``); boxes with
    non-finite coordinates are dropped (``"non-finite coordinates"``). Boxes partly
    outside are clipped and counted (``"partly outside the image"``) when they stick
    out by more than ``tolerance`` pixels; smaller overshoots (rounding of normalized
    coordinates, e.g. YOLO's ``cx + w/2 = 1.0000003``) are clipped without counting.
    Without ``height``/``width`` only the size checks apply.

    Args:
        record: the record dict.
        stats: :class:`DatasetStats` to count into, default None (no counting).
        min_size: boxes whose width or height is ``<= min_size`` pixels are dropped,
            default 0.0 (only degenerate boxes).
        tolerance: overshoot in pixels clipped without being counted, default 0.5.

    Returns:
        The cleaned record (a shallow copy).

    Examples:
        >>> import numpy as np
        >>> from kssd.data.records import make_record, sanitize_boxes
        >>> r = make_record("a", [[20, 20, 30, 30]], [1], height=10, width=10)
        >>> len(sanitize_boxes(r)["boxes"])
        0
    """
    boxes = np.asarray(record["boxes"], np.float32).reshape(-1, 4)
    image_id = record.get("image_id")
    finite = np.all(np.isfinite(boxes), axis=1)
    boxes = np.where(finite[:, None], boxes, 0.0)
    height, width = record.get("height"), record.get("width")
    if height is not None and width is not None:
        outside = (
            (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
        ) & finite
        clipped, _ = clip_boxes(boxes, height, width)
        changed = np.max(np.abs(clipped - boxes), axis=1) > tolerance if len(boxes) else (np.zeros(0, bool))
        boxes = clipped
    else:
        outside = np.zeros(len(boxes), bool)
        changed = np.zeros(len(boxes), bool)
    size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    small = (size <= min_size) & finite & ~outside
    keep = finite & ~outside & ~small
    if stats is not None:
        stats.drop_boxes("non-finite coordinates", int(np.sum(~finite)), image_id)
        stats.drop_boxes("outside the image", int(np.sum(outside)), image_id)
        reason = "zero width or height" if min_size <= 0 else f"smaller than {min_size:g} px"
        stats.drop_boxes(reason, int(np.sum(small)), image_id)
        stats.clip_boxes("partly outside the image", int(np.sum(changed & keep)), image_id)
    return select_boxes(dict(record, boxes=boxes), keep)


class DatasetStats:
    """Counts of what a reader read or a conversion wrote, with reasons for every loss.

    Args:
        max_examples: how many example image ids to remember per reason, default 5.

    Attributes:
        images: records produced (read, or written by a conversion).
        boxes: boxes in those records.
        background_images: records without any box.
        images_seen: records looked at (written + skipped) by a conversion.
        images_skipped: dict reason -> count of images that were skipped.
        boxes_dropped: dict reason -> count of boxes that were removed.
        boxes_clipped: dict reason -> count of boxes that were clipped.
        notes: dict description -> count of other events (e.g. re-encoded images).
        examples: dict reason -> list of example image ids.

    Examples:
        >>> from kssd.data.records import DatasetStats
        >>> s = DatasetStats()
        >>> s.skip_image("truncated image", "b.jpg")
        >>> s.images_skipped, s.examples["truncated image"]
        ({'truncated image': 1}, ['b.jpg'])
    """

    def __init__(self, max_examples=5):
        self.max_examples = int(max_examples)
        self.images = 0
        self.boxes = 0
        self.background_images = 0
        self.images_seen = 0
        self.labels = Counter()
        self.images_skipped = {}
        self.boxes_dropped = {}
        self.boxes_clipped = {}
        self.notes = {}
        self.examples = {}

    @property
    def images_written(self):
        """Alias of :attr:`images` for conversions."""
        return self.images

    def _remember(self, reason, image_id):
        if image_id is None:
            return
        ids = self.examples.setdefault(reason, [])
        if len(ids) < self.max_examples and str(image_id) not in ids:
            ids.append(str(image_id))

    @staticmethod
    def _add(table, reason, count):
        table[reason] = table.get(reason, 0) + int(count)

    def add_record(self, record):
        """Count one produced record (its boxes, labels, background or not)."""
        labels = np.asarray(record.get("labels", ()), np.int64).reshape(-1)
        self.images += 1
        self.boxes += int(len(labels))
        self.labels.update(labels.tolist())
        if len(labels) == 0:
            self.background_images += 1

    add_written = add_record

    def skip_image(self, reason, image_id=None):
        """Count one skipped image under ``reason``."""
        self._add(self.images_skipped, reason, 1)
        self._remember(reason, image_id)

    def drop_boxes(self, reason, count=1, image_id=None):
        """Count ``count`` dropped boxes under ``reason`` (no-op for 0)."""
        if count:
            self._add(self.boxes_dropped, reason, count)
            self._remember(reason, image_id)

    def clip_boxes(self, reason, count=1, image_id=None):
        """Count ``count`` clipped boxes under ``reason`` (no-op for 0)."""
        if count:
            self._add(self.boxes_clipped, reason, count)
            self._remember(reason, image_id)

    def count(self, note, count=1, image_id=None):
        """Count another event (e.g. ``"images re-encoded as JPEG: CMYK JPEG"``)."""
        if count:
            self._add(self.notes, note, count)
            self._remember(note, image_id)

    def merge_issues(self, other):
        """Add ``other``'s skipped/dropped/clipped/notes counts (not its image counts)."""
        for name in ("images_skipped", "boxes_dropped", "boxes_clipped", "notes"):
            mine = getattr(self, name)
            for reason, count in getattr(other, name).items():
                self._add(mine, reason, count)
        for reason, ids in other.examples.items():
            for image_id in ids:
                self._remember(reason, image_id)
        return self

    @property
    def num_images_skipped(self):
        """Total number of skipped images."""
        return sum(self.images_skipped.values())

    @property
    def num_boxes_dropped(self):
        """Total number of dropped boxes."""
        return sum(self.boxes_dropped.values())

    @property
    def num_boxes_clipped(self):
        """Total number of clipped boxes."""
        return sum(self.boxes_clipped.values())

    def as_dict(self):
        """Plain-JSON dict of every count."""
        return {
            "images": self.images,
            "boxes": self.boxes,
            "background_images": self.background_images,
            "boxes_per_class": {str(k): v for k, v in sorted(self.labels.items())},
            "images_skipped": dict(self.images_skipped),
            "boxes_dropped": dict(self.boxes_dropped),
            "boxes_clipped": dict(self.boxes_clipped),
            "notes": dict(self.notes),
        }

    def rows(self, images_label="images"):
        """(description, count) rows of the summary table."""
        rows = [
            (images_label, self.images),
            ("boxes", self.boxes),
            ("background images (no boxes)", self.background_images),
        ]
        rows.append(("images skipped", self.num_images_skipped))
        rows += [(f"  {reason}", n) for reason, n in sorted(self.images_skipped.items())]
        rows.append(("boxes dropped", self.num_boxes_dropped))
        rows += [(f"  {reason}", n) for reason, n in sorted(self.boxes_dropped.items())]
        rows.append(("boxes clipped", self.num_boxes_clipped))
        rows += [(f"  {reason}", n) for reason, n in sorted(self.boxes_clipped.items())]
        rows += [(note, n) for note, n in sorted(self.notes.items())]
        return rows

    def table(self, title=None, images_label="images", show_examples=True):
        """Text summary table (one row per count and reason).

        Args:
            title: first line, default None.
            images_label: label of the image-count row, default ``"images"``.
            show_examples: list example image ids for every reason, default True.

        Returns:
            The table as a string.

        Examples:
            >>> from kssd.data.records import DatasetStats
            >>> DatasetStats().table().splitlines()[1].split()
            ['images', '0']
        """
        rows = self.rows(images_label)
        width = max(32, max(len(name) for name, _ in rows) + 2)
        lines = [title] if title else []
        lines.append("-" * (width + 10))
        lines += [f"{name:<{width}}{count:>10d}" for name, count in rows]
        lines.append("-" * (width + 10))
        if show_examples:
            for reason, ids in sorted(self.examples.items()):
                lines.append(f"{reason}: e.g. {', '.join(ids)}")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"DatasetStats(images={self.images}, boxes={self.boxes}, "
            f"images_skipped={self.num_images_skipped}, "
            f"boxes_dropped={self.num_boxes_dropped}, "
            f"boxes_clipped={self.num_boxes_clipped})"
        )


class ParsedReader:
    """Base of the readers that parse their annotation files up front into ``self._records``.

    Subclasses fill ``self._records`` (a list of records) and ``self.stats`` in ``__init__``;
    iteration yields a shallow copy of each record, so callers may modify what they get.
    """

    def __len__(self):
        return len(self._records)

    def __iter__(self):
        for record in self._records:
            yield dict(record)
