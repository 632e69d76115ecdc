"""Reader for dlib imglab XML (the format of dlib's detector and shape-predictor tools).

A source is one XML file, or a folder whose ``<split>.xml`` files are the splits::

    faces/training.xml          <dataset><images><image file='a.jpg'>
    faces/testing.xml             <box top='10' left='20' width='30' height='30'/> ...
    faces/a.jpg

Image paths are relative to the XML file's folder (absolute paths are kept). A box's
``left``/``top``/``width``/``height`` become continuous xyxy pixels
``(left, top, left + width, top + height)``; ``ignore='1'`` boxes are kept with the
``difficult`` attribute set (evaluation ignores them, as dlib's test tools do); the
optional ``<label>`` names the class, and boxes without one belong to the first class (so a
one-class file can be read as ``class_names=["face"]``). Landmark ``<part>`` elements are
not read.
"""

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from kssd.data.records import DatasetStats, ParsedReader, make_record

#: Default class name of boxes without a ``<label>``.
UNLABELED = "object"


def is_imglab_file(path):
    """Whether ``path`` is an XML file whose root element is imglab's ``<dataset>``.

    Examples:
        >>> from kssd.data.imglab import is_imglab_file
        >>> is_imglab_file("/nonexistent.xml")
        False
    """
    path = Path(path)
    if path.suffix.lower() != ".xml" or not path.is_file():
        return False
    try:
        for _, element in ElementTree.iterparse(path, events=("start",)):
            return element.tag == "dataset"
    except ElementTree.ParseError:
        return False
    return False


def _split_order(name):
    return (not name.startswith("train"), name)


class ImglabReader(ParsedReader):
    """Read a dlib imglab XML file (one record per ``<image>``).

    Args:
        root: an imglab XML file, or a folder holding ``<split>.xml`` files.
        split: XML file stem inside ``root`` (e.g. ``"training"``), default None (``root``
            must then be a file, or a folder with a single imglab file).
        class_names: class names in id order (class id = index + 1), default None (the
            ``<label>`` values found, sorted, after ``"object"`` if some box has no label).
            Boxes without a label get class id 1; boxes of other labels are dropped and
            counted.

    Attributes:
        xml_path: the XML file read.
        class_names: list of class names.
        stats: :class:`kssd.data.records.DatasetStats` of the parsed file.

    Raises:
        FileNotFoundError: the XML file does not exist.
        ValueError: invalid XML, or a box without numeric top/left/width/height (the
            message names the file and the image).

    Examples:
        >>> from kssd.data import ImglabReader
        >>> reader = ImglabReader("dlib/examples/faces", split="testing")  # doctest: +SKIP
        >>> reader.class_names  # doctest: +SKIP
        ['object']
    """

    format_name = "imglab"

    def __init__(self, root, split=None, *, class_names=None):
        root = Path(root)
        if root.is_dir():
            if split is None:
                splits = self.available_splits(root)
                if len(splits) != 1:
                    raise ValueError(f"{root} holds imglab files {splits}; pass split=")
                split = splits[0]
            self.root, self.xml_path = root, root / f"{split}.xml"
        else:
            self.root, self.xml_path = root.parent, root
            split = split or root.stem
        if not self.xml_path.is_file():
            raise FileNotFoundError(f"imglab XML file not found: {self.xml_path}")
        self.split = split
        self.stats = DatasetStats()
        images = self._parse_images()
        labels = {label for _, boxes in images for *_, label in boxes}
        if class_names is None:
            named = sorted(labels - {None})
            class_names = [UNLABELED] + named if None in labels or not named else named
        self.class_names = list(class_names)
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be distinct names, got {self.class_names}")
        ids = {name: i + 1 for i, name in enumerate(self.class_names)}
        ids[None] = 1
        self._records = []
        for (image_id, image_path, height, width), boxes in images:
            kept = [box for box in boxes if box[-1] in ids]
            for box in boxes:
                if box[-1] not in ids:
                    self.stats.drop_boxes(f"label {box[-1]!r} not in class_names", 1, image_id)
            record = make_record(
                image_id,
                np.asarray([b[:4] for b in kept], np.float32).reshape(-1, 4),
                [ids[b[-1]] for b in kept],
                image_path=image_path,
                height=height,
                width=width,
                attributes={"difficult": np.asarray([b[4] for b in kept], np.int32)},
            )
            self.stats.add_record(record)
            self._records.append(record)

    @staticmethod
    def available_splits(root):
        """Stems of the imglab XML files in ``root`` (training-like names first), or the
        stem of ``root`` itself when it is an imglab file.

        Examples:
            >>> from kssd.data import ImglabReader
            >>> ImglabReader.available_splits("/nonexistent")
            []
        """
        root = Path(root)
        if root.is_file():
            return [root.stem] if is_imglab_file(root) else []
        if not root.is_dir():
            return []
        return sorted((p.stem for p in root.glob("*.xml") if is_imglab_file(p)), key=_split_order)

    def _parse_images(self):
        """[((image_id, image_path, height, width), [(x0, y0, x1, y1, ignore, label)...])]."""
        try:
            tree = ElementTree.parse(self.xml_path)
        except ElementTree.ParseError as error:
            raise ValueError(f"{self.xml_path}: invalid XML ({error})") from None
        folder = self.xml_path.parent
        images = []
        for index, image in enumerate(tree.getroot().iter("image")):
            file = (image.get("file") or "").strip()
            if not file:
                raise ValueError(f"{self.xml_path}: <image> number {index + 1} has no file=")
            image_path = Path(file) if Path(file).is_absolute() else folder / file
            try:
                image_id = image_path.relative_to(self.root).as_posix()
            except ValueError:
                image_id = Path(file).as_posix()
            boxes = [self._box(node, file) for node in image.iter("box")]
            size = [_int_or_none(image.get(k)) for k in ("height", "width")]
            valid = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
            self.stats.drop_boxes("zero width or height", len(boxes) - len(valid), image_id)
            images.append(((image_id, image_path, *size), valid))
        return images

    def _box(self, node, file):
        try:
            top, left, width, height = (float(node.get(k)) for k in ("top", "left", "width", "height"))
        except (TypeError, ValueError):
            raise ValueError(
                f"{self.xml_path}: a box of {file!r} needs numeric top, left, width and height, "
                f"got {dict(node.attrib)}"
            ) from None
        label = (node.findtext("label") or "").strip() or None
        return (left, top, left + width, top + height, int(node.get("ignore") == "1"), label)

    def __repr__(self):
        return f"ImglabReader(xml_path={str(self.xml_path)!r}, images={len(self)}, boxes={self.stats.boxes})"


def _int_or_none(value):
    try:
        return int(value) or None
    except (TypeError, ValueError):
        return None
