"""Choosing a reader: format names, layout detection and opening a source.

:data:`READERS` maps a format name to its reader class, with the facts the rest of kssd reads:
``takes_class_names`` (the reader accepts ``class_names=``; ``kssd data convert --class-names``
and ``kssd train`` pass them on) and ``layout`` (what :func:`detect_format` looks for). A new
reader is one module with the class (``available_splits(root)`` static method, ``split=``
argument) plus one ``READERS.register(...)`` line below; detection (in registration order) and
opening follow. The command line keeps a copy of the names (``kssd_zoo/cli/_choices.py``, so that
``kssd --help`` imports no TensorFlow); a test fails until the new name is added there.

Examples:
    >>> from kssd.data.readers import FORMATS, READERS
    >>> sorted(FORMATS)
    ['coco', 'imglab', 'tfrecord', 'voc', 'widerface', 'yolo']
    >>> READERS.where(takes_class_names=True)
    ['imglab', 'voc', 'yolo']
"""

import glob
import os
from pathlib import Path

from kssd.data.coco import COCOReader
from kssd.data.imglab import ImglabReader
from kssd.data.voc import VOCReader
from kssd.data.widerface import WiderFaceReader
from kssd.data.yolo import YOLOReader
from kssd.registry import Registry, UnknownNameError, did_you_mean

#: Annotation readers by format name; :func:`detect_format` tries them in this order.
READERS = Registry("reader")
READERS.register(
    "widerface",
    WiderFaceReader,
    takes_class_names=False,
    layout="wider_face_split/wider_face_<split>_bbx_gt.txt",
)
READERS.register("voc", VOCReader, takes_class_names=True, layout="Annotations/")
READERS.register("coco", COCOReader, takes_class_names=False, layout="annotations/instances_<split>.json")
READERS.register("yolo", YOLOReader, takes_class_names=True, layout="images/<split>/ + labels/<split>/")
READERS.register("imglab", ImglabReader, takes_class_names=True, layout="dlib imglab <split>.xml files")

#: Every source format understood by :func:`open_reader` at import time (``tfrecord`` covers
#: kssd shards and TF Object Detection API files); :func:`formats` is the live list.
FORMATS = tuple(READERS) + ("tfrecord",)


class DataSourceError(ValueError):
    """A dataset path that cannot serve as a model's training data; the message is one line naming it."""


def formats():
    """Every source format name: the registered readers, then ``"tfrecord"``.

    Examples:
        >>> from kssd.data.readers import formats
        >>> formats()[-1]
        'tfrecord'
    """
    return tuple(READERS) + ("tfrecord",)


def reader_class(format):
    """The reader class registered for ``format``.

    Raises:
        kssd.registry.UnknownNameError: an unknown format (a ``ValueError`` and a ``KeyError``),
            naming close matches.

    Examples:
        >>> from kssd.data.readers import reader_class
        >>> reader_class("voc").__name__
        'VOCReader'
        >>> reader_class("vocc")
        Traceback (most recent call last):
        ...
        kssd.registry.UnknownNameError: unknown format 'vocc' (did you mean 'voc'?); known formats: coco, imglab, tfrecord, voc, widerface, yolo
    """
    if format not in READERS:
        known = sorted(formats())
        raise UnknownNameError(
            f"unknown format {format!r}{did_you_mean(format, known)}; known formats: {', '.join(known)}",
            kind="format",
            name=format,
            known=known,
        )
    return READERS.get(format)


def takes_class_names(format):
    """Whether the reader of ``format`` accepts ``class_names=`` (``False`` for ``tfrecord``).

    Examples:
        >>> from kssd.data.readers import takes_class_names
        >>> takes_class_names("imglab"), takes_class_names("coco"), takes_class_names("tfrecord")
        (True, False, False)
    """
    return format in READERS and bool(READERS.metadata(format).get("takes_class_names"))


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
    for name in READERS:
        if READERS.get(name).available_splits(root):
            return name
    layouts = ", ".join(f"{READERS.metadata(name).get('layout', '?')} ({name})" for name in READERS)
    raise ValueError(
        f"cannot tell the dataset format of {source}: expected {layouts} or *.tfrecord files; "
        "pass the format explicitly"
    )


