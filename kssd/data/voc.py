"""Reader for Pascal VOC XML annotations.

Layout under the dataset root (a ``VOC2007``/``VOC2012`` folder)::

    Annotations/000005.xml
    JPEGImages/000005.jpg
    ImageSets/Main/train.txt   (one image id per line; also val, trainval, test)

VOC pixel coordinates are 1-based and inclusive (``xmin=1`` is the first pixel
column); they are turned into continuous pixel coordinates as
``(xmin - 1, ymin - 1, xmax, ymax)`` so a box covering the whole image is
``(0, 0, width, height)``, as for every other kssd reader.
"""

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from kssd.data.records import DatasetStats, ParsedReader, make_record

#: The 20 Pascal VOC classes, in the usual order (class id = index + 1).
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


class VOCReader(ParsedReader):
    """Read Pascal VOC XML annotations (one record per image).

    Args:
        root: dataset root with ``Annotations/``, ``JPEGImages/`` and optionally
            ``ImageSets/Main/<split>.txt``.
        split: image-set name (``"train"``, ``"val"``, ``"trainval"``, ``"test"``), default
            ``"trainval"``; None or ``"all"`` reads every XML file in ``Annotations/``.
        class_names: class names in id order (class id = index + 1), default None
            (the 20 VOC classes). Objects of other classes are dropped and counted.
        one_based: convert VOC's 1-based inclusive pixel indices to continuous
            coordinates (subtract 1 from ``xmin``/``ymin``), default True.

    Attributes:
        class_names: list of class names.
        stats: :class:`kssd.data.records.DatasetStats` of the parsed files.

    Raises:
        FileNotFoundError: the split file or an annotation file is missing.
        ValueError: an XML file that cannot be parsed or lacks box coordinates (the
            message names the file).

    Examples:
        >>> from kssd.data import VOCReader
        >>> reader = VOCReader("VOCdevkit/VOC2007", split="test")  # doctest: +SKIP
        >>> record = next(iter(reader))  # doctest: +SKIP
        >>> sorted(record["attributes"])  # doctest: +SKIP
        ['difficult', 'truncated']
    """

    format_name = "voc"

    def __init__(self, root, split="trainval", *, class_names=None, one_based=True):
        self.root = Path(root)
        self.split = split
        self.class_names = list(class_names) if class_names is not None else list(VOC_CLASSES)
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names has duplicates: {self.class_names}")
        self._ids = {name: i + 1 for i, name in enumerate(self.class_names)}
        self.one_based = bool(one_based)
        annotations = self.root / "Annotations"
        if not annotations.is_dir():
            raise FileNotFoundError(f"VOC Annotations folder not found: {annotations}")
        self.stats = DatasetStats()
        self._records = [self._parse(path) for path in self._annotation_files()]

    @staticmethod
    def available_splits(root):
        """Image sets found in ``ImageSets/Main`` (``["all"]`` if there is none).

        Examples:
            >>> from kssd.data import VOCReader
            >>> VOCReader.available_splits("/nonexistent")
            []
        """
        root = Path(root)
        if not (root / "Annotations").is_dir():
            return []
        main = root / "ImageSets" / "Main"
        splits = [s for s in ("train", "val", "trainval", "test") if (main / f"{s}.txt").is_file()]
        if not splits:
            return ["all"]
        if "trainval" in splits and "train" in splits and "val" in splits:
            splits.remove("trainval")  # converting train and val already covers it
        return splits

    def _annotation_files(self):
        annotations = self.root / "Annotations"
        if self.split in (None, "all"):
            return sorted(annotations.glob("*.xml"))
        split_file = self.root / "ImageSets" / "Main" / f"{self.split}.txt"
        if not split_file.is_file():
            raise FileNotFoundError(
                f"VOC split file not found: {split_file} (use split='all' to read every file in Annotations/)"
            )
        ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
        files = []
        for image_id in ids:
            path = annotations / f"{image_id}.xml"
            if not path.is_file():
                raise FileNotFoundError(f"{split_file} lists {image_id!r} but {path} does not exist")
            files.append(path)
        return files

    def _parse(self, path):
        try:
            tree = ElementTree.parse(path)
        except ElementTree.ParseError as error:
            raise ValueError(f"{path}: invalid XML ({error})") from None
        node = tree.getroot()
        filename = (node.findtext("filename") or "").strip() or f"{path.stem}.jpg"
        image_path = self.root / "JPEGImages" / filename
        if not image_path.exists() and (self.root / "JPEGImages" / f"{path.stem}.jpg").exists():
            image_path = self.root / "JPEGImages" / f"{path.stem}.jpg"
        image_id = image_path.relative_to(self.root).as_posix()
        height = width = None
        size = node.find("size")
        if size is not None:
            try:
                width = int(float(size.findtext("width") or 0)) or None
                height = int(float(size.findtext("height") or 0)) or None
            except ValueError:
                raise ValueError(f"{path}: <size> width/height must be numbers") from None
        boxes, labels, difficult, truncated = [], [], [], []
        for index, obj in enumerate(node.findall("object")):
            name = (obj.findtext("name") or "").strip()
            box = obj.find("bndbox")
            if box is None:
                raise ValueError(f"{path}: object {index} ({name!r}) has no <bndbox>")
            try:
                coords = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}: object {index} ({name!r}) needs numeric xmin, ymin, xmax, ymax"
                ) from None
            if name not in self._ids:
                self.stats.drop_boxes(f"class {name!r} not in class_names", 1, image_id)
                continue
            if self.one_based:
                coords[0] -= 1.0
                coords[1] -= 1.0
            if coords[2] <= coords[0] or coords[3] <= coords[1]:
                self.stats.drop_boxes("zero width or height", 1, image_id)
                continue
            boxes.append(coords)
            labels.append(self._ids[name])
            difficult.append(_flag(obj.findtext("difficult")))
            truncated.append(_flag(obj.findtext("truncated")))
        record = make_record(
            image_id,
            np.asarray(boxes, np.float32).reshape(-1, 4),
            labels,
            image_path=image_path,
            height=height,
            width=width,
            attributes={
                "difficult": np.asarray(difficult, np.int32),
                "truncated": np.asarray(truncated, np.int32),
            },
        )
        self.stats.add_record(record)
        return record

    def __repr__(self):
        return (
            f"VOCReader(root={str(self.root)!r}, split={self.split!r}, "
            f"images={len(self)}, boxes={self.stats.boxes})"
        )


def _flag(text):
    text = (text or "0").strip()
    try:
        return int(float(text))
    except ValueError:
        return 1 if text.lower() in ("true", "yes") else 0
