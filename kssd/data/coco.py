"""Reader for COCO-format JSON detection annotations.

Layout under the dataset root (either image location works)::

    annotations/instances_train2017.json
    images/train2017/000000000009.jpg      or      train2017/000000000009.jpg

COCO category ids are sparse (1..90 for the 80 COCO classes); the reader maps them,
sorted, to contiguous class ids 1..C and keeps the original ids
(:attr:`COCOReader.category_ids`) so detections can be written back in COCO ids for
evaluation. ``bbox`` is ``[x, y, w, h]`` in pixels and becomes xyxy. Images without
annotations are background records; the ``iscrowd`` flag is kept as an attribute.
"""

import json
from pathlib import Path

import numpy as np

from kssd.data.records import DatasetStats, ParsedReader, make_record


class COCOReader(ParsedReader):
    """Read a COCO instances JSON (one record per image).

    Args:
        root: dataset root, or None when ``annotation_file`` and ``image_dir`` are given.
        split: split name, e.g. ``"train2017"`` (reads
            ``<root>/annotations/instances_<split>.json``), default ``"train2017"``.
        annotation_file: path of the JSON file, default None (from root and split).
        image_dir: folder holding the images, default None (``<root>/images/<split>``
            or ``<root>/<split>``, whichever exists).

    Attributes:
        class_names: category names in class-id order (class id = index + 1).
        category_ids: original COCO category id of each class (index = class id - 1).
        category_id_to_label: dict original category id -> contiguous class id.
        stats: :class:`kssd.data.records.DatasetStats` of the parsed file.

    Raises:
        FileNotFoundError: the JSON file is missing.
        ValueError: invalid JSON, or an annotation with an unknown category or a
            malformed ``bbox`` (the message names the file and annotation id).

    Examples:
        >>> from kssd.data import COCOReader
        >>> reader = COCOReader("coco128", split="train2017")  # doctest: +SKIP
        >>> len(reader), len(reader.class_names), reader.category_ids[:3]  # doctest: +SKIP
        (128, 80, [1, 2, 3])
    """

    format_name = "coco"

    def __init__(self, root=None, split="train2017", *, annotation_file=None, image_dir=None):
        self.root = Path(root) if root is not None else None
        self.split = split
        if annotation_file is None:
            if self.root is None:
                raise ValueError("COCOReader needs root or annotation_file")
            annotation_file = self.root / "annotations" / f"instances_{split}.json"
        self.annotation_file = Path(annotation_file)
        if not self.annotation_file.is_file():
            raise FileNotFoundError(f"COCO annotation file not found: {self.annotation_file}")
        if image_dir is None:
            base = self.root if self.root is not None else self.annotation_file.parent.parent
            candidates = [base / "images" / split, base / split, base / "images"]
            image_dir = next((c for c in candidates if c.is_dir()), candidates[0])
        self.image_dir = Path(image_dir)
        self.stats = DatasetStats()
        self._records = self._parse()

    @staticmethod
    def available_splits(root):
        """Splits with an ``annotations/instances_<split>.json`` file under ``root``.

        Examples:
            >>> from kssd.data import COCOReader
            >>> COCOReader.available_splits("/nonexistent")
            []
        """
        folder = Path(root) / "annotations"
        return sorted(p.stem[len("instances_") :] for p in folder.glob("instances_*.json"))

    def label_to_category_id(self, label):
        """Original COCO category id of contiguous class id ``label`` (1..C)."""
        return self.category_ids[int(label) - 1]

    def coco_image_id(self, image_id):
        """Original COCO image id (int) of a record's ``image_id``."""
        return self._coco_image_ids[image_id]

    def _parse(self):
        path = self.annotation_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: invalid JSON ({error})") from None
        if not isinstance(data, dict):
            raise ValueError(
                f"{path}: expected a COCO object with 'images' and 'categories', got {type(data).__name__}"
            )
        for key in ("images", "categories"):
            if not isinstance(data.get(key), list):
                raise ValueError(f"{path}: missing the {key!r} list of a COCO file")
        for index, category in enumerate(data["categories"]):
            _require(path, "categories", index, category, {"id": _is_int, "name": _is_name})
        for index, image in enumerate(data["images"]):
            _require(path, "images", index, image, {"id": _is_hashable, "file_name": _is_name})
        categories = sorted(data["categories"], key=lambda c: c["id"])
        self.category_ids = [int(c["id"]) for c in categories]
        self.class_names = [str(c["name"]) for c in categories]
        self.category_id_to_label = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        by_image = {}
        images = {}
        for image in data["images"]:
            images[image["id"]] = image
            by_image[image["id"]] = []
        for index, ann in enumerate(data.get("annotations", [])):
            if not isinstance(ann, dict):
                raise ValueError(f"{path}: annotations[{index}] must be an object, got {type(ann).__name__}")
            if not _is_hashable(ann.get("image_id")) or ann.get("image_id") not in by_image:
                self.stats.drop_boxes("annotation of an unknown image id", 1, ann.get("id"))
                continue
            by_image[ann["image_id"]].append(ann)
        records = []
        self._coco_image_ids = {}
        for image_key, image in images.items():
            file_name = str(image["file_name"])
            image_path = self.image_dir / file_name
            image_id = file_name
            if self.root is not None:
                try:
                    image_id = image_path.relative_to(self.root).as_posix()
                except ValueError:
                    pass
            self._coco_image_ids[image_id] = image_key
            boxes, labels, crowd = [], [], []
            for ann in by_image[image_key]:
                category = ann.get("category_id")
                if category not in self.category_id_to_label:
                    raise ValueError(
                        f"{path}: annotation {ann.get('id')} has category_id {category}, "
                        "which is not in 'categories'"
                    )
                bbox = ann.get("bbox")
                if (
                    not isinstance(bbox, (list, tuple))
                    or len(bbox) != 4
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
                ):
                    raise ValueError(
                        f"{path}: annotation {ann.get('id')} needs bbox [x, y, w, h] of 4 numbers, got {bbox!r}"
                    )
                x, y, w, h = (float(v) for v in bbox)
                if w <= 0 or h <= 0:
                    self.stats.drop_boxes("zero width or height", 1, image_id)
                    continue
                boxes.append([x, y, x + w, y + h])
                labels.append(self.category_id_to_label[category])
                crowd.append(int(ann.get("iscrowd", 0)))
            record = make_record(
                image_id,
                np.asarray(boxes, np.float32).reshape(-1, 4),
                labels,
                image_path=image_path,
                height=image.get("height") or None,
                width=image.get("width") or None,
                attributes={"iscrowd": np.asarray(crowd, np.int32)},
            )
            self.stats.add_record(record)
            records.append(record)
        return records

    def __repr__(self):
        return (
            f"COCOReader(annotation_file={str(self.annotation_file)!r}, "
            f"images={len(self)}, boxes={self.stats.boxes})"
        )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_name(value):
    return isinstance(value, str) and bool(value)


def _is_hashable(value):
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _require(path, section, index, entry, checks):
    """Raise a ValueError naming the file, the entry and the key when a required key is bad."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: {section}[{index}] must be an object, got {type(entry).__name__}")
    for key, check in checks.items():
        if key not in entry:
            raise ValueError(f"{path}: {section}[{index}] has no {key!r}")
        if not check(entry[key]):
            raise ValueError(f"{path}: {section}[{index}].{key} is invalid: {entry[key]!r}")
