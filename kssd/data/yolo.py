"""Reader for YOLO (Darknet/Ultralytics) txt labels.

Layout under the dataset root::

    images/<split>/name.jpg
    labels/<split>/name.txt     one line per box: ``cls cx cy w h`` (normalized 0..1)
    <any>.yaml                  optional, with ``names`` (list, or dict id -> name)

Class ids are 0-based in the files and become 1..C in records. Polygon lines
(``cls x1 y1 x2 y2 ...``, Ultralytics segments) are read as their bounding box. An
image without a label file is a background image; a label file without an image is
ignored with a warning and counted (``stats.notes``). Normalized boxes are turned into
pixels with the image size read from the file header (EXIF rotation applied, the size
the image is displayed and annotated at); an image whose header cannot be read is
skipped and counted.
"""

import warnings
from pathlib import Path

import numpy as np

from kssd.data.images import IMAGE_SUFFIXES, ImageReadError, image_size
from kssd.data.records import DatasetStats, make_record

ORPHAN_NOTE = "label files without an image (ignored)"


def _load_names(path):
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    names = data.get("names") if isinstance(data, dict) else None
    if names is None:
        return None
    if isinstance(names, dict):
        keys = sorted(int(k) for k in names)
        if keys != list(range(len(keys))):
            raise ValueError(f"{path}: 'names' ids must be 0..{len(keys) - 1}, got {keys}")
        return [str(names[k] if k in names else names[str(k)]) for k in keys]
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    raise ValueError(f"{path}: 'names' must be a list or a mapping id -> name")


