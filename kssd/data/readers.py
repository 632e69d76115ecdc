"""Choosing a reader: format names, layout detection and opening a source.

Examples:
    >>> from kssd.data.readers import FORMATS
    >>> sorted(FORMATS)
    ['coco', 'imglab', 'tfrecord', 'voc', 'widerface', 'yolo']
"""

import glob
import os
from pathlib import Path

from kssd.data.coco import COCOReader
from kssd.data.imglab import ImglabReader
from kssd.data.voc import VOCReader
from kssd.data.widerface import WiderFaceReader
from kssd.data.yolo import YOLOReader

READERS = {
    "widerface": WiderFaceReader,
    "voc": VOCReader,
    "coco": COCOReader,
    "yolo": YOLOReader,
    "imglab": ImglabReader,
}
#: Every source format understood by :func:`open_reader` (``tfrecord`` covers kssd
#: shards and TF Object Detection API files).
FORMATS = tuple(READERS) + ("tfrecord",)


def _is_tfrecord_source(source):
    source = str(source)
    if os.path.isdir(source):
        return bool(glob.glob(os.path.join(source, "*.tfrecord")))
    return source.endswith(".tfrecord") or bool(any(ch in source for ch in "*?[") and glob.glob(source))


def detect_format(source):
    """Guess the format of a dataset root from its layout.

    Args:
        source: dataset root (or a TFRecord file/glob/directory).

    Returns:
        One of :data:`FORMATS`.

    Raises:
        ValueError: the layout matches no known format (the message lists what each
            format expects).

    Examples:
        >>> from kssd.data.readers import detect_format
        >>> detect_format("data/train-*.tfrecord")
        'tfrecord'
    """
    if _is_tfrecord_source(source):
        return "tfrecord"
    root = Path(source)
    if WiderFaceReader.available_splits(root):
        return "widerface"
    if (root / "Annotations").is_dir():
        return "voc"
    if COCOReader.available_splits(root):
        return "coco"
    if YOLOReader.available_splits(root):
        return "yolo"
    if ImglabReader.available_splits(root):
        return "imglab"
    raise ValueError(
        f"cannot tell the dataset format of {source}: expected wider_face_split/"
        "wider_face_<split>_bbx_gt.txt (widerface), Annotations/ (voc), "
        "annotations/instances_<split>.json (coco), images/<split>/ + labels/<split>/ (yolo), "
        "dlib imglab <split>.xml files (imglab) or *.tfrecord files; pass the format explicitly"
    )


def available_splits(source, format):
    """Splits present under a dataset root for ``format`` (see each reader)."""
    if format == "tfrecord":
        return [None]
    if format not in READERS:
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    return READERS[format].available_splits(source)


def open_reader(source, format=None, split=None, **kwargs):
    """Open a reader for a dataset root.

    Args:
        source: dataset root in the format's usual layout.
        format: one of ``"widerface"``, ``"voc"``, ``"coco"``, ``"yolo"``, ``"imglab"``,
            default None (detected from the layout). ``"tfrecord"`` is read with
            :func:`kssd.data.read_tfrecords` instead.
        split: split to read, default None (the only split present, else the first of
            the format's splits, e.g. ``"train"``).
        **kwargs: passed to the reader class (e.g. ``class_names``).

    Returns:
        A reader instance (iterable of records with ``class_names`` and ``stats``).

    Examples:
        >>> from kssd.data.readers import open_reader
        >>> reader = open_reader("coco128", "yolo", "train2017")  # doctest: +SKIP
    """
    format = format or detect_format(source)
    if format == "tfrecord":
        raise ValueError("TFRecord sources are read with kssd.data.read_tfrecords(pattern)")
    if format not in READERS:
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    if split is None:
        splits = READERS[format].available_splits(source)
        if not splits:
            raise FileNotFoundError(f"no {format} split found under {source}")
        split = splits[0]
    return READERS[format](source, split=split, **kwargs)