def available_splits(source, format):
    """Splits present under a dataset root for ``format`` (see each reader)."""
    if format == "tfrecord":
        return [None]
    return reader_class(format).available_splits(source)


def open_reader(source, format=None, split=None, **kwargs):
    """Open a reader for a dataset root.

    Args:
        source: dataset root in the format's usual layout.
        format: a name of :data:`READERS` (``"widerface"``, ``"voc"``, ``"coco"``, ``"yolo"``,
            ``"imglab"``), default None (detected from the layout). ``"tfrecord"`` is read with
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
    cls = reader_class(format)
    if split is None:
        splits = cls.available_splits(source)
        if not splits:
            raise FileNotFoundError(f"no {format} split found under {source}")
        split = splits[0]
    return cls(source, split=split, **kwargs)


def _short(names, limit=6):
    names = list(names)
    if len(names) <= limit:
        return str(names)
    return "[" + ", ".join(repr(n) for n in names[:limit]) + f", ... ({len(names)} classes)]"


def _default_names(names):
    return list(names) == [f"class_{i + 1}" for i in range(len(names))]


def check_class_names(source, found, expected):
    """Raise :class:`DataSourceError` when a source's class names are not the model's.

    A model whose names are the defaults (``class_1``, ...) accepts any names of the same count.

    Examples:
        >>> from kssd.data.readers import check_class_names
        >>> check_class_names("wider/", ["face"], ["face"])
        >>> check_class_names("coco/", ["person", "car"], ["face"])
        Traceback (most recent call last):
        ...
        kssd.data.readers.DataSourceError: coco/: its classes ['person', 'car'] are not the model's ['face']; \
pick a model with these classes (e.g. build it with num_classes=2 and these class_names) or convert the labels
    """
    if found is None or expected is None:
        return
    found, expected = list(found), list(expected)
    if found == expected or (_default_names(expected) and len(found) == len(expected)):
        return
    raise DataSourceError(
        f"{source}: its classes {_short(found)} are not the model's {_short(expected)}; pick a model with these "
        f"classes (e.g. build it with num_classes={len(found)} and these class_names) or convert the labels"
    )


def read_source(source, format=None, split=None, class_names=None):
    """The records of an annotated dataset on disk, labelled with a model's class ids.

    Readers that take class names (imglab, VOC, YOLO) map their boxes to ``class_names``;
    the others (COCO, WIDER FACE) must already use them (:func:`check_class_names`).

    Args:
        source: a dataset root or annotation file in a layout :func:`detect_format` knows.
        format: a reader name, default None (detected).
        split: split to read, default None (see :func:`open_reader`).
        class_names: the model's class names in id order, default None (the source's own).

    Returns:
        ``(records, reader)``: the list of records and the reader (its ``class_names``,
        ``stats`` and ``split``).

    Raises:
        DataSourceError: missing path, unknown layout or split, a malformed file, or classes
            the model does not have; one line naming the path.

    Examples:
        >>> from kssd.data.readers import read_source
        >>> read_source("no/such/training.xml")
        Traceback (most recent call last):
        ...
        kssd.data.readers.DataSourceError: no/such/training.xml: no such file or folder
    """
    if not os.path.exists(source):
        raise DataSourceError(f"{source}: no such file or folder")
    try:
        format = format or detect_format(source)
        if format == "tfrecord":
            raise DataSourceError(f"{source}: TFRecord files are streamed, not read as records")
        kwargs = {"class_names": list(class_names)} if class_names and takes_class_names(format) else {}
        reader = open_reader(source, format, split, **kwargs)
        records = list(reader)
    except DataSourceError:
        raise
    except (ValueError, KeyError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataSourceError(message if str(source) in message else f"{source}: {message}") from error
    if not kwargs:
        check_class_names(source, reader.class_names, class_names)
    elif records and not any(len(r["boxes"]) for r in records) and reader.stats.num_boxes_dropped:
        raise DataSourceError(
            f"{source}: none of its boxes has one of the model's classes {list(class_names)} "
            f"({reader.stats.num_boxes_dropped} dropped: {', '.join(reader.stats.boxes_dropped)})"
        )
    return records, reader