class YOLOReader:
    """Read YOLO txt labels (one record per image).

    Args:
        root: dataset root with ``images/<split>/`` and ``labels/<split>/``.
        split: split folder name, e.g. ``"train2017"`` or ``"train"``, default ``"train"``.
        class_names: class names for ids 0..C-1 of the files, default None (the
            ``names`` of a YAML file in ``root``, or ``"0"``, ``"1"``, ... up to the
            largest id found).
        data_yaml: YAML file with ``names``, default None (the first ``*.yaml`` /
            ``*.yml`` in ``root`` holding ``names``).

    Attributes:
        class_names: list of names (class id = index + 1).
        orphan_labels: label files without an image (relative paths).
        stats: :class:`kssd.data.records.DatasetStats`.

    Raises:
        FileNotFoundError: ``images/<split>`` is missing.
        ValueError: a malformed label line or a class id outside ``class_names`` (the
            message names the file and line number).

    Examples:
        >>> from kssd.data import YOLOReader
        >>> reader = YOLOReader("coco128", split="train2017")  # doctest: +SKIP
        >>> len(reader), reader.stats.background_images  # doctest: +SKIP
        (128, 2)
    """

    format_name = "yolo"

    def __init__(self, root, split="train", *, class_names=None, data_yaml=None):
        self.root = Path(root)
        self.split = split
        self.image_dir = self.root / "images" / split
        self.label_dir = self.root / "labels" / split
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"YOLO image folder not found: {self.image_dir}")
        if class_names is None:
            yaml_files = (
                [Path(data_yaml)]
                if data_yaml is not None
                else sorted(list(self.root.glob("*.yaml")) + list(self.root.glob("*.yml")))
            )
            for path in yaml_files:
                class_names = _load_names(path)
                if class_names is not None:
                    break
        self.stats = DatasetStats()
        self._sizes = {}
        self._items = self._parse(class_names)

    @staticmethod
    def available_splits(root):
        """Sub-folders of ``<root>/images`` holding images.

        Examples:
            >>> from kssd.data import YOLOReader
            >>> YOLOReader.available_splits("/nonexistent")
            []
        """
        images = Path(root) / "images"
        if not images.is_dir():
            return []
        return sorted(
            p.name
            for p in images.iterdir()
            if p.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir())
        )

    def _parse(self, class_names):
        images = sorted(
            p for p in self.image_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        stems = {p.stem for p in images}
        labels = sorted(self.label_dir.glob("*.txt")) if self.label_dir.is_dir() else []
        self.orphan_labels = [p.relative_to(self.root).as_posix() for p in labels if p.stem not in stems]
        if self.orphan_labels:
            self.stats.count(ORPHAN_NOTE, len(self.orphan_labels))
            for name in self.orphan_labels:
                self.stats._remember(ORPHAN_NOTE, name)
            warnings.warn(
                f"{len(self.orphan_labels)} label file(s) in {self.label_dir} have no image "
                f"and are ignored: {', '.join(self.orphan_labels[:5])}"
                + (" ..." if len(self.orphan_labels) > 5 else ""),
                stacklevel=3,
            )
        items = []
        max_id = -1
        for image in images:
            label_file = self.label_dir / f"{image.stem}.txt"
            rows = self._read_labels(label_file) if label_file.is_file() else np.zeros((0, 5))
            if len(rows):
                max_id = max(max_id, int(rows[:, 0].max()))
            items.append((image, rows))
        if class_names is None:
            class_names = [str(i) for i in range(max_id + 1)]
        self.class_names = list(class_names)
        if max_id >= len(self.class_names):
            bad = next(
                image for image, rows in items if len(rows) and rows[:, 0].max() > len(self.class_names) - 1
            )
            raise ValueError(
                f"{self.label_dir / (bad.stem + '.txt')}: class id {max_id} but only "
                f"{len(self.class_names)} class names"
            )
        for image, rows in items:
            keep = (rows[:, 3] > 0) & (rows[:, 4] > 0)
            image_id = image.relative_to(self.root).as_posix()
            self.stats.drop_boxes("zero width or height", int(np.sum(~keep)), image_id)
            self.stats.add_record({"labels": rows[keep, 0].astype(np.int32) + 1})
        return [(image, rows[(rows[:, 3] > 0) & (rows[:, 4] > 0)]) for image, rows in items]

    def _read_labels(self, path):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                values = [float(v) for v in fields]
            except ValueError:
                raise ValueError(f"{path}:{number}: non-numeric value in {line.strip()!r}") from None
            if len(values) == 5:
                cls, cx, cy, w, h = values
            elif len(values) >= 7 and len(values) % 2 == 1:  # polygon: cls x1 y1 x2 y2 ...
                points = np.asarray(values[1:]).reshape(-1, 2)
                (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
                cls, cx, cy, w, h = values[0], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
            else:
                raise ValueError(
                    f"{path}:{number}: expected 'class cx cy w h' (5 numbers), got "
                    f"{len(values)}: {line.strip()!r}"
                )
            if cls < 0 or cls != int(cls):
                raise ValueError(f"{path}:{number}: class id must be an integer >= 0, got {cls:g}")
            if w < 0 or h < 0:
                raise ValueError(f"{path}:{number}: negative width or height in {line.strip()!r}")
            rows.append([cls, cx, cy, w, h])
        return np.asarray(rows, np.float64).reshape(-1, 5)

    def _size(self, image):
        if image not in self._sizes:
            try:
                self._sizes[image] = image_size(image)
            except ImageReadError as error:
                self._sizes[image] = None
                self.stats.skip_image(error.reason, image.relative_to(self.root).as_posix())
        return self._sizes[image]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        for image, rows in self._items:
            image_id = image.relative_to(self.root).as_posix()
            size = self._size(image)
            if size is None:
                continue
            height, width = size
            cx, cy, w, h = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]
            boxes = np.stack(
                [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
                axis=-1,
            )
            yield make_record(
                image_id, boxes, rows[:, 0].astype(np.int32) + 1, image_path=image, height=height, width=width
            )

    def __repr__(self):
        return (
            f"YOLOReader(root={str(self.root)!r}, split={self.split!r}, "
            f"images={len(self)}, boxes={self.stats.boxes})"
        )
